"""The contract lock: ``catalog lock`` records every interface version's published contract,
``catalog check`` fails on a breaking change to it (or to a git revision's, with --against).

Kinds of change are checked on small catalogs written with the test kit, each a pair of
hookspec modules (before and after); the comparison itself also on random contracts, where
purely additive edits must never be taken for breaking ones.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog_cli.cli import _exits as exits
from catalog_cli.config import read_config
from catalog_cli.declarations._compat import KINDS, ContractChange, compare
from catalog_cli.declarations._lock import FORMAT, contract, parse, render
from catalog_cli.errors import LockFileError
from catalog_cli.registry._declared import declared_interfaces
from catalog_cli.testing import write_catalog as kit_write_catalog

from .conftest import REPO, SHIPPED, Invoke, WriteCatalog

TODAY = datetime.date(2026, 1, 1)

HEADER = """\
from __future__ import annotations

from typing import Any, Literal

from catalog_cli import Context, entrypoint, plugin_point
"""

#: The interface the kinds of change are made to.
SHOP = '''
@entrypoint
def shop_v1(ctx: Context, item: str, quantity: int, note: str = "") -> dict[str, float]:
    """Price an order."""


@plugin_point(shop_v1, policy="collect")
def shop_v1_discounts(ctx: Context, subtotal: float, quantity: int) -> float | None:
    """A discount."""


@plugin_point(shop_v1, policy="first")
def shop_v1_tax(ctx: Context, country: str) -> float | None:
    """A tax rate."""
'''

SHOP_V2 = '''
@entrypoint
def shop_v2(ctx: Context, item: str) -> str:
    """Describe an item."""
'''

GREET = '''
@entrypoint
def greet_v1(ctx: Context, name: str) -> str:
    """Greet."""
'''


def contract_of(folder: Path, modules: dict[str, str]) -> dict[str, Any]:
    """The contract of a catalog in ``folder`` whose hookspecs are ``modules`` (name -> body)."""
    files = {f"hookspecs/{name}.py": HEADER + body for name, body in modules.items()}
    path = kit_write_catalog(folder, "[catalog]\n", files)
    return contract(declared_interfaces(read_config(path)).values())


def changes_between(
    tmp_path: Path, before: dict[str, str], after: dict[str, str]
) -> list[ContractChange]:
    return compare(
        contract_of(tmp_path / "before", before),
        contract_of(tmp_path / "after", after),
        today=TODAY,
    )


def edit(old: str, new: str, source: str = SHOP) -> str:
    assert old in source, old
    return source.replace(old, new, 1)


# -- each kind of change ----------------------------------------------------------------------

#: (id, the shop module after the change, kind, effect, point, parameter)
SHOP_CHANGES: list[tuple[str, str, str, str, str | None, str | None]] = [
    (
        "int to str",
        edit("quantity: int, note", "quantity: str, note"),
        "parameter_type_changed",
        "breaking",
        None,
        "quantity",
    ),
    (
        "int to bool",
        edit("quantity: int, note", "quantity: bool, note"),
        "parameter_type_changed",
        "breaking",
        None,
        "quantity",
    ),
    (
        "str to a Literal",
        edit('note: str = ""', 'note: Literal["", "gift"] = ""'),
        "parameter_type_narrowed",
        "breaking",
        None,
        "note",
    ),
    (
        "int to float",
        edit("quantity: int, note", "quantity: float, note"),
        "parameter_type_widened",
        "compatible",
        None,
        "quantity",
    ),
    (
        "int to int or None",
        edit("quantity: int, note", "quantity: int | None, note"),
        "parameter_type_widened",
        "compatible",
        None,
        "quantity",
    ),
    (
        "parameter removed",
        edit(', note: str = ""', ""),
        "parameter_removed",
        "breaking",
        None,
        "note",
    ),
    (
        "parameter renamed",
        edit("item: str", "sku: str"),
        "parameter_renamed",
        "breaking",
        None,
        "item",
    ),
    (
        "required parameter added",
        edit("quantity: int, note", "quantity: int, country: str, note"),
        "required_parameter_added",
        "breaking",
        None,
        "country",
    ),
    (
        "optional parameter added",
        edit('note: str = ""', 'note: str = "", gift: bool = False'),
        "parameter_added",
        "additive",
        None,
        "gift",
    ),
    (
        "default removed",
        edit('note: str = ""', "note: str"),
        "parameter_made_required",
        "breaking",
        None,
        "note",
    ),
    (
        "default added",
        edit("quantity: int, note", "quantity: int = 1, note"),
        "parameter_made_optional",
        "compatible",
        None,
        "quantity",
    ),
    (
        "default changed",
        edit('note: str = ""', 'note: str = "-"'),
        "default_changed",
        "breaking",
        None,
        "note",
    ),
    (
        "return widened",
        edit("-> dict[str, float]:", "-> dict[str, float | None]:"),
        "return_type_widened",
        "breaking",
        None,
        None,
    ),
    (
        "return narrowed",
        edit("-> dict[str, float]:", "-> dict[str, int]:"),
        "return_type_narrowed",
        "compatible",
        None,
        None,
    ),
    (
        "return changed",
        edit("-> dict[str, float]:", "-> str:"),
        "return_type_changed",
        "breaking",
        None,
        None,
    ),
    (
        "point removed",
        SHOP[: SHOP.index('@plugin_point(shop_v1, policy="first")')],
        "point_removed",
        "breaking",
        "tax",
        None,
    ),
    (
        "point added",
        SHOP
        + '''
@plugin_point(shop_v1, policy="collect")
def shop_v1_fees(ctx: Context, subtotal: float) -> float | None:
    """A fee."""
''',
        "point_added",
        "additive",
        "fees",
        None,
    ),
    (
        "point parameter removed",
        edit("subtotal: float, quantity: int) -> float | None", "subtotal: float) -> float | None"),
        "point_parameter_removed",
        "breaking",
        "discounts",
        "quantity",
    ),
    (
        "point parameter added",
        edit(
            "subtotal: float, quantity: int) -> float | None",
            "subtotal: float, quantity: int, item: str) -> float | None",
        ),
        "point_parameter_added",
        "additive",
        "discounts",
        "item",
    ),
    (
        "point parameter renamed",
        edit("country: str", "region: str"),
        "point_parameter_renamed",
        "breaking",
        "tax",
        "country",
    ),
    (
        "point parameter widened",
        edit("subtotal: float, quantity: int)", "subtotal: float, quantity: int | None)"),
        "point_parameter_type_widened",
        "breaking",
        "discounts",
        "quantity",
    ),
    (
        "point parameter narrowed",
        edit("subtotal: float, quantity: int)", "subtotal: int, quantity: int)"),
        "point_parameter_type_narrowed",
        "compatible",
        "discounts",
        "subtotal",
    ),
    (
        "point return narrowed",
        edit("quantity: int) -> float | None", "quantity: int) -> int | None"),
        "point_return_type_narrowed",
        "breaking",
        "discounts",
        None,
    ),
    (
        "point return widened",
        edit("quantity: int) -> float | None", "quantity: int) -> float | str | None"),
        "point_return_type_widened",
        "compatible",
        "discounts",
        None,
    ),
    (
        "None dropped from a collect point's return",
        edit("quantity: int) -> float | None", "quantity: int) -> float"),
        "point_return_type_narrowed",
        "compatible",
        "discounts",
        None,
    ),
    (
        "point policy changed",
        edit('shop_v1, policy="first"', 'shop_v1, policy="collect"'),
        "point_policy_changed",
        "breaking",
        "tax",
        None,
    ),
    (
        "point error policy changed",
        edit('shop_v1, policy="collect"', 'shop_v1, policy="collect", errors="isolate"'),
        "point_error_policy_changed",
        "breaking",
        "discounts",
        None,
    ),
    (
        "deprecated",
        edit("@entrypoint\n", '@entrypoint(deprecated="use v2", sunset="2027-06-30")\n'),
        "deprecation_added",
        "compatible",
        None,
        None,
    ),
    (
        "idempotent",
        edit("@entrypoint\n", "@entrypoint(idempotent=True)\n"),
        "idempotent_added",
        "additive",
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("after", "kind", "effect", "point", "parameter"),
    [case[1:] for case in SHOP_CHANGES],
    ids=[case[0] for case in SHOP_CHANGES],
)
def test_each_kind_of_change_is_found_with_its_effect_and_place(
    tmp_path: Path, after: str, kind: str, effect: str, point: str | None, parameter: str | None
) -> None:
    found = changes_between(tmp_path, {"shop": SHOP}, {"shop": after})
    assert [(c.kind, c.effect, c.interface, c.version, c.point, c.parameter) for c in found] == [
        (kind, effect, "shop", 1, point, parameter)
    ]
    assert kind in KINDS
    assert found[0].breaking is (effect == "breaking")
    assert found[0].detail


DEPRECATED = edit("@entrypoint\n", '@entrypoint(deprecated="use v2", sunset="2025-06-30")\n')


def test_an_idempotent_version_that_stops_promising_it_breaks(tmp_path: Path) -> None:
    idempotent = edit("@entrypoint\n", "@entrypoint(idempotent=True)\n")
    found = changes_between(tmp_path, {"shop": idempotent}, {"shop": SHOP})
    assert [(c.kind, c.effect) for c in found] == [("idempotent_removed", "breaking")]
    # The lock records the promise only where it is made: older locks read the same.
    snapshot = contract_of(tmp_path / "again", {"shop": idempotent})
    assert snapshot["interfaces"]["shop"]["versions"]["1"]["idempotent"] is True
    assert (
        "idempotent"
        not in contract_of(tmp_path / "plain", {"shop": SHOP})["interfaces"]["shop"]["versions"][
            "1"
        ]
    )


@pytest.mark.parametrize(
    ("before", "after", "kind", "effect"),
    [
        (DEPRECATED, SHOP, "deprecation_removed", "compatible"),
        (DEPRECATED, edit("use v2", "use v3", DEPRECATED), "deprecation_changed", "compatible"),
        (DEPRECATED, edit("2025-06-30", "2024-01-01", DEPRECATED), "sunset_changed", "breaking"),
        (DEPRECATED, edit("2025-06-30", "2030-01-01", DEPRECATED), "sunset_changed", "compatible"),
    ],
    ids=["undeprecated", "message", "sunset earlier", "sunset later"],
)
def test_deprecation_changes(
    tmp_path: Path, before: str, after: str, kind: str, effect: str
) -> None:
    found = changes_between(tmp_path, {"shop": before}, {"shop": after})
    assert [(c.kind, c.effect) for c in found] == [(kind, effect)]


def test_a_version_removed_breaks_until_its_locked_sunset_date_has_passed(tmp_path: Path) -> None:
    found = changes_between(tmp_path, {"shop": SHOP + SHOP_V2}, {"shop": SHOP})
    assert [(c.kind, c.effect, c.version) for c in found] == [("version_removed", "breaking", 2)]
    assert "deprecate it" in found[0].detail

    def deprecated_v2(sunset: str) -> str:
        return SHOP + edit(
            "@entrypoint\n", f'@entrypoint(deprecated="x", sunset="{sunset}")\n', SHOP_V2
        )

    found = changes_between(tmp_path / "a", {"shop": deprecated_v2("2027-01-01")}, {"shop": SHOP})
    assert [(c.kind, c.effect) for c in found] == [("version_removed", "breaking")]
    assert "2027-01-01 has not passed" in found[0].detail
    found = changes_between(tmp_path / "b", {"shop": deprecated_v2("2025-12-31")}, {"shop": SHOP})
    assert [(c.kind, c.effect) for c in found] == [("version_retired", "compatible")]


def test_versions_and_interfaces_added_and_removed(tmp_path: Path) -> None:
    found = changes_between(
        tmp_path / "a", {"shop": SHOP}, {"shop": SHOP + SHOP_V2, "greet": GREET}
    )
    assert [(c.kind, c.effect, c.interface, c.version) for c in found] == [
        ("interface_added", "additive", "greet", None),
        ("version_added", "additive", "shop", 2),
    ]
    found = changes_between(tmp_path / "b", {"shop": SHOP, "greet": GREET}, {"shop": SHOP})
    assert [(c.kind, c.effect, c.interface) for c in found] == [
        ("interface_removed", "breaking", "greet")
    ]
    retired = edit("@entrypoint\n", '@entrypoint(deprecated="x", sunset="2020-01-01")\n', GREET)
    found = changes_between(tmp_path / "c", {"shop": SHOP, "greet": retired}, {"shop": SHOP})
    assert [(c.kind, c.effect) for c in found] == [("interface_retired", "compatible")]


def test_a_literal_that_allows_more_values_is_a_wider_parameter(tmp_path: Path) -> None:
    before = edit('note: str = ""', 'note: Literal["", "a"] = ""')
    after = edit('note: str = ""', 'note: Literal["", "a", "b"] = ""')
    found = changes_between(tmp_path, {"shop": before}, {"shop": after})
    assert [(c.kind, c.effect) for c in found] == [("parameter_type_widened", "compatible")]


def test_a_type_written_otherwise_is_no_change(tmp_path: Path) -> None:
    before = edit("quantity: int, note", "quantity: int | str, note")
    after = edit("quantity: int, note", "quantity: str | int, note")
    assert changes_between(tmp_path, {"shop": before}, {"shop": after}) == []


def test_no_change_no_report(tmp_path: Path) -> None:
    assert changes_between(tmp_path, {"shop": SHOP + SHOP_V2}, {"shop": SHOP + SHOP_V2}) == []


# -- the lock file ----------------------------------------------------------------------------


def test_the_lock_records_the_published_contract(tmp_path: Path) -> None:
    recorded = contract_of(tmp_path, {"shop": DEPRECATED})
    version = recorded["interfaces"]["shop"]["versions"]["1"]
    assert recorded["format"] == FORMAT
    assert version["parameters"] == [
        {"name": "item", "type": "str", "required": True},
        {"name": "quantity", "type": "int", "required": True},
        {"name": "note", "type": "str", "required": False, "default": ""},
    ]
    assert version["returns"] == "dict[str, float]"
    assert version["plugin_points"]["discounts"] == {
        "policy": "collect",
        "errors": "raise",
        "parameters": [{"name": "subtotal", "type": "float"}, {"name": "quantity", "type": "int"}],
        "returns": "float | None",
    }
    assert version["deprecated"] == {"message": "use v2", "sunset": "2025-06-30"}


def test_the_lock_text_reads_back_as_the_same_contract(tmp_path: Path) -> None:
    recorded = contract_of(tmp_path, {"shop": SHOP + SHOP_V2, "greet": GREET})
    text = render(recorded)
    assert parse(text, tmp_path / "catalog.lock") == recorded
    assert render(parse(text, tmp_path / "catalog.lock")) == text
    assert text.endswith("}\n")
    assert list(json.loads(text)["interfaces"]) == ["greet", "shop"]


def test_versions_are_in_number_order(tmp_path: Path) -> None:
    versions = "".join(
        f'\n@entrypoint\ndef many_v{n}(ctx: Context) -> int:\n    """V{n}."""\n' for n in (10, 2, 1)
    )
    text = render(contract_of(tmp_path, {"many": versions}))
    assert list(json.loads(text)["interfaces"]["many"]["versions"]) == ["1", "2", "10"]


LOCKS_THAT_ARE_NOT = [
    ("not json", "{", ""),
    ("not an object", "[]", "expected an object"),
    ("no format", '{"interfaces": {}}', "format: missing"),
    ("newer format", '{"format": 99, "interfaces": {}}', "format 99 by a newer task-catalog"),
    ("unknown key", '{"format": 1, "interfaces": {}, "x": 1}', "x: unknown key"),
    (
        "bad version",
        '{"format": 1, "interfaces": {"a": {"versions": {"v1": {}}}}}',
        "interfaces.a.versions.v1: a version is a number",
    ),
    (
        "bad policy",
        '{"format": 1, "interfaces": {"a": {"versions": {"1": {"parameters": [], "returns": "int",'
        ' "deprecated": null, "plugin_points": {"p": {"policy": "all", "errors": "raise",'
        ' "parameters": [], "returns": "int"}}}}}}}',
        "interfaces.a.versions.1.plugin_points.p.policy: expected one of collect, first, wrap",
    ),
    (
        "bad sunset",
        '{"format": 1, "interfaces": {"a": {"versions": {"1": {"parameters": [], "returns": "int",'
        ' "deprecated": {"message": "m", "sunset": "soon"}, "plugin_points": {}}}}}}',
        "deprecated.sunset: expected a date",
    ),
    (
        "default of a required parameter",
        '{"format": 1, "interfaces": {"a": {"versions": {"1": {"returns": "int",'
        ' "deprecated": null, "plugin_points": {}, "parameters": [{"name": "x", "type": "int",'
        ' "required": true, "default": 1}]}}}}}',
        "parameters.0.required: a parameter has a default exactly when optional",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [case[1:] for case in LOCKS_THAT_ARE_NOT],
    ids=[case[0] for case in LOCKS_THAT_ARE_NOT],
)
def test_a_lock_that_is_not_one_is_refused_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(LockFileError) as info:
        parse(text, tmp_path / "catalog.lock")
    assert message in str(info.value)
    assert str(tmp_path / "catalog.lock") in str(info.value)
    assert exits.exit_code(info.value) == exits.CONFIG


# -- random contracts: additive edits are never breaking --------------------------------------

#: (type, a default that fits it, or None for no default)
TYPES = [
    ("int", "0"),
    ("str", "'x'"),
    ("float", "1.5"),
    ("bool", "False"),
    ("int | None", "None"),
    ("list[int]", "()"),
    ("Literal['a', 'b']", "'a'"),
    ("dict[str, float]", None),
    ("Any", "None"),
]
NAMES = [f"p{n}" for n in range(8)]


@st.composite
def versions(draw: Any) -> dict[str, Any]:
    """One version: parameters (required ones first), a return type, plugin points."""
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4))
    params = []
    optional = False
    for name in names:
        type_, default = draw(st.sampled_from(TYPES))
        optional = optional or (default is not None and draw(st.booleans()))
        if optional and default is None:
            type_, default = "int", "0"
        params.append((name, type_, default if optional else None))
    points = {}
    for point in draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=2)):
        policy = draw(st.sampled_from(["collect", "first", "wrap"]))
        errors = "raise" if policy == "wrap" else draw(st.sampled_from(["raise", "isolate"]))
        point_params = [
            (name, draw(st.sampled_from(TYPES))[0])
            for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=3))
        ]
        points[point] = (policy, errors, point_params, draw(st.sampled_from(TYPES))[0])
    deprecated = draw(st.sampled_from([None, ("old", None), ("old", "2030-01-01")]))
    return {
        "params": params,
        "returns": draw(st.sampled_from(TYPES))[0],
        "points": points,
        "deprecated": deprecated,
    }


@st.composite
def catalogs(draw: Any) -> dict[str, dict[int, dict[str, Any]]]:
    found = {}
    for name in draw(st.lists(st.sampled_from(["alpha", "beta"]), unique=True, min_size=1)):
        numbers = draw(st.lists(st.integers(1, 3), unique=True, min_size=1, max_size=2))
        found[name] = {number: draw(versions()) for number in numbers}
    return found


def source(name: str, spec: dict[int, dict[str, Any]]) -> str:
    """The hookspec module that declares interface ``name`` as ``spec`` says."""
    parts = []
    for number, version in sorted(spec.items()):
        hook = f"{name}_v{number}"
        params = "".join(
            f", {p}: {t}" + (f" = {d}" if d is not None else "") for p, t, d in version["params"]
        )
        options = ""
        if version["deprecated"] is not None:
            message, sunset = version["deprecated"]
            options = f"(deprecated={message!r}" + (f", sunset={sunset!r})" if sunset else ")")
        parts.append(
            f"\n@entrypoint{options}\ndef {hook}(ctx: Context{params}) -> {version['returns']}:\n"
            '    """."""\n'
        )
        for point, (policy, errors, point_params, returns) in sorted(version["points"].items()):
            args = "".join(f", {p}: {t}" for p, t in point_params)
            parts.append(
                f'\n@plugin_point({hook}, policy="{policy}", errors="{errors}")\n'
                f'def {hook}_{point}(ctx: Context{args}) -> {returns}:\n    """."""\n'
            )
    return "".join(parts)


ADDITIVE_EDITS = ["interface", "version", "parameter", "point", "point_parameter", "deprecate"]


def additive(draw: Any, spec: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    """``spec`` after a random set of purely additive edits (a copy)."""
    new = json.loads(json.dumps(spec))  # a deep copy, versions keyed by text
    new = {name: {int(n): v for n, v in versions.items()} for name, versions in new.items()}
    for choice in draw(st.lists(st.sampled_from(ADDITIVE_EDITS), min_size=1, max_size=6)):
        name = draw(st.sampled_from(sorted(new)))
        number = draw(st.sampled_from(sorted(new[name])))
        version = new[name][number]
        if choice == "interface" and "gamma" not in new:
            new["gamma"] = {1: draw(versions())}
        elif choice == "version":
            new[name][max(new[name]) + 1] = draw(versions())
        elif choice == "parameter":
            free = [n for n in NAMES if n not in {p[0] for p in version["params"]}]
            if free:
                type_, default = draw(st.sampled_from([t for t in TYPES if t[1] is not None]))
                version["params"].append([free[0], type_, default])
        elif choice == "point":
            free = [p for p in ("d", "e") if p not in version["points"]]
            if free:
                version["points"][free[0]] = ["collect", "raise", [], "int | None"]
        elif choice == "point_parameter" and version["points"]:
            point = draw(st.sampled_from(sorted(version["points"])))
            taken = {p[0] for p in version["points"][point][2]}
            free = [n for n in NAMES if n not in taken]
            if free:
                version["points"][point][2].append([free[0], draw(st.sampled_from(TYPES))[0]])
        elif choice == "deprecate" and version["deprecated"] is None:
            version["deprecated"] = ["now old", "2031-01-01"]
    return new


def contract_of_spec(spec: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="catalog-lock-test-"))
    try:
        return contract_of(folder, {name: source(name, s) for name, s in spec.items()})
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_additive_edits_to_real_declarations_are_never_breaking(data: st.DataObject) -> None:
    spec = data.draw(catalogs())
    before = contract_of_spec(spec)
    after = contract_of_spec(additive(data.draw, spec))
    found = compare(before, after, today=TODAY)
    assert not [c for c in found if c.breaking], [c.describe() for c in found]
    assert {c.effect for c in found} <= {"additive", "compatible"}
    assert compare(after, after, today=TODAY) == []
    assert parse(render(after), Path("catalog.lock")) == after


def breaking_edit(draw: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The contract ``spec`` (as :func:`contract` gives it) after one breaking edit."""
    new: dict[str, Any] = json.loads(json.dumps(spec))
    name = draw(st.sampled_from(sorted(new["interfaces"])))
    versions = new["interfaces"][name]["versions"]
    number = draw(st.sampled_from(sorted(versions)))
    version = versions[number]
    choices = ["remove_version", "remove_interface", "required_parameter"]
    if version["parameters"]:
        choices += ["remove_parameter", "retype_parameter"]
    if version["plugin_points"]:
        choices += ["remove_point", "point_policy"]
    choice = draw(st.sampled_from(choices))
    if choice == "remove_version":  # no sunset date drawn has passed by TODAY
        del versions[number]
        if not versions:
            del new["interfaces"][name]
    elif choice == "remove_interface":
        del new["interfaces"][name]
    elif choice == "required_parameter":
        version["parameters"].append({"name": "brand_new", "type": "int", "required": True})
    elif choice == "remove_parameter":
        version["parameters"].pop(draw(st.integers(0, len(version["parameters"]) - 1)))
    elif choice == "retype_parameter":
        param = draw(st.sampled_from(version["parameters"]))
        param["type"] = "bytes" if param["type"] != "bytes" else "str"
        param.pop("default", None)
        param["required"] = True
    elif choice == "remove_point":
        del version["plugin_points"][draw(st.sampled_from(sorted(version["plugin_points"])))]
    else:
        point = version["plugin_points"][draw(st.sampled_from(sorted(version["plugin_points"])))]
        point["policy"] = "collect" if point["policy"] != "collect" else "first"
    return new


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_contracts_compare_as_pure_data(data: st.DataObject) -> None:
    # The same properties without files: random contracts built from random declarations
    # once, then edited as data (what a lock file or a revision would hold).
    spec = data.draw(catalogs())
    before = CONTRACTS.get(json.dumps(spec, sort_keys=True))
    if before is None:
        before = CONTRACTS[json.dumps(spec, sort_keys=True)] = contract_of_spec(spec)
    assert compare(before, before) == []
    after = breaking_edit(data.draw, before)
    found = compare(before, after, today=TODAY)
    assert [c for c in found if c.breaking], json.dumps(after)


