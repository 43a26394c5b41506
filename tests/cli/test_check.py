"""``catalog check``: validate everything without running anything, report every problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHIPPED, Invoke, WriteCatalog

EXIT_PROBLEMS = 10

GOOD_PLUGIN = """\
    from catalog_cli import hookimpl


    @hookimpl
    def interface_a_v2_extra_lines(ctx, name, vip):
        return "fine"
    """

BROKEN_TOML = """\
    [catalog]
    plugin_dirs = ["plugins"]

    [tenants.good]
    description = "nothing wrong here"
    plugins = ["acme.good"]

    [tenants.importfail]
    plugins = ["acme.boom"]

    [tenants.invalid]
    plugins = ["acme.badsig"]

    [tenants.misconfigured]
    plugins = ["acme.nosuch"]
    """

BROKEN_FILES = {
    "plugins/acme/good.py": GOOD_PLUGIN,
    "plugins/acme/boom.py": """\
        raise RuntimeError("kaboom while importing")
        """,
    "plugins/acme/badsig.py": """\
        from catalog_cli import hookimpl


        @hookimpl
        def interface_a_v1_signature(ctx, name, extra):
            return "never called"
        """,
}


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def broken(write_catalog: WriteCatalog) -> Path:
    return write_catalog(BROKEN_TOML, BROKEN_FILES)


def test_shipped_catalog_is_clean(invoke: Invoke) -> None:
    result = invoke("check")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "OK: no problems found." in result.stdout
    assert f"catalog {SHIPPED}" in result.stdout
    for name in ("c1", "c2", "c3", "customer_1.interface_a", "customer_2.price_quote"):
        assert name in result.stdout
    assert "failed" not in result.stdout
    assert result.stderr == ""


def test_shipped_catalog_json(invoke: Invoke) -> None:
    result = invoke("check", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["catalog"] == str(SHIPPED)
    assert [t["id"] for t in report["tenants"]] == ["c1", "c2", "c3"]
    assert all(t["status"] == "ok" and t["error"] is None for t in report["tenants"])
    assert {p["name"]: p["status"] for p in report["plugins"]} == {
        "builtin_plugins.interface_a": "loaded",
        "builtin_plugins.price_quote": "loaded",
        "customer_1.interface_a": "loaded",
        "customer_1.price_quote": "loaded",
        "customer_2.interface_a": "loaded",
        "customer_2.price_quote": "loaded",
    }


def test_clean_custom_catalog(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        """\
        [catalog]
        plugin_dirs = ["plugins"]

        [tenants.only]
        plugins = ["acme.good"]
        """,
        {"plugins/acme/good.py": GOOD_PLUGIN},
    )
    result = invoke("check", catalog=path)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "OK: no problems found." in result.stdout


def test_problems_exit_10_with_full_report(invoke: Invoke, broken: Path) -> None:
    result = invoke("check", catalog=broken)
    assert result.exit_code == EXIT_PROBLEMS, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    # The tables still list everything, on stdout.
    for tenant, status in [
        ("good", "ok"),
        ("importfail", "failed"),
        ("invalid", "failed"),
        ("misconfigured", "failed"),
    ]:
        # piped, tables are plain: a row is its cells, separated by spaces
        row = next(line for line in result.stdout.splitlines() if line.split()[:1] == [tenant])
        assert status in row.split(), row
    assert "OK: no problems found." not in result.stdout
    # The problems, each on its own line, on stderr.
    err = result.stderr
    assert "5 problem(s):" in err
    problem_lines = [line for line in err.splitlines() if line.startswith("- [")]
    assert len(problem_lines) == 5
    # Each broken plugin is reported once, with its error; each tenant it breaks points at it.
    assert any("acme.boom" in line and "kaboom while importing" in line for line in problem_lines)
    assert any("acme.badsig" in line and "parameter(s) extra" in line for line in problem_lines)
    assert "- [plugin] tenant 'importfail' fails closed: plugin 'acme.boom' failed" in err
    assert "- [plugin] tenant 'invalid' fails closed: plugin 'acme.badsig' failed" in err
    assert any(
        line.startswith("- [config]")
        and "tenant 'misconfigured' is unusable" in line
        and "unknown plugin 'acme.nosuch'" in line
        for line in problem_lines
    )


def test_problems_json(invoke: Invoke, broken: Path) -> None:
    result = invoke("check", "--json", catalog=broken)
    assert result.exit_code == EXIT_PROBLEMS
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["catalog"] == str(broken)
    by_tenant = {p["tenant"]: p for p in report["problems"] if p["tenant"] is not None}
    assert set(by_tenant) == {"importfail", "invalid", "misconfigured"}
    assert by_tenant["importfail"]["kind"] == "plugin"
    assert by_tenant["importfail"]["plugin"] == "acme.boom"
    assert "fails closed: plugin 'acme.boom' failed" in by_tenant["importfail"]["message"]
    assert by_tenant["invalid"]["kind"] == "plugin"
    assert by_tenant["invalid"]["plugin"] == "acme.badsig"
    by_plugin = {p["plugin"]: p for p in report["problems"] if p["tenant"] is None}
    assert "RuntimeError: kaboom while importing" in by_plugin["acme.boom"]["message"]
    assert (
        "expected parameters (ctx, name), found (ctx, name, extra)"
        in by_plugin["acme.badsig"]["message"]
    )
    assert by_tenant["misconfigured"]["kind"] == "config"
    assert by_tenant["misconfigured"]["plugin"] is None
    # The broken plugins are also reported as plugins.
    plugin_problems = {p["plugin"] for p in report["problems"] if p["tenant"] is None}
    assert plugin_problems == {"acme.boom", "acme.badsig"}
    statuses = {t["id"]: t["status"] for t in report["tenants"]}
    assert statuses == {
        "good": "ok",
        "importfail": "failed",
        "invalid": "failed",
        "misconfigured": "failed",
    }
    plugins = {p["name"]: p for p in report["plugins"]}
    assert plugins["acme.good"]["status"] == "loaded"
    assert plugins["acme.boom"]["status"] == "failed"
    assert "kaboom" in plugins["acme.boom"]["error"]


def test_validation_failure_alone(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        """\
        [catalog]
        plugin_dirs = ["plugins"]

        [tenants.t]
        plugins = ["acme.replaces"]
        """,
        {
            # Customer plugins may only wrap the entry point, not replace it.
            "plugins/acme/replaces.py": """\
                from catalog_cli import hookimpl


                @hookimpl
                def interface_a_v1(ctx, name):
                    return "mine"
                """
        },
    )
    result = invoke("check", "--json", catalog=path)
    assert result.exit_code == EXIT_PROBLEMS
    report = json.loads(result.stdout)
    messages = [p["message"] for p in report["problems"]]
    assert messages
    assert all("acme.replaces" in m for m in messages)
    assert any("may only be wrapped" in m for m in messages)


@pytest.mark.parametrize(
    ("tenant_section", "expected"),
    [
        ('plugins = ["acme.nosuch"]', "unknown plugin 'acme.nosuch'"),
        ("versions = { interface_a = 7 }", "interface_a has no version 7"),
        ("versions = { interface_q = 1 }", "unknown interface"),
        ('descripton = "typo"', "did you mean 'description'?"),
        ('plugins = ["acme.*"]', "pattern 'acme.*' matches no plugin"),
    ],
)
def test_tenant_config_problem(
    invoke: Invoke, write_catalog: WriteCatalog, tenant_section: str, expected: str
) -> None:
    path = write_catalog(
        f"""\
        [catalog]
        description = "one bad tenant, one good"

        [tenants.fine]
        description = "ok"

        [tenants.bad]
        {tenant_section}
        """
    )
    result = invoke("check", catalog=path)
    assert result.exit_code == EXIT_PROBLEMS, (result.stdout, result.stderr)
    assert "1 problem(s):" in result.stderr
    assert expected in result.stderr
    assert "tenant 'bad' is unusable" in result.stderr
    # The problem names the file and the line of the tenant's section.
    assert f"{path}:8:" in result.stderr
    # The other tenant keeps working.
    run = invoke("run", "interface_a", "-C", "fine", catalog=path)
    assert run.exit_code == 0
    assert run.stdout == "Hello, there!\n"


def test_invalid_toml_exits_3(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        """\
        [catalog]
        description = "broken below"

        [tenants.a]
        plugins = [1 2]
        description = "x"
        """
    )
    result = invoke("check", catalog=path)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert f"{path}:5:" in result.stderr
    assert "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_invalid_toml_json(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog('[catalog]\ndescription = "unterminated\n')
    result = invoke("check", "--json", catalog=path)
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["catalog"] == str(path)
    (problem,) = report["problems"]
    assert problem["kind"] == "ConfigError"
    assert f"{path}:2:" in problem["message"]
    assert "not valid TOML" in problem["message"]


def test_invalid_toml_json_from_environment(
    invoke: Invoke, write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_catalog("[catalog\n")
    monkeypatch.setenv("CATALOG_FILE", str(path))
    result = invoke("check", "--json", catalog=None)
    assert result.exit_code == 3
    # The report names the catalog that failed, even when no --catalog was given.
    assert json.loads(result.stdout)["catalog"] == str(path)


def test_catalog_section_problem_exits_3(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        """\
        [catalog]
        plugin_dirs = "plugins"
        versions = { interface_a = 5 }
        """
    )
    result = invoke("check", catalog=path)
    assert result.exit_code == 3
    assert "catalog.plugin_dirs: expected an array of strings" in result.stderr
    assert f"{path}:2:" in result.stderr


def test_missing_plugin_dir_exits_3(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog('[catalog]\nplugin_dirs = ["nowhere"]\n')
    result = invoke("check", catalog=path)
    assert result.exit_code == 3
    assert "no such directory" in result.stderr
    assert "nowhere" in result.stderr
