"""The interface model read from hookspec modules, argument binding, and third-party interfaces."""

from __future__ import annotations

import importlib.metadata
import textwrap
from types import ModuleType
from typing import Any

import pytest

import hookspecs.interface_a
import hookspecs.price_quote
from catalog_cli.declarations import Interface, build_interfaces, declarations
from catalog_cli.errors import (
    ConfigError,
    DeclarationError,
    InvalidArgumentsError,
    UnknownVersionError,
)

from .conftest import MakeCatalog

HEADER = """\
from __future__ import annotations
from typing import Any, Literal
from catalog_cli import Context, entrypoint, plugin_point
"""


def make_module(name: str, source: str, *, header: str = HEADER, **names: Any) -> ModuleType:
    """A module named ``name`` run from ``source`` (not put in sys.modules)."""
    module = ModuleType(name)
    module.__dict__.update(names)
    exec(compile(header + textwrap.dedent(source), f"<{name}>", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def shipped_interfaces() -> dict[str, Interface]:
    return build_interfaces([hookspecs.interface_a, hookspecs.price_quote])


# -- the shipped interfaces ----------------------------------------------------------------


def test_shipped_interfaces_are_found_by_name(shipped_interfaces: dict[str, Interface]):
    assert list(shipped_interfaces) == ["interface_a", "price_quote"]


def test_interface_a_has_two_versions(shipped_interfaces: dict[str, Interface]):
    interface = shipped_interfaces["interface_a"]
    assert list(interface.versions) == [1, 2]
    assert interface.latest == 2


def test_interface_doc_is_the_module_docstring(shipped_interfaces: dict[str, Interface]):
    interface = shipped_interfaces["interface_a"]
    assert (
        interface.summary == "Compose the welcome message a customer's user sees after signing in."
    )


def test_version_records_hook_module_and_doc(shipped_interfaces: dict[str, Interface]):
    v1 = shipped_interfaces["interface_a"].version(1)
    assert v1.hook == "interface_a_v1"
    assert v1.module == "hookspecs.interface_a"
    assert v1.returns == "str"
    assert v1.summary == "A greeting line for ``name`` followed by the lines plugins sign with."


def test_version_parameters_have_types_and_defaults(shipped_interfaces: dict[str, Interface]):
    v1 = shipped_interfaces["interface_a"].version(1)
    assert [p.to_dict() for p in v1.parameters] == [
        {"name": "name", "type": "str", "required": False, "default": "there"}
    ]


def test_v2_adds_parameters_that_v1_lacks(shipped_interfaces: dict[str, Interface]):
    interface = shipped_interfaces["interface_a"]
    v1 = [p.name for p in interface.version(1).parameters]
    v2 = [(p.name, p.annotation, p.default) for p in interface.version(2).parameters]
    assert v1 == ["name"]
    assert v2 == [
        ("name", "str", "there"),
        ("language", "Literal['en', 'es', 'de']", "en"),
        ("vip", "bool", False),
    ]


def test_v2_adds_a_plugin_point_that_v1_lacks(shipped_interfaces: dict[str, Interface]):
    interface = shipped_interfaces["interface_a"]
    assert {n: p.policy for n, p in interface.version(1).points.items()} == {"signature": "collect"}
    assert {n: p.policy for n, p in interface.version(2).points.items()} == {
        "extra_lines": "collect",
        "greeting": "first",
    }


def test_plugin_point_records_hook_parameters_returns_and_doc(
    shipped_interfaces: dict[str, Interface],
):
    point = shipped_interfaces["interface_a"].version(2).points["greeting"]
    assert point.to_dict() == {
        "name": "greeting",
        "hook": "interface_a_v2_greeting",
        "policy": "first",
        "errors": "raise",
        "parameters": [
            {"name": "name", "type": "str", "required": True},
            {"name": "language", "type": "str", "required": True},
        ],
        "returns": "str | None",
        "doc": (
            "Return the greeting line; the first non-None answer wins, the catalog's comes last."
        ),
    }
    assert (point.interface, point.version) == ("interface_a", 2)


def test_price_quote_declaration(shipped_interfaces: dict[str, Interface]):
    v1 = shipped_interfaces["price_quote"].version(1)
    assert [(p.name, p.annotation, p.required) for p in v1.parameters] == [
        ("unit_price", "float", True),
        ("quantity", "int", True),
        ("country", "str", False),
    ]
    assert v1.returns == "dict[str, float | str]"
    assert {n: p.policy for n, p in v1.points.items()} == {
        "discounts": "collect",
        "tax_rate": "first",
        "total": "wrap",
    }
    assert v1.points["total"].returns == "float"


def test_version_to_dict_lists_plugin_points(shipped_interfaces: dict[str, Interface]):
    data = shipped_interfaces["price_quote"].version(1).to_dict()
    assert data["interface"] == "price_quote"
    assert data["version"] == 1
    assert [p["name"] for p in data["plugin_points"]] == ["discounts", "tax_rate", "total"]


def test_unknown_version_lists_the_known_ones(shipped_interfaces: dict[str, Interface]):
    with pytest.raises(UnknownVersionError, match="unknown version 3 of interface 'interface_a'"):
        shipped_interfaces["interface_a"].version(3)


# -- Version.bind --------------------------------------------------------------------------


@pytest.fixture
def quote(shipped_interfaces: dict[str, Interface]):
    return shipped_interfaces["price_quote"].version(1)


def test_bind_fills_in_defaults(quote):
    arguments = {"unit_price": 2.5, "quantity": 3}
    assert quote.bind(arguments) == {"unit_price": 2.5, "quantity": 3, "country": "NL"}
    assert arguments == {"unit_price": 2.5, "quantity": 3}


def test_bind_keeps_given_values_over_defaults(quote):
    bound = quote.bind({"unit_price": 2.5, "quantity": 3, "country": "BE"})
    assert bound["country"] == "BE"


def test_bind_accepts_an_int_for_a_float(quote):
    assert quote.bind({"unit_price": 2, "quantity": 3})["unit_price"] == 2


def test_bind_reports_missing_parameters(quote):
    with pytest.raises(InvalidArgumentsError) as info:
        quote.bind({})
    assert info.value.problems == {
        "unit_price": "missing (a required float)",
        "quantity": "missing (a required int)",
    }
    assert (info.value.interface, info.value.version) == ("price_quote", 1)


def test_bind_reports_unknown_parameters_with_did_you_mean(quote):
    with pytest.raises(InvalidArgumentsError) as info:
        quote.bind({"unit_price": 1.0, "quantity": 1, "contry": "NL"})
    assert info.value.problems == {
        "contry": "unknown parameter (accepted: unit_price, quantity, country); "
        "did you mean 'country'?"
    }


def test_bind_reports_unknown_parameters_without_a_close_match(quote):
    with pytest.raises(InvalidArgumentsError) as info:
        quote.bind({"unit_price": 1.0, "quantity": 1, "zzz": 0})
    assert "did you mean" not in info.value.problems["zzz"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("quantity", "2", "expected int, got str '2'"),
        ("quantity", True, "expected int, got bool True"),
        ("unit_price", None, "expected float, got NoneType None"),
        ("country", 31, "expected str, got int 31"),
    ],
)
def test_bind_reports_wrongly_typed_arguments(quote, name: str, value: Any, problem: str):
    arguments = {"unit_price": 1.0, "quantity": 1, name: value}
    with pytest.raises(InvalidArgumentsError) as info:
        quote.bind(arguments)
    assert info.value.problems == {name: problem}


def test_bind_reports_every_problem_together(quote):
    with pytest.raises(InvalidArgumentsError) as info:
        quote.bind({"unit_price": "free", "qty": 2})
    assert set(info.value.problems) == {"unit_price", "qty", "quantity"}
    message = str(info.value)
    assert message.startswith("invalid arguments for price_quote v1: ")
    assert "unit_price: expected float, got str 'free'" in message
    assert "qty: unknown parameter" in message
    assert "quantity: missing (a required int)" in message


def test_bind_reports_a_missing_parameter_when_an_unknown_one_makes_up_the_count(quote):
    # As many arguments as parameters, but one is a typo: the real one is still missing.
    with pytest.raises(InvalidArgumentsError) as info:
        quote.bind({"unit_price": 1.0, "quantty": 2, "country": "NL"})
    assert set(info.value.problems) == {"quantty", "quantity"}
    assert info.value.problems["quantity"] == "missing (a required int)"
    assert "did you mean 'quantity'?" in info.value.problems["quantty"]


def test_bind_of_a_literal_parameter(shipped_interfaces: dict[str, Interface]):
    v2 = shipped_interfaces["interface_a"].version(2)
    assert v2.bind({"language": "es"}) == {"name": "there", "language": "es", "vip": False}
    with pytest.raises(InvalidArgumentsError) as info:
        v2.bind({"language": "fr", "vip": 1})
    assert info.value.problems == {
        "language": "expected one of 'en' | 'es' | 'de', got str 'fr'",
        "vip": "expected bool, got int 1",
    }


# -- declaration errors --------------------------------------------------------------------


def test_declarations_skips_imported_functions():
    base = make_module("decl_base", '@entrypoint\ndef greet_v1(ctx: Context) -> str: ""')
    other = make_module(
        "decl_other",
        '@plugin_point(greet_v1)\ndef greet_v1_lines(ctx: Context) -> str | None: ""',
        greet_v1=base.greet_v1,
    )
    assert [name for name, _ in declarations(other)] == ["greet_v1_lines"]


def test_points_may_live_in_another_module_than_their_entry_point():
    base = make_module("split_base", '@entrypoint\ndef greet_v1(ctx: Context) -> str: ""')
    other = make_module(
        "split_other",
        '@plugin_point(greet_v1)\ndef greet_v1_lines(ctx: Context) -> str | None: ""',
        greet_v1=base.greet_v1,
    )
    found = build_interfaces([base, other])
    assert list(found["greet"].version(1).points) == ["lines"]


def test_parameter_without_annotation_is_an_error():
    module = make_module(
        "no_annotation", '@entrypoint\ndef greet_v1(ctx: Context, name) -> str: ""'
    )
    with pytest.raises(DeclarationError, match="parameter 'name' needs a type annotation") as info:
        build_interfaces([module])
    assert (info.value.module, info.value.hook) == ("no_annotation", "greet_v1")


def test_missing_return_annotation_is_an_error():
    module = make_module("no_return", '@entrypoint\ndef greet_v1(ctx: Context, name: str): ""')
    with pytest.raises(DeclarationError, match="the return type needs an annotation"):
        build_interfaces([module])


def test_plugin_point_parameter_without_annotation_is_an_error():
    module = make_module(
        "point_no_annotation",
        """
        @entrypoint
        def greet_v1(ctx: Context) -> str: ""

        @plugin_point(greet_v1)
        def greet_v1_lines(ctx: Context, name) -> str | None: ""
        """,
    )
    with pytest.raises(DeclarationError, match="parameter 'name' needs a type annotation") as info:
        build_interfaces([module])
    assert info.value.hook == "greet_v1_lines"


def test_unsupported_parameter_type_is_an_error():
    module = make_module(
        "unsupported", '@entrypoint\ndef greet_v1(ctx: Context, names: set[str]) -> str: ""'
    )
    with pytest.raises(DeclarationError, match=r"parameter 'names': set\[str\] is not a data type"):
        build_interfaces([module])


def test_plugin_point_parameters_are_not_limited_to_data_types():
    module = make_module(
        "point_any_type",
        """
        @entrypoint
        def greet_v1(ctx: Context) -> str: ""

        @plugin_point(greet_v1)
        def greet_v1_lines(ctx: Context, names: set[str]) -> str | None: ""
        """,
    )
    point = build_interfaces([module])["greet"].version(1).points["lines"]
    assert point.parameters[0].annotation == "set[str]"


def test_a_list_as_annotation_is_a_declaration_error():
    # Without postponed annotations `[int]` reaches compile_type as a list object.
    module = make_module(
        "list_annotation",
        '@entrypoint\ndef greet_v1(ctx: Context, ids: [int]) -> str: ""',
        header="from catalog_cli import Context, entrypoint\n",
    )
    with pytest.raises(DeclarationError, match=r"parameter 'ids': \[<class 'int'>\] is not a data"):
        build_interfaces([module])


def test_unresolvable_annotation_is_an_error():
    module = make_module(
        "unresolvable", '@entrypoint\ndef greet_v1(ctx: Context, name: Nameless) -> str: ""'
    )
    with pytest.raises(DeclarationError, match="cannot resolve annotations: NameError"):
        build_interfaces([module])


def test_default_that_does_not_fit_its_type_is_an_error():
    module = make_module(
        "bad_default", '@entrypoint\ndef greet_v1(ctx: Context, times: int = "once") -> str: ""'
    )
    with pytest.raises(
        DeclarationError,
        match=r"default of parameter 'times' does not fit its type: expected int, got str 'once'",
    ):
        build_interfaces([module])


def test_none_default_needs_an_optional_type():
    module = make_module(
        "none_default", '@entrypoint\ndef greet_v1(ctx: Context, name: str = None) -> str: ""'
    )
    with pytest.raises(DeclarationError, match="expected str, got NoneType None"):
        build_interfaces([module])


def test_none_default_of_an_optional_is_fine():
    module = make_module(
        "optional_default",
        '@entrypoint\ndef greet_v1(ctx: Context, name: str | None = None) -> str: ""',
    )
    (param,) = build_interfaces([module])["greet"].version(1).parameters
    assert (param.annotation, param.default, param.required) == ("str | None", None, False)


def test_plugin_point_without_its_entry_point_is_an_error():
    base = make_module("orphan_base", '@entrypoint\ndef greet_v1(ctx: Context) -> str: ""')
    other = make_module(
        "orphan_points",
        '@plugin_point(greet_v1)\ndef greet_v1_lines(ctx: Context) -> str | None: ""',
        greet_v1=base.greet_v1,
    )
    with pytest.raises(
        DeclarationError, match="plugin point of greet_v1, which is not declared"
    ) as info:
        build_interfaces([other])
    assert (info.value.module, info.value.hook) == ("orphan_points", "greet_v1_lines")


def test_same_hook_in_two_modules_is_an_error():
    source = '@entrypoint\ndef greet_v1(ctx: Context) -> str: ""'
    first = make_module("twice_a", source)
    second = make_module("twice_b", source)
    with pytest.raises(
        DeclarationError, match="hook greet_v1 is declared twice: in twice_a and twice_b"
    ) as info:
        build_interfaces([first, second])
    assert info.value.hook == "greet_v1"


def test_same_module_twice_is_not_a_conflict():
    module = make_module("once", '@entrypoint\ndef greet_v1(ctx: Context) -> str: ""')
    assert list(build_interfaces([module, module])["greet"].versions) == [1]


# -- third-party interfaces ----------------------------------------------------------------

SPEC_SOURCE = '''
"""Say goodbye to a user."""

from __future__ import annotations

from catalog_cli import Context, entrypoint, plugin_point


@entrypoint
def farewell_v1(ctx: Context, name: str, times: int = 1) -> str:
    """Goodbye, ``times`` times, then the postscripts plugins add."""


@plugin_point(farewell_v1, policy="collect")
def farewell_v1_postscript(ctx: Context, name: str) -> str | None:
    """A line to add below the goodbye."""
'''

BUILTIN_SOURCE = """
from __future__ import annotations

from catalog_cli import Context, hookimpl


@hookimpl
def farewell_v1(ctx: Context, name: str, times: int) -> str:
    lines = [" ".join([f"Bye {name}!"] * times)]
    lines.extend(ctx.points.postscript(name=name))
    return "\\n".join(lines)
"""

PLUGIN_SOURCE = """
from catalog_cli import hookimpl


@hookimpl
def farewell_v1_postscript(ctx, name):
    return f"P.S. see you, {name}"
"""


def third_party_toml(hookspecs: list[str], builtins: list[str]) -> str:
    return f"""
        [catalog]
        plugin_dirs = ["plugins"]
        hookspecs = {hookspecs!r}
        builtins = {builtins!r}

        [tenants.plain]

        [tenants.friendly]
        plugins = ["friendly.postscript"]
    """.replace("'", '"')


PLUGIN_FILES = {"plugins/friendly/postscript.py": PLUGIN_SOURCE}


def test_third_party_interface_from_catalog_toml(make_catalog: MakeCatalog, new_module):
    spec = new_module("spec", SPEC_SOURCE)
    builtin = new_module("builtin", BUILTIN_SOURCE)
    catalog = make_catalog(third_party_toml([spec], [builtin]), PLUGIN_FILES)

    assert [i.name for i in catalog.interfaces()] == ["farewell", "interface_a", "price_quote"]
    assert catalog.interface("farewell").summary == "Say goodbye to a user."
    assert catalog.run("farewell", customer="plain", name="Ann") == "Bye Ann!"
    assert catalog.run("farewell", customer="friendly", name="Bo", times=2) == (
        "Bye Bo! Bye Bo!\nP.S. see you, Bo"
    )


def test_third_party_interface_checks_its_arguments(make_catalog: MakeCatalog, new_module):
    spec = new_module("spec", SPEC_SOURCE)
    builtin = new_module("builtin", BUILTIN_SOURCE)
    catalog = make_catalog(third_party_toml([spec], [builtin]), PLUGIN_FILES)
    with pytest.raises(InvalidArgumentsError, match="times: expected int, got str 'two'"):
        catalog.run("farewell", customer="plain", name="Ann", times="two")


def test_shipped_interfaces_still_run_beside_a_third_party_one(
    make_catalog: MakeCatalog, new_module
):
    spec = new_module("spec", SPEC_SOURCE)
    builtin = new_module("builtin", BUILTIN_SOURCE)
    catalog = make_catalog(third_party_toml([spec], [builtin]), PLUGIN_FILES)
    assert catalog.run("interface_a", customer="plain", version=1, name="Cy") == "Hello, Cy!"


def _fake_entry_points(
    monkeypatch: pytest.MonkeyPatch, declared: dict[str, list[str]], *, name: str | None = None
) -> list[str]:
    asked: list[str] = []
    entries = [
        importlib.metadata.EntryPoint(name=name or value.split(":")[0], value=value, group=group)
        for group, values in declared.items()
        for value in values
    ]

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        asked.append(group)
        return [ep for ep in entries if ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return asked


def test_third_party_interface_from_entry_points(
    make_catalog: MakeCatalog, new_module, monkeypatch: pytest.MonkeyPatch
):
    spec = new_module("spec", SPEC_SOURCE)
    builtin = new_module("builtin", BUILTIN_SOURCE)
    asked = _fake_entry_points(
        monkeypatch,
        {"catalog.hookspecs": [spec], "catalog.builtin_plugins": [f"{builtin}:farewell_v1"]},
        name="acme-farewell",
    )
    toml = third_party_toml([], []).replace("[catalog]", '[catalog]\npackages = ["acme-farewell"]')
    catalog = make_catalog(toml, PLUGIN_FILES)

    assert {"catalog.hookspecs", "catalog.builtin_plugins"} <= set(asked)
    assert catalog.interface("farewell").latest == 1
    assert catalog.run("farewell", customer="friendly", name="Di") == "Bye Di!\nP.S. see you, Di"


def test_an_installed_package_joins_only_the_catalogs_that_name_it(
    make_catalog: MakeCatalog, new_module, monkeypatch: pytest.MonkeyPatch
):
    spec = new_module("spec", SPEC_SOURCE)
    builtin = new_module("builtin", BUILTIN_SOURCE)
    _fake_entry_points(
        monkeypatch,
        {"catalog.hookspecs": [spec], "catalog.builtin_plugins": [builtin]},
        name="acme-farewell",
    )
    catalog = make_catalog("[tenants.plain]\n")
    assert [i.name for i in catalog.interfaces()] == ["interface_a", "price_quote"]


def test_an_unknown_package_is_a_config_error_with_a_suggestion(
    make_catalog: MakeCatalog, new_module, monkeypatch: pytest.MonkeyPatch
):
    spec = new_module("spec", SPEC_SOURCE)
    _fake_entry_points(monkeypatch, {"catalog.hookspecs": [spec]}, name="acme-farewell")
    with pytest.raises(ConfigError, match="did you mean 'acme-farewell'") as info:
        make_catalog('[catalog]\npackages = ["acme-farewel"]\n')
    assert info.value.key == "catalog.packages"


def test_module_named_by_entry_point_and_catalog_toml_loads_once(
    make_catalog: MakeCatalog, new_module, monkeypatch: pytest.MonkeyPatch
):
    spec = new_module("spec", SPEC_SOURCE)
    builtin = new_module("builtin", BUILTIN_SOURCE)
    _fake_entry_points(
        monkeypatch, {"catalog.hookspecs": [spec], "catalog.builtin_plugins": [builtin]}
    )
    catalog = make_catalog(third_party_toml([spec], [builtin]), PLUGIN_FILES)
    assert catalog.run("farewell", customer="plain", name="Ed") == "Bye Ed!"


def test_version_without_a_builtin_implementation_is_an_error(
    make_catalog: MakeCatalog, new_module
):
    spec = new_module("spec", SPEC_SOURCE)
    with pytest.raises(
        DeclarationError, match="farewell v1 entry point has no implementation"
    ) as info:
        make_catalog(third_party_toml([spec], []), PLUGIN_FILES)
    assert info.value.hook == "farewell_v1"
    assert info.value.module == spec


def test_two_builtin_implementations_of_one_version_is_an_error(
    make_catalog: MakeCatalog, new_module
):
    spec = new_module("spec", SPEC_SOURCE)
    first = new_module("builtin", BUILTIN_SOURCE)
    second = new_module("builtin", BUILTIN_SOURCE)
    with pytest.raises(
        DeclarationError,
        match=f"entry point is implemented twice: by {first} and {second}",
    ):
        make_catalog(third_party_toml([spec], [first, second]), PLUGIN_FILES)


def test_invalid_third_party_hookspec_fails_the_load(make_catalog: MakeCatalog, new_module):
    spec = new_module(
        "spec",
        """
        from catalog_cli import entrypoint

        @entrypoint
        def farewell(ctx) -> str: ...
        """,
    )
    with pytest.raises(DeclarationError, match="must be named <interface>_v<N>") as info:
        make_catalog(third_party_toml([spec], []), PLUGIN_FILES)
    assert info.value.module == spec


def test_hookspec_module_that_fails_to_import_is_a_declaration_error(
    make_catalog: MakeCatalog, new_module
):
    spec = new_module("spec", "raise RuntimeError('boom')\n")
    with pytest.raises(
        DeclarationError, match="the declarations failed to import: RuntimeError: boom"
    ):
        make_catalog(third_party_toml([spec], []), PLUGIN_FILES)
