"""catalog.toml: parsing, shape checks, tenant-scoped failures, line numbers and file lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_cli import Catalog
from catalog_cli.cli._exits import exit_code
from catalog_cli.config._config import parse_config, read_config
from catalog_cli.config._locate import find_catalog, packaged_catalog
from catalog_cli.config._toml import LineIndex, format_key, split_key
from catalog_cli.errors import ConfigError

from .conftest import SHIPPED, MakeCatalog, WriteCatalog


def _signature(text: str) -> str:
    return f"""
        from catalog_cli import hookimpl


        @hookimpl
        def interface_a_v1_signature(ctx, name):
            return "-- {text}"
    """


PLUGINS = {
    "plugins/acme/a.py": _signature("a"),
    "plugins/acme/b.py": _signature("b"),
    "plugins/zeta/z.py": _signature("z"),
}


def line_number(path: Path, fragment: str) -> int:
    """The 1-based line of ``path`` that contains ``fragment`` (which must be unique)."""
    found = [n for n, line in enumerate(path.read_text().splitlines(), 1) if fragment in line]
    assert len(found) == 1, (fragment, found)
    return found[0]


def load_error(write_catalog: WriteCatalog, toml: str, files=None) -> tuple[ConfigError, Path]:
    path = write_catalog(toml, files)
    with pytest.raises(ConfigError) as info:
        Catalog(path)
    return info.value, path


# -- invalid TOML and missing files --------------------------------------------------------


def test_invalid_toml_names_the_file_and_line(write_catalog: WriteCatalog):
    error, path = load_error(
        write_catalog,
        """\
        [catalog]
        description = "x"
        plugin_dirs = [1,,]
        """,
    )
    assert error.path == path
    assert error.line == 3
    assert str(error).startswith(f"{path}:3: not valid TOML: ")


def test_unclosed_array_at_end_of_document_names_the_last_line(write_catalog: WriteCatalog):
    error, path = load_error(write_catalog, '[catalog]\nplugin_dirs = [\n  "plugins",\n')
    assert error.line == 3
    assert str(error).startswith(f"{path}:3: not valid TOML: ")


def test_invalid_toml_without_a_path_says_catalog():
    with pytest.raises(ConfigError, match=r"^catalog:2: not valid TOML: "):
        parse_config("x = 1\nx = 2\n", None)


def test_missing_file_message(tmp_path: Path):
    path = tmp_path / "nowhere" / "catalog.toml"
    with pytest.raises(ConfigError) as info:
        Catalog(path)
    assert str(info.value) == f"{path}: catalog file not found"
    assert info.value.path == path
    assert exit_code(info.value) == 3


def test_read_config_of_a_directory_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read the catalog file"):
        read_config(tmp_path)


# -- unknown keys --------------------------------------------------------------------------


def test_unknown_top_level_key(write_catalog: WriteCatalog):
    error, path = load_error(write_catalog, "[catalogue]\ndescription = 'x'\n")
    assert error.key == "catalogue"
    assert error.line == 1
    assert str(error) == (
        f"{path}:1: catalogue: unknown key (allowed: catalog, tenants, interceptors, serve, "
        "jobs, limits, isolation); did you mean 'catalog'?"
    )


def test_unknown_key_in_catalog_section(write_catalog: WriteCatalog):
    error, path = load_error(
        write_catalog,
        """
        [catalog]
        description = "x"
        plugin_dir = ["plugins"]
        """,
    )
    assert error.key == "catalog.plugin_dir"
    assert error.line == line_number(path, "plugin_dir =")
    assert "unknown key (allowed: description, hookspecs_dir, builtins_dir, plugin_dirs, " in str(
        error
    )
    assert str(error).endswith("did you mean 'plugin_dirs'?")


def test_unknown_key_without_a_close_match_has_no_hint(write_catalog: WriteCatalog):
    error, _ = load_error(write_catalog, "[catalog]\nzzz = 1\n")
    assert "did you mean" not in str(error)


def test_unknown_key_in_a_tenant_fails_only_that_tenant(make_catalog: MakeCatalog):
    catalog = make_catalog(
        """
        [tenants.bad]
        plugin = ["acme.a"]

        [tenants.good]
        """
    )
    info = catalog.tenant("bad")
    assert info.status == "failed"
    assert info.error is not None
    assert (
        "tenants.bad.plugin: unknown key "
        "(allowed: description, plugins, versions, canary, settings, interceptors, errors, "
        "api_keys, limits, isolation)" in (info.error)
    )
    assert info.error.endswith("did you mean 'plugins'?")
    assert catalog.tenant("good").status == "ok"


def test_several_problems_are_reported_together(write_catalog: WriteCatalog):
    error, path = load_error(
        write_catalog,
        """
        [catalog]
        description = 5
        plugin_dirs = "plugins"
        """,
    )
    message = str(error)
    assert message.startswith("2 problems in the catalog:\n")
    assert f"  - {path}:3: catalog.description: expected a string, got an integer" in message
    assert f"  - {path}:4: catalog.plugin_dirs: expected an array of strings, got a string" in (
        message
    )
    assert [p.key for p in error.problems] == ["catalog.description", "catalog.plugin_dirs"]


# -- wrong value types in [catalog] --------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key", "message"),
    [
        ("catalog = 5", "catalog", "expected a table, got an integer"),
        ("tenants = [1]", "tenants", "expected a table, got an array"),
        (
            "[catalog]\ndescription = true",
            "catalog.description",
            "expected a string, got a boolean",
        ),
        (
            "[catalog]\nplugin_dirs = [1]",
            "catalog.plugin_dirs",
            "item 0: expected a string, got an integer",
        ),
        (
            '[catalog]\nplugin_dirs = ["p", "p"]',
            "catalog.plugin_dirs",
            "'p' is listed twice",
        ),
        ("[catalog]\nversions = 2", "catalog.versions", "expected a table, got an integer"),
        (
            "[catalog.versions]\ninterface_a = 0",
            "catalog.versions.interface_a",
            "expected a version number (an integer >= 1), got 0",
        ),
        (
            '[catalog.versions]\ninterface_a = "2"',
            "catalog.versions.interface_a",
            "expected a version number (an integer >= 1), got '2'",
        ),
        (
            "[catalog.versions]\ninterface_a = true",
            "catalog.versions.interface_a",
            "expected a version number (an integer >= 1), got True",
        ),
        (
            '[catalog]\nhookspecs = ["not a module"]',
            "catalog.hookspecs",
            "item 0 ('not a module'): not an importable module name",
        ),
        (
            '[catalog]\nbuiltins = ["1st.module"]',
            "catalog.builtins",
            "item 0 ('1st.module'): not an importable module name",
        ),
        ("[catalog.modules]\nx = 5", "catalog.modules.x", "expected a module name, got 5"),
        (
            '[catalog.modules]\n"bad name" = "json"',
            'catalog.modules."bad name"',
            "not a valid plugin name",
        ),
    ],
)
def test_wrong_value_types_fail_the_load(
    write_catalog: WriteCatalog, toml: str, key: str, message: str
):
    error, path = load_error(write_catalog, toml + "\n")
    assert error.key == key
    assert error.tenant is None
    assert str(error).endswith(f" {key}: {message}")
    assert str(error).startswith(f"{path}:")


def test_wrong_value_type_error_has_the_line(write_catalog: WriteCatalog):
    error, path = load_error(write_catalog, '\n\n[catalog]\n\nplugin_dirs = "plugins"\n')
    assert error.line == 5
    assert str(error).startswith(f"{path}:5: catalog.plugin_dirs: ")


# -- problems in [catalog] that need the code: fail the load -------------------------------


def test_missing_plugin_dir_fails_the_load(write_catalog: WriteCatalog, tmp_path: Path):
    error, path = load_error(write_catalog, '[catalog]\nplugin_dirs = ["missing"]\n')
    assert error.key == "catalog.plugin_dirs"
    assert error.line == 2
    assert str(error) == (
        f"{path}:2: catalog.plugin_dirs: item 0: no such directory: {tmp_path / 'missing'}"
    )


def test_plugin_dirs_are_relative_to_the_catalog_file(
    write_catalog: WriteCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = write_catalog('[catalog]\nplugin_dirs = ["plugins"]\n', PLUGINS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    catalog = Catalog(path)
    names = [p.name for p in catalog.plugins(available=True) if p.kind == "file"]
    assert names == ["acme.a", "acme.b", "zeta.z"]


def test_two_plugin_dirs_with_the_same_plugin_fail_the_load(write_catalog: WriteCatalog):
    files = {"p1/acme/a.py": _signature("1"), "p2/acme/a.py": _signature("2")}
    error, _ = load_error(write_catalog, '[catalog]\nplugin_dirs = ["p1", "p2"]\n', files)
    assert error.key == "catalog.plugin_dirs"
    assert "two plugins are named 'acme.a': file " in str(error)


def test_module_plugin_named_like_a_file_plugin_fails_the_load(write_catalog: WriteCatalog):
    error, path = load_error(
        write_catalog,
        """
        [catalog]
        plugin_dirs = ["plugins"]
        modules = { "acme.a" = "json" }
        """,
        PLUGINS,
    )
    assert error.key == 'catalog.modules."acme.a"'
    assert error.line == line_number(path, "modules =")
    assert str(error).endswith("and module json")


def test_module_plugin_named_like_a_builtin_fails_the_load(write_catalog: WriteCatalog):
    error, _ = load_error(
        write_catalog, '[catalog.modules]\n"builtin_plugins.price_quote" = "json"\n'
    )
    assert "two plugins are named 'builtin_plugins.price_quote': builtin" in str(error)


def test_one_module_as_two_plugins_fails_the_load(write_catalog: WriteCatalog):
    error, _ = load_error(write_catalog, '[catalog.modules]\none = "json"\ntwo = "json"\n')
    assert error.key == "catalog.modules.two"
    assert str(error).endswith("module json is already the plugin 'one'")


def test_default_version_of_unknown_interface_fails_the_load(write_catalog: WriteCatalog):
    error, path = load_error(write_catalog, "[catalog.versions]\ninterface_b = 1\n")
    assert str(error) == (
        f"{path}:2: catalog.versions.interface_b: unknown interface "
        "(known: interface_a, price_quote); did you mean 'interface_a'?"
    )


def test_default_version_that_does_not_exist_fails_the_load(write_catalog: WriteCatalog):
    error, _ = load_error(write_catalog, "[catalog]\nversions = { interface_a = 3 }\n")
    assert error.key == "catalog.versions.interface_a"
    assert error.line == 2
    assert str(error).endswith("interface_a has no version 3 (versions: 1, 2)")


def test_catalog_problems_win_over_tenant_problems(write_catalog: WriteCatalog):
    error, _ = load_error(write_catalog, "[catalog]\nzzz = 1\n[tenants.t]\nplugins = 5\n")
    assert [p.key for p in error.problems] == ["catalog.zzz"]


# -- tenant-scoped problems: that tenant fails closed, the others keep working -------------

TENANT_CASES = [
    pytest.param(
        'plugins = ["acme.a", "zeta.y"]',
        "tenants.bad.plugins",
        "unknown plugin 'zeta.y' (known: acme.a, acme.b, zeta.z); did you mean 'zeta.z'?",
        id="unknown plugin",
    ),
    pytest.param(
        'plugins = ["nobody.*"]',
        "tenants.bad.plugins",
        "pattern 'nobody.*' matches no plugin",
        id="pattern matching nothing",
    ),
    pytest.param(
        "versions = { interface_b = 1 }",
        "tenants.bad.versions.interface_b",
        "unknown interface (known: interface_a, price_quote)",
        id="pin to unknown interface",
    ),
    pytest.param(
        "versions = { interface_a = 7 }",
        "tenants.bad.versions.interface_a",
        "interface_a has no version 7 (versions: 1, 2)",
        id="pin to unknown version",
    ),
    pytest.param(
        "versions = { interface_a = 0 }",
        "tenants.bad.versions.interface_a",
        "expected a version number (an integer >= 1), got 0",
        id="pin that is no version number",
    ),
    pytest.param(
        'plugins = ["acme.a"]\nsettings = { "acme.b" = { x = 1 } }',
        'tenants.bad.settings."acme.b"',
        "settings for 'acme.b', which this tenant does not select",
        id="settings for an unselected plugin",
    ),
    pytest.param(
        'settings = { "acme.a" = 3 }',
        'tenants.bad.settings."acme.a"',
        "expected a table, got an integer",
        id="settings that are no table",
    ),
    pytest.param(
        'plugins = ["builtin_plugins.interface_a"]',
        "tenants.bad.plugins",
        "'builtin_plugins.interface_a' is a built-in plugin, registered for every tenant: "
        "do not list it",
        id="listing a built-in plugin",
    ),
    pytest.param(
        'plugins = "acme.a"',
        "tenants.bad.plugins",
        "expected an array of strings, got a string",
        id="plugins not an array",
    ),
    pytest.param(
        'plugins = ["acme a"]',
        "tenants.bad.plugins",
        "item 0 ('acme a'): not a plugin name",
        id="plugin pattern with a space",
    ),
    pytest.param(
        "description = 1",
        "tenants.bad.description",
        "expected a string, got an integer",
        id="description not a string",
    ),
]


@pytest.mark.parametrize(("fragment", "key", "message"), TENANT_CASES)
def test_tenant_problem_fails_only_that_tenant(
    make_catalog: MakeCatalog, fragment: str, key: str, message: str
):
    catalog = make_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]

        [tenants.good]
        plugins = ["acme.a"]

        [tenants.bad]
        {fragment}
        """,
        PLUGINS,
    )
    bad = catalog.tenant("bad")
    assert bad.status == "failed"
    assert bad.error_type == "ConfigError"
    assert bad.error is not None
    assert f" {key}: {message}" in bad.error
    assert catalog.tenant("good").status == "ok"
    assert catalog.run("interface_a", customer="good", version=1, name="Al") == "Hello, Al!\n-- a"


