"""The documentation documents every hook, every exit code, every command and option, every
interceptor setting and every catalog.toml key (datasette's rule), and stays whole: every page
is in the site's navigation, the README stays short and links to pages that exist."""

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

DOCS = REPO / "docs"
README = (REPO / "README.md").read_text(encoding="utf-8")

#: The README is for newcomers; everything else lives in docs/.
README_LIMIT = 15_000

#: The quick start, as CI runs it (.ci/run): the README must keep these exactly.
QUICK_START = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && "
    "catalog run interface_a --version 2 --customer c1",
    "python3 -m venv .venv && . .venv/bin/activate && pip install '.[test]' && pytest",
)


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The part of ``text`` under ``heading`` (a whole heading line), up to the next heading
    of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    found: list[str] | None = None
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.rstrip() == heading:
            found = []
            continue
        elif not fenced and found is not None and re.match(rf"#{{1,{level}}} ", line):
            break
        if found is not None:
            found.append(line)
    assert found is not None, f"no heading {heading!r}"
    return "\n".join(found)


# -- the README -------------------------------------------------------------------------------


def test_readme_is_short() -> None:
    size = len(README.encode("utf-8"))
    assert size < README_LIMIT, f"README.md is {size} bytes; move details to docs/"


@pytest.mark.parametrize("command", QUICK_START)
def test_readme_keeps_the_quick_start_commands(command: str) -> None:
    assert command in README


def test_readme_tour_starts_a_catalog_of_ones_own() -> None:
    assert "catalog init my-catalog" in README


def test_readme_links_to_pages_that_exist() -> None:
    links = re.findall(r"\]\((docs/[^)#\s]+)", README)
    assert links, "the README links to no docs page"
    missing = [link for link in links if not (REPO / link).is_file()]
    assert not missing


# -- the site ---------------------------------------------------------------------------------


def _nav_pages() -> set[str]:
    text = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return set(re.findall(r"([\w./-]+\.md)\s*$", nav, re.MULTILINE))


def test_every_page_is_in_the_navigation() -> None:
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert pages, "docs/ has no pages"
    nav = _nav_pages()
    assert not pages - nav, "pages missing from mkdocs.yml's nav"
    assert not nav - pages, "mkdocs.yml's nav names pages that do not exist"


def test_the_site_is_built_strictly() -> None:
    text = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^strict: true$", text, re.MULTILINE)


def test_no_machine_specific_paths() -> None:
    texts = {"README.md": README, "mkdocs.yml": (REPO / "mkdocs.yml").read_text("utf-8")}
    texts.update({str(p.relative_to(REPO)): p.read_text("utf-8") for p in DOCS.rglob("*.md")})
    found = [name for name, text in texts.items() if re.search(r"/work/|/tmp/|/home/", text)]
    assert not found


# -- hooks ------------------------------------------------------------------------------------


def _hooks(shipped: Catalog) -> list[str]:
    hooks = []
    for interface in shipped.interfaces():
        for version in interface.versions.values():
            hooks.append(version.hook)
            hooks.extend(point.hook for point in version.points.values())
    return hooks


def test_every_shipped_hook_is_in_the_hook_reference(shipped: Catalog) -> None:
    reference = page("reference/example-hooks.md")
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
    assert f"| `{hook}` |" in page("reference/hooks.md")


def test_the_catalog_hooks_are_all_there() -> None:
    from catalog_cli.declarations import _hooks as catalog_hooks

    reference = page("reference/hooks.md")
    missing = [f.__name__ for f in catalog_hooks.ALL if f"| `{f.__name__}` |" not in reference]
    assert not missing


def test_hook_reference_policies_match_the_declarations(shipped: Catalog) -> None:
    reference = page("reference/example-hooks.md")
    for interface in shipped.interfaces():
        for version in interface.versions.values():
            for point in version.points.values():
                row = re.search(rf"\| `{point.name}` \| `{point.hook}` \| (\w+)", reference)
                assert row is not None, point.hook
                assert row.group(1) == point.policy, point.hook


