"""Hostile plugins that go after memory and shared state: a huge allocation within a bound, a
failed allocation, and a plugin that mutates everything the catalog hands it. Its own tenant
pays; the others' answers do not change."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import PluginCallError
from tests.conftest import MakeCatalog

#: Allocates ``mb`` megabytes during each call (then lets them go), answering as usual.
HOARDER = """
from catalog_cli import hookimpl


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    block = bytearray(ctx.settings["mb"] * 1024 * 1024)
    block[-1] = 1
    return f"held {len(block) // (1024 * 1024)} MB"
"""

#: Runs out of memory (as a failed allocation does: MemoryError).
STARVED = """
from catalog_cli import hookimpl


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    raise MemoryError("cannot allocate")
"""

#: Mutates everything it is handed or can reach from its ctx, then answers.
MUTATOR = """
from catalog_cli import hookimpl

TRIED = []


def attempt(label, action):
    try:
        action()
        TRIED.append((label, "done"))
    except Exception as exc:
        TRIED.append((label, type(exc).__name__))


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    settings = ctx.settings
    attempt("settings item", lambda: settings.__setitem__("greeting", "PWNED"))
    attempt("settings list", lambda: settings["lines"].append("PWNED"))
    attempt("ctx tenant", lambda: setattr(ctx, "tenant", "victim"))
    attempt("ctx settings", lambda: setattr(ctx, "settings", {"greeting": "PWNED"}))
    attempt("points", lambda: setattr(ctx.points, "greeting", lambda **kw: "PWNED"))
    return "mutator was here"
"""

#: The victim's own plugin: it answers with its settings, to show they are untouched.
VICTIM = """
from catalog_cli import hookimpl


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    return ctx.settings["greeting"] + " " + ",".join(ctx.settings["lines"])
"""

TOML = """
[catalog]
plugin_dirs = ["plugins"]

[tenants.hoarder]
plugins = ["hoarder"]
[tenants.hoarder.settings.hoarder]
mb = 200

[tenants.starved]
plugins = ["starved"]

[tenants.mutator]
plugins = ["mutator", "victim"]
[tenants.mutator.settings.mutator]
greeting = "own"
lines = ["z"]
[tenants.mutator.settings.victim]
greeting = "mine"
lines = ["a", "b"]

[tenants.victim]
plugins = ["victim"]
[tenants.victim.settings.victim]
greeting = "hello"
lines = ["x", "y"]
"""


@pytest.fixture
def catalog(make_catalog: MakeCatalog) -> Catalog:
    return make_catalog(
        TOML,
        {
            "plugins/hoarder.py": HOARDER,
            "plugins/starved.py": STARVED,
            "plugins/mutator.py": MUTATOR,
            "plugins/victim.py": VICTIM,
        },
    )


def _victim(catalog: Catalog) -> str:
    answer: str = catalog.run("interface_a", customer="victim", version=2, name="V")
    return answer


def test_a_huge_allocation_within_a_bound_leaves_the_others_alone(catalog: Catalog) -> None:
    expected = _victim(catalog)
    answers: list[Any] = []
    errors: list[BaseException] = []

    def hoard() -> None:
        try:
            for _ in range(3):
                answers.append(catalog.run("interface_a", customer="hoarder", version=2, name="H"))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=hoard)
    thread.start()
    seen = [_victim(catalog) for _ in range(200)]
    thread.join()
    assert errors == [] and all("held 200 MB" in a for a in answers)
    assert set(seen) == {expected}


def test_a_failed_allocation_fails_its_tenant_alone(catalog: Catalog) -> None:
    with pytest.raises(PluginCallError) as caught:
        catalog.run("interface_a", customer="starved", version=2, name="S")
    assert caught.value.plugin == "starved" and isinstance(caught.value.cause, MemoryError)
    assert _victim(catalog) == "Hello, V!\nhello x,y"


def test_a_plugin_that_mutates_what_it_is_handed_changes_nobody_elses_answers(
    catalog: Catalog,
) -> None:
    before = _victim(catalog)
    first = catalog.run("interface_a", customer="mutator", version=2, name="M")
    again = catalog.run("interface_a", customer="mutator", version=2, name="M")
    tried = dict(catalog.registry.loader.status("mutator").TRIED)  # type: ignore[union-attr]
    # Settings are read-only (their lists are tuples), and so are the context and the plugin
    # points every plugin of the tenant calls through: nothing changed.
    assert tried == dict.fromkeys(
        ("settings item", "settings list", "ctx tenant", "ctx settings", "points"),
        "AttributeError",
    )
    assert first == again == "Hello, M!\nmutator was here\nmine a,b"
    assert _victim(catalog) == before == "Hello, V!\nhello x,y"