def test_failed_tenant_raises_a_config_error_with_path_key_line_and_tenant(
    make_catalog: MakeCatalog, tmp_path: Path
):
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]

        [tenants.bad]
        description = "typo in a plugin name"
        plugins = ["acme.c"]
        """,
        PLUGINS,
    )
    path = tmp_path / "catalog.toml"
    with pytest.raises(ConfigError) as info:
        catalog.run("interface_a", customer="bad", name="x")
    error = info.value
    line = line_number(path, '"acme.c"')
    assert error.path == path
    assert error.key == "tenants.bad.plugins"
    assert error.line == line
    assert error.tenant == "bad"
    assert str(error).startswith(
        f"tenant 'bad' is unusable: {path}:{line}: tenants.bad.plugins: unknown plugin 'acme.c'"
    )


def test_failed_tenant_plugin_manager_raises(make_catalog: MakeCatalog):
    catalog = make_catalog('[tenants.bad]\nplugins = ["nobody"]\n')
    with pytest.raises(ConfigError, match="unknown plugin 'nobody' \\(known: none\\)") as info:
        catalog.plugin_manager("bad")
    assert info.value.tenant == "bad"


def test_tenant_problems_are_all_reported(make_catalog: MakeCatalog):
    catalog = make_catalog(
        """
        [tenants.bad]
        plugins = ["nobody"]
        versions = { interface_a = 9 }
        """
    )
    with pytest.raises(ConfigError) as info:
        catalog.plugin_manager("bad")
    assert [p.key for p in info.value.problems] == [
        "tenants.bad.plugins",
        "tenants.bad.versions.interface_a",
    ]
    assert str(info.value).startswith("tenant 'bad' is unusable: 2 problems in the catalog:\n")


def test_tenant_that_is_no_table_fails_only_that_tenant(make_catalog: MakeCatalog):
    catalog = make_catalog("[tenants]\nbroken = 3\nok = {}\n")
    assert catalog.tenant("broken").status == "failed"
    assert "tenants.broken: expected a table, got an integer" in (
        catalog.tenant("broken").error or ""
    )
    assert catalog.tenant("ok").status == "ok"


def test_bad_tenant_id_fails_only_that_tenant(make_catalog: MakeCatalog):
    catalog = make_catalog('[tenants."bad id"]\n[tenants.ok]\n')
    info = catalog.tenant("bad id")
    assert info.status == "failed"
    assert "a tenant id is letters, digits, '_', '-' and '.'" in (info.error or "")
    assert catalog.tenant("ok").status == "ok"


def test_settings_for_a_builtin_plugin_need_no_selection(make_catalog: MakeCatalog):
    catalog = make_catalog(
        """
        [tenants.t.settings."builtin_plugins.price_quote"]
        currency = "USD"
        """
    )
    assert catalog.tenant("t").status == "ok"
    result = catalog.run("price_quote", customer="t", unit_price=10.0, quantity=1)
    assert result["currency"] == "USD"


# -- plugin patterns -----------------------------------------------------------------------


def _tenant_with(make_catalog: MakeCatalog, plugins: str) -> Catalog:
    return make_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]

        [tenants.t]
        plugins = {plugins}
        """,
        PLUGINS,
    )


