"""``catalog init``: a small catalog that works at once, to start from."""

from __future__ import annotations

from pathlib import Path

from ._files import Created, write_files

CATALOG_TOML = """\
    # A task catalog: interfaces (hookspecs/), the catalog's own implementations
    # (builtin_plugins/), customer plugins (plugins/), and the tenants below.
    # Every key is described in the documentation's catalog.toml reference.

    [catalog]
    description = "{description}"

    # The version a tenant runs unless it pins one; without it, the latest version runs.
    [catalog.versions]
    welcome = 1

    [tenants.acme]
    description = "Acme Corp: signs its messages, already on welcome v2"
    plugins = ["acme.welcome"]        # plugins/acme/welcome.py
    versions = {{ welcome = 2 }}

    [tenants.acme.settings."acme.welcome"]
    team = "The Acme team"

    [tenants.globex]
    description = "Globex: no plugins, the catalog's own behaviour"
    """

HOOKSPEC = '''\
    """Welcome a user who signs in."""

    from __future__ import annotations

    from typing import Literal

    from catalog_cli import Context, entrypoint, plugin_point


    @entrypoint
    def welcome_v1(ctx: Context, name: str = "there") -> str:
        """A one-line welcome for ``name``."""


    @entrypoint
    def welcome_v2(
        ctx: Context, name: str = "there", language: Literal["en", "nl"] = "en"
    ) -> str:
        """A welcome in the user's language, then the lines plugins sign it with."""


    @plugin_point(welcome_v2, policy="collect")
    def welcome_v2_sign_off(ctx: Context, name: str) -> str | None:
        """Return a line to sign the welcome with, or None."""
    '''

BUILTIN = '''\
    """The catalog's own implementation of the welcome interface."""

    from __future__ import annotations

    from catalog_cli import Context, hookimpl

    _HELLO = {"en": "Hello", "nl": "Hallo"}


    @hookimpl
    def welcome_v1(ctx: Context, name: str) -> str:
        return f"Hello, {name}!"


    @hookimpl
    def welcome_v2(ctx: Context, name: str, language: str) -> str:
        lines = [f"{_HELLO[language]}, {name}!"]
        lines.extend(ctx.points.sign_off(name=name))
        return "\\n".join(lines)
    '''

PLUGIN = '''\
    """Acme signs every welcome with its team's name (setting ``team``)."""

    from __future__ import annotations

    from catalog_cli import Context, hookimpl


    @hookimpl
    def welcome_v2_sign_off(ctx: Context, name: str) -> str | None:
        return f"-- {ctx.settings.get('team', 'Acme')}"
    '''

TESTS = '''\
    """Tests of this catalog, with task-catalog's pytest fixtures (``catalog``,
    ``make_catalog``, ``catalog_cli``) and helpers (``catalog_cli.testing``)."""

    from __future__ import annotations

    from catalog_cli.testing import assert_plugin_contract


    def test_acme_signs_its_welcome(catalog):
        assert catalog.run("welcome", customer="acme", name="Ada") == (
            "Hello, Ada!\\n-- The Acme team"
        )


    def test_globex_runs_the_catalogs_own_v1(catalog):
        assert catalog.run("welcome", customer="globex", name="Ada") == "Hello, Ada!"


    def test_acmes_plugin_never_runs_for_globex(catalog):
        assert "Acme" not in catalog.run("welcome", customer="globex", version=2)


    def test_acmes_plugin_keeps_its_contract(catalog):
        assert_plugin_contract(catalog, "acme.welcome", settings={"team": "Anyone"})


    def test_a_new_tenant_from_data(make_catalog):
        trial = make_catalog(
            """
            [tenants.initech]
            plugins = ["acme.welcome"]
            versions = { welcome = 2 }
            [tenants.initech.settings."acme.welcome"]
            team = "Initech"
            """,
            {"plugins/acme/welcome.py": open_plugin("acme/welcome.py")},
        )
        welcome = trial.run("welcome", customer="initech", language="nl")
        assert welcome == "Hallo, there!\\n-- Initech"


    def test_the_command_line(catalog_cli):
        result = catalog_cli("run", "welcome", "--customer", "acme", "--arg", "name=Ada")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("Hello, Ada!")


    def open_plugin(relative):
        from pathlib import Path

        folder = Path(__file__).resolve().parent.parent / "plugins"
        return (folder / relative).read_text(encoding="utf-8")
    '''

README = """\
    # {title}

    A task catalog: versioned business methods shared by many customers (tenants), each
    with its own plugins, settings and version pins.

    | folder or file | what it holds |
    | --- | --- |
    | `catalog.toml` | the tenants: their plugins, settings and versions |
    | `hookspecs/` | the interfaces: one module each, a function per version and plugin point |
    | `builtin_plugins/` | the catalog's own implementation of every version |
    | `plugins/` | customer plugins: `plugins/acme/welcome.py` is the plugin `acme.welcome` |
    | `tests/` | tests of the catalog, with task-catalog's pytest fixtures |

    Try it:

    ```sh
    catalog run welcome --customer acme --arg name=Ada     # v2, signed by Acme's plugin
    catalog run welcome --customer globex                  # v1, the catalog's own
    catalog tenants show acme                              # what runs for acme, and why
    catalog check                                          # everything loads and fits
    pytest                                                 # the tests in tests/
    ```

    Grow it:

    ```sh
    catalog new interface invoice         # hookspecs/invoice.py and builtin_plugins/invoice.py
    catalog new version welcome           # welcome v3, a copy of v2 to change
    catalog new plugin globex welcome     # plugins/globex/welcome.py
    catalog docs --out docs/hooks         # the hook reference for plugin authors
    ```
    """

GITIGNORE = """\
    __pycache__/
    *.sqlite3
    *.sqlite3-*
    .pytest_cache/
    """


def init_catalog(folder: Path, *, description: str = "") -> Created:
    """Write a working catalog into ``folder`` (see the module docstring); refuse, writing
    nothing, if any of its files exists."""
    folder = folder.resolve()
    title = folder.name or "catalog"
    text = description or f"{title}: a task catalog"
    files = {
        folder / "catalog.toml": CATALOG_TOML.format(description=text.replace('"', '\\"')),
        folder / "hookspecs" / "welcome.py": HOOKSPEC,
        folder / "builtin_plugins" / "welcome.py": BUILTIN,
        folder / "plugins" / "acme" / "welcome.py": PLUGIN,
        folder / "tests" / "test_welcome.py": TESTS,
        folder / "README.md": README.format(title=title),
        folder / ".gitignore": GITIGNORE,
    }
    written = write_files(files)
    here = Path.cwd().resolve()
    enter = [] if folder == here else [f"cd {_shown(folder, here)}"]
    return Created(
        written,
        (
            *enter,
            "catalog run welcome --customer acme --arg name=Ada",
            "catalog tenants show acme",
            "pytest",
        ),
    )


def _shown(folder: Path, here: Path) -> str:
    try:
        return str(folder.relative_to(here))
    except ValueError:
        return str(folder)
