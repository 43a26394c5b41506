"""A corpus of malformed catalog files and command lines: each ends with its documented exit
code and a message naming the file, key or option at fault, never with a traceback or an
internal error (exit 1). In-process through the kit's ``invoke_cli``; a few through the
installed ``catalog`` command, and a few over HTTP, to prove the real paths."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from catalog_cli.config._keys import hash_key
from catalog_cli.testing import invoke_cli

REPO = Path(__file__).resolve().parent.parent
TRACEBACK = "Traceback (most recent call last)"

USAGE, CONFIG, UNKNOWN, ARGUMENTS, PLUGIN = 2, 3, 4, 5, 6

#: A catalog's interface that takes anything: where the nesting limit of arguments shows.
ECHO_SPEC = '''
"""Give back what it was given."""

from __future__ import annotations

from typing import Any

from catalog_cli import Context, entrypoint


@entrypoint
def echo_v1(ctx: Context, data: Any = None, items: list[int] | None = None) -> Any:
    """``data`` and ``items``, as given."""
'''
ECHO_IMPL = """
from __future__ import annotations

from typing import Any

from catalog_cli import Context, hookimpl


@hookimpl
def echo_v1(ctx: Context, data: Any, items: list[int] | None) -> Any:
    return {"data": data, "items": items}
"""

KEY = "key-of-c1-0123456789"

#: What every case's catalog starts with; a case adds tables of its own below.
BASE = f"""
[catalog]
plugin_dirs = ["plugins"]

[tenants.c1]
plugins = ["customer_1.interface_a", "customer_1.price_quote"]
api_keys = ["{hash_key(KEY)}"]