def test_glob_selects_every_matching_plugin(make_catalog: MakeCatalog):
    catalog = _tenant_with(make_catalog, '["acme.*"]')
    assert catalog.tenant("t").plugins == ("acme.a", "acme.b")


def test_selection_follows_catalog_order(make_catalog: MakeCatalog):
    catalog = _tenant_with(make_catalog, '["zeta.z", "acme.*"]')
    assert catalog.tenant("t").plugins == ("zeta.z", "acme.a", "acme.b")
    result = catalog.run("interface_a", customer="t", version=1, name="Jo")
    assert result == "Hello, Jo!\n-- z\n-- a\n-- b"


def test_plugin_named_before_its_glob_is_selected_once(make_catalog: MakeCatalog):
    catalog = _tenant_with(make_catalog, '["acme.b", "acme.*"]')
    assert catalog.tenant("t").plugins == ("acme.b", "acme.a")


def test_question_mark_matches_one_character(make_catalog: MakeCatalog):
    catalog = _tenant_with(make_catalog, '["?eta.*"]')
    assert catalog.tenant("t").plugins == ("zeta.z",)


def test_bracket_pattern_matches_a_set_of_characters(make_catalog: MakeCatalog):
    catalog = _tenant_with(make_catalog, '["acme.[b]"]')
    assert catalog.tenant("t").plugins == ("acme.b",)


