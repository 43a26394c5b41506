"""The compiled argument check agrees with the general one on every input (property-based)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog_cli import Catalog
from catalog_cli.errors import InvalidArgumentsError
from tests.conftest import SHIPPED

CATALOG = Catalog(SHIPPED)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["en", "es", "de", "fr", "", "Ada"]),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)
TYPED = {
    "str": st.text(max_size=5),
    "int": st.integers(),
    "bool": st.booleans(),
    "float": st.floats(allow_nan=True, allow_infinity=True),
}


def _typed(display: str) -> st.SearchStrategy[Any]:
    """Mostly values of the declared type (edge cases included), sometimes anything."""
    if display.startswith("Literal["):
        fitting: st.SearchStrategy[Any] = st.sampled_from(["en", "es", "de", "fr"])
    else:
        fitting = TYPED[display]
    return st.one_of(fitting, fitting, fitting, values)


names = st.sampled_from(["name", "language", "vip", "unit_price", "quantity", "country", "x"])


def _outcome(bind: Any, arguments: dict[str, Any]) -> Any:
    try:
        return ("ok", bind(dict(arguments)))
    except InvalidArgumentsError as exc:
        return ("invalid", exc.problems)


@pytest.mark.parametrize(
    ("interface", "version"), [("interface_a", 1), ("interface_a", 2), ("price_quote", 1)]
)
@settings(max_examples=300, deadline=None)
@given(arguments=st.dictionaries(names, values, max_size=4))
def test_compiled_check_matches_the_general_one(
    interface: str, version: int, arguments: dict[str, Any]
) -> None:
    declared = CATALOG.interface(interface).versions[version]
    assert declared.bind is not type(declared).bind  # the compiled one is in place
    assert _outcome(declared.bind, arguments) == _outcome(declared._bind, arguments)


class _Text(str):
    """A str subclass: not exactly str, so it must take the general path."""


EDGE_VALUES = [
    float("nan"),
    float("inf"),
    -float("inf"),
    1.5,
    2,
    True,
    0,
    "",
    "en",
    "fr",
    _Text("en"),
    None,
    [1],
    {"a": 1},
]


@pytest.mark.parametrize(
    ("interface", "version"), [("interface_a", 1), ("interface_a", 2), ("price_quote", 1)]
)
@pytest.mark.parametrize("edge", EDGE_VALUES, ids=repr)
def test_compiled_check_on_edge_values(interface: str, version: int, edge: Any) -> None:
    declared = CATALOG.interface(interface).versions[version]
    typical = {"str": "Ada", "int": 3, "bool": False, "float": 2.5}
    for target in declared.parameters:
        arguments = {
            p.name: edge if p is target else typical.get(p.annotation, "en")
            for p in declared.parameters
        }
        assert _outcome(declared.bind, arguments) == _outcome(declared._bind, arguments), (
            target.name
        )
