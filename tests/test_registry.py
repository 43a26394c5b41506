"""The plugin registry: installed plugin packages, metadata, compatibility and dependencies."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from catalog_cli import PLUGIN_API_VERSION, Catalog
from catalog_cli.errors import (
    ConfigError,
    PluginDependencyError,
    PluginIncompatibleError,
    PluginValidationError,
)
from tests.conftest import MakeCatalog

SIGNATURE = """
from catalog_cli import PluginMeta, hookimpl

PLUGIN = PluginMeta({meta})


@hookimpl
def interface_a_v1_signature(ctx, name):
    return "{text}"
"""


def _plugin(text: str, meta: str = "") -> str:
    return SIGNATURE.format(meta=meta, text=text)


def _install(site: Path, dist: str, version: str, plugins: dict[str, str], sources: dict[str, str]):
    """A real installed distribution: a module and a .dist-info folder on sys.path."""
    for module, source in sources.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
        f"Summary: {dist} plugins for the catalog\nAuthor: Acme Plugins Team\n"
    )
    lines = "\n".join(f"{name} = {module}" for name, module in plugins.items())
    (info / "entry_points.txt").write_text(f"[catalog.plugins]\n{lines}\n")


@pytest.fixture
def site(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("site")
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in [n for n in sys.modules if n.startswith("acme_pkg_")]:
        del sys.modules[name]


CATALOG = """
[catalog]
plugin_dirs = ["plugins"]
versions = {{ interface_a = 1 }}
[tenants.t]
plugins = {plugins}
[tenants.other]
"""


def test_installed_package_plugin_runs_and_lists(site: Path, make_catalog: MakeCatalog) -> None:
    _install(
        site,
        "acme-signatures",
        "2.3.1",
        {"acme.sign": "acme_pkg_sign", "acme.unused": "acme_pkg_unused"},
        {
            "acme_pkg_sign": _plugin("signed by a package"),
            "acme_pkg_unused": "raise RuntimeError('imported although unselected')\n",
        },
    )
    catalog = make_catalog(CATALOG.format(plugins='["acme.sign"]'), {"plugins/.keep": ""})
    assert catalog.run("interface_a", customer="t") == "Hello, there!\nsigned by a package"
    assert catalog.run("interface_a", customer="other") == "Hello, there!"
    infos = {p.name: p for p in catalog.plugins(available=True)}
    sign, unused = infos["acme.sign"], infos["acme.unused"]
    assert (sign.kind, sign.location, sign.status, sign.distribution) == (
        "package",
        "acme_pkg_sign",
        "loaded",
        "acme-signatures",
    )
    assert sign.meta.version == "2.3.1"  # from the distribution: the plugin declares none
    # The unselected plugin is described from its distribution's metadata, never imported.
    assert unused.status == "not selected"
    assert unused.meta.description == "acme-signatures plugins for the catalog"
    assert unused.meta.author == "Acme Plugins Team"
    assert "acme_pkg_unused" not in sys.modules


def test_same_name_from_two_sources_names_both(site: Path, make_catalog: MakeCatalog) -> None:
    _install(site, "acme-dup", "1.0", {"dup": "acme_pkg_dup"}, {"acme_pkg_dup": _plugin("x")})
    with pytest.raises(ConfigError) as info:
        make_catalog(CATALOG.format(plugins="[]"), {"plugins/dup.py": _plugin("y")})
    message = str(info.value)
    assert "two plugins are named 'dup'" in message
    assert "package acme-dup 1.0 (acme_pkg_dup)" in message
    assert "file " in message and "dup.py" in message


@pytest.mark.parametrize("required", ["2.0", "1.9", "0.9"])
def test_incompatible_api_is_rejected_with_both_versions(
    make_catalog: MakeCatalog, required: str
) -> None:
    catalog = make_catalog(
        CATALOG.format(plugins='["new"]'),
        {"plugins/new.py": _plugin("x", f"requires_api={required!r}")},
    )
    with pytest.raises(PluginIncompatibleError) as info:
        catalog.plugin_manager("t")
    error = info.value
    assert (error.required, error.provided) == (required, PLUGIN_API_VERSION)
    assert f"requires plugin API {required}" in str(error)
    assert f"this catalog provides {PLUGIN_API_VERSION}" in str(error)
    assert error.tenant == "t"
    assert catalog.run("interface_a", customer="other") == "Hello, there!"


def test_compatible_api_and_metadata_are_shown(make_catalog: MakeCatalog) -> None:
    meta = (
        "version='1.4.0', description='Signs mail', author='Ops', requires_api='1.0', "
        "interfaces={'interface_a': [1]}"
    )
    catalog = make_catalog(CATALOG.format(plugins='["ok"]'), {"plugins/ok.py": _plugin("x", meta)})
    assert catalog.run("interface_a", customer="t").endswith("x")
    info = catalog.plugin("ok")
    assert info.meta.to_dict() == {
        "version": "1.4.0",
        "description": "Signs mail",
        "author": "Ops",
        "requires_api": "1.0",
        "interfaces": {"interface_a": [1]},
        "depends": [],
        "settings": None,
    }


def test_targeting_a_missing_interface_version_is_incompatible(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        CATALOG.format(plugins='["old"]'),
        {"plugins/old.py": _plugin("x", "interfaces={'interface_a': [1, 7]}")},
    )
    with pytest.raises(
        PluginIncompatibleError, match=r"targets interface_a v7, which this catalog"
    ):
        catalog.plugin_manager("t")


def test_implementing_an_untargeted_version_is_invalid(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        CATALOG.format(plugins='["narrow"]'),
        {"plugins/narrow.py": _plugin("x", "interfaces={'interface_a': [2]}")},
    )
    with pytest.raises(PluginValidationError, match=r"implements interface_a v1, which its PLUGIN"):
        catalog.plugin_manager("t")


def test_plugin_attribute_must_be_plugin_meta(make_catalog: MakeCatalog) -> None:
    source = _plugin("x").replace("PLUGIN = PluginMeta()", "PLUGIN = {'version': '1'}")
    catalog = make_catalog(CATALOG.format(plugins='["odd"]'), {"plugins/odd.py": source})
    with pytest.raises(PluginValidationError, match=r"PLUGIN must be a catalog_cli.PluginMeta"):
        catalog.plugin_manager("t")


# -- dependencies ---------------------------------------------------------------------------

DEPENDENCY_FILES = {
    "plugins/base.py": _plugin("base"),
    "plugins/extra.py": _plugin("extra", "depends=['base']"),
    "plugins/top.py": _plugin("top", "depends=['extra']"),
}


def test_dependents_run_before_their_dependencies(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(CATALOG.format(plugins='["base", "top", "extra"]'), DEPENDENCY_FILES)
    assert catalog.tenant("t").plugins == ("top", "extra", "base")
    steps = {s.point: s for s in catalog.call_plan("interface_a", customer="t")}
    # v1 is served by v2: its `signature` plugins answer at v2's `extra_lines`
    assert steps["extra_lines"].implementations == ("top", "extra", "base")
    assert catalog.run("interface_a", customer="t").splitlines()[1:] == ["top", "extra", "base"]


def test_unselected_dependency_fails_closed_naming_who_needs_what(
    make_catalog: MakeCatalog,
) -> None:
    catalog = make_catalog(CATALOG.format(plugins='["top", "extra"]'), DEPENDENCY_FILES)
    with pytest.raises(PluginDependencyError) as info:
        catalog.plugin_manager("t")
    assert info.value.plugin == "extra"
    assert "depends on plugin 'base', but tenant 't' does not select it" in str(info.value)
    assert catalog.run("interface_a", customer="other") == "Hello, there!"


def test_unknown_dependency(make_catalog: MakeCatalog) -> None:
    files = {"plugins/lonely.py": _plugin("x", "depends=['ghost']")}
    catalog = make_catalog(CATALOG.format(plugins='["lonely"]'), files)
    with pytest.raises(PluginDependencyError, match="'ghost', but no plugin source provides it"):
        catalog.plugin_manager("t")


def test_dependency_cycle_names_the_whole_cycle(make_catalog: MakeCatalog) -> None:
    files = {
        "plugins/a.py": _plugin("a", "depends=['b']"),
        "plugins/b.py": _plugin("b", "depends=['c']"),
        "plugins/c.py": _plugin("c", "depends=['a']"),
    }
    catalog = make_catalog(CATALOG.format(plugins='["a", "b", "c"]'), files)
    with pytest.raises(PluginDependencyError, match=r"dependency cycle: (\w) -> \w -> \w -> \1"):
        catalog.plugin_manager("t")
    report = catalog.check()
    assert [p.tenant for p in report.problems] == ["t"]
    assert "dependency cycle" in report.problems[0].message


def test_check_and_tenant_listing_show_dependency_order(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(CATALOG.format(plugins='["base", "extra"]'), DEPENDENCY_FILES)
    assert catalog.check().ok
    assert isinstance(catalog, Catalog)
    assert catalog.tenant("t").plugins == ("extra", "base")


# -- settings -------------------------------------------------------------------------------

SCHEMA_PLUGIN = """
from pydantic import BaseModel, Field