def test_glob_never_selects_builtins(make_catalog: MakeCatalog):
    catalog = _tenant_with(make_catalog, '["*"]')
    assert catalog.tenant("t").plugins == ("acme.a", "acme.b", "zeta.z")


def test_shipped_glob_selects_customer_2_plugins(shipped: Catalog):
    assert shipped.tenant("c2").plugins == ("customer_2.interface_a", "customer_2.price_quote")


# -- the parsed configuration --------------------------------------------------------------


def test_shipped_catalog_parses():
    config = read_config(SHIPPED)
    assert config.path == SHIPPED
    assert config.plugin_dirs == (SHIPPED.parent / "plugins",)
    assert dict(config.versions) == {"interface_a": 1}
    assert list(config.tenants) == ["c1", "c2", "c3"]
    c2 = config.tenants["c2"]
    assert c2.plugins == ("customer_2.*",)
    assert dict(c2.versions) == {"interface_a": 2}
    assert c2.settings["customer_2.price_quote"]["domestic"] == ("NL",)
    assert c2.problems == ()


def test_settings_are_frozen():
    config = read_config(SHIPPED)
    settings = config.tenants["c1"].settings["customer_1.interface_a"]
    with pytest.raises(TypeError):
        settings["team"] = "changed"  # type: ignore[index]


