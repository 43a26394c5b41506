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
