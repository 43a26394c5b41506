"""Where nesting and number limits sit: exactly 100 levels pass, 101 do not, the same in a
catalog file, in ``--args`` and in a method's arguments from Python; integers beyond any float
are invalid arguments for a float parameter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli._json import MAX_DEPTH, DataError, loads, too_deep
from catalog_cli.config import parse_config
from catalog_cli.errors import ConfigError, InvalidArgumentsError
from tests.conftest import WriteCatalog

ECHO_SPEC = '''
"""Give back what it was given."""

from __future__ import annotations

from typing import Any

from catalog_cli import Context, entrypoint


@entrypoint
def echo_v1(ctx: Context, data: Any = None, ratio: float = 0.0) -> Any:
    """``data``, as given."""
'''
ECHO_IMPL = """
from catalog_cli import hookimpl


@hookimpl
def echo_v1(ctx, data, ratio):
    return data
"""


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_the_limit_is_100_levels() -> None:
    assert MAX_DEPTH == 100
    assert too_deep(nested(100)) is None
    assert too_deep(nested(101)) == (0,) * 100
    assert too_deep({"a": nested(100)}, counted=False) is None
    assert too_deep({"a": nested(101)}, counted=False) == ("a", *(0,) * 100)
    assert too_deep({"a": {"b": [{"c": []}]}}, 3) == ("a", "b", 0)
    assert too_deep("text") is None and too_deep(5) is None


def test_json_text_within_and_beyond_the_limit() -> None:
    assert too_deep(loads("[" * 100 + "]" * 100)) is None
    with pytest.raises(DataError, match="nested more than 100 levels deep"):
        loads("[" * 101 + "]" * 101)
    with pytest.raises(DataError, match="nested more than 100 levels deep"):
        loads("[" * 50_000 + "]" * 50_000)  # past the parser's recursion limit
    with pytest.raises(DataError, match="a number too long to read"):
        loads("9" * 5000)
    assert loads('{"a": 1, "a": 2}') == {"a": 2}  # JSON as JSON reads it
    with pytest.raises(DataError, match="the key 'a' is given twice"):
        loads('{"a": 1, "a": 2}', strict=True)
    with pytest.raises(DataError, match="lone surrogate"):
        loads('{"a": "\\udc80"}', strict=True)
    with pytest.raises(DataError, match="not valid JSON") as caught:
        loads("{")
    assert caught.value.reason == "Expecting property name enclosed in double quotes"


@pytest.mark.parametrize(("levels", "ok"), [(100, True), (101, False)])
def test_a_catalog_file_nests_up_to_the_limit(levels: int, ok: bool) -> None:
    text = "x = " + "[" * levels + "]" * levels + "\n"
    if ok:
        with pytest.raises(ConfigError, match="x: unknown key"):  # parsed, then checked
            parse_config(text, Path("catalog.toml"))
        return
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("catalog.toml"))
    assert str(caught.value) == (
        "catalog.toml:1: x: arrays or tables nested more than 100 levels deep (the limit)"
    )


@pytest.fixture
def echo(write_catalog: WriteCatalog) -> Catalog:
    path = write_catalog(
        "[tenants.t]\n",
        {"hookspecs/echo.py": ECHO_SPEC, "builtin_plugins/echo.py": ECHO_IMPL},
        example=False,
    )
    return Catalog(path)


def test_an_argument_nests_up_to_the_limit(echo: Catalog) -> None:
    with echo:
        assert echo.run("echo", customer="t", data=nested(100)) == nested(100)
        with pytest.raises(InvalidArgumentsError) as caught:
            echo.run("echo", customer="t", data=nested(101))
        assert caught.value.problems == {
            "data": "arrays or objects nested more than 100 levels deep (the limit)"
        }
        deep: dict[str, Any] = {}
        for _ in range(5000):  # deeper than anything recursive could walk
            deep = {"a": deep}
        with pytest.raises(InvalidArgumentsError, match="data: arrays or objects nested"):
            echo.run("echo", customer="t", data=deep)


@pytest.mark.parametrize(
    "value", [10**400, -(10**400), 10**5000], ids=["400-digits", "negative", "5000-digits"]
)
def test_an_integer_beyond_any_float_is_an_invalid_float(echo: Catalog, value: int) -> None:
    with echo, pytest.raises(InvalidArgumentsError) as caught:
        echo.run("echo", customer="t", ratio=value)
    assert caught.value.problems["ratio"].startswith("expected a finite number, got int")


def test_a_large_float_that_fits_is_taken(echo: Catalog) -> None:
    with echo:
        assert echo.run("echo", customer="t", ratio=10**300, data=1) == 1