def test_empty_document_is_an_empty_catalog():
    config = parse_config("", None)
    assert dict(config.tenants) == {}
    # the default folders, which need not exist
    assert [d.name for d in config.plugin_dirs] == ["plugins"]
    assert config.explicit_dirs == frozenset()


def test_config_problem_has_the_line_of_its_key():
    config = parse_config('[catalog]\nplugin_dirs = []\n\n[tenants.t]\nplugins = ["x"]\n', None)
    problem = config.problem(("tenants", "t", "plugins"), "whatever", "t")
    assert (problem.key, problem.line, problem.tenant) == ("tenants.t.plugins", 5, "t")
    assert problem.describe() == "catalog:5: tenants.t.plugins: whatever"


def test_tenant_problems_are_kept_on_the_tenant():
    config = parse_config("[tenants.t]\nplugins = 5\n[tenants.u]\n", None)
    (problem,) = config.tenants["t"].problems
    assert (problem.key, problem.line, problem.tenant) == ("tenants.t.plugins", 2, "t")
    assert config.tenants["u"].problems == ()


# -- LineIndex -----------------------------------------------------------------------------

DOCUMENT = """\
# a comment = not a key
[catalog]
description = "x"
nested.dotted . key = 1
"quoted.key" = 2
inline = { a = 1, deep = { b = 2 } }

[ tenants . c1 ]
plugins = ["a"]

[tenants.c1.settings."acme.a"]
rate = 0.5
'literal' = 3
"""


