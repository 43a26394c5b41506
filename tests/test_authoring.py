"""Writing a catalog's files: ``catalog init``, ``catalog new`` and ``catalog docs``; and the
plugin-author kit (``catalog_cli.testing``) that the scaffold's tests use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog_cli import Catalog
from catalog_cli.authoring import init_catalog
from catalog_cli.errors import ConfigError
from catalog_cli.testing import (
    assert_plugin_contract,
    find_catalog_file,
    invoke_cli,
    load_catalog,
    write_catalog,
)
from tests.conftest import REPO, SHIPPED, Invoke

SCAFFOLD = (
    "catalog.toml",
    "hookspecs/welcome.py",
    "builtin_plugins/welcome.py",
    "plugins/acme/welcome.py",
    "tests/test_welcome.py",
    "README.md",
    ".gitignore",
)


@pytest.fixture
def fresh(tmp_path: Path, invoke: Invoke) -> Path:
    """A catalog made by ``catalog init``."""
    folder = tmp_path / "mine"
    result = invoke("init", str(folder), catalog=None)
    assert result.exit_code == 0, result.stderr
    return folder


def check_clean(invoke: Invoke, folder: Path) -> None:
    result = invoke("check", "--json", catalog=folder / "catalog.toml")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["problems"] == []


# -- catalog init --------------------------------------------------------------------------


def test_init_writes_a_working_catalog(fresh: Path, invoke: Invoke) -> None:
    assert sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file()) == sorted(
        SCAFFOLD
    )
    check_clean(invoke, fresh)
    catalog = Catalog(fresh / "catalog.toml")
    assert [i.name for i in catalog.interfaces()] == ["welcome"]  # only its own
    assert catalog.run("welcome", customer="acme", name="Ada") == "Hello, Ada!\n-- The Acme team"
    assert catalog.run("welcome", customer="globex") == "Hello, there!"
    assert catalog.resolve_version("welcome", customer="globex").version == 1
    assert "Acme" not in catalog.run("welcome", customer="globex", version=2)


def test_init_says_what_to_do_next(tmp_path: Path, invoke: Invoke) -> None:
    result = invoke("init", str(tmp_path / "x"), "--json", catalog=None)
    data = json.loads(result.stdout)
    assert len(data["created"]) == len(SCAFFOLD)
    assert any(step.startswith("catalog run welcome") for step in data["next"])
    assert "pytest" in data["next"]


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, invoke: Invoke) -> None:
    folder = tmp_path / "mine"
    (folder / "plugins" / "acme").mkdir(parents=True)
    mine = folder / "plugins" / "acme" / "welcome.py"
    mine.write_text("# my own work\n", encoding="utf-8")
    result = invoke("init", str(folder), catalog=None)
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.stderr and str(mine) in result.stderr
    assert mine.read_text(encoding="utf-8") == "# my own work\n"
    assert not (folder / "catalog.toml").exists()


def test_init_into_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    created = init_catalog(Path("."))
    assert (tmp_path / "catalog.toml").is_file()
    assert created.next[0].startswith("catalog run")  # no `cd` needed


def test_init_then_pytest_passes_with_the_kit(fresh: Path) -> None:
    # The scaffold's tests use the fixtures of the pytest11 entry point: a real pytest run in
    # the new folder, as its owner would start it.
    env = {k: v for k, v in os.environ.items() if k != "CATALOG_FILE"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=fresh,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout


# -- catalog new ---------------------------------------------------------------------------


def test_new_interface(fresh: Path, invoke: Invoke) -> None:
    result = invoke("new", "interface", "invoice", catalog=fresh / "catalog.toml")
    assert result.exit_code == 0, result.stderr
    assert (fresh / "hookspecs" / "invoice.py").is_file()
    assert (fresh / "builtin_plugins" / "invoice.py").is_file()
    assert "catalog run invoice" in result.stdout
    check_clean(invoke, fresh)
    assert Catalog(fresh / "catalog.toml").run("invoice", customer="acme", text="hi") == "hi"


@pytest.mark.parametrize("name", ["Invoice", "2fast", "class", "invoice_v2", "a-b", "welcome"])
def test_new_interface_refuses_bad_or_taken_names(fresh: Path, invoke: Invoke, name: str) -> None:
    result = invoke("new", "interface", name, catalog=fresh / "catalog.toml")
    assert result.exit_code == 2
    assert name in result.stderr
    assert not (fresh / "hookspecs" / f"{name}.py").exists() or name == "welcome"


def test_new_version_copies_the_latest(fresh: Path, invoke: Invoke) -> None:
    result = invoke("new", "version", "welcome", catalog=fresh / "catalog.toml")
    assert result.exit_code == 0, result.stderr
    spec = (fresh / "hookspecs" / "welcome_v3.py").read_text(encoding="utf-8")
    assert "def welcome_v3(" in spec and "def welcome_v3_sign_off(" in spec
    assert "welcome_v2" not in spec
    check_clean(invoke, fresh)
    catalog = Catalog(fresh / "catalog.toml")
    # acme's plugin implements v2's plugin point, not v3's (yet)
    assert catalog.run("welcome", customer="acme", version=3, language="nl") == "Hallo, there!"
    versions = catalog.interface("welcome").versions
    assert versions[3].points.keys() == versions[2].points.keys()
    assert catalog.resolve_version("welcome", customer="globex").version == 1  # default kept


def test_new_version_of_a_deprecated_version_is_not_deprecated(
    tmp_path: Path, invoke: Invoke
) -> None:
    path = write_catalog(tmp_path, "[tenants.t]\n", declarations_from=SHIPPED)
    spec = tmp_path / "hookspecs" / "interface_a.py"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace(
            "@entrypoint\ndef interface_a_v2(", "@entrypoint(deprecated='old')\ndef interface_a_v2("
        ),
        encoding="utf-8",
    )
    assert invoke("new", "version", "interface_a", catalog=path).exit_code == 0
    catalog = Catalog(path)
    assert catalog.interface("interface_a").versions[3].deprecated is None
    assert catalog.run("interface_a", customer="t", version=3, vip=True).endswith(
        "priority support."
    )


def test_new_plugin_implements_every_point(tmp_path: Path, invoke: Invoke) -> None:
    (tmp_path / "plugins").mkdir()
    path = write_catalog(
        tmp_path, '[catalog]\nplugin_dirs = ["plugins"]\n[tenants.c9]\n', declarations_from=SHIPPED
    )
    result = invoke("new", "plugin", "c9", "price_quote", catalog=path)
    assert result.exit_code == 0, result.stderr
    source = (tmp_path / "plugins" / "c9" / "price_quote.py").read_text(encoding="utf-8")
    for point in ("discounts", "tax_rate", "total"):
        assert f"def price_quote_v1_{point}(" in source
    assert "@hookimpl(wrapper=True)" in source  # total is a wrap point
    assert 'plugins = ["c9.price_quote"]' in result.stdout
    report = invoke("check", "--plugin", "c9.price_quote", catalog=path)
    assert report.exit_code == 0, report.stderr
    # selected, it changes nothing yet
    arguments = {"unit_price": 2.0, "quantity": 30, "country": "DE"}
    before = Catalog(path).run("price_quote", customer="c9", **arguments)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("[tenants.c9]", '[tenants.c9]\nplugins = ["c9.price_quote"]'),
        encoding="utf-8",
    )
    catalog = Catalog(path)
    assert catalog.tenant("c9").plugins == ("c9.price_quote",)
    assert catalog.run("price_quote", customer="c9", **arguments) == before


def test_new_plugin_of_a_version_says_to_pin_it(fresh: Path, invoke: Invoke) -> None:
    result = invoke("new", "plugin", "globex", "welcome", "--json", catalog=fresh / "catalog.toml")
    data = json.loads(result.stdout)
    assert any("pin it with versions = { welcome = 2 }" in step for step in data["next"])
    check_clean(invoke, fresh)


def test_new_plugin_without_points_wraps_the_entry_point(fresh: Path, invoke: Invoke) -> None:
    (fresh / "hookspecs" / "bare.py").write_text(
        "from catalog_cli import Context, entrypoint\n\n\n@entrypoint\n"
        "def bare_v1(ctx: Context, n: int) -> int:\n    '''Twice n.'''\n",
        encoding="utf-8",
    )
    (fresh / "builtin_plugins" / "bare.py").write_text(
        "from catalog_cli import hookimpl\n\n\n@hookimpl\ndef bare_v1(ctx, n):\n    return 2 * n\n",
        encoding="utf-8",
    )
    result = invoke("new", "plugin", "acme", "bare", catalog=fresh / "catalog.toml")
    assert result.exit_code == 0, result.stderr
    source = (fresh / "plugins" / "acme" / "bare.py").read_text(encoding="utf-8")
    assert "@hookimpl(wrapper=True)" in source and "def bare_v1(" in source
    assert invoke("check", "--plugin", "acme.bare", catalog=fresh / "catalog.toml").exit_code == 0


def test_new_plugin_refuses_an_existing_plugin(fresh: Path, invoke: Invoke) -> None:
    result = invoke("new", "plugin", "acme", "welcome", catalog=fresh / "catalog.toml")
    assert result.exit_code == 2
    assert "plugin 'acme.welcome' exists already" in result.stderr


def test_new_with_unknown_interface(fresh: Path, invoke: Invoke) -> None:
    result = invoke("new", "version", "welcom", catalog=fresh / "catalog.toml")
    assert result.exit_code == 4
    assert "Did you mean 'welcome'?" in result.stderr


# -- catalog docs --------------------------------------------------------------------------


def test_docs_to_stdout_names_every_hook(invoke: Invoke, shipped: Catalog) -> None:
    result = invoke("docs")
    assert result.exit_code == 0, result.stderr
    for interface in shipped.interfaces():
        for version in interface.versions.values():
            assert f"def {version.hook}(" in result.stdout
            for point in version.points.values():
                assert f"`{point.hook}`" in result.stdout
                assert f"| `{point.name}` | `{point.hook}` | {point.policy}" in result.stdout
    for hook in ("catalog_startup", "catalog_health", "catalog_call", "catalog_point_call"):
        assert f"| `{hook}` |" in result.stdout
    assert "**Deprecated** (sunset 2027-06-30)" in result.stdout


def test_docs_out_writes_a_page_per_interface(fresh: Path, invoke: Invoke, tmp_path: Path) -> None:
    out = tmp_path / "reference"
    result = invoke("docs", "--out", str(out), catalog=fresh / "catalog.toml")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["index.md", "welcome.md"]
    page = (out / "welcome.md").read_text(encoding="utf-8")
    # as black and ruff would write it: 88 columns, double quotes
    assert (
        'def welcome_v2(\n    ctx, name: str = "there", language: Literal["en", "nl"] = "en"\n'
        ") -> str: ..."
    ) in page
    assert "[`welcome`](welcome.md)" in (out / "index.md").read_text(encoding="utf-8")


# -- the kit -------------------------------------------------------------------------------


def test_find_catalog_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATALOG_FILE", raising=False)
    path = write_catalog(tmp_path, "[tenants.a]\n")
    below = tmp_path / "a" / "b"
    below.mkdir(parents=True)
    assert find_catalog_file(below) == path
    monkeypatch.setenv("CATALOG_FILE", str(SHIPPED))
    assert find_catalog_file(below) == SHIPPED


def test_find_catalog_file_without_one(tmp_path: Path) -> None:
    if any((d / "catalog.toml").is_file() for d in (tmp_path, *tmp_path.parents)):
        pytest.skip("a catalog.toml above the temporary folder")
    with pytest.raises(ConfigError, match="no such file"):
        find_catalog_file(tmp_path)


def test_load_catalog_from_a_folder() -> None:
    assert load_catalog(REPO).path == SHIPPED


def test_assert_plugin_contract_lists_every_problem(tmp_path: Path) -> None:
    path = write_catalog(
        tmp_path,
        '[catalog]\nplugin_dirs = ["plugins"]\n[tenants.t]\n',
        {
            "plugins/x/bad.py": """\
                from catalog_cli import hookimpl

                @hookimpl
                def interface_a_v2_extra_lines(ctx, name: int, vip):
                    return None
                """
        },
        declarations_from=SHIPPED,
    )
    catalog = load_catalog(path)
    with pytest.raises(AssertionError, match=r"x\.bad breaks its contract:\n  - .*'name'"):
        assert_plugin_contract(catalog, "x.bad")
    assert assert_plugin_contract(load_catalog(SHIPPED), "customer_1.interface_a").ok


def test_invoke_cli(tmp_path: Path) -> None:
    result = invoke_cli("run", "interface_a", "-C", "c1", "--version", "2", catalog=SHIPPED)
    assert result.exit_code == 0
    assert result.stdout.startswith("Hi there, welcome back!")
    assert invoke_cli("run", "nope", "-C", "c1", catalog=SHIPPED).exit_code == 4


@pytest.mark.parametrize("how", ["option", "ini", "environment", "nearest"])
def test_the_kit_finds_the_catalog_under_test(tmp_path: Path, how: str) -> None:
    project = tmp_path / "project"
    other = write_catalog(tmp_path / "elsewhere", "[tenants.other]\n")
    write_catalog(project, "[tenants.near]\n")
    (project / "tests").mkdir()
    (project / "tests" / "test_which.py").write_text(
        "def test_which(catalog_file, catalog):\n"
        "    print('UNDER-TEST', catalog_file.resolve(), catalog.tenant_ids())\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "CATALOG_FILE"}
    args = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
    if how == "option":
        args += ["--catalog-file", os.path.relpath(other, project / "tests")]
    elif how == "ini":
        (project / "pytest.ini").write_text(
            f"[pytest]\ncatalog_file = {os.path.relpath(other, project)}\n", encoding="utf-8"
        )
    elif how == "environment":
        env["CATALOG_FILE"] = str(other)
    done = subprocess.run(
        args,
        cwd=project / "tests",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    expected = (project / "catalog.toml") if how == "nearest" else other
    assert f"UNDER-TEST {expected.resolve()} ['{'near' if how == 'nearest' else 'other'}']" in (
        done.stdout
    )
