"""Plugin contracts: annotations against the plugin point, ``async def`` shapes, wrong results
blamed on their plugin, and a plugin checked on its own (``check --plugin``, unselected files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import (
    PluginValidationError,
    ResultValidationError,
    UnknownPluginError,
)
from tests.conftest import Invoke, WriteCatalog

HOOK = "def interface_a_v2_extra_lines"
V2 = "versions = { interface_a = 2 }\n"


def one_tenant(write_catalog: WriteCatalog, source: str, *, others: bool = True) -> Path:
    toml = f'[tenants.t]\nplugins = ["acme.p"]\n{V2}'
    if others:
        toml += f"[tenants.other]\n{V2}"
    return write_catalog(toml, {"plugins/acme/p.py": source})


def plugin(body: str) -> str:
    return "from catalog_cli import hookimpl\n\n\n@hookimpl\n" + body


# -- annotations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signature", "found"),
    [
        (
            "def interface_a_v2_extra_lines(ctx, name: int, vip):",
            "parameter 'name' is annotated int",
        ),
        (
            "def interface_a_v2_extra_lines(ctx, name, vip: str):",
            "parameter 'vip' is annotated str",
        ),
        ("def interface_a_v2_extra_lines(ctx, name, vip) -> int:", "returns int"),
        ("def interface_a_v2_extra_lines(ctx, name, vip) -> list[str]:", "returns list[str]"),
    ],
)
def test_incompatible_annotation_fails_its_tenant_closed(
    write_catalog: WriteCatalog, signature: str, found: str
) -> None:
    catalog = Catalog(one_tenant(write_catalog, plugin(f"{signature}\n    return None\n")))
    with pytest.raises(PluginValidationError) as info:
        catalog.run("interface_a", customer="t")
    message = str(info.value)
    assert "plugin 'acme.p'" in message
    assert "hook interface_a_v2_extra_lines" in message
    assert found in message
    assert "plugin point 'extra_lines'" in message
    assert info.value.plugin == "acme.p"
    # the others keep working
    assert catalog.run("interface_a", customer="other").startswith("Hello")


@pytest.mark.parametrize(
    "signature",
    [
        "def interface_a_v2_extra_lines(ctx, name: str, vip: bool) -> str | None:",
        "def interface_a_v2_extra_lines(ctx, name: str, vip: int) -> str:",  # bool is an int
        "def interface_a_v2_extra_lines(ctx, name: object, vip) -> None:",  # wider parameter
        "def interface_a_v2_extra_lines(ctx, name: 'str', vip: 'bool') -> 'str | None':",
        "def interface_a_v2_extra_lines(ctx, name, vip):",  # no annotations: nothing to compare
    ],
)
def test_compatible_annotations_load(write_catalog: WriteCatalog, signature: str) -> None:
    catalog = Catalog(one_tenant(write_catalog, plugin(f"{signature}\n    return None\n")))
    assert catalog.run("interface_a", customer="t").startswith("Hello")


def test_async_implementation_is_taken_and_awaited(write_catalog: WriteCatalog) -> None:
    source = plugin("async def interface_a_v2_extra_lines(ctx, name, vip):\n    return 'x'\n")
    catalog = Catalog(one_tenant(write_catalog, source))
    assert catalog.run("interface_a", customer="t").endswith("\nx")
    assert catalog.run("interface_a", customer="other").startswith("Hello")


def test_async_wrapper_without_yield_fails_check(
    invoke: Invoke, write_catalog: WriteCatalog
) -> None:
    source = (
        "from catalog_cli import hookimpl\n\n\n@hookimpl(wrapper=True)\n"
        "async def interface_a_v2_extra_lines(ctx, name, vip):\n    return 'x'\n"
    )
    result = invoke("check", "--json", catalog=one_tenant(write_catalog, source))
    assert result.exit_code == 10
    report = json.loads(result.stdout)
    assert any(
        "async wrapper must `yield`" in p["message"] and p["plugin"] == "acme.p"
        for p in report["problems"]
    )


# -- wrong results are the plugin's --------------------------------------------------------


def test_wrong_result_blamed_on_the_plugin_without_validation(write_catalog: WriteCatalog) -> None:
    source = plugin("def interface_a_v2_extra_lines(ctx, name, vip):\n    return 42\n")
    catalog = Catalog(one_tenant(write_catalog, source))
    with pytest.raises(ResultValidationError) as info:
        catalog.run("interface_a", customer="t")
    assert info.value.plugin == "acme.p"
    assert "expected str | None, got int 42" in str(info.value)
    assert "builtin_plugins" not in str(info.value)


def test_wrong_result_of_a_first_policy_point(write_catalog: WriteCatalog) -> None:
    source = plugin("def interface_a_v2_greeting(ctx, name, language):\n    return ['hi']\n")
    catalog = Catalog(one_tenant(write_catalog, source))
    with pytest.raises(ResultValidationError) as info:
        catalog.run("interface_a", customer="t")
    assert info.value.plugin == "acme.p"
    assert "plugin point 'greeting'" in str(info.value)


# -- a plugin on its own -------------------------------------------------------------------------

UNSELECTED_TOML = "[tenants.t]\n"

GOOD = plugin("def interface_a_v2_extra_lines(ctx, name, vip):\n    return 'fine'\n")

WITH_SETTINGS = """\
from pydantic import BaseModel