@pytest.mark.parametrize(
    ("key", "line"),
    [
        (("catalog",), 2),
        (("catalog", "description"), 3),
        (("catalog", "nested", "dotted", "key"), 4),
        (("catalog", "quoted.key"), 5),
        (("catalog", "inline"), 6),
        (("catalog", "inline", "a"), 6),
        (("catalog", "inline", "deep", "b"), 6),
        (("tenants", "c1"), 8),
        (("tenants", "c1", "plugins"), 9),
        (("tenants", "c1", "settings", "acme.a"), 11),
        (("tenants", "c1", "settings", "acme.a", "rate"), 12),
        (("tenants", "c1", "settings", "acme.a", "literal"), 13),
        (("tenants", "c1", "settings", "acme.a", "unknown"), 11),
        (("tenants", "c1", "versions"), 8),
    ],
)
def test_line_index_finds_keys(key: tuple[str, ...], line: int):
    assert LineIndex.of(DOCUMENT).line_of(key) == line


def test_line_index_unknown_key_has_no_line():
    assert LineIndex.of(DOCUMENT).line_of(("nothing",)) is None
    assert LineIndex.of(DOCUMENT).line_of(()) is None


def test_line_index_ignores_comments():
    assert LineIndex.of("# x = 1\nx = 2\n").line_of(("x",)) == 2


def test_split_key_handles_quotes_and_spaces():
    assert split_key('tenants . c1.settings."acme.a"') == ("tenants", "c1", "settings", "acme.a")
    assert split_key("'a.b'.c") == ("a.b", "c")


def test_format_key_quotes_parts_that_need_it():
    assert format_key(("tenants", "c1", "settings", "acme.a", "rate")) == (
        'tenants.c1.settings."acme.a".rate'
    )
    assert format_key(("a b",)) == '"a b"'
    assert format_key(()) == ""


# -- find_catalog --------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/project/catalog.toml and an empty tmp/project/sub/deeper folder."""
    project = tmp_path / "project"
    (project / "sub" / "deeper").mkdir(parents=True)
    (project / "catalog.toml").write_text("", encoding="utf-8")
    return project


def test_explicit_path_wins(tree: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tree)
    monkeypatch.setenv("CATALOG_FILE", str(tree / "from_env.toml"))
    assert find_catalog("given.toml") == (Path("given.toml"), "given")


def test_environment_variable_beats_the_nearest_file(tree: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tree)
    monkeypatch.setenv("CATALOG_FILE", str(tree / "from_env.toml"))
    assert find_catalog() == (tree / "from_env.toml", "$CATALOG_FILE")


