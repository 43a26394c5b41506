"""The README documents every hook, every exit code and every command (datasette's rule)."""

from __future__ import annotations

import re

import pytest

from catalog_cli import Catalog
from catalog_cli import errors as errors_module
from catalog_cli.cli import _exits as exits
from catalog_cli.cli import app
from catalog_cli.cli.check import EXIT_PROBLEMS
from catalog_cli.cli.health import EXIT_UNHEALTHY

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _hooks(shipped: Catalog) -> list[str]:
    hooks = []
    for interface in shipped.interfaces():
        for version in interface.versions.values():
            hooks.append(version.hook)
            hooks.extend(point.hook for point in version.points.values())
    return hooks


def test_every_shipped_hook_is_in_the_hook_reference(shipped: Catalog) -> None:
    reference = README[README.index("## Hook reference") :]
    missing = [hook for hook in _hooks(shipped) if f"`{hook}`" not in reference]
    assert not missing


@pytest.mark.parametrize(
    "hook",
    [
        "catalog_startup",
        "catalog_shutdown",
        "catalog_health",
        "catalog_call_event",
        "catalog_call",
        "catalog_point_call",
    ],
)
def test_every_catalog_hook_is_documented(hook: str) -> None:
    assert f"| `{hook}` |" in README


def test_hook_reference_policies_match_the_declarations(shipped: Catalog) -> None:
    for interface in shipped.interfaces():
        for version in interface.versions.values():
            for point in version.points.values():
                row = re.search(rf"\| `{point.hook}` \|[^\n]*\| (\w+) \|\n", README)
                assert row is not None, point.hook
                assert row.group(1) == point.policy, point.hook


def _exit_codes() -> set[int]:
    return {0, 1, 2, 130, EXIT_PROBLEMS, EXIT_UNHEALTHY, *exits.CODES.values()}


def _error_kinds() -> list[str]:
    return sorted(
        {
            value.kind
            for value in vars(errors_module).values()
            if isinstance(value, type) and issubclass(value, errors_module.CatalogError)
        }
    )


@pytest.mark.parametrize("kind", _error_kinds())
def test_every_error_kind_has_an_exit_code(kind: str) -> None:
    assert kind in exits.CODES


@pytest.mark.parametrize("code", sorted(_exit_codes()))
def test_every_exit_code_is_documented(code: int) -> None:
    table = README[README.index("## Exit codes") : README.index("## Library use")]
    assert re.search(rf"^\| {code} \| \S", table, re.MULTILINE), code


def _commands() -> list[str]:
    import typer.main

    root = typer.main.get_command(app)
    names = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        sub = getattr(command, "commands", None)
        if sub:
            names.extend(f"catalog {name} {child}" for child in sub)
        else:
            names.append(f"catalog {name}")
    return names


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_in_the_cli_reference(command: str) -> None:
    reference = README[README.index("## CLI reference") : README.index("## Exit codes")]
    assert f"`{command}" in reference


def _builtin_interceptors() -> list[tuple[str, list[str]]]:
    import importlib

    from catalog_cli.interceptors import BUILTIN

    found = []
    for name, module in BUILTIN.items():
        schema = importlib.import_module(module).PLUGIN.settings
        found.append((name, list(schema.options)))
    return found


@pytest.mark.parametrize(("name", "settings"), _builtin_interceptors())
def test_every_builtin_interceptor_and_setting_is_documented(
    name: str, settings: list[str]
) -> None:
    start = README.index(f"### `{name}`")
    section = README[start : README.index("\n## ", start)]
    section = section[: section.find("\n### ", 4)] if "\n### " in section[4:] else section
    missing = [setting for setting in settings if f"| `{setting}` |" not in section]
    assert not missing, (name, missing)