[tenants.c3]
"""

RUN = ("run", "interface_a", "-C", "c1", "-a", "name=Ada")
RUN_T = ("run", "interface_a", "-C", "t", "-a", "name=Ada")
QUOTE = ("run", "price_quote", "-C", "c1")
QUOTE_T = ("run", "price_quote", "-C", "t", "-a", "unit_price=1", "-a", "quantity=1")
OK = ("-a", "unit_price=1", "-a", "quantity=1")
LIST = ("tenants", "list")
BIG = "9" * 400  # beyond any float
HUGE = "9" * 5000  # beyond what int() reads
DIGITS30 = "9" * 30


def deep_array(levels: int) -> str:
    return "[" * levels + "]" * levels


def deep_object(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


class Case(NamedTuple):
    id: str
    #: the catalog file's text (BASE is not added), or None: the example catalog of the repo
    toml: str | bytes | None
    args: tuple[str, ...]
    code: int
    #: what the output must say (whitespace-normalised), such as the key or option at fault
    says: tuple[str, ...]
    #: for a configuration error: whether the message names the catalog file
    names_file: bool = True


def case(
    id: str,
    toml: str | bytes | None,
    args: tuple[str, ...],
    code: int,
    *says: str,
    names_file: bool = True,
) -> Case:
    return Case(id, toml, args, code, says, names_file)


def base(extra: str) -> str:
    return BASE + extra + "\n"


def tenant(body: str) -> str:
    return base("[tenants.t]\n" + body)


# -- TOML that does not parse, or that no catalog can be ------------------------------------------

SYNTAX = [
    case("unclosed-header", "[catalog\n", LIST, CONFIG, ":1:", "not valid TOML", "Expected ']'"),
    case(
        "duplicate-key",
        "[catalog]\ndescription = 'a'\ndescription = 'b'\n",
        LIST,
        CONFIG,
        ":3:",
        "not valid TOML",
        "Cannot overwrite a value",
    ),
    case("duplicate-table", "[catalog]\n[catalog]\n", LIST, CONFIG, ":2:", "Cannot declare"),
    case(
        "unterminated-string",
        '[catalog]\ndescription = "abc\n',
        LIST,
        CONFIG,
        ":2:",
        "not valid TOML",
    ),
    case("bad-escape", '[catalog]\ndescription = "\\q"\n', LIST, CONFIG, ":2:", "Unescaped"),
    case("missing-value", "[catalog]\ndescription =\n", LIST, CONFIG, ":2:", "Invalid value"),
    case(
        "nul-byte-in-file",
        b'[catalog]\ndescription = "a\x00b"\n',
        LIST,
        CONFIG,
        ":2:",
        "Illegal character",
    ),
    case(
        "control-character",
        b'[catalog]\ndescription = "a\x01b"\n',
        LIST,
        CONFIG,
        ":2:",
        "Illegal character",
    ),
    case(
        "not-utf8",
        b'[catalog]\ndescription = "\xff\xfe"\n',
        LIST,
        CONFIG,
        "cannot read the catalog file",
        "can't decode",
    ),
    case(
        "binary-file",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        LIST,
        CONFIG,
        "cannot read the catalog file",
    ),
    case("byte-order-mark", "\ufeff" + BASE, LIST, CONFIG, ":1:", "not valid TOML"),
    case(
        "arrays-500-deep",
        "x = " + deep_array(500) + "\n",
        LIST,
        CONFIG,
        "not valid TOML: arrays or tables nested more than 100 levels deep",
    ),
    case(
        "inline-tables-500-deep",
        "x = " + "{a = " * 500 + "1" + "}" * 500 + "\n",
        LIST,
        CONFIG,
        "nested more than 100 levels deep",
    ),
    case(
        "header-500-deep",
        "[" + ".".join(["a"] * 500) + "]\nx = 1\n",
        LIST,
        CONFIG,
        ":1: a.a.a.a.a.a.a.a...: arrays or tables nested more than 100 levels deep",
    ),
    case(
        "dotted-key-3000-deep",
        base('[tenants.c1.settings."customer_1.price_quote"]\n' + ".".join(["k"] * 3000) + " = 1"),
        RUN,
        CONFIG,
        'tenants.c1.settings."customer_1.price_quote".k.k.k.k...',
        "nested more than 100 levels deep",
    ),
    case(
        "array-101-deep-in-settings",
        base('[tenants.c1.settings."customer_1.price_quote"]\nx = ' + deep_array(101)),
        RUN,
        CONFIG,
        'tenants.c1.settings."customer_1.price_quote".x',
        "nested more than 100 levels deep",
    ),
    case(
        "integer-of-5000-digits",
        base(f"[jobs]\nattempts = {HUGE}"),
        LIST,
        CONFIG,
        "not valid TOML: a number too long to read",
    ),
    case("empty-file", "", RUN, UNKNOWN, "unknown tenant 'c1'", "There are no known tenants"),
    case(
        "top-level-typo",
        base("[tenant.x]"),
        LIST,
        CONFIG,
        "tenant: unknown key",
        "did you mean 'tenants'?",
    ),
    case("catalog-not-a-table", "catalog = 1\n", LIST, CONFIG, "catalog: expected a table"),
    case(
        "catalog-array-of-tables",
        "[[catalog]]\n",
        LIST,
        CONFIG,
        "catalog: expected a table, got an array",
    ),
    case("tenants-not-a-table", "tenants = 1\n", LIST, CONFIG, "tenants: expected a table"),
    case(
        "tenants-array", "tenants = [1]\n", LIST, CONFIG, "tenants: expected a table, got an array"
    ),
    case(
        "tenants-array-of-tables",
        "[[tenants]]\nx = 1\n",
        LIST,
        CONFIG,
        "tenants: expected a table, got an array",
    ),
    case(
        "interceptors-not-a-table",
        "interceptors = 1\n" + BASE,
        LIST,
        CONFIG,
        "interceptors: expected a table",
    ),
    case("serve-not-a-table", "serve = 1\n" + BASE, LIST, CONFIG, "serve: expected a table"),
    case("jobs-not-a-table", "jobs = 1\n" + BASE, LIST, CONFIG, "jobs: expected a table"),
    case(
        "catalog-file-missing",
        None,
        ("--catalog", "no/such/catalog.toml", *LIST),
        CONFIG,
        "no/such/catalog.toml: catalog file not found",
        names_file=False,
    ),
    case(
        "catalog-file-a-folder",
        None,
        ("--catalog", "plugins", *LIST),
        CONFIG,
        "plugins: cannot read the catalog file",
        names_file=False,
    ),
]

# -- [catalog] ------------------------------------------------------------------------------------

CATALOG = [
    case(
        "description-int",
        "[catalog]\ndescription = 1\n",
        LIST,
        CONFIG,
        "catalog.description: expected a string, got an integer",
    ),
    case(
        "description-date",
        "[catalog]\ndescription = 1979-05-27\n",
        LIST,
        CONFIG,
        "catalog.description: expected a string, got date",
    ),
    case(
        "hookspecs-dir-int",
        "[catalog]\nhookspecs_dir = 1\n",
        LIST,
        CONFIG,
        "catalog.hookspecs_dir: expected a folder path, got 1",
    ),
    case(
        "hookspecs-dir-missing",
        "[catalog]\nhookspecs_dir = 'nope'\n",
        LIST,
        CONFIG,
        "catalog.hookspecs_dir: no such directory",
    ),
    case(
        "hookspecs-dir-a-file",
        "[catalog]\nhookspecs_dir = 'hookspecs/echo.py'\n",
        LIST,
        CONFIG,
        "catalog.hookspecs_dir: no such directory",
    ),
    case(
        "hookspecs-dir-nul",
        '[catalog]\nhookspecs_dir = "a\\u0000b"\n',
        LIST,
        CONFIG,
        "catalog.hookspecs_dir: a path cannot contain a NUL byte",
    ),
    case(
        "builtins-dir-missing",
        "[catalog]\nbuiltins_dir = '/nonexistent/builtins'\n",
        LIST,
        CONFIG,
        "catalog.builtins_dir: no such directory: /nonexistent/builtins",
    ),
    case(
        "plugin-dirs-a-string",
        "[catalog]\nplugin_dirs = 'plugins'\n",
        LIST,
        CONFIG,
        "catalog.plugin_dirs: expected an array of strings, got a string",
    ),
    case(
        "plugin-dirs-int-item",
        "[catalog]\nplugin_dirs = [1]\n",
        LIST,
        CONFIG,
        "catalog.plugin_dirs: item 0: expected a string, got an integer",
    ),
    case(
        "plugin-dirs-missing",
        "[catalog]\nplugin_dirs = ['plugins', 'nope']\n",
        LIST,
        CONFIG,
        "catalog.plugin_dirs: item 1: no such directory",
    ),
    case(
        "plugin-dirs-twice",
        "[catalog]\nplugin_dirs = ['plugins', 'plugins']\n",
        LIST,
        CONFIG,
        "catalog.plugin_dirs: 'plugins' is listed twice",
    ),
    case(
        "plugin-dirs-nul",
        '[catalog]\nplugin_dirs = ["plu\\u0000gins"]\n',
        LIST,
        CONFIG,
        "catalog.plugin_dirs: item 0",
        "a path cannot contain a NUL byte",
    ),
    case(
        "plugin-dirs-same-plugins-twice",
        "[catalog]\nplugin_dirs = ['plugins', './plugins']\n",
        LIST,
        CONFIG,
        "catalog.plugin_dirs: two plugins are named 'customer_1.interface_a'",
    ),
    case(
        "modules-an-array",
        "[catalog]\nmodules = []\n",
        LIST,
        CONFIG,
        "catalog.modules: expected a table, got an array",
    ),
    case(
        "modules-int",
        "[catalog.modules]\nx = 1\n",
        LIST,
        CONFIG,
        "catalog.modules.x: expected a module name, got 1",
    ),
    case(
        "modules-not-a-module-name",
        "[catalog.modules]\nx = 'not a module!'\n",
        LIST,
        CONFIG,
        "catalog.modules.x: expected a module name",
    ),
    case(
        "modules-bad-plugin-name",
        "[catalog.modules]\n'bad name!' = 'json'\n",
        LIST,
        CONFIG,
        'catalog.modules."bad name!": not a valid plugin name',
    ),
    case(
        "modules-same-module-twice",
        "[catalog.modules]\nx = 'json'\ny = 'json'\n",
        LIST,
        CONFIG,
        "catalog.modules.y: module json is already the plugin 'x'",
    ),
    case(
        "modules-name-of-a-plugin-file",
        "[catalog]\nplugin_dirs = ['plugins']\n[catalog.modules]\n"
        "'customer_1.interface_a' = 'json'\n",
        LIST,
        CONFIG,
        "two plugins are named 'customer_1.interface_a'",
    ),
    case(
        "modules-not-importable",
        base("[catalog.modules]\nx = 'no_such_module_xyz'\n[tenants.t]\nplugins = ['x']"),
        RUN_T,
        PLUGIN,
        "plugin 'x' from module no_such_module_xyz failed to import",
        "tenant 't'",
    ),
    case(
        "modules-no-plugin",
        base("[catalog.modules]\nx = 'json'\n[tenants.t]\nplugins = ['x']"),
        RUN_T,
        PLUGIN,
        "plugin 'x': implements no hooks",
    ),
    case(
        "versions-an-array",
        "[catalog]\nversions = []\n",
        LIST,
        CONFIG,
        "catalog.versions: expected a table, got an array",
    ),
    case(
        "versions-zero",
        "[catalog.versions]\ninterface_a = 0\n",
        LIST,
        CONFIG,
        "catalog.versions.interface_a: expected a version number (an integer >= 1), got 0",
    ),
    case(
        "versions-string",
        "[catalog.versions]\ninterface_a = '1'\n",
        LIST,
        CONFIG,
        "catalog.versions.interface_a: expected a version number",
        "got '1'",
    ),
    case(
        "versions-float",
        "[catalog.versions]\ninterface_a = 1.5\n",
        LIST,
        CONFIG,
        "catalog.versions.interface_a: expected a version number",
        "got 1.5",
    ),
    case(
        "versions-bool",
        "[catalog.versions]\ninterface_a = true\n",
        LIST,
        CONFIG,
        "catalog.versions.interface_a: expected a version number",
        "got True",
    ),
    case(
        "versions-unknown-version",
        "[catalog.versions]\ninterface_a = 9\n",
        LIST,
        CONFIG,
        "catalog.versions.interface_a: interface_a has no version 9 (versions: 1, 2)",
    ),
    case(
        "versions-30-digits",
        f"[catalog.versions]\ninterface_a = {DIGITS30}\n",
        LIST,
        CONFIG,
        f"catalog.versions.interface_a: interface_a has no version {DIGITS30}",
    ),
    case(
        "versions-unknown-interface",
        "[catalog.versions]\ninterface_b = 1\n",
        LIST,
        CONFIG,
        "catalog.versions.interface_b: unknown interface",
    ),
    case(
        "hookspecs-a-string",
        "[catalog]\nhookspecs = 'json'\n",
        LIST,
        CONFIG,
        "catalog.hookspecs: expected an array of strings, got a string",
    ),
    case(
        "hookspecs-int",
        "[catalog]\nhookspecs = [1]\n",
        LIST,
        CONFIG,
        "catalog.hookspecs: item 0: expected a string, got an integer",
    ),
    case(
        "hookspecs-not-a-module-name",
        "[catalog]\nhookspecs = ['not a module']\n",
        LIST,
        CONFIG,
        "catalog.hookspecs: item 0 ('not a module'): not an importable module name",
    ),
    case(
        "hookspecs-missing",
        "[catalog]\nhookspecs = ['no_such_xyz.sub']\n",
        LIST,
        CONFIG,
        "catalog.hookspecs: item 0: no importable module named 'no_such_xyz.sub'",
    ),
    case(
        "hookspecs-not-declarations",
        "[catalog]\nhookspecs = ['json']\n",
        LIST,
        CONFIG,
        "catalog.hookspecs: item 0: module 'json' declares no interface",
    ),
    case(
        "hookspecs-twice",
        "[catalog]\nhookspecs = ['json', 'json']\n",
        LIST,
        CONFIG,
        "catalog.hookspecs: 'json' is listed twice",
    ),
    case(
        "builtins-missing",
        "[catalog]\nbuiltins = ['no_such_xyz']\n",
        LIST,
        CONFIG,
        "catalog.builtins: item 0: no importable module named 'no_such_xyz'",
    ),
    case(
        "builtins-not-a-plugin",
        "[catalog]\nbuiltins = ['json']\n",
        LIST,
        PLUGIN,
        "plugin 'json': implements no hooks",
    ),
    case(
        "packages-unknown",
        "[catalog]\npackages = ['nope']\n",
        LIST,
        CONFIG,
        "catalog.packages: item 0: no installed package offers interfaces as 'nope'",
    ),
    case(
        "packages-int",
        "[catalog]\npackages = [1]\n",
        LIST,
        CONFIG,
        "catalog.packages: item 0: expected a string",
    ),
    case(
        "packages-bad-name",
        "[catalog]\npackages = ['bad name']\n",
        LIST,
        CONFIG,
        "catalog.packages: item 0 ('bad name'): not a package's entry-point name",
    ),
    *[
        case(
            f"{key}-{label}",
            f"[catalog]\n{key} = {value}\n",
            LIST,
            CONFIG,
            f"catalog.{key}: expected a number of seconds above 0 and at most 3600, got {shown}",
        )
        for key in ("import_timeout", "startup_timeout", "health_timeout")
        for label, value, shown in (
            ("zero", "0", "0"),
            ("negative", "-1", "-1"),
            ("too-long", "3601", "3601"),
            ("a-string", "'5'", "'5'"),
            ("a-bool", "true", "True"),
            ("nan", "nan", "nan"),
            ("overflowing", "1e400", "inf"),
            ("30-digits", DIGITS30, DIGITS30),
        )
    ],
    case(
        "errors-an-array",
        "[catalog]\nerrors = []\n",
        LIST,
        CONFIG,
        "catalog.errors: expected a table, got an array",
    ),
    case(
        "errors-not-a-point",
        "[catalog.errors]\nx = 'raise'\n",
        LIST,
        CONFIG,
        "catalog.errors.x: expected a plugin point as <interface>.v<N>.<point>",
    ),
    case(
        "errors-unknown-policy",
        "[catalog.errors]\n'interface_a.v2.greeting' = 'maybe'\n",
        LIST,
        CONFIG,
        'catalog.errors."interface_a.v2.greeting": expected one of raise, isolate',
    ),
    case(
        "errors-unknown-point",
        "[catalog.errors]\n'interface_a.v9.greeting' = 'raise'\n",
        LIST,
        CONFIG,
        'catalog.errors."interface_a.v9.greeting": no such plugin point',
        "did you mean 'interface_a.v2.greeting'?",
    ),
    case(
        "catalog-unknown-key",
        "[catalog]\nplugin_dir = ['plugins']\n",
        LIST,
        CONFIG,
        "catalog.plugin_dir: unknown key",
        "did you mean 'plugin_dirs'?",
    ),
]

# -- [tenants.<id>]: the tenant fails closed, naming its key ---------------------------------------

TENANTS = [
    case(
        "tenant-not-a-table",
        base("[tenants]\nt = 1"),
        RUN_T,
        CONFIG,
        "tenant 't' is unusable",
        "tenants.t: expected a table, got an integer",
    ),
    case(
        "tenant-array-of-tables",
        base("[[tenants.t]]\nx = 1"),
        RUN_T,
        CONFIG,
        "tenants.t: expected a table, got an array",
    ),
    case(
        "tenant-bad-id",
        base("[tenants.'bad id!']"),
        ("run", "interface_a", "-C", "bad id!", "-a", "name=Ada"),
        CONFIG,
        'tenants."bad id!": a tenant id is letters, digits',
    ),
    case(
        "tenant-nul-in-id",
        base('[tenants."a\\u0000b"]'),
        ("run", "interface_a", "-C", "a\x00b", "-a", "name=Ada"),
        CONFIG,
        'tenants."a\\u0000b": a tenant id is letters',
    ),
    case(
        "tenant-unknown-key",
        tenant("plugin = []"),
        RUN_T,
        CONFIG,
        "tenants.t.plugin: unknown key",
        "did you mean 'plugins'?",
    ),
    case(
        "tenant-description-int",
        tenant("description = 1"),
        RUN_T,
        CONFIG,
        "tenants.t.description: expected a string, got an integer",
    ),
    case(
        "tenant-description-date",
        tenant("description = 1979-05-27T07:32:00Z"),
        RUN_T,
        CONFIG,
        "tenants.t.description: expected a string, got datetime",
    ),
    case(
        "plugins-a-string",
        tenant("plugins = 'customer_1.interface_a'"),
        RUN_T,
        CONFIG,
        "tenants.t.plugins: expected an array of strings, got a string",
    ),
    case(
        "plugins-int",
        tenant("plugins = [1]"),
        RUN_T,
        CONFIG,
        "tenants.t.plugins: item 0: expected a string, got an integer",
    ),
    case(
        "plugins-unknown",
        tenant("plugins = ['customer_1.interface_b']"),
        RUN_T,
        CONFIG,
        "tenants.t.plugins: unknown plugin 'customer_1.interface_b'",
    ),
    case(
        "plugins-bad-name",
        tenant("plugins = ['bad name!']"),
        RUN_T,
        CONFIG,
        "tenants.t.plugins: item 0 ('bad name!'): not a plugin name",
    ),
    case(
        "plugins-nul",
        tenant('plugins = ["a\\u0000"]'),
        RUN_T,
        CONFIG,
        "tenants.t.plugins: item 0",
        "not a plugin name",
    ),
    case(
        "plugins-pattern-matching-nothing",
        tenant("plugins = ['nope.*']"),
        RUN_T,
        CONFIG,
        "tenants.t.plugins: pattern 'nope.*' matches no plugin",
    ),
    case(
        "plugins-twice",
        tenant("plugins = ['customer_1.price_quote', 'customer_1.price_quote']"),
        RUN_T,
        CONFIG,
        "tenants.t.plugins: 'customer_1.price_quote' is listed twice",
    ),
    case(
        "plugins-a-builtin",
        tenant("plugins = ['builtin_plugins.interface_a']"),
        RUN_T,
        CONFIG,
        "tenants.t.plugins: 'builtin_plugins.interface_a' is a built-in plugin",
    ),
    case(
        "pins-an-array",
        tenant("versions = []"),
        RUN_T,
        CONFIG,
        "tenants.t.versions: expected a table, got an array",
    ),
    case(
        "pin-zero",
        tenant("versions = { interface_a = 0 }"),
        RUN_T,
        CONFIG,
        "tenants.t.versions.interface_a: expected a version number",
    ),
    case(
        "pin-unknown-version",
        tenant("versions = { interface_a = 9 }"),
        RUN_T,
        CONFIG,
        "tenants.t.versions.interface_a: interface_a has no version 9",
    ),
    case(
        "pin-30-digits",
        tenant(f"versions = {{ interface_a = {DIGITS30} }}"),
        RUN_T,
        CONFIG,
        f"tenants.t.versions.interface_a: interface_a has no version {DIGITS30}",
    ),
    case(
        "pin-unknown-interface",
        tenant("versions = { interface_b = 1 }"),
        RUN_T,
        CONFIG,
        "tenants.t.versions.interface_b: unknown interface",
    ),
    case(
        "settings-an-array",
        tenant("settings = []"),
        RUN_T,
        CONFIG,
        "tenants.t.settings: expected a table, got an array",
    ),
    case(
        "settings-not-a-table",
        tenant("settings = { 'customer_1.interface_a' = 1 }"),
        RUN_T,
        CONFIG,
        'tenants.t.settings."customer_1.interface_a": expected a table',
    ),
    case(
        "settings-of-an-unselected-plugin",
        tenant("[tenants.t.settings.'customer_1.interface_a']\nteam = 'x'"),
        RUN_T,
        CONFIG,
        'tenants.t.settings."customer_1.interface_a": settings for',
        "which this tenant does not select",
    ),
    case(
        "settings-of-an-unknown-plugin-of-a-pattern",
        tenant("plugins = ['customer_2.*']\n[tenants.t.settings.'customer_2.nope']\nx = 1"),
        RUN_T,
        CONFIG,
        'tenants.t.settings."customer_2.nope"',
    ),
    case(
        "settings-missing-environment-variable",
        tenant(
            "plugins = ['customer_1.price_quote']\n"
            "[tenants.t.settings.'customer_1.price_quote']\n"
            "loyalty_rate = '${env:NO_SUCH_VARIABLE_XYZ}'"
        ),
        QUOTE_T,
        CONFIG,
        "loyalty_rate: environment variable NO_SUCH_VARIABLE_XYZ is not set",
    ),
    case(
        "settings-half-a-reference",
        tenant(
            "plugins = ['customer_1.price_quote']\n"
            "[tenants.t.settings.'customer_1.price_quote']\nloyalty_rate = 'x ${env:A}'"
        ),
        QUOTE_T,
        CONFIG,
        "loyalty_rate: a secret reference must be the whole value",
    ),
    case(
        "canary-not-a-table",
        tenant("canary = 1"),
        RUN_T,
        CONFIG,
        "tenants.t.canary: expected a table, got an integer",
    ),
    case(
        "canary-without-version",
        tenant("canary.interface_a = { share = 0.5 }"),
        RUN_T,
        CONFIG,
        "tenants.t.canary.interface_a.version: expected a version number, got None",
    ),
    case(
        "canary-version-zero",
        tenant("canary.interface_a = { version = 0, share = 0.5 }"),
        RUN_T,
        CONFIG,
        "tenants.t.canary.interface_a.version: expected a version number",
    ),
    case(
        "canary-unknown-version",
        tenant("canary.interface_a = { version = 9, share = 0.5 }"),
        RUN_T,
        CONFIG,
        "tenants.t.canary.interface_a.version: interface_a has no version 9",
    ),
    case(
        "canary-30-digit-version",
        tenant(f"canary.interface_a = {{ version = {DIGITS30}, share = 0.5 }}"),
        RUN_T,
        CONFIG,
        "tenants.t.canary.interface_a.version",
    ),
    case(
        "canary-unknown-interface",
        tenant("canary.interface_b = { version = 2, share = 0.5 }"),
        RUN_T,
        CONFIG,
        "tenants.t.canary.interface_b",
    ),
    *[
        case(
            f"canary-share-{label}",
            tenant(f"canary.interface_a = {{ version = 2, share = {value} }}"),
            RUN_T,
            CONFIG,
            "tenants.t.canary.interface_a.share: expected a fraction above 0 and below 1",
        )
        for label, value in (("zero", "0"), ("one", "1"), ("a-string", "'half'"), ("nan", "nan"))
    ],
    case(
        "canary-key-int",
        tenant("canary.interface_a = { version = 2, share = 0.5, key = 1 }"),
        RUN_T,
        CONFIG,
        "tenants.t.canary.interface_a.key: expected an argument name",
    ),
    case(
        "canary-key-no-parameter",
        tenant("canary.interface_a = { version = 2, share = 0.5, key = 'nope' }"),
        RUN_T,
        CONFIG,
        "tenants.t.canary.interface_a.key: interface_a v2 has no parameter 'nope'",
    ),
    case(
        "canary-unknown-key",
        tenant("canary.interface_a = { version = 2, share = 0.5, sticky = true }"),
        RUN_T,
        CONFIG,
        "tenants.t.canary.interface_a.sticky: unknown key",
    ),
    case(
        "tenant-interceptors-not-a-table",
        tenant("interceptors = 1"),
        RUN_T,
        CONFIG,
        "tenants.t.interceptors: expected a table, got an integer",
    ),
    case(
        "tenant-interceptor-not-configured",
        tenant("interceptors.retry = { attempts = 3 }"),
        RUN_T,
        CONFIG,
        "tenants.t.interceptors.retry: settings for interceptor 'retry'",
        "which [interceptors] does not configure",
    ),
    case(
        "tenant-interceptor-out-of-scope",
        base(
            "[interceptors.retry]\nexclude = { tenants = ['t'] }\n"
            "[tenants.t.interceptors.retry]\nattempts = 2"
        ),
        RUN_T,
        CONFIG,
        "tenants.t.interceptors.retry: settings for interceptor 'retry', whose scope leaves",
    ),
    case(
        "tenant-interceptor-bad-setting",
        base("[interceptors.retry]\n[tenants.t.interceptors.retry]\nattempts = 'x'"),
        RUN_T,
        CONFIG,
        "tenants.t.interceptors.retry.attempts: expected an integer, got 'x'",
    ),
    case(
        "tenant-errors-not-a-point",
        tenant("errors = { x = 'raise' }"),
        RUN_T,
        CONFIG,
        "tenants.t.errors.x: expected a plugin point",
    ),
    case(
        "tenant-errors-unknown-policy",
        tenant("errors = { 'interface_a.v2.greeting' = 'maybe' }"),
        RUN_T,
        CONFIG,
        'tenants.t.errors."interface_a.v2.greeting": expected one of raise, isolate',
    ),
    case(
        "tenant-errors-unknown-point",
        tenant("errors = { 'interface_a.v2.nope' = 'raise' }"),
        RUN_T,
        CONFIG,
        'tenants.t.errors."interface_a.v2.nope": no such plugin point',
    ),
    case(
        "api-keys-a-string",
        tenant("api_keys = 'x'"),
        RUN_T,
        CONFIG,
        "tenants.t.api_keys: expected an array of strings, got a string",
    ),
    case(
        "api-keys-plain-key",
        tenant("api_keys = ['a-plain-secret-key']"),
        RUN_T,
        CONFIG,
        "tenants.t.api_keys: item 0: not a key reference",
    ),
    case(
        "api-keys-int",
        tenant("api_keys = [1]"),
        RUN_T,
        CONFIG,
        "tenants.t.api_keys: item 0: expected a string, got an integer",
    ),
    case(
        "api-keys-twice",
        tenant("api_keys = ['${env:A}', '${env:A}']"),
        RUN_T,
        CONFIG,
        "tenants.t.api_keys: '${env:A}' is listed twice",
    ),
]

# -- [interceptors], [serve], [jobs] ---------------------------------------------------------------

SECTIONS = [
    case(
        "interceptor-unknown",
        base("[interceptors.nope]"),
        RUN,
        CONFIG,
        "interceptors.nope: no interceptor named 'nope'",
    ),
    case(
        "interceptor-typo",
        base("[interceptors.retyr]"),
        RUN,
        CONFIG,
        "interceptors.retyr: no interceptor named 'retyr'",
        "did you mean 'retry'?",
    ),
    case(
        "interceptor-not-a-table",
        base("[interceptors]\nretry = 1"),
        RUN,
        CONFIG,
        "interceptors.retry: expected a table, got an integer",
    ),
    case(
        "interceptor-enabled-a-string",
        base("[interceptors.retry]\nenabled = 'yes'"),
        RUN,
        CONFIG,
        "interceptors.retry.enabled: expected a boolean, got a string",
    ),
    case(
        "interceptor-order-a-string",
        base("[interceptors.retry]\norder = '1'"),
        RUN,
        CONFIG,
        "interceptors.retry.order: expected an integer, got a string",
    ),
    case(
        "interceptor-order-a-float",
        base("[interceptors.retry]\norder = 1.5"),
        RUN,
        CONFIG,
        "interceptors.retry.order: expected an integer, got a number",
    ),
    case(
        "interceptor-include-not-a-table",
        base("[interceptors.retry]\ninclude = 1"),
        RUN,
        CONFIG,
        "interceptors.retry.include: expected a table, got an integer",
    ),
    case(
        "interceptor-include-a-string",
        base("[interceptors.retry]\ninclude = { tenants = 'c1' }"),
        RUN,
        CONFIG,
        "interceptors.retry.include.tenants: expected an array of strings",
    ),
    case(
        "interceptor-include-unknown-key",
        base("[interceptors.retry]\ninclude = { tenant = ['c1'] }"),
        RUN,
        CONFIG,
        "interceptors.retry.include.tenant: unknown key",
        "did you mean 'tenants'?",
    ),
    case(
        "interceptor-exclude-int",
        base("[interceptors.retry]\nexclude = { interfaces = [1] }"),
        RUN,
        CONFIG,
        "interceptors.retry.exclude.interfaces: item 0: expected a string",
    ),
    case(
        "interceptor-include-unknown-tenant",
        base("[interceptors.retry]\ninclude = { tenants = ['nope'] }"),
        RUN,
        CONFIG,
        "interceptors.retry.include.tenants: unknown tenant 'nope'",
    ),
    case(
        "interceptor-settings-not-a-table",
        base("[interceptors.retry]\nsettings = 1"),
        RUN,
        CONFIG,
        "interceptors.retry.settings: expected a table, got an integer",
    ),
    case(
        "interceptor-setting-wrong-type",
        base("[interceptors.retry]\nsettings = { attempts = 'x' }"),
        RUN,
        CONFIG,
        "interceptors.retry.settings.attempts: expected an integer, got 'x'",
    ),
    case(
        "interceptor-setting-unknown",
        base("[interceptors.retry]\nsettings = { attempt = 3 }"),
        RUN,
        CONFIG,
        "interceptors.retry.settings.attempt: unknown setting",
    ),
    case(
        "interceptor-seconds-negative",
        base("[interceptors.timeout]\nsettings = { seconds = -1 }"),
        RUN,
        CONFIG,
        "interceptors.timeout.settings.seconds: must be above 0",
    ),
    case(
        "interceptor-seconds-overflowing",
        base("[interceptors.timeout]\nsettings = { seconds = 1e400 }"),
        RUN,
        CONFIG,
        "interceptors.timeout.settings.seconds: expected a number, got inf",
    ),
    case(
        "interceptor-seconds-400-digits",
        base(f"[interceptors.timeout]\nsettings = {{ seconds = {BIG} }}"),
        RUN,
        CONFIG,
        "interceptors.timeout.settings.seconds: expected a number",
    ),
    case(
        "interceptor-unknown-key",
        base("[interceptors.retry]\nenable = true"),
        RUN,
        CONFIG,
        "interceptors.retry.enable: unknown key",
        "did you mean 'enabled'?",
    ),
    case(
        "admin-keys-plain",
        base("[serve]\nadmin_keys = ['plain']"),
        LIST,
        CONFIG,
        "serve.admin_keys: item 0: not a key reference",
    ),
    case(
        "admin-keys-a-string",
        base("[serve]\nadmin_keys = 'x'"),
        LIST,
        CONFIG,
        "serve.admin_keys: expected an array of strings, got a string",
    ),
    case(
        "serve-unknown-key",
        base("[serve]\nport = 80"),
        LIST,
        CONFIG,
        "serve.port: unknown key (allowed: admin_keys)",
    ),
    case(
        "job-database-int",
        base("[jobs]\ndatabase = 1"),
        ("jobs", "list"),
        CONFIG,
        "jobs.database: expected a file path, got 1",
    ),
    case(
        "job-database-empty",
        base("[jobs]\ndatabase = ''"),
        ("jobs", "list"),
        CONFIG,
        "jobs.database: expected a file path, got ''",
    ),
    case(
        "job-database-nul",
        base('[jobs]\ndatabase = "jobs\\u0000.db"'),
        ("jobs", "list"),
        CONFIG,
        "jobs.database: a path cannot contain a NUL byte",
    ),
    case(
        "job-database-nul-background",
        base('[jobs]\ndatabase = "jobs\\u0000.db"'),
        (*RUN, "--background"),
        CONFIG,
        "jobs.database: a path cannot contain a NUL byte",
    ),
    case(
        "job-database-a-folder",
        base("[jobs]\ndatabase = 'plugins'"),
        ("jobs", "list"),
        CONFIG,
        "/plugins: job store: cannot open it",
        "Is a directory",
        names_file=False,
    ),
    case(
        "job-database-in-a-missing-folder",
        base("[jobs]\ndatabase = 'no/such/jobs.db'"),
        ("jobs", "list"),
        CONFIG,
        "no/such/jobs.db: job store: cannot open it",
        "the folder must exist",
        names_file=False,
    ),
    case(
        "job-database-an-empty-file",
        base("[jobs]\ndatabase = 'empty.db'"),
        ("jobs", "list"),
        CONFIG,
        "empty.db: job store: the file is empty (0 bytes)",
        names_file=False,
    ),
    case(
        "job-database-a-text-file",
        base("[jobs]\ndatabase = 'notes.txt'"),
        ("jobs", "show", "x"),
        CONFIG,
        "notes.txt: job store: the file is not a job store",
        names_file=False,
    ),
    case(
        "jobs-interrupted-unknown",
        base("[jobs]\ninterrupted = 'maybe'"),
        ("jobs", "list"),
        CONFIG,
        "jobs.interrupted: expected one of retry, fail, got 'maybe'",
    ),
    *[
        case(
            f"jobs-attempts-{label}",
            base(f"[jobs]\nattempts = {value}"),
            ("jobs", "list"),
            CONFIG,
            "jobs.attempts: expected an integer from 1 to 100",
        )
        for label, value in (
            ("zero", "0"),
            ("101", "101"),
            ("a-string", "'3'"),
            ("30-digits", DIGITS30),
        )
    ],
    case(
        "jobs-unknown-key",
        base("[jobs]\ndb = 'x'"),
        ("jobs", "list"),
        CONFIG,
        "jobs.db: unknown key (allowed: database, interrupted, attempts, retry, keep_succeeded, "
        "keep_failed, keep_dead)",
    ),
]

LIMITS = [
    case(
        "limits-not-a-table",
        "limits = 1\n" + BASE,
        RUN,
        CONFIG,
        "limits: expected a table, got an integer",
    ),
    case(
        "limits-concurrent-calls-a-string",
        base("[limits]\nconcurrent_calls = 'x'"),
        RUN,
        CONFIG,
        "limits.concurrent_calls: expected an integer from 0 (no limit) to 100000, got 'x'",
    ),
    case(
        "limits-concurrent-calls-400-digits",
        base(f"[limits]\nconcurrent_calls = {BIG}"),
        RUN,
        CONFIG,
        "limits.concurrent_calls: expected an integer from 0 (no limit) to 100000",
    ),
    case(
        "limits-call-timeout-400-digits",
        base(f"[limits]\ncall_timeout = {BIG}"),
        RUN,
        CONFIG,
        "limits.call_timeout: expected a number of seconds above 0 and at most 86400",
    ),
    case(
        "limits-call-timeout-overflowing",
        base("[limits]\ncall_timeout = 1e400"),
        RUN,
        CONFIG,
        "limits.call_timeout: expected a number of seconds above 0 and at most 86400, got inf",
    ),
    case(
        "limits-interface-not-a-table",
        base("[limits.interfaces]\ninterface_a = 1"),
        RUN,
        CONFIG,
        "limits.interfaces.interface_a: expected a table, got an integer",
    ),
    case(
        "limits-unknown-key",
        base("[limits]\nx = 1"),
        RUN,
        CONFIG,
        "limits.x: unknown key (allowed: concurrent_calls, call_timeout, interfaces)",
    ),
    case(
        "tenant-limits-negative",
        base("[tenants.c1.limits]\nconcurrent_calls = -1"),
        RUN,
        CONFIG,
        "tenant 'c1' is unusable",
        "tenants.c1.limits.concurrent_calls: expected an integer from 0 (no limit) to 100000",
    ),
]

# -- command lines -------------------------------------------------------------------------------

ECHO = ("run", "echo", "-C", "c1")

COMMAND_LINES = [
    case(
        "unknown-command", None, ("runn",), USAGE, "No such command 'runn'", "Did you mean 'run'?"
    ),
    case("unknown-option", None, (*QUOTE, *OK, "--nope"), USAGE, "No such option: --nope"),
    case(
        "missing-customer", None, ("run", "price_quote", *OK), USAGE, "Missing option '--customer'"
    ),
    case(
        "unknown-customer",
        None,
        ("run", "price_quote", "-C", "c9", *OK),
        UNKNOWN,
        "unknown tenant 'c9'",
        "Known tenants: c1, c2, c3",
    ),
    case(
        "empty-customer", None, ("run", "price_quote", "-C", "", *OK), UNKNOWN, "unknown tenant ''"
    ),
    case(
        "nul-in-customer",
        None,
        ("run", "price_quote", "-C", "c\x001", *OK),
        UNKNOWN,
        "unknown tenant 'c\\x001'",
    ),
    case(
        "unknown-interface",
        None,
        ("run", "price_qoute", "-C", "c1", *OK),
        UNKNOWN,
        "unknown interface 'price_qoute'",
        "Did you mean 'price_quote'?",
    ),
    *[
        case(
            f"version-{label}",
            None,
            (*QUOTE, *OK, "--version", value),
            USAGE,
            "Invalid value for '--version'",
        )
        for label, value in (
            ("zero", "0"),
            ("negative", "-1"),
            ("text", "x"),
            ("float", "1.5"),
            ("empty", ""),
            ("5000-digits", HUGE),
        )
    ],
    case(
        "version-unknown",
        None,
        (*QUOTE, *OK, "--version", "9"),
        UNKNOWN,
        "unknown version 9 of interface 'price_quote'",
        "Known versions: 1",
    ),
    case(
        "version-30-digits",
        None,
        (*QUOTE, *OK, "--version", DIGITS30),
        UNKNOWN,
        f"unknown version {DIGITS30} of interface 'price_quote'",
    ),
    case(
        "version-30-digits-background",
        None,
        (*QUOTE, *OK, "--version", DIGITS30, "--background"),
        UNKNOWN,
        f"unknown version {DIGITS30}",
    ),
    case(
        "arg-without-value",
        None,
        (*QUOTE, "-a", "unit_price"),
        USAGE,
        "Invalid value for --arg: expected NAME=VALUE, got 'unit_price'",
    ),
    case(
        "arg-without-name",
        None,
        (*QUOTE, "-a", "=1"),
        USAGE,
        "Invalid value for --arg: expected NAME=VALUE",
    ),
    case(
        "arg-repeated",
        None,
        (*QUOTE, *OK, "-a", "quantity=2"),
        USAGE,
        "Invalid value for --arg: quantity is given twice",
    ),
    case(
        "arg-not-utf8",
        None,
        ("run", "interface_a", "-C", "c1", "-a", "name=\udcff"),
        USAGE,
        "Invalid value for --arg: name: '\\udcff' is not text",
    ),
    case(
        "arg-unknown",
        None,
        (*QUOTE, *OK, "-a", "nope=1"),
        ARGUMENTS,
        "nope: unknown parameter (accepted: unit_price, quantity, country)",
    ),
    case(
        "arg-missing",
        None,
        (*QUOTE, "-a", "unit_price=1"),
        ARGUMENTS,
        "quantity: missing (a required int)",
    ),
    case(
        "arg-int-not-a-number",
        None,
        (*QUOTE, "-a", "unit_price=1", "-a", "quantity=x"),
        ARGUMENTS,
        "quantity: expected an integer, got 'x'",
    ),
    case(
        "arg-int-a-float",
        None,
        (*QUOTE, "-a", "unit_price=1", "-a", "quantity=1.5"),
        ARGUMENTS,
        "quantity: expected an integer",
    ),
    case(
        "arg-int-5000-digits",
        None,
        (*QUOTE, "-a", "unit_price=1", "-a", f"quantity={HUGE}"),
        ARGUMENTS,
        "quantity: expected an integer",
    ),
    *[
        case(
            f"arg-float-{label}",
            None,
            (*QUOTE, "-a", f"unit_price={value}", "-a", "quantity=1"),
            ARGUMENTS,
            "unit_price: expected a finite number",
        )
        for label, value in (
            ("nan", "nan"),
            ("inf", "inf"),
            ("1e400", "1e400"),
            ("400-digits", BIG),
            ("5000-digits", HUGE),
        )
    ],
    case(
        "arg-list-not-json",
        None,
        (*ECHO, "-a", "items=[1,"),
        ARGUMENTS,
        "items: expected JSON for list[int] | None",
    ),
    case(
        "arg-list-101-deep",
        None,
        (*ECHO, "-a", "data=" + deep_array(101)),
        ARGUMENTS,
        "data: expected JSON for Any",
        "nested more than 100 levels deep",
    ),
    case(
        "arg-list-5000-deep",
        None,
        (*ECHO, "-a", "data=" + deep_array(5000)),
        ARGUMENTS,
        "data: expected JSON for Any",
        "nested more than 100 levels deep",
    ),
    case(
        "args-not-json",
        None,
        (*QUOTE, "--args", "{"),
        USAGE,
        "Invalid value for --args: not valid JSON",
    ),
    case(
        "args-an-array",
        None,
        (*QUOTE, "--args", "[]"),
        USAGE,
        'Invalid value for --args: expected a JSON object {"name": value, ...}',
    ),
    case(
        "args-a-string",
        None,
        (*QUOTE, "--args", '"x"'),
        USAGE,
        "Invalid value for --args: expected a JSON object",
    ),
    case(
        "args-missing-file",
        None,
        (*QUOTE, "--args", "@no/such/args.json"),
        USAGE,
        "Invalid value for --args: cannot read no/such/args.json",
    ),
    case(
        "args-a-folder",
        None,
        (*QUOTE, "--args", "@plugins"),
        USAGE,
        "Invalid value for --args: cannot read plugins",
    ),
    case(
        "args-nul-in-path",
        None,
        (*QUOTE, "--args", "@a\x00b"),
        USAGE,
        "Invalid value for --args: cannot read",
        "embedded null byte",
    ),
    case(
        "args-5000-deep",
        None,
        (*ECHO, "--args", '{"data": ' + deep_array(5000) + "}"),
        USAGE,
        "Invalid value for --args: arrays or objects nested more than 100 levels deep",
    ),
    case(
        "args-101-deep",
        None,
        (*ECHO, "--args", '{"data": ' + deep_array(101) + "}"),
        USAGE,
        "Invalid value for --args: arrays or objects nested more than 100 levels deep",
        "at data[0][0][0][0][0]...",
    ),
    case(
        "args-objects-101-deep",
        None,
        (*ECHO, "--args", deep_object(102)),
        USAGE,
        "Invalid value for --args: arrays or objects nested more than 100 levels deep",
    ),
    case(
        "args-5000-digit-integer",
        None,
        (*QUOTE, "--args", f'{{"unit_price": 1, "quantity": {HUGE}}}'),
        USAGE,
        "Invalid value for --args: a number too long to read",
    ),
    case(
        "args-400-digit-float",
        None,
        (*QUOTE, "--args", f'{{"unit_price": {BIG}, "quantity": 1}}'),
        ARGUMENTS,
        "unit_price: expected a finite number",
    ),
    case(
        "args-nan",
        None,
        (*QUOTE, "--args", '{"unit_price": NaN, "quantity": 1}'),
        ARGUMENTS,
        "unit_price: expected a finite number",
    ),
    case(
        "args-key-twice",
        None,
        (*QUOTE, "--args", '{"unit_price": 1, "unit_price": 2, "quantity": 1}'),
        USAGE,
        "Invalid value for --args: the key 'unit_price' is given twice",
    ),
    case(
        "args-lone-surrogate",
        None,
        ("run", "interface_a", "-C", "c1", "--args", '{"name": "\\ud800"}'),
        USAGE,
        "Invalid value for --args: a string holds '\\ud800', a lone surrogate",
    ),
    case(
        "args-wrong-type-in-list",
        None,
        (*ECHO, "--args", '{"items": [1, "x"]}'),
        ARGUMENTS,
        "items: expected list[int] | None",
    ),
    *[
        case(
            f"timeout-{label}",
            None,
            (*QUOTE, *OK, "--timeout", value),
            USAGE,
            "Invalid value for '--timeout'",
        )
        for label, value in (
            ("zero", "0"),
            ("negative", "-1"),
            ("text", "x"),
            ("nan", "nan"),
            ("inf", "inf"),
            ("1e400", "1e400"),
            ("30-digits", DIGITS30),
            ("more-than-a-day", "86401"),
            ("empty", ""),
        )
    ],
    case(
        "background-with-trace",
        None,
        (*QUOTE, *OK, "--background", "--trace"),
        USAGE,
        "Invalid value for --background: cannot be combined with --trace",
    ),
    case(
        "background-with-timeout",
        None,
        (*QUOTE, *OK, "--background", "--timeout", "5"),
        USAGE,
        "Invalid value for --background: cannot be combined with --timeout",
    ),
    case(
        "batch-with-arg",
        None,
        (*QUOTE, "--batch", "-", "-a", "x=1"),
        USAGE,
        "Invalid value for --arg: does not go with --batch",
    ),
    case(
        "batch-missing-file",
        None,
        (*QUOTE, "--batch", "no/such.jsonl"),
        USAGE,
        "Invalid value for --batch: cannot read no/such.jsonl",
    ),
    case(
        "workers-without-batch",
        None,
        (*QUOTE, *OK, "--workers", "2"),
        USAGE,
        "Invalid value for --workers: only goes with --batch",
    ),
    case(
        "workers-negative",
        None,
        (*QUOTE, "--batch", "-", "--workers", "-1"),
        USAGE,
        "Invalid value for '--workers'",
    ),
    *[
        case(
            f"jobs-limit-{label}",
            None,
            ("jobs", "list", "--limit", value),
            USAGE,
            "Invalid value for '--limit'",
        )
        for label, value in (
            ("zero", "0"),
            ("negative", "-1"),
            ("text", "x"),
            ("30-digits", DIGITS30),
            ("float", "1.5"),
        )
    ],
    case(
        "jobs-status-unknown",
        None,
        ("jobs", "list", "--status", "done"),
        USAGE,
        "Invalid value for '--status'",
    ),
    case("jobs-show-unknown", None, ("jobs", "show", "f00d"), UNKNOWN, "unknown job 'f00d'"),
    *[
        case(
            f"jobs-threads-{label}",
            None,
            ("jobs", "work", "--drain", "--threads", value),
            USAGE,
            "Invalid value for '--threads'",
        )
        for label, value in (("zero", "0"), ("257", "257"), ("text", "x"), ("30-digits", DIGITS30))
    ],
    case("tenants-show-unknown", None, ("tenants", "show", "c9"), UNKNOWN, "unknown tenant 'c9'"),
    case(
        "interfaces-show-unknown",
        None,
        ("interfaces", "show", "interface_b"),
        UNKNOWN,
        "unknown interface 'interface_b'",
        "Did you mean 'interface_a'?",
    ),
    case(
        "plugins-show-unknown",
        None,
        ("plugins", "show", "customer_9.x"),
        UNKNOWN,
        "unknown plugin 'customer_9.x'",
    ),
    case(
        "interceptors-show-unknown",
        None,
        ("interceptors", "show", "retyr"),
        UNKNOWN,
        "unknown interceptor 'retyr'",
        "Did you mean 'retry'?",
    ),
    case(
        "check-plugin-unknown",
        None,
        ("check", "--plugin", "nope"),
        UNKNOWN,
        "unknown plugin 'nope'",
    ),
    case(
        "check-settings-not-json",
        None,
        ("check", "--plugin", "customer_1.price_quote", "--settings", "{"),
        USAGE,
        "Invalid value for --settings: not valid JSON",
    ),
    case(
        "check-settings-5000-deep",
        None,
        (
            "check",
            "--plugin",
            "customer_1.price_quote",
            "--settings",
            '{"a": ' + deep_array(5000) + "}",
        ),
        USAGE,
        "Invalid value for --settings: arrays or objects nested more than 100 levels deep",
    ),
    case(
        "health-unknown-customer",
        None,
        ("health", "--customer", "c9"),
        UNKNOWN,
        "unknown tenant 'c9'",
    ),
    case(
        "serve-port-out-of-range",
        None,
        ("serve", "--port", "99999999"),
        USAGE,
        "Invalid value for '--port'",
    ),
    case(
        "new-plugin-bad-customer",
        None,
        ("new", "plugin", "bad name!", "interface_a"),
        USAGE,
        "customer name 'bad name!' is not usable",
    ),
    case(
        "new-plugin-unknown-interface",
        None,
        ("new", "plugin", "acme", "interface_b"),
        UNKNOWN,
        "unknown interface 'interface_b'",
    ),
]

CASES = [*SYNTAX, *CATALOG, *TENANTS, *SECTIONS, *LIMITS, *COMMAND_LINES]


def test_the_corpus_is_large_and_its_ids_unique() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One catalog folder for the whole corpus (each case writes its own catalog file in it):
    the example's interfaces, built-ins and plugins, an interface taking anything, and the
    files some cases point their job store at."""
    root = tmp_path_factory.mktemp("corpus")
    for name in ("hookspecs", "builtin_plugins", "plugins"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "hookspecs" / "echo.py").write_text(ECHO_SPEC, encoding="utf-8")
    (root / "builtin_plugins" / "echo.py").write_text(ECHO_IMPL, encoding="utf-8")
    (root / "empty.db").write_bytes(b"")
    (root / "notes.txt").write_text("not a job store\n" * 50, encoding="utf-8")
    (root / "catalog.toml").write_text(
        (REPO / "catalog.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return root


@pytest.fixture
def in_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(folder)  # relative paths of the command lines are the folder's
    monkeypatch.delenv("CATALOG_JOBS_DB", raising=False)
    monkeypatch.delenv("NO_SUCH_VARIABLE_XYZ", raising=False)
    yield folder


def normalised(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("item", CASES, ids=[c.id for c in CASES])
def test_malformed_input_is_named_with_its_exit_code(in_folder: Path, item: Case) -> None:
    if item.toml is None:
        path = in_folder / "catalog.toml"
    else:
        path = in_folder / f"{item.id}.toml"
        if isinstance(item.toml, bytes):
            path.write_bytes(item.toml)
        else:
            path.write_text(item.toml, encoding="utf-8")
    args = item.args if item.args[:1] == ("--catalog",) else ("--catalog", str(path), *item.args)
    result = invoke_cli(*args)
    output = result.stdout + result.stderr
    assert TRACEBACK not in output
    assert "internal error" not in output
    assert result.exit_code == item.code, output
    said = normalised(output)
    for fragment in item.says:
        assert normalised(fragment) in said, (fragment, output)
    if item.code == CONFIG and item.toml is not None and item.names_file:
        assert path.name in said, output


# -- the real process ----------------------------------------------------------------------------

COMMAND = Path(sys.executable).parent / ("catalog.exe" if sys.platform == "win32" else "catalog")

REAL = [
    c
    for c in CASES
    if c.id
    in {
        "arrays-500-deep",
        "header-500-deep",
        "hookspecs-not-declarations",
        "args-5000-deep",
        "args-400-digit-float",
        "jobs-limit-30-digits",
        "job-database-an-empty-file",
        "integer-of-5000-digits",
    }
]


@pytest.mark.skipif(not COMMAND.is_file(), reason="the `catalog` console script is not installed")
@pytest.mark.parametrize("item", REAL, ids=[c.id for c in REAL])
def test_the_installed_command_says_the_same(in_folder: Path, item: Case) -> None:
    path = in_folder / f"{item.id}.toml" if item.toml is not None else in_folder / "catalog.toml"
    if isinstance(item.toml, str):
        path.write_text(item.toml, encoding="utf-8")
    done = subprocess.run(
        [str(COMMAND), "--catalog", str(path), *item.args],
        cwd=in_folder,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert TRACEBACK not in done.stdout + done.stderr
    assert done.returncode == item.code, done.stderr
    for fragment in item.says:
        assert normalised(fragment) in normalised(done.stderr), (fragment, done.stderr)


def test_the_corpus_of_real_cases_is_all_there() -> None:
    assert len(REAL) == 8


# -- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def client(in_folder: Path) -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        from catalog_cli.http import ServeSettings, create_app

    path = in_folder / "http.toml"
    path.write_text(BASE, encoding="utf-8")
    app = create_app(path, settings=ServeSettings(job_threads=0))
    with TestClient(app) as test_client:
        yield test_client


BEARER = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


@pytest.mark.parametrize("endpoint", ["run", "jobs"])
@pytest.mark.parametrize(
    ("interface", "body", "parameter"),
    [
        ("price_quote", f'{{"arguments": {{"unit_price": {BIG}, "quantity": 1}}}}', "unit_price"),
        ("echo", '{"arguments": {"data": ' + deep_array(101) + "}}", "data"),
        ("echo", '{"arguments": {"data": ' + deep_object(101) + "}}", "data"),
    ],
    ids=["400-digit-float", "101-deep-array", "101-deep-object"],
)
def test_bad_arguments_over_http_are_422_naming_the_parameter(
    client: Any, endpoint: str, interface: str, body: str, parameter: str
) -> None:
    response = client.post(f"/v1/interfaces/{interface}/{endpoint}", content=body, headers=BEARER)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert set(errors) == {parameter}
    assert re.search(r"finite number|nested more than 100 levels deep", errors[parameter])


@pytest.mark.parametrize(
    "body",
    [
        '{"arguments": {"data": ' + deep_array(5000) + "}}",
        '{"arguments": {"data": ' + HUGE + "}}",
    ],
    ids=["5000-deep", "5000-digits"],
)
def test_bodies_json_cannot_read_are_refused_not_a_500(client: Any, body: str) -> None:
    response = client.post("/v1/interfaces/echo/run", content=body, headers=BEARER)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