def test_empty_environment_variable_is_ignored(tree: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tree)
    monkeypatch.setenv("CATALOG_FILE", "")
    assert find_catalog() == (tree / "catalog.toml", "nearest")


def test_nearest_file_in_the_working_directory(tree: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tree)
    assert find_catalog() == (tree / "catalog.toml", "nearest")


def test_nearest_file_in_a_parent_directory(tree: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tree / "sub" / "deeper")
    path, why = find_catalog()
    assert why == "nearest"
    assert path.resolve() == (tree / "catalog.toml").resolve()


def test_closer_file_wins_over_a_parent(tree: Path, monkeypatch: pytest.MonkeyPatch):
    (tree / "sub" / "catalog.toml").write_text("", encoding="utf-8")
    monkeypatch.chdir(tree / "sub" / "deeper")
    path, _ = find_catalog()
    assert path.resolve() == (tree / "sub" / "catalog.toml").resolve()


def test_a_directory_named_catalog_toml_is_not_a_catalog(
    tree: Path, monkeypatch: pytest.MonkeyPatch
):
    (tree / "sub" / "catalog.toml").mkdir()
    monkeypatch.chdir(tree / "sub")
    path, _ = find_catalog()
    assert path.resolve() == (tree / "catalog.toml").resolve()


def test_packaged_default_when_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    if any((d / "catalog.toml").is_file() for d in (empty, *empty.parents)):
        pytest.skip("a catalog.toml above the temporary folder")
    monkeypatch.chdir(empty)
    path, why = find_catalog()
    assert why == "example"
    assert path == packaged_catalog()
    assert path.is_file()


def test_packaged_default_is_the_shipped_catalog_in_a_checkout():
    import catalog_cli

    package = Path(catalog_cli.__file__).resolve().parent
    if package.parent == SHIPPED.resolve().parent:  # run from this checkout (editable)
        assert packaged_catalog().resolve() == SHIPPED.resolve()
    else:  # an installed copy: the example travels inside the package
        assert packaged_catalog().resolve() == package / "example" / "catalog.toml"
        assert packaged_catalog().read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8")


def test_catalog_load_uses_the_environment_variable(
    write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch
):
    path = write_catalog('[catalog]\ndescription = "from the environment"\n')
    monkeypatch.setenv("CATALOG_FILE", str(path))
    assert Catalog.load().description == "from the environment"


def test_line_index_skips_multiline_strings():
    index = LineIndex.of('[tenants.t]\nnote = """\nplugins = fake\n"""\nplugins = []\n')
    assert index.line_of(("tenants", "t", "plugins")) == 5


def test_line_index_ignores_triple_quotes_inside_single_line_strings():
    index = LineIndex.of('description = \'a """ b\'\n[tenants.t]\nplugins = []\n')
    assert index.line_of(("tenants", "t", "plugins")) == 3


@pytest.mark.parametrize("key", ["hookspecs", "builtins"])
def test_missing_listed_module_is_a_config_error(write_catalog: WriteCatalog, key: str):
    error, path = load_error(write_catalog, f'[catalog]\n{key} = ["no_such_module_here"]\n')
    assert error.key == f"catalog.{key}"
    assert error.line == 2
    assert str(error) == (
        f"{path}:2: catalog.{key}: item 0: no importable module named 'no_such_module_here'"
    )


def test_long_lists_of_names_are_cut_short():
    from catalog_cli.errors import listing

    assert listing(["a", "b"]) == "a, b"
    assert listing([f"p{i}" for i in range(100)]) == (
        ", ".join(f"p{i}" for i in range(12)) + " and 88 more"
    )


def test_a_plain_api_key_is_refused_without_repeating_it() -> None:
    config = parse_config('[tenants.b]\napi_keys = ["plainkey-secret"]\n', None)
    (problem,) = config.tenants["b"].problems
    assert problem.key == "tenants.b.api_keys"
    assert "sha256:" in problem.message and "plainkey-secret" not in problem.message
