"""``catalog run``: results, argument parsing, output streams and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import Result

from catalog_cli.cli._exits import exit_code
from catalog_cli.errors import CallTimeoutError, PluginCallError, UnknownTenantError
from tests.conftest import Invoke, WriteCatalog

C1_V1 = "Hello, there!\n-- The Acme Retail team\n"
C1_V2 = "Hi there, welcome back!\n-- The Acme Retail team\n"
C2_V2 = "Dear there,\nGlobex Wholesale B.V., Chamber of Commerce 12345678.\n"
C3_V1 = "Hello, there!\n"

TROUBLE_TOML = """\
    [catalog]
    plugin_dirs = ["plugins"]

    [tenants.raiser]
    description = "a plugin that raises in a plugin point"
    plugins = ["acme.raises"]

    [tenants.hang]
    description = "a plugin that never answers in time"
    plugins = ["acme.hangs"]
    """

TROUBLE_FILES = {
    "plugins/acme/raises.py": """\
        from catalog_cli import hookimpl


        @hookimpl
        def interface_a_v1_signature(ctx, name):
            raise ValueError("the signature exploded")
        """,
    "plugins/acme/hangs.py": """\
        import time

        from catalog_cli import hookimpl


        @hookimpl
        def interface_a_v1_signature(ctx, name):
            time.sleep(3)
            return "too late"
        """,
}


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich folds long table cells at 80 columns; keep every value on one line.
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def trouble(write_catalog: WriteCatalog) -> Path:
    return write_catalog(TROUBLE_TOML, TROUBLE_FILES)


def run_json(invoke: Invoke, *args: str) -> dict[str, object]:
    result = invoke("run", *args, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def assert_clean_failure(result: Result, code: int) -> None:
    """The command failed with ``code`` through typer.Exit, not an escaping exception."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


# -- results ------------------------------------------------------------------------------


