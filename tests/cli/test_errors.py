"""Error handling in one place: exit codes, JSON errors, internal errors, --debug, lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import Result

from catalog_cli import Catalog
from catalog_cli.cli._exits import exit_code
from catalog_cli.errors import (
    CallTimeoutError,
    CatalogError,
    ConfigError,
    ConfigProblem,
    DeclarationError,
    InvalidArgumentsError,
    PluginCallError,
    PluginLoadError,
    PluginValidationError,
    UnknownInterfaceError,
    UnknownPluginError,
    UnknownPluginPointError,
    UnknownTenantError,
    UnknownVersionError,
)
from tests.conftest import Invoke, WriteCatalog

ERRORS: list[tuple[CatalogError, int]] = [
    (ConfigError(Path("somewhere/catalog.toml"), [ConfigProblem("catalog.x", "bad value", 3)]), 3),
    (DeclarationError("no return annotation", module="hookspecs.x", hook="x_v1"), 9),
    (UnknownInterfaceError("iface_q", ["interface_a"]), 4),
    (UnknownVersionError("interface_a", 7, [1, 2]), 4),
    (UnknownTenantError("t9", ["c1"]), 4),
    (UnknownPluginError("p9", ["customer_1.interface_a"]), 4),
    (UnknownPluginPointError("interface_a", 2, "farewell", ["greeting"]), 4),
    (InvalidArgumentsError("price_quote", 1, {"quantity": "expected int"}), 5),
    (PluginLoadError("acme.p", "file p.py", ImportError("no module x"), tenant="c1"), 6),
    (PluginValidationError("acme.p", "bad hook", hook="interface_a_v1_signature"), 6),
    (
        PluginCallError(
            plugin="acme.p",
            tenant="c1",
            interface="interface_a",
            version=1,
            call_id="abc-1",
            cause=ValueError("boom"),
        ),
        7,
    ),
    (
        CallTimeoutError(
            tenant="c1", interface="interface_a", version=1, call_id="abc-2", seconds=0.5
        ),
        8,
    ),
    (CatalogError("something on purpose"), 1),
]


ERROR_IDS = [type(exc).__name__ for exc, _code in ERRORS]


def fail_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """Make ``Catalog.tenants`` (behind ``catalog tenants list``) raise ``exc``."""

    def tenants(self: Catalog) -> list[object]:
        raise exc

    monkeypatch.setattr(Catalog, "tenants", tenants)


def assert_no_traceback(result: Result) -> None:
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("exc", "code"), ERRORS, ids=ERROR_IDS)
def test_error_kind_maps_to_exit_code(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, exc: CatalogError, code: int
) -> None:
    assert exit_code(exc) == code
    fail_with(monkeypatch, exc)
    result = invoke("tenants", "list")
    assert result.exit_code == code
    assert_no_traceback(result)
    assert result.stderr.startswith("error: ")
    assert str(exc) in " ".join(result.stderr.split())
    assert result.stdout == ""


@pytest.mark.parametrize(("exc", "code"), ERRORS, ids=ERROR_IDS)
def test_error_as_json(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, exc: CatalogError, code: int
) -> None:
    fail_with(monkeypatch, exc)
    result = invoke("tenants", "list", "--json")
    assert result.exit_code == code
    assert_no_traceback(result)
    assert json.loads(result.stderr) == {
        "error": {"message": str(exc), "kind": exc.kind, "exit_code": code}
    }
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("run", "interface_q", "-C", "c1"), 4, "unknown interface 'interface_q'"),
        (("run", "interface_a", "-C", "c1", "--version", "5"), 4, "unknown version 5"),
        (("tenants", "show", "c9"), 4, "unknown tenant 'c9'"),
        (("interfaces", "show", "iq"), 4, "unknown interface 'iq'"),
        (("plugins", "list", "-C", "c9"), 4, "unknown tenant 'c9'"),
        (("run", "price_quote", "-C", "c1", "-a", "quantity=x"), 5, "quantity: expected"),
    ],
)
def test_real_errors_as_json(invoke: Invoke, args: tuple[str, ...], code: int, needle: str) -> None:
    result = invoke(*args, "--json")
    assert result.exit_code == code
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == code
    assert needle in error["message"]
    assert result.stdout == ""


def test_without_json_error_is_text(invoke: Invoke) -> None:
    result = invoke("tenants", "show", "c9")
    assert result.exit_code == 4
    assert result.stderr == "error: unknown tenant 'c9'. Known tenants: c1, c2, c3.\n"


def test_message_is_not_read_as_markup(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "[red]nope[/red]")
    assert result.exit_code == 4
    assert "'[red]nope[/red]'" in result.stderr


def test_unexpected_exception_is_internal_error(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_with(monkeypatch, RuntimeError("the disk is made of cheese"))
    result = invoke("tenants", "list")
    assert result.exit_code == 1
    assert_no_traceback(result)
    err = " ".join(result.stderr.split())
    assert "internal error: RuntimeError: the disk is made of cheese" in err
    assert "--debug" in err
    assert result.stdout == ""


def test_unexpected_exception_as_json(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_with(monkeypatch, RuntimeError("cheese"))
    result = invoke("tenants", "list", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == 1
    assert error["message"].startswith("internal error: RuntimeError: cheese")


def test_debug_shows_internal_error(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_with(monkeypatch, RuntimeError("cheese"))
    result = invoke("--debug", "tenants", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback")
    assert "RuntimeError: cheese" in result.stderr
    assert "internal error: RuntimeError: cheese" in result.stderr


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_debug_env_shows_internal_error(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    fail_with(monkeypatch, RuntimeError("cheese"))
    monkeypatch.setenv("CATALOG_DEBUG", value)
    result = invoke("tenants", "list")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("value", ["0", "false", "no"])
def test_debug_env_off_values(invoke: Invoke, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    fail_with(monkeypatch, RuntimeError("cheese"))
    monkeypatch.setenv("CATALOG_DEBUG", value)
    result = invoke("tenants", "list")
    assert_no_traceback(result)


def test_empty_debug_env_is_off(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_with(monkeypatch, RuntimeError("cheese"))
    monkeypatch.setenv("CATALOG_DEBUG", "")
    result = invoke("tenants", "list")
    assert result.exit_code == 1
    assert_no_traceback(result)


def test_debug_keeps_the_documented_exit_code(invoke: Invoke) -> None:
    result = invoke("--debug", "tenants", "show", "c9")
    assert result.exit_code == exit_code(UnknownTenantError)
    assert "Traceback" in result.stderr
    assert "UnknownTenantError" in result.stderr
    assert "error: unknown tenant 'c9'" in result.stderr


def test_debug_env_keeps_the_documented_exit_code(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALOG_DEBUG", "1")
    result = invoke("run", "interface_a", "-C", "c9")
    assert result.exit_code == 4
    assert "Traceback" in result.stderr


def test_keyboard_interrupt_exits_130(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_with(monkeypatch, KeyboardInterrupt())
    result = invoke("tenants", "list")
    assert result.exit_code == 130
    assert_no_traceback(result)


def test_usage_errors_keep_exit_2(invoke: Invoke) -> None:
    result = invoke("tenants", "list", "--bogus")
    assert result.exit_code == 2
    assert "--bogus" in result.stderr
    assert "internal error" not in result.stderr
    result = invoke("frobnicate")
    assert result.exit_code == 2
    assert "frobnicate" in result.stderr


def test_missing_catalog_file(invoke: Invoke, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "catalog.toml"
    result = invoke("tenants", "list", catalog=missing)
    assert result.exit_code == 3
    assert_no_traceback(result)
    assert f"{missing}: catalog file not found" in result.stderr


def test_missing_catalog_file_json(invoke: Invoke, tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    result = invoke("interfaces", "list", "--json", catalog=missing)
    assert result.exit_code == 3
    error = json.loads(result.stderr)["error"]
    assert error == {
        "message": f"{missing}: catalog file not found",
        "kind": "config",
        "exit_code": 3,
    }


def test_missing_catalog_short_option(invoke: Invoke, tmp_path: Path) -> None:
    missing = tmp_path / "gone.toml"
    result = invoke("-c", str(missing), "tenants", "list", catalog=None)
    assert result.exit_code == 3
    assert "gone.toml" in result.stderr


def test_help_needs_no_catalog(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("--help", catalog=tmp_path / "absent.toml")
    assert result.exit_code == 0
    assert "run" in result.stdout
    assert "check" in result.stdout


ENV_CATALOG = """\
    [catalog]
    description = "selected through CATALOG_FILE"

    [tenants.zeta]
    description = "only in the env catalog"
    """


def test_catalog_file_env_selects_catalog(
    invoke: Invoke, write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_catalog(ENV_CATALOG)
    monkeypatch.setenv("CATALOG_FILE", str(path))
    result = invoke("tenants", "list", "--json", catalog=None)
    assert result.exit_code == 0, result.stderr
    assert [t["id"] for t in json.loads(result.stdout)] == ["zeta"]
    run = invoke("run", "interface_a", "-C", "zeta", catalog=None)
    assert run.exit_code == 0
    # No [catalog.versions] here: the latest version runs.
    assert run.stdout == "Hello, there!\n"
    assert "(latest)" in run.stderr


def test_catalog_option_wins_over_env(
    invoke: Invoke, write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALOG_FILE", str(write_catalog(ENV_CATALOG)))
    result = invoke("tenants", "list", "--json")  # --catalog: the shipped catalog
    assert result.exit_code == 0
    assert [t["id"] for t in json.loads(result.stdout)] == ["c1", "c2", "c3"]


def test_catalog_file_env_missing(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "env-missing.toml"
    monkeypatch.setenv("CATALOG_FILE", str(missing))
    result = invoke("tenants", "list", catalog=None)
    assert result.exit_code == 3
    assert f"{missing}: catalog file not found" in result.stderr


def test_nearest_catalog_in_working_directory(
    invoke: Invoke, write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_catalog(ENV_CATALOG)
    below = path.parent / "a" / "b"
    below.mkdir(parents=True)
    monkeypatch.chdir(below)
    result = invoke("tenants", "list", "--json", catalog=None)
    assert result.exit_code == 0, result.stderr
    assert [t["id"] for t in json.loads(result.stdout)] == ["zeta"]


def test_failed_tenant_exit_6(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        """\
        [catalog]
        plugin_dirs = ["plugins"]

        [tenants.t]
        plugins = ["acme.boom"]
        """,
        {"plugins/acme/boom.py": "import not_a_module_anywhere_1234\n"},
    )
    result = invoke("run", "interface_a", "-C", "t", catalog=path)
    assert result.exit_code == 6
    assert_no_traceback(result)
    err = " ".join(result.stderr.split())
    assert "plugin 'acme.boom'" in err
    assert "fails closed" in err
    assert "ModuleNotFoundError" in err


def test_missing_hookspec_module_is_a_config_error(
    invoke: Invoke, write_catalog: WriteCatalog
) -> None:
    path = write_catalog(
        """\
        [catalog]
        hookspecs = ["not_a_module_anywhere_5678"]
        """
    )
    result = invoke("interfaces", "list", catalog=path)
    assert result.exit_code == 3
    assert_no_traceback(result)
    assert "catalog.hookspecs: item 0: no importable module named" in result.stderr


def test_declaration_error_exit_9(
    invoke: Invoke, write_catalog: WriteCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad_specs_5678.py").write_text(
        "from catalog_cli import entrypoint\n"
        "@entrypoint\n"
        "def shipping_v1(ctx, weight) -> float: ...\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write_catalog(
        """\
        [catalog]
        hookspecs = ["bad_specs_5678"]
        """
    )
    result = invoke("interfaces", "list", catalog=path)
    assert result.exit_code == 9
    assert_no_traceback(result)
    assert "module bad_specs_5678 hook shipping_v1" in result.stderr
    assert "parameter 'weight' needs a type annotation" in result.stderr


# -- did you mean --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "choices", "expected"),
    [
        ("C1", ["c1", "c2"], "c1"),  # case
        ("interfce_a", ["interface_a", "price_quote"], "interface_a"),  # similar
        ("cl", ["c1", "x9"], "c1"),  # one typo, short name
        ("c0", ["c1", "c2", "c3"], None),  # one typo from each: no honest guess
        ("ab", ["ba", "zz"], "ba"),  # swapped
        ("abc", ["ab", "zzzz"], "ab"),  # dropped
        ("zzzzzz", ["interface_a"], None),
        ("x", [], None),
    ],
)
def test_closest_name(name: str, choices: list[str], expected: str | None) -> None:
    from catalog_cli.errors import closest

    assert closest(name, choices) == expected
