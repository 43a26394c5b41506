"""The ``logging`` interceptor: one record per call on the logger ``catalog.calls``."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import ConfigError, InvalidArgumentsError, PluginCallError
from catalog_cli.interceptors import log
from tests.conftest import MakeCatalog

# A tenant plugin that fails on purpose: quantity 13 divides by zero.
BOOM = """
from catalog_cli import hookimpl


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    if quantity == 13:
        return 1 / 0
    return None
"""

# An interface with secrets among its arguments, nested ones too.
SIGNIN_SPEC = '''
"""Sign a user in."""

from __future__ import annotations

from typing import Any

from catalog_cli import Context, entrypoint


@entrypoint
def signin_v1(
    ctx: Context, user: str, password: str, headers: dict[str, Any] | None = None
) -> str:
    """Who signed in, with the length of the password and the headers the method saw."""
'''

SIGNIN_BUILTIN = """
from __future__ import annotations

from catalog_cli import Context, hookimpl


@hookimpl
def signin_v1(ctx: Context, user: str, password: str, headers):
    return f"{user}:{password}:{headers!r}"
"""


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == log.LOGGER]


def extra(record: logging.LogRecord) -> dict[str, Any]:
    """The record's attributes: the interceptor's fields are among them."""
    return vars(record)


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=log.LOGGER)


@pytest.fixture
def logged(make_catalog: MakeCatalog) -> Callable[..., Catalog]:
    """A catalog with the logging interceptor (``section``: more of [interceptors.logging])
    and tenants ``t`` (with the failing plugin) and ``u``; ``extra`` is appended."""

    def make(section: str = "", extra: str = "") -> Catalog:
        toml = (
            '[catalog]\nplugin_dirs = ["plugins"]\n'
            f"[interceptors.logging]\n{textwrap.dedent(section)}\n"
            '[tenants.t]\nplugins = ["boom"]\n'
            "[tenants.u]\n"
            f"{textwrap.dedent(extra)}"
        )
        return make_catalog(toml, {"plugins/boom.py": BOOM})

    return make


@pytest.fixture
def signin(
    make_catalog: MakeCatalog, new_module: Callable[[str, str], str]
) -> Callable[[str], Catalog]:
    """A catalog with the ``signin`` interface and the logging interceptor configured by the
    given ``settings = {...}`` line, for tenant ``t``."""
    spec = new_module("signin_spec", SIGNIN_SPEC)
    builtin = new_module("signin_builtin", SIGNIN_BUILTIN)

    def make(settings: str) -> Catalog:
        return make_catalog(
            f"""
            [catalog]
            hookspecs = ["{spec}"]
            builtins = ["{builtin}"]
            [interceptors.logging]
            {settings}
            [tenants.t]
            """
        )

    return make


# -- what a record holds -------------------------------------------------------------------


def test_a_call_that_succeeds_gives_one_record_with_its_facts(
    logged: Callable[..., Catalog],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter([100.0, 100.0125])
    monkeypatch.setattr(log, "_now", lambda: next(clock))
    catalog = logged()
    outcome = catalog.execute(
        "price_quote", customer="t", arguments={"unit_price": 10.0, "quantity": 2}
    )

    (record,) = records(caplog)
    assert record.levelno == logging.INFO
    assert extra(record)["tenant"] == "t"
    assert extra(record)["interface"] == "price_quote"
    assert extra(record)["version"] == 1
    assert extra(record)["version_source"] == "latest"
    assert extra(record)["call_id"] == outcome.call_id
    assert extra(record)["duration_ms"] == 12.5
    assert extra(record)["outcome"] == "ok"
    assert extra(record)["error_type"] is None
    assert extra(record)["error_message"] is None
    assert record.getMessage() == (
        f"price_quote v1 (latest) for tenant 't' ok in 12.500 ms [call {outcome.call_id}]"
    )


def test_each_call_gets_its_own_record(
    logged: Callable[..., Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    catalog = logged()
    for _ in range(3):
        catalog.run("price_quote", customer="t", unit_price=1.0, quantity=1)
    catalog.run("interface_a", customer="u", version=2, name="Ada")
    assert [
        (extra(r)["tenant"], extra(r)["interface"], extra(r)["version_source"])
        for r in records(caplog)
    ] == [
        ("t", "price_quote", "latest"),
        ("t", "price_quote", "latest"),
        ("t", "price_quote", "latest"),
        ("u", "interface_a", "requested"),
    ]
    assert len({extra(r)["call_id"] for r in records(caplog)}) == 4


def test_a_failing_call_is_logged_with_its_error_and_reraised_unchanged(
    logged: Callable[..., Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    catalog = logged()
    with pytest.raises(PluginCallError) as info:
        catalog.run("price_quote", customer="t", unit_price=1.0, quantity=13)

    # the catalog still sees the plugin's own exception: it blames the plugin for it
    assert info.value.plugin == "boom"
    assert type(info.value.cause) is ZeroDivisionError
    assert str(info.value.cause) == "division by zero"
    (record,) = records(caplog)
    assert record.levelno == logging.WARNING
    assert extra(record)["outcome"] == "error"
    assert extra(record)["error_type"] == "ZeroDivisionError"
    assert extra(record)["error_message"] == "division by zero"
    assert extra(record)["call_id"] == info.value.call_id
    assert record.getMessage().endswith(
        f"failed in {extra(record)['duration_ms']:.3f} ms [call {info.value.call_id}]: "
        "ZeroDivisionError: division by zero"
    )


def test_a_catalog_error_from_the_method_is_logged_and_passes_through(
    logged: Callable[..., Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    catalog = logged()
    with pytest.raises(InvalidArgumentsError, match="quantity: must be >= 1"):
        catalog.run("price_quote", customer="u", unit_price=1.0, quantity=0)
    (record,) = records(caplog)
    assert extra(record)["error_type"] == "InvalidArgumentsError"
    assert "quantity: must be >= 1" in extra(record)["error_message"]


def test_levels_come_from_the_settings(
    logged: Callable[..., Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    catalog = logged('settings = { level = "DEBUG", error_level = "ERROR" }')
    catalog.run("price_quote", customer="t", unit_price=1.0, quantity=1)
    with pytest.raises(PluginCallError):
        catalog.run("price_quote", customer="t", unit_price=1.0, quantity=13)
    assert [(r.levelno, extra(r)["outcome"]) for r in records(caplog)] == [
        (logging.DEBUG, "ok"),
        (logging.ERROR, "error"),
    ]


def test_a_tenant_overrides_the_levels(
    logged: Callable[..., Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    catalog = logged(extra='[tenants.u.interceptors.logging]\nlevel = "WARNING"\n')
    catalog.run("price_quote", customer="t", unit_price=1.0, quantity=1)
    catalog.run("price_quote", customer="u", unit_price=1.0, quantity=1)
    assert [(extra(r)["tenant"], r.levelno) for r in records(caplog)] == [
        ("t", logging.INFO),
        ("u", logging.WARNING),
    ]


def test_no_record_is_built_when_the_logger_is_not_enabled_for_the_level(
    logged: Callable[..., Catalog],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.WARNING, logger=log.LOGGER)
    built: list[object] = []
    real = log._build

    def spy(*args: Any) -> Any:
        built.append(args)
        return real(*args)

    monkeypatch.setattr(log, "_build", spy)
    catalog = logged("settings = { arguments = true }")
    catalog.run("price_quote", customer="t", unit_price=1.0, quantity=1)  # INFO: off
    assert built == []
    assert records(caplog) == []
    with pytest.raises(PluginCallError):
        catalog.run("price_quote", customer="t", unit_price=1.0, quantity=13)  # WARNING: on
    assert len(built) == 1
    assert [extra(r)["outcome"] for r in records(caplog)] == ["error"]


def test_canary_calls_are_marked(
    logged: Callable[..., Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    catalog = logged(
        extra="""
        [tenants.c]
        versions = { interface_a = 1 }
        [tenants.c.canary.interface_a]
        version = 2
        share = 0.5
        key = "name"
        """
    )
    for index in range(40):
        catalog.run("interface_a", customer="c", name=f"user{index}")
    seen = {(extra(r)["version"], extra(r)["version_source"]) for r in records(caplog)}
    assert seen == {(1, "tenant"), (2, "canary")}
    assert all("(canary)" in r.getMessage() for r in records(caplog) if extra(r)["version"] == 2)


# -- arguments and secrets -----------------------------------------------------------------


def test_arguments_are_left_out_by_default(
    signin: Callable[[str], Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    catalog = signin("")
    catalog.run("signin", customer="t", user="ada", password="hunter2")
    (record,) = records(caplog)
    assert extra(record)["arguments"] is None
    assert "ada" not in record.getMessage()
    assert "hunter2" not in record.getMessage()


def test_secrets_are_redacted_in_nested_arguments_too(
    signin: Callable[[str], Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    catalog = signin("settings = { arguments = true }")
    headers = {
        "Authorization": "Bearer abc",
        "accept": "text/plain",
        "inner": {"X-Api-Key": "k1", "session_TOKEN": "t1", "note": "keep"},
        "list": [{"client_secret": "s1", "id": 7}],
    }
    result = catalog.run("signin", customer="t", user="ada", password="hunter2", headers=headers)

    # the method got the real values: only the record is redacted
    assert result == f"ada:hunter2:{headers!r}"
    (record,) = records(caplog)
    assert extra(record)["arguments"] == {
        "user": "ada",
        "password": "***",
        "headers": {
            "Authorization": "***",
            "accept": "text/plain",
            "inner": {"X-Api-Key": "***", "session_TOKEN": "***", "note": "keep"},
            "list": [{"client_secret": "***", "id": 7}],
        },
    }
    message = record.getMessage()
    assert "'user': 'ada'" in message
    for secret in ("hunter2", "Bearer abc", "k1", "t1", "s1"):
        assert secret not in message


def test_redact_replaces_the_default_names(
    signin: Callable[[str], Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    catalog = signin('settings = { arguments = true, redact = ["USER"] }')
    catalog.run("signin", customer="t", user="ada", password="hunter2")
    (record,) = records(caplog)
    assert extra(record)["arguments"] == {"user": "***", "password": "hunter2", "headers": None}


def test_a_record_that_cannot_be_built_leaves_the_call_alone(
    signin: Callable[[str], Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    catalog = signin("settings = { arguments = true }")
    headers = {"inner": Unprintable(), "x": 1}
    with pytest.raises(PluginCallError) as info:
        # the method itself formats the headers: it fails, and its error must come through
        catalog.run("signin", customer="t", user="ada", password="pw", headers=headers)
    assert isinstance(info.value.cause, RuntimeError)
    (record,) = records(caplog)
    assert record.getMessage().startswith("could not build the record of call")
    assert record.exc_info is not None


def test_redact_helper_keeps_containers_and_other_values() -> None:
    value = {"a": ({"token": 1}, [{"b": 2}]), "Password2": {"x": 1}, 3: "three"}
    assert log.redact(value, ("password", "token")) == {
        "a": ({"token": "***"}, [{"b": 2}]),
        "Password2": "***",
        3: "three",
    }


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "extra", "key"),
    [
        ('settings = { level = "LOUD" }', "", "interceptors.logging.settings.level"),
        ('settings = { level = "ERROR" }', "", "interceptors.logging.settings.level"),
        ('settings = { error_level = "info" }', "", "interceptors.logging.settings.error_level"),
        ('settings = { arguments = "yes" }', "", "interceptors.logging.settings.arguments"),
        ('settings = { redact = "password" }', "", "interceptors.logging.settings.redact"),
        ("settings = { lvl = 1 }", "", "interceptors.logging.settings.lvl"),
        (
            "",
            '[tenants.t.interceptors.logging]\nlevel = "LOUD"\n',
            "tenants.t.interceptors.logging.level",
        ),
    ],
)
def test_bad_settings_make_the_tenant_fail_closed(
    logged: Callable[..., Catalog],
    caplog: pytest.LogCaptureFixture,
    section: str,
    extra: str,
    key: str,
) -> None:
    catalog = logged(section, extra)
    with pytest.raises(ConfigError) as info:
        catalog.run("price_quote", customer="t", unit_price=1.0, quantity=1)
    assert info.value.tenant == "t"
    assert info.value.key == key
    assert key in str(info.value)
    assert records(caplog) == []


def test_a_bad_override_fails_only_its_tenant(
    logged: Callable[..., Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    catalog = logged(extra='[tenants.t.interceptors.logging]\nerror_level = "LOUD"\n')
    with pytest.raises(ConfigError, match=r"tenants\.t\.interceptors\.logging\.error_level"):
        catalog.run("price_quote", customer="t", unit_price=1.0, quantity=1)
    catalog.run("price_quote", customer="u", unit_price=1.0, quantity=1)
    assert [extra(r)["tenant"] for r in records(caplog)] == ["u"]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('include = { tenants = ["t"] }', {("t", "price_quote"), ("t", "interface_a")}),
        ('exclude = { tenants = ["t"] }', {("u", "price_quote"), ("u", "interface_a")}),
        ('include = { interfaces = ["price_*"] }', {("t", "price_quote"), ("u", "price_quote")}),
        (
            'exclude = { interfaces = ["price_quote"] }',
            {("t", "interface_a"), ("u", "interface_a")},
        ),
        (
            'include = { tenants = ["t", "u"] }\nexclude = { tenants = ["u"] }',
            {("t", "price_quote"), ("t", "interface_a")},
        ),
        ("enabled = false", set()),
    ],
)
def test_scope_decides_which_calls_are_logged(
    logged: Callable[..., Catalog],
    caplog: pytest.LogCaptureFixture,
    section: str,
    expected: set[tuple[str, str]],
) -> None:
    catalog = logged(section)
    for tenant in ("t", "u"):
        catalog.run("price_quote", customer=tenant, unit_price=1.0, quantity=1)
        catalog.run("interface_a", customer=tenant, version=2, name="Ada")
    assert {(extra(r)["tenant"], extra(r)["interface"]) for r in records(caplog)} == expected
    assert len(records(caplog)) == len(expected)


def test_the_settings_schema_is_described() -> None:
    described = {o["name"]: o for o in log.PLUGIN.settings.describe()}
    assert described["level"]["default"] == "INFO"
    assert described["error_level"]["default"] == "WARNING"
    assert described["arguments"]["default"] is False
    assert described["redact"]["default"] == [
        "password",
        "secret",
        "token",
        "api_key",
        "authorization",
    ]
    assert log.ORDER == 100
