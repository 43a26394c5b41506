"""Per-tenant managers: validation of plugins, failing closed, import allow-listing, caching."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import PluginLoadError, PluginValidationError
from tests.conftest import MakeCatalog

TWO_TENANTS = """
[catalog]
plugin_dirs = ["plugins"]
versions = { interface_a = 1 }
[tenants.broken]
plugins = ["bad"]
[tenants.fine]
plugins = ["good"]
"""

GOOD = """
from catalog_cli import hookimpl
@hookimpl
def interface_a_v1_signature(ctx, name):
    return "good"
"""


def _imported(catalog: Catalog, plugin: str) -> bool:
    return catalog.registry.sources[plugin].module in sys.modules


def _catalog_with_bad(make_catalog: MakeCatalog, bad_source: str) -> Catalog:
    return make_catalog(TWO_TENANTS, {"plugins/bad.py": bad_source, "plugins/good.py": GOOD})


def test_import_failure_fails_closed_for_its_tenant_only(make_catalog: MakeCatalog) -> None:
    catalog = _catalog_with_bad(make_catalog, "import not_a_module_anywhere\n")
    with pytest.raises(PluginLoadError) as info:
        catalog.run("interface_a", customer="broken")
    error = info.value
    assert (error.plugin, error.tenant) == ("bad", "broken")
    assert "ModuleNotFoundError" in str(error) and "fails closed" in str(error)
    assert error.source.startswith("file ") and error.source.endswith("bad.py")
    assert catalog.run("interface_a", customer="fine") == "Hello, there!\ngood"
    # Failing closed is sticky: every later call gets the same error, no half-built manager.
    with pytest.raises(PluginLoadError):
        catalog.plugin_manager("broken")
    assert catalog.tenant("broken").status == "failed"
    assert catalog.tenant("fine").status == "ok"


def test_plugin_calling_sys_exit_at_import_does_not_end_the_host(
    make_catalog: MakeCatalog,
) -> None:
    catalog = _catalog_with_bad(make_catalog, "import sys\nsys.exit(3)\n")
    with pytest.raises(PluginLoadError, match="SystemExit"):
        catalog.run("interface_a", customer="broken")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            """
            from catalog_cli import hookimpl
            @hookimpl
            def interface_a_v1_signatur(ctx, name):
                return 1
            """,
            r"implements interface_a_v1_signatur, which no interface declares; "
            r"did you mean 'interface_a_v1_signature'\?",
        ),
        (
            """
            from catalog_cli import hookimpl
            @hookimpl
            def interface_a_v1_signature(ctx, name, colour):
                return 1
            """,
            r"parameter\(s\) colour are not in the spec of the interface_a v1 plugin point "
            r"'signature'; expected parameters \(ctx, name\), found \(ctx, name, colour\)",
        ),
        (
            """
            from catalog_cli import hookimpl
            @hookimpl
            def interface_a_v1_signature(ctx, name="x"):
                return 1
            """,
            r"parameter\(s\) name have defaults, and pluggy never passes",
        ),
        (
            """
            def interface_a_v1_signature(ctx, name):
                return 1
            """,
            r"named like a hook but has no @hookimpl decorator",
        ),
        (
            """
            X = 1
            """,
            r"implements no hooks",
        ),
        (
            """
            from catalog_cli import hookimpl
            @hookimpl
            def interface_a_v1(ctx, name):
                return "replaced"
            """,
            r"implemented by the catalog and may only be wrapped",
        ),
        (
            """
            from catalog_cli import hookimpl
            @hookimpl
            def price_quote_v1_total(ctx, subtotal):
                return 0.0
            """,
            r"may only be wrapped",
        ),
        (
            """
            from catalog_cli import hookimpl
            @hookimpl(wrapper=True)
            def interface_a_v1(ctx, name):
                return "no yield"
            """,
            r"a wrapper must be a generator function",
        ),
    ],
    ids=[
        "unknown-hook",
        "extra-param",
        "default",
        "undecorated",
        "empty",
        "replace-entry",
        "replace-wrap-point",
        "wrapper-not-generator",
    ],
)
def test_invalid_plugins_fail_closed_with_a_clear_message(
    make_catalog: MakeCatalog, source: str, expected: str
) -> None:
    catalog = _catalog_with_bad(make_catalog, __import__("textwrap").dedent(source))
    with pytest.raises(PluginValidationError, match=expected) as info:
        catalog.run("interface_a", customer="broken")
    assert info.value.plugin == "bad"
    assert info.value.tenant == "broken"
    assert catalog.run("interface_a", customer="fine") == "Hello, there!\ngood"


def test_plugin_may_take_fewer_parameters_than_the_spec(make_catalog: MakeCatalog) -> None:
    catalog = _catalog_with_bad(
        make_catalog,
        """
from catalog_cli import hookimpl
@hookimpl
def interface_a_v1_signature():
    return "no args needed"
""",
    )
    assert catalog.run("interface_a", customer="broken") == "Hello, there!\nno args needed"


def test_unselected_plugins_are_never_imported(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.t]
        plugins = ["good"]
        """,
        {
            "plugins/good.py": GOOD,
            "plugins/never.py": "raise RuntimeError('imported although nobody selected it')\n",
        },
    )
    catalog.check()
    catalog.tenants()
    catalog.plugins(available=True)
    assert not _imported(catalog, "never")
    (never,) = [p for p in catalog.plugins(available=True) if p.name == "never"]
    assert never.status == "not selected"