from catalog_cli import PluginMeta, hookimpl


class Settings(BaseModel):
    team: str
    rate: float = 0.1


PLUGIN = PluginMeta(version="1.0", settings=Settings)


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    return ctx.settings["team"]
"""

WITH_OPTIONS = """\
from catalog_cli import Option, Options, PluginMeta, hookimpl

PLUGIN = PluginMeta(settings=Options(Option("team", "str", None, "who signs")))


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    return ctx.settings["team"]
"""

BAD_META = """\
from catalog_cli import PluginMeta, hookimpl

PLUGIN = PluginMeta(settings=dict)


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    return None
"""

SLOW_START = """\
import time

from catalog_cli import hookimpl


@hookimpl
def catalog_startup(tenant, settings):
    time.sleep(5)


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    return None
"""

FAILING_HEALTH = """\
from catalog_cli import hookimpl


@hookimpl
def catalog_health(tenant, settings):
    raise ConnectionError("database unreachable")


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    return None
"""


def unselected(write_catalog: WriteCatalog, **files: str) -> Path:
    return write_catalog(
        "[catalog]\nstartup_timeout = 0.5\n" + UNSELECTED_TOML,
        {f"plugins/acme/{name}.py": source for name, source in files.items()},
    )


def test_check_plugin_by_name(write_catalog: WriteCatalog) -> None:
    catalog = Catalog(unselected(write_catalog, good=GOOD))
    report = catalog.check_plugin("acme.good")
    assert report.ok, report.problems
    assert [use.hook for use in report.hooks] == ["interface_a_v2_extra_lines"]


def test_check_plugin_by_path_outside_the_plugin_folders(
    write_catalog: WriteCatalog, tmp_path: Path
) -> None:
    catalog = Catalog(unselected(write_catalog))
    elsewhere = tmp_path / "drafts" / "mine.py"
    elsewhere.parent.mkdir()
    elsewhere.write_text(GOOD, encoding="utf-8")
    report = catalog.check_plugin(elsewhere)
    assert report.ok, report.problems


def test_check_plugin_unknown_name(write_catalog: WriteCatalog) -> None:
    catalog = Catalog(unselected(write_catalog, good=GOOD))
    with pytest.raises(UnknownPluginError, match=r"Did you mean 'acme\.good'"):
        catalog.check_plugin("acme.goo")


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("raise RuntimeError('kaboom')\n", "failed to import: RuntimeError: kaboom"),
        (plugin("def interface_a_v9(ctx):\n    return 1\n"), "which no interface declares"),
        (plugin("def interface_a_v2_extra_lines(ctx, nam, vip):\n    return 1\n"), "nam"),
        (
            plugin("def interface_a_v2_extra_lines(ctx, name: bytes, vip):\n    return 1\n"),
            "parameter 'name' is annotated bytes",
        ),
    ],
)
def test_check_plugin_finds_contract_problems(
    write_catalog: WriteCatalog, source: str, problem: str
) -> None:
    catalog = Catalog(unselected(write_catalog, bad=source))
    report = catalog.check_plugin("acme.bad")
    assert not report.ok
    assert any(problem in p for p in report.problems), report.problems


def test_check_plugin_settings_by_schema(write_catalog: WriteCatalog) -> None:
    pytest.importorskip("pydantic")
    catalog = Catalog(unselected(write_catalog, s=WITH_SETTINGS))
    assert catalog.check_plugin("acme.s", settings={"team": "A"}).ok
    missing = catalog.check_plugin("acme.s")
    assert any(p.startswith("setting team") for p in missing.problems), missing.problems
    wrong = catalog.check_plugin("acme.s", settings={"team": "A", "rate": "high"})
    assert any(p.startswith("setting rate") for p in wrong.problems), wrong.problems


def test_check_plugin_settings_by_options(write_catalog: WriteCatalog) -> None:
    catalog = Catalog(unselected(write_catalog, o=WITH_OPTIONS))
    assert catalog.check_plugin("acme.o", settings={"team": "A"}).ok
    wrong = catalog.check_plugin("acme.o", settings={"team": 3, "extra": 1})
    assert len(wrong.problems) == 2, wrong.problems


def test_check_plugin_invalid_metadata(write_catalog: WriteCatalog) -> None:
    catalog = Catalog(unselected(write_catalog, m=BAD_META))
    report = catalog.check_plugin("acme.m")
    assert any("settings must be a pydantic model class" in p for p in report.problems)


def test_check_plugin_lifecycle_within_deadlines(write_catalog: WriteCatalog) -> None:
    catalog = Catalog(unselected(write_catalog, slow=SLOW_START, sick=FAILING_HEALTH))
    slow = catalog.check_plugin("acme.slow")
    assert [p for p in slow.problems if p.startswith("startup:")], slow.problems
    sick = catalog.check_plugin("acme.sick")
    assert any("health" in p and "database unreachable" in p for p in sick.problems)


def test_check_reports_broken_unselected_plugins_without_failing_a_tenant(
    invoke: Invoke, write_catalog: WriteCatalog
) -> None:
    path = unselected(write_catalog, good=GOOD, broken="raise RuntimeError('kaboom')\n")
    result = invoke("check", "--json", catalog=path)
    assert result.exit_code == 10
    report = json.loads(result.stdout)
    assert [t["status"] for t in report["tenants"]] == ["ok"]
    (problem,) = report["problems"]
    assert problem["plugin"] == "acme.broken"
    assert "no tenant selects it yet" in problem["message"]
    assert Catalog(path).run("interface_a", customer="t").startswith("Hello")


def test_cli_check_plugin(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    pytest.importorskip("pydantic")
    path = unselected(write_catalog, good=GOOD, s=WITH_SETTINGS)
    ok = invoke("check", "--plugin", "acme.good", catalog=path)
    assert ok.exit_code == 0, ok.stderr
    assert "OK: no problems found." in ok.stdout
    bad = invoke("check", "--plugin", "acme.s", "--settings", '{"rate": 1}', catalog=path)
    assert bad.exit_code == 10
    assert "setting team" in bad.stderr
    good = invoke(
        "check", "--plugin", "acme.s", "--settings", '{"team": "x"}', "--json", catalog=path
    )
    assert good.exit_code == 0
    assert json.loads(good.stdout)["ok"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--settings", "{}"), "--settings goes with --plugin"),
        (("--plugin", "acme.good", "--settings", "{"), "not valid JSON"),
        (("--plugin", "acme.good", "--settings", "[1]"), "expected a JSON object"),
    ],
)
def test_cli_check_plugin_usage_errors(
    invoke: Invoke, write_catalog: WriteCatalog, args: tuple[str, ...], message: str
) -> None:
    result = invoke("check", *args, catalog=unselected(write_catalog, good=GOOD))
    assert result.exit_code == 2
    assert message in result.stderr