def test_the_example_hook_reference_is_generated(shipped: Catalog) -> None:
    # Regenerate with: catalog -c catalog.toml docs > docs/reference/example-hooks.md
    from catalog_cli.authoring._reference import single_page

    generated = single_page(shipped.registry.interfaces, title=shipped.config.description or "")
    assert page("reference/example-hooks.md") == generated


# -- exit codes -------------------------------------------------------------------------------


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


def _error_classes() -> list[str]:
    return sorted(
        name
        for name, value in vars(errors_module).items()
        if isinstance(value, type) and issubclass(value, errors_module.CatalogError)
    )


@pytest.mark.parametrize("kind", _error_kinds())
def test_every_error_kind_has_an_exit_code(kind: str) -> None:
    assert kind in exits.CODES


@pytest.mark.parametrize("code", sorted(_exit_codes()))
def test_every_exit_code_is_documented(code: int) -> None:
    table = page("exit-codes.md")
    assert re.search(rf"^\| {code} \| \S", table, re.MULTILINE), code


@pytest.mark.parametrize("name", _error_classes())
def test_every_error_class_is_in_the_error_tree(name: str) -> None:
    tree = section(page("library.md"), "## Errors")
    assert re.search(rf"\b{name}\b", tree), name


# -- the command line -------------------------------------------------------------------------


def _commands() -> list[tuple[str, list[str]]]:
    """Every command, walking the Typer app, with the option and argument names it takes."""
    import typer.main

    root = typer.main.get_command(app)
    found = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        sub = getattr(command, "commands", None)
        children = [(f"{name} {child}", c) for child, c in sub.items()] if sub else []
        for full, leaf in children or [(name, command)]:
            options = [
                opt
                for param in leaf.params
                if param.param_type_name == "option"
                for opt in param.opts
                if opt not in ("--help", "-h", "--catalog", "-c")
            ]
            found.append((f"catalog {full}", options))
    return found


@pytest.mark.parametrize(("command", "options"), _commands(), ids=[c for c, _ in _commands()])
def test_every_command_and_option_is_in_the_cli_reference(command: str, options: list[str]) -> None:
    reference = page("cli.md")
    assert f"`{command}" in reference
    part = section(reference, f"## `{command}`")
    missing = [opt for opt in options if not re.search(rf"(?<![\w-]){opt}(?![\w-])", part)]
    assert not missing, (command, missing)


def test_the_global_options_are_in_the_cli_reference() -> None:
    import typer.main

    root = typer.main.get_command(app)
    part = section(page("cli.md"), "## Global options")
    options = [opt for param in root.params for opt in param.opts]
    missing = [opt for opt in options if f"`{opt}" not in part and f" {opt}`" not in part]
    assert not missing


# -- interceptors -----------------------------------------------------------------------------


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
    part = section(page("interceptors.md"), f"### `{name}`")
    missing = [setting for setting in settings if f"| `{setting}` |" not in part]
    assert not missing, (name, missing)


# -- catalog.toml -----------------------------------------------------------------------------


def _toml_keys() -> list[str]:
    from catalog_cli.config import _config as config
    from catalog_cli.config import _isolation as isolation
    from catalog_cli.config import _jobs as jobs

    keys = [f"catalog.{key}" for key in config._CATALOG_KEYS]
    keys += [f"tenants.<id>.{key}" for key in config._TENANT_KEYS]
    keys += [f"interceptors.<name>.{key}" for key in config._INTERCEPTOR_KEYS]
    keys += [f"serve.{key}" for key in config._SERVE_KEYS]
    keys += [f"jobs.{key}" for key in jobs.JOBS_KEYS]
    keys += [f"jobs.retry.{key}" for key in jobs.RETRY_KEYS]
    keys += ["jobs.retry.interfaces.<name>"]
    keys += [f"isolation.{key}" for key in isolation.LIMIT_KEYS]
    keys += ["tenants.<id>.isolation.plugins"]
    return keys


@pytest.mark.parametrize("key", _toml_keys())
def test_every_catalog_toml_key_is_documented(key: str) -> None:
    reference = page("catalog-toml.md")
    assert re.search(rf"^\| `{re.escape(key)}(\.<[a-z]+>)?` \|", reference, re.MULTILINE), key