def test_nothing_is_imported_until_a_tenant_is_used(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        TWO_TENANTS, {"plugins/bad.py": "raise ValueError\n", "plugins/good.py": GOOD}
    )
    # Loading the catalog imports no tenant plugin: "bad" fails only once "broken" is used.
    assert not _imported(catalog, "bad") and not _imported(catalog, "good")
    catalog.run("interface_a", customer="fine")
    assert _imported(catalog, "good")
    assert not _imported(catalog, "bad")


def test_managers_are_cached_and_separate_per_tenant(shipped: Catalog) -> None:
    c1 = shipped.plugin_manager("c1")
    assert shipped.plugin_manager("c1") is c1
    c2 = shipped.plugin_manager("c2")
    assert c2 is not c1
    assert "customer_1.interface_a" in dict(c1.list_name_plugin())
    assert "customer_1.interface_a" not in dict(c2.list_name_plugin())
    assert "builtin_plugins.interface_a" in dict(c2.list_name_plugin())


def test_concurrent_first_use_builds_one_manager(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.t]
        plugins = ["counted"]
        """,
        {
            "plugins/counted.py": """
            import time
            from catalog_cli import hookimpl
            IMPORTS = []
            IMPORTS.append(1)
            time.sleep(0.05)  # widen the window in which a second build could start
            @hookimpl
            def interface_a_v1_signature(ctx, name):
                return "counted"
            """
        },
    )
    barrier = threading.Barrier(8)

    def first_use(_: int) -> int:
        barrier.wait()
        return id(catalog.plugin_manager("t"))

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(first_use, range(8)))
    assert len(ids) == 1
    counted = [m for n, m in sys.modules.items() if n.endswith(".counted")][-1]
    assert counted.IMPORTS == [1]


def test_module_plugins_by_name(
    make_catalog: MakeCatalog,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    package_root = tmp_path_factory.mktemp("site")
    (package_root / "acme_signature_plugin.py").write_text(GOOD.replace("good", "from a package"))
    monkeypatch.syspath_prepend(str(package_root))
    catalog = make_catalog(
        """
        [catalog]
        versions = { interface_a = 1 }
        [catalog.modules]
        acme = "acme_signature_plugin"
        [tenants.t]
        plugins = ["acme"]
        """
    )
    assert catalog.run("interface_a", customer="t") == "Hello, there!\nfrom a package"
    (info,) = [p for p in catalog.plugins() if p.name == "acme"]
    assert (info.kind, info.location, info.status, info.tenants) == (
        "module",
        "acme_signature_plugin",
        "loaded",
        ("t",),
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            """
from catalog_cli import hookimpl
@hookimpl
def interface_a_v1_signature(ctx, *, name):
    return 1
""",
            r"parameter\(s\) name are keyword-only or variadic",
        ),
        (
            """
from catalog_cli import hookimpl
from builtin_plugins.interface_a import interface_a_v2_greeting as interface_a_v2_greeting
""",
            r"defined in module builtin_plugins.interface_a, not in the plugin",
        ),
        (
            """
from catalog_cli import hookimpl
@hookimpl(wrapper=True, hookwrapper=True)
def interface_a_v1_signature(ctx, name):
    yield
""",
            r"plugin 'bad'",
        ),
    ],
    ids=["keyword-only", "foreign-function", "pluggy-rejects"],
)
def test_more_invalid_plugins(make_catalog: MakeCatalog, source: str, expected: str) -> None:
    catalog = _catalog_with_bad(make_catalog, source)
    with pytest.raises(PluginValidationError, match=expected):
        catalog.run("interface_a", customer="broken")
    (info,) = [p for p in catalog.plugins() if p.name == "bad"]
    assert info.status == "failed"


def test_file_plugins_with_similar_paths_stay_apart(make_catalog: MakeCatalog) -> None:
    files = {
        "plugins/a/b__c.py": GOOD.replace('"good"', '"from a/b__c"'),
        "plugins/a__b/c.py": GOOD.replace('"good"', '"from a__b/c"'),
    }
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        versions = { interface_a = 1 }
        [tenants.one]
        plugins = ["a.b__c"]
        [tenants.two]
        plugins = ["a__b.c"]
        """,
        files,
    )
    assert catalog.run("interface_a", customer="one").endswith("from a/b__c")
    assert catalog.run("interface_a", customer="two").endswith("from a__b/c")


def test_plugin_hanging_at_import_fails_after_the_import_timeout(
    make_catalog: MakeCatalog,
) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        import_timeout = 0.3
        [tenants.stuck]
        plugins = ["slow"]
        [tenants.fine]
        """,
        {"plugins/slow.py": "import time\ntime.sleep(3)\n"},
    )
    with pytest.raises(
        PluginLoadError, match=r"TimeoutError: the import did not finish within 0.3 s"
    ):
        catalog.plugin_manager("stuck")
    report = catalog.check()  # returns instead of hanging
    assert [p.plugin for p in report.problems if p.tenant is None] == ["slow"]
    assert catalog.tenant("fine").status == "ok"