CONTRACTS: dict[str, dict[str, Any]] = {}


# -- catalog lock -----------------------------------------------------------------------------


@pytest.fixture
def invoke(invoke: Invoke) -> Invoke:
    """The CLI in-process, each command as in a process of its own: these tests edit the
    declarations between commands, and a catalog's modules stay imported in a process."""

    def run(*args: str, **options: Any) -> Any:
        for name in [name for name in sys.modules if name.startswith("_catalog_")]:
            del sys.modules[name]
        return invoke(*args, **options)

    return run


#: Built-ins for shop v1 and v2 that take no parameter: they fit every version of them.
SHOP_BUILTINS = """\
from catalog_cli import hookimpl


@hookimpl
def shop_v1(ctx):
    return {}


@hookimpl
def shop_v2(ctx):
    return ""
"""


@pytest.fixture
def shop(write_catalog: WriteCatalog) -> Path:
    """A catalog declaring the shop interface, v1 and v2."""
    files = {"hookspecs/shop.py": HEADER + SHOP + SHOP_V2, "builtin_plugins/shop.py": SHOP_BUILTINS}
    return write_catalog("[catalog]\n", files, example=False)


def write_shop(path: Path, body: str) -> None:
    (path.parent / "hookspecs" / "shop.py").write_text(HEADER + body, encoding="utf-8")


