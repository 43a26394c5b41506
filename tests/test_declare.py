"""The @entrypoint and @plugin_point decorators that turn hookspecs into interface versions."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pluggy
import pytest

from catalog_cli import PROJECT, entrypoint, hookimpl, plugin_point
from catalog_cli.declarations._decorators import ATTRIBUTE, EntrypointDeclaration, PointDeclaration
from catalog_cli.errors import DeclarationError


def spec_options(func: Any) -> dict[str, Any] | None:
    """The hookspec options pluggy itself reads from ``func``."""
    pm = pluggy.PluginManager(PROJECT)
    return pm.parse_hookspec_opts(SimpleNamespace(**{func.__name__: func}), func.__name__)


def greet_v1_entry() -> Any:
    @entrypoint
    def greet_v1(ctx, name: str) -> str:
        """Greet."""

    return greet_v1


# -- entry point names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "interface", "version"),
    [
        ("interface_a_v2", "interface_a", 2),
        ("greet_v1", "greet", 1),
        ("price_quote_v12", "price_quote", 12),
        ("a_v1_v3", "a_v1", 3),
    ],
)
def test_entrypoint_name_gives_interface_and_version(name: str, interface: str, version: int):
    def func(ctx, x: int) -> int: ...

    func.__name__ = name
    decorated = entrypoint(func)
    declaration = getattr(decorated, ATTRIBUTE)
    assert declaration == EntrypointDeclaration(interface, version, {})


@pytest.mark.parametrize(
    "name", ["greet", "greet_v0", "greet_v01", "Greet_v1", "greet_V1", "_greet_v1", "greet_vx"]
)
def test_bad_entrypoint_name_is_rejected_naming_the_hook(name: str):
    def func(ctx) -> None: ...

    func.__name__ = name
    with pytest.raises(DeclarationError, match=r"must be named <interface>_v<N>") as info:
        entrypoint(func)
    assert info.value.hook == name
    assert f"hook {name}:" in str(info.value)
    assert info.value.module == __name__


def test_entrypoint_returns_the_same_function():
    def greet_v1(ctx) -> str: ...

    assert entrypoint(greet_v1) is greet_v1


# -- entry point parameters ----------------------------------------------------------------


def test_first_parameter_must_be_ctx():
    def greet_v1(context, name: str) -> str: ...

    with pytest.raises(DeclarationError, match=r"the first parameter must be `ctx: Context`"):
        entrypoint(greet_v1)


def test_entrypoint_without_parameters_is_rejected():
    def greet_v1() -> str: ...

    with pytest.raises(DeclarationError, match="the first parameter must be `ctx"):
        entrypoint(greet_v1)


def test_ctx_later_than_first_is_rejected():
    def greet_v1(name: str, ctx) -> str: ...

    with pytest.raises(DeclarationError, match="the first parameter must be `ctx"):
        entrypoint(greet_v1)


def test_var_positional_is_rejected():
    def greet_v1(ctx, *names: str) -> str: ...

    with pytest.raises(DeclarationError, match=r"parameter 'names' must be a plain parameter"):
        entrypoint(greet_v1)


def test_var_keyword_is_rejected():
    def greet_v1(ctx, **options: Any) -> str: ...

    with pytest.raises(DeclarationError, match=r"parameter 'options' must be a plain parameter"):
        entrypoint(greet_v1)


def test_keyword_only_is_rejected():
    def greet_v1(ctx, *, name: str) -> str: ...

    with pytest.raises(
        DeclarationError, match=r"parameter 'name' must be a plain parameter"
    ) as info:
        entrypoint(greet_v1)
    assert "plugins receive arguments by name" in str(info.value)


def test_positional_only_is_rejected():
    def greet_v1(ctx, name: str, /) -> str: ...

    with pytest.raises(DeclarationError, match=r"parameter 'ctx' must be a plain parameter"):
        entrypoint(greet_v1)


def _uses_customer(ctx, customer: str) -> str: ...


def _uses_version(ctx, version: int) -> str: ...


def _uses_interface(ctx, interface: str) -> str: ...


@pytest.mark.parametrize(
    ("func", "reserved"),
    [(_uses_customer, "customer"), (_uses_version, "version"), (_uses_interface, "interface")],
)
def test_reserved_parameter_names_are_rejected(func: Any, reserved: str):
    func.__name__ = "greet_v1"
    with pytest.raises(DeclarationError, match=f"parameter name '{reserved}' is reserved") as info:
        entrypoint(func)
    assert "(reserved: ctx, customer, interface, version)" in str(info.value)
    assert info.value.hook == "greet_v1"


@pytest.mark.parametrize("default", [[], {}, set()], ids=["list", "dict", "set"])
def test_mutable_default_is_rejected(default: Any):
    def greet_v1(ctx, names: Any = None) -> str: ...

    greet_v1.__defaults__ = (default,)
    with pytest.raises(DeclarationError, match="parameter 'names' has a mutable default") as info:
        entrypoint(greet_v1)
    assert "use None or a tuple" in str(info.value)


def test_tuple_default_is_allowed():
    @entrypoint
    def greet_v1(ctx, names: tuple[str, ...] = ("a", "b")) -> str: ...

    assert getattr(greet_v1, ATTRIBUTE).defaults == {"names": ("a", "b")}


def test_defaults_are_recorded_in_the_declaration():
    @entrypoint
    def greet_v1(ctx, name: str, greeting: str = "Hello", loud: bool = False) -> str: ...

    declaration = getattr(greet_v1, ATTRIBUTE)
    assert declaration.defaults == {"greeting": "Hello", "loud": False}


def test_defaults_are_stripped_from_the_function():
    @entrypoint
    def greet_v1(ctx, name: str = "there") -> str: ...

    assert greet_v1.__defaults__ is None
    assert greet_v1.__kwdefaults__ is None


def test_pluggy_passes_parameters_whose_defaults_were_stripped():
    @entrypoint
    def greet_v1(ctx, name: str = "there") -> str: ...

    class Impl:
        @staticmethod
        @hookimpl
        def greet_v1(ctx, name):
            return f"Hello {name}"

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(SimpleNamespace(greet_v1=greet_v1))
    pm.register(Impl)
    assert pm.hook.greet_v1.spec.argnames == ("ctx", "name")
    assert pm.hook.greet_v1(ctx=None, name="Bo") == "Hello Bo"


def test_entrypoint_applies_the_pluggy_marker_with_firstresult():
    greet_v1 = greet_v1_entry()
    options = spec_options(greet_v1)
    assert options is not None
    assert options["firstresult"] is True
    assert options["historic"] is False


def test_entrypoint_without_defaults_records_an_empty_dict():
    assert getattr(greet_v1_entry(), ATTRIBUTE).defaults == {}


# -- plugin points -------------------------------------------------------------------------


def test_plugin_point_records_its_declaration():
    greet_v1 = greet_v1_entry()

    @plugin_point(greet_v1, policy="first")
    def greet_v1_salutation(ctx, name: str) -> str | None: ...

    assert getattr(greet_v1_salutation, ATTRIBUTE) == PointDeclaration(
        "greet", 1, "salutation", "first", "greet_v1"
    )


def test_plugin_point_default_policy_is_collect():
    greet_v1 = greet_v1_entry()

    @plugin_point(greet_v1)
    def greet_v1_lines(ctx, name: str) -> str | None: ...

    assert getattr(greet_v1_lines, ATTRIBUTE).policy == "collect"


@pytest.mark.parametrize(
    ("policy", "firstresult"), [("collect", False), ("first", True), ("wrap", True)]
)
def test_plugin_point_firstresult_follows_the_policy(policy: Any, firstresult: bool):
    greet_v1 = greet_v1_entry()

    @plugin_point(greet_v1, policy=policy)
    def greet_v1_step(ctx, name: str) -> str | None: ...

    options = spec_options(greet_v1_step)
    assert options is not None
    assert options["firstresult"] is firstresult


def test_collect_point_gathers_every_result_through_pluggy():
    greet_v1 = greet_v1_entry()

    @plugin_point(greet_v1, policy="collect")
    def greet_v1_lines(ctx) -> str | None: ...

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(SimpleNamespace(greet_v1_lines=greet_v1_lines))
    for text in ("a", None, "b"):
        pm.register(SimpleNamespace(greet_v1_lines=hookimpl(lambda ctx, text=text: text)))
    # pluggy never passes `text` (it has a default): the lambda keeps its own value
    assert sorted(pm.hook.greet_v1_lines(ctx=None)) == ["a", "b"]


def test_unknown_policy_is_rejected():
    greet_v1 = greet_v1_entry()
    with pytest.raises(DeclarationError, match=r"unknown policy 'last'; choose one of") as info:
        plugin_point(greet_v1, policy="last")  # type: ignore[arg-type]
    assert "collect, first, wrap" in str(info.value)


def test_plugin_point_of_a_plain_function_is_rejected():
    def greet_v1(ctx) -> str: ...

    with pytest.raises(DeclarationError, match=r"plugin_point\(of=\.\.\.\) needs an @entrypoint"):
        plugin_point(greet_v1)


def test_plugin_point_of_a_plugin_point_is_rejected():
    greet_v1 = greet_v1_entry()

    @plugin_point(greet_v1)
    def greet_v1_lines(ctx) -> str | None: ...

    with pytest.raises(DeclarationError, match="needs an @entrypoint function"):
        plugin_point(greet_v1_lines)


@pytest.mark.parametrize(
    "name", ["lines", "greet_lines", "greet_v2_lines", "greet_v1", "greet_v1_"]
)
def test_plugin_point_name_must_start_with_the_entry_point_name(name: str):
    greet_v1 = greet_v1_entry()

    def func(ctx) -> str | None: ...

    func.__name__ = name
    with pytest.raises(DeclarationError, match=r"must be named greet_v1_<point>") as info:
        plugin_point(greet_v1)(func)
    assert info.value.hook == name


def test_plugin_point_name_must_be_lower_case():
    greet_v1 = greet_v1_entry()

    def greet_v1_Lines(ctx) -> str | None: ...

    with pytest.raises(DeclarationError, match="must be named greet_v1_<point>"):
        plugin_point(greet_v1)(greet_v1_Lines)


def test_plugin_point_parameters_may_not_have_defaults():
    greet_v1 = greet_v1_entry()

    def greet_v1_lines(ctx, name: str = "x") -> str | None: ...

    with pytest.raises(
        DeclarationError, match="parameter 'name' of a plugin point may not have a default"
    ) as info:
        plugin_point(greet_v1)(greet_v1_lines)
    assert info.value.hook == "greet_v1_lines"


def test_plugin_point_first_parameter_must_be_ctx():
    greet_v1 = greet_v1_entry()

    def greet_v1_lines(name: str) -> str | None: ...

    with pytest.raises(DeclarationError, match="the first parameter must be `ctx"):
        plugin_point(greet_v1)(greet_v1_lines)


def test_plugin_point_rejects_keyword_only_parameters():
    greet_v1 = greet_v1_entry()

    def greet_v1_lines(ctx, *, name: str) -> str | None: ...

    with pytest.raises(DeclarationError, match="parameter 'name' must be a plain parameter"):
        plugin_point(greet_v1)(greet_v1_lines)


def test_deprecated_version_is_declared_and_shown(shipped) -> None:  # type: ignore[no-untyped-def]
    v1 = shipped.interface("interface_a").versions[1]
    assert v1.deprecation == {
        "message": "use v2, which greets in the user's language",
        "sunset": "2027-06-30",
    }
    assert shipped.interface("interface_a").versions[2].deprecation is None


def test_bad_sunset_and_sunset_without_message_are_refused() -> None:
    from catalog_cli import entrypoint

    with pytest.raises(DeclarationError, match="sunset 'soon' is not a date"):

        @entrypoint(deprecated="old", sunset="soon")
        def thing_v1(ctx: Any) -> str: ...

    with pytest.raises(DeclarationError, match="a sunset date needs a deprecation message"):

        @entrypoint(sunset="2027-01-01")
        def thing_v2(ctx: Any) -> str: ...


def test_calling_a_deprecated_version_warns_once_per_tenant(shipped, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    with caplog.at_level(logging.WARNING, logger="catalog.deprecation"):
        shipped.run("interface_a", customer="c1", version=1)
        shipped.run("interface_a", customer="c1", version=1)
        shipped.run("interface_a", customer="c3", version=1)
        shipped.run("interface_a", customer="c3", version=2)
    messages = [r.getMessage() for r in caplog.records if r.name == "catalog.deprecation"]
    assert len(messages) == 2  # once per tenant, however many calls
    for message, tenant in zip(messages, ["c1", "c3"], strict=True):
        assert message.startswith("interface_a v1 is deprecated; sunset ")
        assert "2027-06-30: use v2, which greets in the user's language" in message
        assert message.endswith(f"(called for tenant {tenant!r})")