from catalog_cli import PluginMeta, hookimpl


class Settings(BaseModel):
    rate: float = Field(0.1, ge=0, le=1, description="discount as a fraction")
    label: str = "discount"
    api_key: str = ""


PLUGIN = PluginMeta(settings=Settings)


@hookimpl
def interface_a_v1_signature(ctx, name):
    return f"{ctx.settings['label']}={ctx.settings['rate']} key={ctx.settings['api_key']}"
"""

SETTINGS_CATALOG = """
[catalog]
plugin_dirs = ["plugins"]
versions = {{ interface_a = 1 }}
[tenants.t]
plugins = ["discount"]
[tenants.t.settings.discount]
{settings}
[tenants.other]
"""


def _settings_catalog(make_catalog: MakeCatalog, settings: str) -> Catalog:
    pytest.importorskip("pydantic")
    toml = SETTINGS_CATALOG.format(settings=settings)
    return make_catalog(toml, {"plugins/discount.py": SCHEMA_PLUGIN})


def test_settings_are_validated_with_defaults(make_catalog: MakeCatalog) -> None:
    catalog = _settings_catalog(make_catalog, "rate = 0.25")
    assert catalog.run("interface_a", customer="t").endswith("discount=0.25 key=")
    schema = {row["name"]: row for row in catalog.plugin("discount").meta.to_dict()["settings"]}
    assert schema["rate"] == {
        "name": "rate",
        "type": "float",
        "required": False,
        "default": 0.1,
        "description": "discount as a fraction",
    }


@pytest.mark.parametrize(
    ("settings", "key", "message"),
    [
        ('rate = "ten"', "tenants.t.settings.discount.rate", "got 'ten'"),
        ("rate = 2", "tenants.t.settings.discount.rate", "less than or equal to 1, got 2"),
        ("colour = 1", "tenants.t.settings.discount.colour", "unknown setting (allowed: rate, "),
    ],
)
def test_bad_settings_fail_the_tenant_closed_naming_the_key(
    make_catalog: MakeCatalog, settings: str, key: str, message: str
) -> None:
    catalog = _settings_catalog(make_catalog, settings)
    with pytest.raises(ConfigError) as info:
        catalog.run("interface_a", customer="t")
    error = info.value
    assert error.tenant == "t"
    assert error.key == key
    assert error.line == 8  # the line of the setting in the file
    assert message in str(error)
    assert catalog.run("interface_a", customer="other") == "Hello, there!"


def test_secrets_come_from_the_environment(
    make_catalog: MakeCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCOUNT_API_KEY", "s3cret")
    catalog = _settings_catalog(make_catalog, 'api_key = "${env:DISCOUNT_API_KEY}"')
    assert catalog.run("interface_a", customer="t").endswith("key=s3cret")
    # Listings show the reference, never the value.
    shown = catalog.tenant("t").settings["discount"]
    assert shown == {"api_key": "${env:DISCOUNT_API_KEY}"}
    assert "s3cret" not in repr(catalog.tenant("t").to_dict())


def test_missing_secret_names_the_variable(make_catalog: MakeCatalog) -> None:
    catalog = _settings_catalog(make_catalog, 'api_key = "${env:NOT_SET_ANYWHERE_123}"')
    with pytest.raises(ConfigError, match="environment variable NOT_SET_ANYWHERE_123 is not set"):
        catalog.run("interface_a", customer="t")


def test_schema_must_be_a_model(make_catalog: MakeCatalog) -> None:
    source = _plugin("x", "settings={'rate': float}")
    catalog = make_catalog(CATALOG.format(plugins='["odd"]'), {"plugins/odd.py": source})
    with pytest.raises(PluginValidationError, match=r"PLUGIN\.settings must be a pydantic model"):
        catalog.plugin_manager("t")


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("interfaces={'interface_a': 1}", "PLUGIN.interfaces must map interface names"),
        ("depends='base'", "PLUGIN.depends must be a list of plugin names, got 'base'"),
        ("depends=None", "PLUGIN.depends must be a list of plugin names, got None"),
        ("requires_api=1.0", "PLUGIN.requires_api must be a string, got 1.0"),
    ],
)
def test_badly_typed_metadata_fails_only_that_plugin(
    make_catalog: MakeCatalog, meta: str, message: str
) -> None:
    catalog = make_catalog(
        CATALOG.format(plugins='["odd"]'), {"plugins/odd.py": _plugin("x", meta)}
    )
    with pytest.raises(PluginValidationError, match=re.escape(message)):
        catalog.plugin_manager("t")
    (odd,) = [p for p in catalog.plugins() if p.name == "odd"]
    assert odd.status == "failed"
    assert catalog.run("interface_a", customer="other") == "Hello, there!"


def test_secrets_are_not_shown_in_settings_errors(
    make_catalog: MakeCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RATE_FROM_VAULT", "hunter2")
    catalog = _settings_catalog(make_catalog, 'rate = "${env:RATE_FROM_VAULT}"')
    with pytest.raises(ConfigError) as info:
        catalog.run("interface_a", customer="t")
    assert "hunter2" not in str(info.value)
    assert "got ${env:RATE_FROM_VAULT} (a secret: its value is not shown)" in str(info.value)


def test_partial_secret_reference_is_refused(make_catalog: MakeCatalog) -> None:
    catalog = _settings_catalog(make_catalog, 'api_key = "Bearer ${env:TOKEN}"')
    with pytest.raises(ConfigError, match="a secret reference must be the whole value"):
        catalog.run("interface_a", customer="t")