def test_lock_writes_catalog_lock_next_to_the_catalog_file(invoke: Invoke, shop: Path) -> None:
    result = invoke("lock", catalog=shop)
    assert result.exit_code == 0, result.stderr
    lock = shop.parent / "catalog.lock"
    assert "wrote" in result.stdout and "catalog.lock" in result.stdout
    assert parse(lock.read_text("utf-8"), lock) == contract(
        declared_interfaces(read_config(shop)).values()
    )


def test_lock_twice_gives_the_same_bytes_and_leaves_the_file_alone(
    invoke: Invoke, shop: Path
) -> None:
    assert invoke("lock", catalog=shop).exit_code == 0
    lock = shop.parent / "catalog.lock"
    first, stat = lock.read_bytes(), lock.stat()
    os.utime(lock, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    before = lock.stat().st_mtime_ns
    result = invoke("lock", catalog=shop)
    assert result.exit_code == 0
    assert "up to date" in result.stdout
    assert lock.read_bytes() == first
    assert lock.stat().st_mtime_ns == before


def test_lock_is_the_same_in_every_process(tmp_path: Path) -> None:
    # A frozenset default is recorded in an order that does not follow string hashing.
    body = edit('note: str = ""', 'note: Any = frozenset({"a", "b", "c", "d"})')
    path = kit_write_catalog(tmp_path, "[catalog]\n", {"hookspecs/shop.py": HEADER + body})
    texts = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-m", "catalog_cli", "-c", str(path), "lock"],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        texts.add((tmp_path / "catalog.lock").read_bytes())
        (tmp_path / "catalog.lock").unlink()
    assert len(texts) == 1


def test_lock_check_exit_codes(invoke: Invoke, shop: Path) -> None:
    missing = invoke("lock", "--check", catalog=shop)
    assert missing.exit_code == exits.LOCK_STALE
    # the message is wrapped to the terminal's width, where the temporary folder's name falls
    assert "does not exist" in " ".join(missing.stderr.split())
    assert not (shop.parent / "catalog.lock").exists()
    assert invoke("lock", catalog=shop).exit_code == 0
    assert invoke("lock", "--check", catalog=shop).exit_code == 0
    write_shop(shop, edit('note: str = ""', 'note: str = "", gift: bool = False') + SHOP_V2)
    stale = invoke("lock", "--check", "--json", catalog=shop)
    assert stale.exit_code == exits.LOCK_STALE
    report = json.loads(stale.stdout)
    assert report["written"] is False and report["up_to_date"] is False
    assert [(c["kind"], c["parameter"]) for c in report["changes"]] == [("parameter_added", "gift")]
    write_shop(shop, SHOP)
    broken = invoke("lock", "--check", catalog=shop)
    assert broken.exit_code == exits.CONTRACT_BROKEN
    assert "version_removed" in broken.stdout


def test_lock_refuses_a_breaking_change_unless_allowed(invoke: Invoke, shop: Path) -> None:
    assert invoke("lock", catalog=shop).exit_code == 0
    lock = shop.parent / "catalog.lock"
    locked = lock.read_bytes()
    write_shop(shop, edit("quantity: int, note", "quantity: str, note") + SHOP_V2)
    refused = invoke("lock", catalog=shop)
    assert refused.exit_code == exits.CONTRACT_BROKEN
    assert "parameter_type_changed" in refused.stdout
    assert "shop v1 parameter quantity" in refused.stdout
    assert "nothing written" in refused.stderr
    assert lock.read_bytes() == locked
    allowed = invoke("lock", "--allow-breaking", "--json", catalog=shop)
    assert allowed.exit_code == 0
    report = json.loads(allowed.stdout)
    assert report["written"] is True and report["breaking"] == 1
    assert invoke("check", catalog=shop).exit_code == 0


def test_lock_check_and_allow_breaking_do_not_go_together(invoke: Invoke, shop: Path) -> None:
    result = invoke("lock", "--check", "--allow-breaking", catalog=shop)
    assert result.exit_code == exits.USAGE
    assert "--allow-breaking" in result.output


def test_lock_imports_no_built_in_or_plugin(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        "[catalog]\n",
        {
            "hookspecs/shop.py": HEADER + SHOP,
            "builtin_plugins/shop.py": "raise RuntimeError('a built-in must not be imported')\n",
        },
        example=False,
    )
    result = invoke("lock", catalog=path)
    assert result.exit_code == 0, result.output


def test_lock_json(invoke: Invoke, shop: Path) -> None:
    result = invoke("lock", "--json", catalog=shop)
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report == {
        "lock": str(shop.parent / "catalog.lock"),
        "existed": False,
        "up_to_date": False,
        "written": True,
        "interfaces": 1,
        "versions": 2,
        "breaking": 0,
        "changes": [],
    }


def test_a_broken_lock_file_is_a_configuration_error(invoke: Invoke, shop: Path) -> None:
    (shop.parent / "catalog.lock").write_text('{"format": 1}', encoding="utf-8")
    for args in (("lock",), ("check",)):
        result = invoke(*args, catalog=shop)
        assert result.exit_code == exits.CONFIG, result.output
        assert "catalog.lock: interfaces: missing" in result.stderr
        assert "Traceback" not in result.output
    report = invoke("check", "--json", catalog=shop)
    assert report.exit_code == exits.CONFIG
    data = json.loads(report.stdout)
    assert data["ok"] is False
    assert data["problems"][0]["kind"] == "LockFileError"


def test_a_lock_that_cannot_be_written_is_a_configuration_error(
    invoke: Invoke, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("catalog_cli.cli._contract.os.replace", full)
    result = invoke("lock", catalog=shop)
    assert result.exit_code == exits.CONFIG
    assert "cannot write the lock: [Errno 28] No space left on device" in result.stderr
    assert not (shop.parent / "catalog.lock").exists()
    assert not [p for p in shop.parent.iterdir() if p.name.startswith(".catalog.lock")]


# -- catalog check against the lock ---------------------------------------------------------


def example_copy(folder: Path) -> Path:
    """A copy of the example catalog (its file, declarations, built-ins and plugins)."""
    for name in ("hookspecs", "builtin_plugins", "plugins"):
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(SHIPPED, folder / "catalog.toml")
    return folder / "catalog.toml"


def edit_entry_point(path: Path, hook: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the signature of the entry point ``hook``, wherever in the
    catalog's hookspecs it is declared."""
    for module in (path.parent / "hookspecs").glob("*.py"):
        text = module.read_text("utf-8")
        found = re.search(rf"def {hook}\((.*?)\) ->", text, re.DOTALL)
        if found is None:
            continue
        assert old in found.group(1), found.group(1)
        signature = found.group(1).replace(old, new, 1)
        module.write_text(text[: found.start(1)] + signature + text[found.end(1) :], "utf-8")
        return
    raise AssertionError(f"no entry point {hook}")


def test_acceptance_a_locked_parameter_retyped_fails_check(invoke: Invoke, tmp_path: Path) -> None:
    path = example_copy(tmp_path)
    assert invoke("lock", catalog=path).exit_code == 0
    assert invoke("check", catalog=path).exit_code == 0
    edit_entry_point(path, "price_quote_v1", "quantity: int", "quantity: str")
    result = invoke("check", catalog=path)
    assert result.exit_code == exits.CONTRACT_BROKEN, result.output
    assert (
        "[contract] price_quote v1 parameter quantity: parameter_type_changed: int -> str"
        in result.stderr
    )
    assert "Traceback" not in result.output
    report = json.loads(invoke("check", "--json", catalog=path).stdout)
    assert report["ok"] is False
    breaking = [
        (c["kind"], c["interface"], c["version"], c["parameter"])
        for c in report["contract"]["changes"]
        if c["effect"] == "breaking"
    ]
    assert ("parameter_type_changed", "price_quote", 1, "quantity") in breaking


def test_acceptance_an_optional_parameter_added_passes(invoke: Invoke, tmp_path: Path) -> None:
    path = example_copy(tmp_path)
    assert invoke("lock", catalog=path).exit_code == 0
    edit_entry_point(
        path, "price_quote_v1", 'country: str = "NL"', 'country: str = "NL", note: str = ""'
    )
    result = invoke("check", catalog=path)
    assert result.exit_code == 0, result.output
    assert "parameter_added" in result.stdout
    assert "run `catalog lock`" in result.stdout
    assert invoke("lock", "--check", catalog=path).exit_code == exits.LOCK_STALE
    assert invoke("lock", catalog=path).exit_code == 0
    recorded = invoke("check", catalog=path)
    assert recorded.exit_code == 0
    assert f"Contract: as {path.parent / 'catalog.lock'} records it" in recorded.stdout


def test_check_without_a_lock_compares_nothing(invoke: Invoke, shop: Path) -> None:
    result = invoke("check", "--json", catalog=shop)
    assert json.loads(result.stdout)["contract"] is None
    assert "Contract" not in invoke("check", catalog=shop).stdout


def test_check_json_reports_the_contract(invoke: Invoke, shop: Path) -> None:
    assert invoke("lock", catalog=shop).exit_code == 0
    write_shop(shop, SHOP)
    result = invoke("check", "--json", catalog=shop)
    assert result.exit_code == exits.CONTRACT_BROKEN
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["contract"]["lock"] == str(shop.parent / "catalog.lock")
    assert report["contract"]["breaking"] == 1
    assert report["contract"]["changes"] == [
        {
            "kind": "version_removed",
            "effect": "breaking",
            "interface": "shop",
            "version": 2,
            "point": None,
            "parameter": None,
            "detail": report["contract"]["changes"][0]["detail"],
            "where": "shop v2",
        }
    ]


def test_the_shipped_lock_is_up_to_date(invoke: Invoke) -> None:
    result = invoke("lock", "--check")
    assert result.exit_code == 0, (
        f"{result.output}\nthe example's declarations changed: if on purpose, record them with "
        "`catalog -c catalog.toml lock` and commit catalog.lock"
    )


def test_the_shipped_lock_travels_with_the_example() -> None:
    # The example is installed inside the package: its lock goes with it, so `catalog check`
    # from any folder compares with it too.
    pyproject = (REPO / "pyproject.toml").read_text("utf-8")
    assert '"catalog.lock" = "catalog_cli/example/catalog.lock"' in pyproject


# -- catalog check --against a git revision ---------------------------------------------------

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def git(folder: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    assert GIT is not None
    subprocess.run([GIT, *args], cwd=folder, env=env, check=True, capture_output=True, timeout=60)


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository whose catalog (in a subfolder) declares shop v1 and v2, committed and
    tagged ``v1``; the catalog file is returned."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "repo"
    files = {"hookspecs/shop.py": HEADER + SHOP + SHOP_V2, "builtin_plugins/shop.py": SHOP_BUILTINS}
    path = kit_write_catalog(root / "catalogs" / "main", "[catalog]\n", files)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "shop")
    git(root, "tag", "v1")
    return path


@needs_git
def test_against_a_revision_finds_a_breaking_change(invoke: Invoke, repository: Path) -> None:
    assert invoke("check", "--against", "v1", catalog=repository).exit_code == 0
    write_shop(repository, edit("item: str, quantity", "sku: str, quantity") + SHOP_V2)
    result = invoke("check", "--against", "v1", catalog=repository)
    assert result.exit_code == exits.CONTRACT_BROKEN, result.output
    assert "Contract changes since revision v1" in result.stdout
    assert "[contract] shop v1 parameter item: parameter_renamed: item -> sku" in result.stderr
    report = json.loads(invoke("check", "--against", "HEAD", "--json", catalog=repository).stdout)
    assert report["contract"]["revision"] == "HEAD"
    assert report["contract"]["lock"] is None
    assert [c["kind"] for c in report["contract"]["changes"]] == ["parameter_renamed"]


@needs_git
def test_against_reads_the_revisions_hookspecs_folder(invoke: Invoke, repository: Path) -> None:
    # The revision's catalog.toml says where its hookspecs were: not where they are now.
    folder = repository.parent
    (folder / "hookspecs").rename(folder / "specs")
    repository.write_text('[catalog]\nhookspecs_dir = "specs"\n', encoding="utf-8")
    assert invoke("check", "--against", "v1", catalog=repository).exit_code == 0
    (folder / "specs" / "shop.py").write_text(HEADER + SHOP, encoding="utf-8")
    result = invoke("check", "--against", "v1", "--json", catalog=repository)
    assert result.exit_code == exits.CONTRACT_BROKEN
    assert [c["kind"] for c in json.loads(result.stdout)["contract"]["changes"]] == [
        "version_removed"
    ]


@needs_git
def test_against_an_unknown_revision(invoke: Invoke, repository: Path) -> None:
    result = invoke("check", "--against", "v2", catalog=repository)
    assert result.exit_code == exits.UNKNOWN_NAME
    assert "unknown revision 'v2'" in result.stderr
    assert "did you mean 'v1'" in result.stderr.lower()
    assert "Traceback" not in result.output
    dashed = invoke("check", "--against", "--output=x", catalog=repository)
    assert dashed.exit_code == exits.UNKNOWN_NAME


@needs_git
def test_against_a_revision_without_the_catalog(invoke: Invoke, repository: Path) -> None:
    root = repository.parent.parent.parent
    files = {"hookspecs/shop.py": HEADER + SHOP + SHOP_V2, "builtin_plugins/shop.py": SHOP_BUILTINS}
    other = kit_write_catalog(root / "new", "[catalog]\n", files)
    result = invoke("check", "--against", "v1", catalog=other)
    assert result.exit_code == exits.CONFIG
    assert "the revision has no new/catalog.toml" in result.stderr


@needs_git
def test_against_outside_a_repository(
    invoke: Invoke, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(shop.parent.parent))
    result = invoke("check", "--against", "HEAD", catalog=shop)
    assert result.exit_code == exits.CONFIG
    assert "is not in a git repository" in result.stderr


def test_against_without_git(
    invoke: Invoke, shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-programs"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = invoke("check", "--against", "HEAD", "--json", catalog=shop)
    assert result.exit_code == exits.CONFIG
    report = json.loads(result.stdout)
    assert "git is not installed" in report["problems"][0]["message"]


def test_against_goes_with_the_catalog_not_a_plugin(invoke: Invoke, shop: Path) -> None:
    result = invoke("check", "--against", "HEAD", "--plugin", "x", catalog=shop)
    assert result.exit_code == exits.USAGE


# -- the documentation ------------------------------------------------------------------------


def test_every_kind_of_change_is_documented() -> None:
    text = (REPO / "docs" / "declaring.md").read_text("utf-8")
    part = text[text.index("## Locking the published contract") :]
    missing = [kind for kind in KINDS if f"`{kind}`" not in part]
    assert not missing


@pytest.mark.parametrize("code", [exits.CONTRACT_BROKEN, exits.LOCK_STALE])
def test_the_new_exit_codes_are_documented(code: int) -> None:
    table = (REPO / "docs" / "exit-codes.md").read_text("utf-8")
    assert re.search(rf"^\| {code} \| \S", table, re.MULTILINE)