def test_quick_start_prints_c1_v2_text(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "--version", "2", "--customer", "c1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == C1_V2


def test_short_customer_option(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "--version", "2", "-C", "c1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == C1_V2


@pytest.mark.parametrize(
    ("customer", "expected", "version", "source"),
    [
        ("c1", C1_V1, 1, "catalog"),  # the catalog's default version
        ("c2", C2_V2, 2, "tenant"),  # the tenant's pin
        ("c3", C3_V1, 1, "catalog"),
    ],
)
def test_without_version_uses_resolved_version(
    invoke: Invoke, customer: str, expected: str, version: int, source: str
) -> None:
    result = invoke("run", "interface_a", "--customer", customer)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected
    assert f"interface_a v{version} ({source}) for {customer}" in result.stderr


def test_latest_version_when_no_default(invoke: Invoke) -> None:
    data = run_json(
        invoke, "price_quote", "-C", "c3", "--arg", "unit_price=1", "--arg", "quantity=1"
    )
    assert data["version"] == 1
    assert data["version_source"] == "latest"


def test_results_differ_between_versions(invoke: Invoke) -> None:
    v1 = invoke("run", "interface_a", "--version", "1", "-C", "c1")
    v2 = invoke("run", "interface_a", "--version", "2", "-C", "c1")
    assert (v1.exit_code, v2.exit_code) == (0, 0)
    assert v1.stdout == C1_V1
    assert v2.stdout == C1_V2
    assert v1.stdout != v2.stdout


def test_results_differ_between_customers(invoke: Invoke) -> None:
    outputs = {
        customer: invoke("run", "interface_a", "--version", "2", "-C", customer).stdout
        for customer in ("c1", "c2", "c3")
    }
    assert outputs["c1"] == C1_V2
    assert outputs["c2"] == C2_V2
    assert outputs["c3"] == "Hello, there!\n"
    assert len(set(outputs.values())) == 3


def test_requested_version_wins_over_tenant_pin(invoke: Invoke) -> None:
    data = run_json(invoke, "interface_a", "-C", "c2", "--version", "1")
    assert data["version"] == 1
    assert data["version_source"] == "requested"
    assert data["result"] == "Hello, there!\nGlobex Wholesale B.V."


# -- arguments ------------------------------------------------------------------------------


def test_arg_str(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "c3", "--arg", "name=Ada")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Hello, Ada!\n"


def test_arg_value_may_contain_equals_sign(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "c3", "-a", "name=x=y")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Hello, x=y!\n"


@pytest.mark.parametrize("text", ["true", "yes", "1", "on", "TRUE"])
def test_arg_bool_true(invoke: Invoke, text: str) -> None:
    data = run_json(invoke, "interface_a", "-C", "c3", "--version", "2", "--arg", f"vip={text}")
    assert data["result"] == "Hello, there!\nAs a VIP member you get priority support."


@pytest.mark.parametrize("text", ["false", "no", "0", "off"])
def test_arg_bool_false(invoke: Invoke, text: str) -> None:
    data = run_json(invoke, "interface_a", "-C", "c3", "--version", "2", "--arg", f"vip={text}")
    assert data["result"] == "Hello, there!"


def test_arg_literal(invoke: Invoke) -> None:
    data = run_json(
        invoke, "interface_a", "-C", "c1", "--version", "2", "-a", "language=de", "-a", "name=Ada"
    )
    # c1's greeting plugin only answers in English: the catalog greets in German.
    assert data["result"] == "Hallo, Ada!\n-- The Acme Retail team"


def test_arg_int_and_float(invoke: Invoke) -> None:
    data = run_json(
        invoke, "price_quote", "-C", "c1", "--arg", "unit_price=2.5", "--arg", "quantity=12"
    )
    result = data["result"]
    assert isinstance(result, dict)
    assert result["subtotal"] == pytest.approx(30.0)
    # loyalty 5 % + bulk 10 % (quantity >= 10)
    assert result["discount"] == pytest.approx(4.5)
    assert result["tax_rate"] == pytest.approx(0.21)
    assert result["total"] == pytest.approx(30.86)
    assert result["currency"] == "EUR"


def test_int_argument_below_bulk_threshold(invoke: Invoke) -> None:
    data = run_json(invoke, "price_quote", "-C", "c1", "-a", "unit_price=10", "-a", "quantity=2")
    result = data["result"]
    assert isinstance(result, dict)
    assert result["discount"] == pytest.approx(1.0)  # loyalty only


def test_a_dict_result_into_a_pipe_is_json(invoke: Invoke) -> None:
    result = invoke("run", "price_quote", "-C", "c3", "-a", "unit_price=10", "-a", "quantity=2")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "subtotal": 20.0,
        "discount": 0.0,
        "tax_rate": 0.21,
        "total": 24.2,
        "currency": "EUR",
    }


def test_args_json_object(invoke: Invoke) -> None:
    data = run_json(
        invoke, "interface_a", "-C", "c3", "--version", "2", "--args", '{"name": "Bo", "vip": true}'
    )
    assert data["result"] == "Hello, Bo!\nAs a VIP member you get priority support."


def test_args_from_file(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "arguments.json"
    path.write_text(json.dumps({"unit_price": 4, "quantity": 5, "country": "DE"}), "utf-8")
    data = run_json(invoke, "price_quote", "-C", "c2", "--args", f"@{path}")
    result = data["result"]
    assert isinstance(result, dict)
    assert result["subtotal"] == pytest.approx(20.0)
    assert result["tax_rate"] == pytest.approx(0.0)  # c2: exports outside NL are untaxed
    assert result["total"] == pytest.approx(22.5)  # + handling fee 2.5


def test_args_from_stdin(invoke: Invoke) -> None:
    result = invoke(
        "run", "interface_a", "-C", "c1", "--args", "-", "--json", input='{"name": "Stdin"}'
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["result"] == "Hello, Stdin!\n-- The Acme Retail team"


def test_arg_wins_over_args(invoke: Invoke) -> None:
    data = run_json(
        invoke,
        "interface_a",
        "-C",
        "c3",
        "--version",
        "2",
        "--args",
        '{"name": "FromJson", "vip": true}',
        "--arg",
        "name=FromArg",
    )
    assert data["result"] == "Hello, FromArg!\nAs a VIP member you get priority support."


# -- output ---------------------------------------------------------------------------------


def test_json_output(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "--version", "2", "-C", "c1", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["interface"] == "interface_a"
    assert data["version"] == 2
    assert data["version_source"] == "requested"
    assert data["customer"] == "c1"
    assert isinstance(data["call_id"], str)
    assert data["call_id"]
    assert isinstance(data["seconds"], float)
    assert data["result"] == C1_V2.rstrip("\n")
    # No facts line in JSON mode: stderr stays empty.
    assert result.stderr == ""


def test_call_ids_differ_between_calls(invoke: Invoke) -> None:
    first = run_json(invoke, "interface_a", "-C", "c1")
    second = run_json(invoke, "interface_a", "-C", "c1")
    assert first["call_id"] != second["call_id"]


def test_facts_line_on_stderr_result_on_stdout(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "--version", "2", "-C", "c1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == C1_V2
    assert "call " not in result.stdout
    assert "interface_a v2 (requested) for c1" in result.stderr
    assert " ms" in result.stderr
    assert "welcome back" not in result.stderr


# -- errors ---------------------------------------------------------------------------------


def test_unknown_interface(invoke: Invoke) -> None:
    result = invoke("run", "interface_z", "-C", "c1")
    assert_clean_failure(result, 4)
    assert "unknown interface 'interface_z'" in result.stderr
    assert "interface_a, price_quote" in result.stderr
    assert result.stdout == ""


def test_unknown_tenant(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "nope")
    assert_clean_failure(result, 4)
    assert "unknown tenant 'nope'" in result.stderr
    assert "c1, c2, c3" in result.stderr


def test_unknown_version(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "c1", "--version", "9")
    assert_clean_failure(result, 4)
    assert "unknown version 9 of interface 'interface_a'" in result.stderr
    assert "1, 2" in result.stderr


def test_version_zero_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "c1", "--version", "0")
    assert result.exit_code == 2
    assert "--version" in result.stderr


def test_missing_customer_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("run", "interface_a")
    assert result.exit_code == 2
    assert "--customer" in result.stderr


def test_bad_arguments_all_reported_at_once(invoke: Invoke) -> None:
    result = invoke(
        "run",
        "price_quote",
        "-C",
        "c1",
        "--arg",
        "unit_price=cheap",
        "--arg",
        "quantity=1.5",
        "--arg",
        "colour=red",
    )
    assert_clean_failure(result, 5)
    message = result.stderr
    assert "invalid arguments for price_quote v1" in message
    assert "unit_price: expected a number, got 'cheap'" in message
    assert "quantity: expected an integer, got '1.5'" in message
    assert "colour: unknown parameter" in message
    assert result.stdout == ""


def test_unparsable_value_and_missing_parameter_together(invoke: Invoke) -> None:
    result = invoke("run", "price_quote", "-C", "c1", "--arg", "quantity=many")
    assert_clean_failure(result, 5)
    assert "quantity: expected an integer, got 'many'" in result.stderr
    assert "unit_price: missing" in result.stderr
    # The unparsable parameter is not also called missing.
    assert "quantity: missing" not in result.stderr


def test_missing_required_arguments(invoke: Invoke) -> None:
    result = invoke("run", "price_quote", "-C", "c3")
    assert_clean_failure(result, 5)
    assert "unit_price: missing" in result.stderr
    assert "quantity: missing" in result.stderr


def test_wrongly_typed_args_json(invoke: Invoke) -> None:
    result = invoke(
        "run", "price_quote", "-C", "c3", "--args", '{"unit_price": "1", "quantity": true}'
    )
    assert_clean_failure(result, 5)
    assert "unit_price: expected float" in result.stderr
    assert "quantity: expected int" in result.stderr


def test_bad_bool_and_literal(invoke: Invoke) -> None:
    result = invoke(
        "run", "interface_a", "-C", "c1", "--version", "2", "-a", "vip=maybe", "-a", "language=fr"
    )
    assert_clean_failure(result, 5)
    assert "vip: expected a boolean" in result.stderr
    assert "language: expected one of 'en' | 'es' | 'de', got 'fr'" in result.stderr


def test_unknown_parameter_suggests_close_name(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "c1", "--arg", "nmae=Ada")
    assert_clean_failure(result, 5)
    assert "nmae: unknown parameter" in result.stderr
    assert "did you mean 'name'?" in result.stderr


def test_invalid_arguments_raised_by_the_implementation(invoke: Invoke) -> None:
    # The values fit the declared types; the built-in implementation rejects them itself.
    result = invoke("run", "price_quote", "-C", "c1", "-a", "unit_price=-1", "-a", "quantity=0")
    assert_clean_failure(result, 5)
    assert "unit_price: must be >= 0" in result.stderr
    assert "quantity: must be >= 1" in result.stderr


@pytest.mark.parametrize("pair", ["name", "=Ada", " =x"])
def test_malformed_arg_is_usage_error(invoke: Invoke, pair: str) -> None:
    result = invoke("run", "interface_a", "-C", "c1", "--arg", pair)
    assert result.exit_code == 2
    assert "expected NAME=VALUE" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("text", ["[1, 2]", '"name"', "3", "null"])
def test_non_object_args_is_usage_error(invoke: Invoke, text: str) -> None:
    result = invoke("run", "interface_a", "-C", "c1", "--args", text)
    assert result.exit_code == 2
    assert "expected a JSON object" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_json_args_is_usage_error(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "c1", "--args", "{name: Ada}")
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr


def test_args_file_missing_is_usage_error(invoke: Invoke, tmp_path: Path) -> None:
    missing = tmp_path / "nothing.json"
    result = invoke("run", "interface_a", "-C", "c1", "--args", f"@{missing}")
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
    assert "nothing.json" in result.stderr


def test_plugin_raises(invoke: Invoke, trouble: Path) -> None:
    result = invoke("run", "interface_a", "--version", "1", "-C", "raiser", catalog=trouble)
    assert_clean_failure(result, 7)
    message = result.stderr
    assert "plugin 'acme.raises' raised ValueError" in message
    assert "tenant 'raiser'" in message
    assert "the signature exploded" in message
    assert "interface_a v1" in message
    assert result.stdout == ""


def test_plugin_point_not_used_by_version_does_not_raise(invoke: Invoke, trouble: Path) -> None:
    # The raising hook belongs to v1; v2 (the latest) never calls it.
    result = invoke("run", "interface_a", "-C", "raiser", catalog=trouble)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Hello, there!\n"


def test_plugin_raises_with_debug(invoke: Invoke, trouble: Path) -> None:
    result = invoke(
        "--debug", "run", "interface_a", "--version", "1", "-C", "raiser", catalog=trouble
    )
    assert result.exit_code == exit_code(PluginCallError)
    assert "Traceback" in result.stderr
    assert "ValueError" in result.stderr  # the plugin's own exception, chained
    assert "plugin 'acme.raises' raised ValueError" in result.stderr


def test_plugin_hangs_times_out(invoke: Invoke, trouble: Path) -> None:
    result = invoke(
        "run", "interface_a", "--version", "1", "-C", "hang", "--timeout", "0.2", catalog=trouble
    )
    assert_clean_failure(result, 8)
    assert "did not finish within 0.2 s" in result.stderr
    assert "tenant 'hang'" in result.stderr
    assert result.stdout == ""


def test_timeout_with_debug_keeps_exit_code(invoke: Invoke, trouble: Path) -> None:
    result = invoke(
        "--debug",
        "run",
        "interface_a",
        "--version",
        "1",
        "-C",
        "hang",
        "--timeout",
        "0.1",
        catalog=trouble,
    )
    assert result.exit_code == exit_code(CallTimeoutError)
    assert "CallTimeoutError" in result.stderr


def test_generous_timeout_returns_result(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "c1", "--timeout", "30")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == C1_V1


def test_unknown_tenant_with_debug_keeps_exit_code(invoke: Invoke) -> None:
    result = invoke("--debug", "run", "interface_a", "-C", "nope")
    assert result.exit_code == exit_code(UnknownTenantError)
    assert "UnknownTenantError" in result.stderr


def test_error_as_json(invoke: Invoke) -> None:
    result = invoke("run", "price_quote", "-C", "c1", "--json")
    assert_clean_failure(result, 5)
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == 5
    assert "unit_price: missing" in error["message"]
    assert result.stdout == ""


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_non_finite_number_argument_exits_5(invoke: Invoke, value: str) -> None:
    result = invoke(
        "run", "price_quote", "-C", "c1", "-a", f"unit_price={value}", "-a", "quantity=1"
    )
    assert_clean_failure(result, 5)
    assert "unit_price: expected a finite number" in result.stderr


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e300"])
def test_bad_timeout_is_a_usage_error(invoke: Invoke, value: str) -> None:
    result = invoke("run", "interface_a", "-C", "c1", "--timeout", value)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_args_file_that_is_not_utf8_is_a_usage_error(invoke: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "args.json"
    bad.write_bytes(b'{"name": "\xff"}')
    result = invoke("run", "interface_a", "-C", "c1", "--args", f"@{bad}")
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_long_text_results_are_not_wrapped(invoke: Invoke) -> None:
    name = "x" * 150
    result = invoke("run", "interface_a", "-C", "c3", "--arg", f"name={name}")
    assert result.exit_code == 0, result.stderr
    assert f"Hello, {name}!" in result.stdout.splitlines()


def test_settings_with_dates_show_as_iso_text(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        """
        [tenants.t]
        [tenants.t.settings."builtin_plugins.price_quote"]
        since = 2026-01-31T10:00:00
        rates = { nl = 0.21 }
        """
    )
    shown = invoke("tenants", "show", "t", catalog=path)
    assert shown.exit_code == 0, shown.stderr
    assert '"2026-01-31T10:00:00"' in shown.stdout
    data = json.loads(invoke("tenants", "show", "t", "--json", catalog=path).stdout)
    assert data["settings"]["builtin_plugins.price_quote"] == {
        "since": "2026-01-31T10:00:00",
        "rates": {"nl": 0.21},
    }


def test_verbose_shows_plugin_logs_tagged_with_the_call(
    invoke: Invoke, write_catalog: WriteCatalog
) -> None:
    path = write_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        versions = { interface_a = 1 }
        [tenants.t]
        plugins = ["talker"]
        """,
        {
            "plugins/talker.py": """
            from catalog_cli import hookimpl
            @hookimpl
            def interface_a_v1_signature(ctx, name):
                ctx.log.info("signing for %s", name)
            """
        },
    )
    quiet = invoke("run", "interface_a", "-C", "t", catalog=path)
    assert "signing for" not in quiet.stderr
    loud = invoke("-v", "run", "interface_a", "-C", "t", catalog=path)
    assert loud.exit_code == 0, loud.stderr
    assert "INFO catalog.plugins.talker: signing for there  [tenant=t call=" in loud.stderr
