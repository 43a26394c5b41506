"""Versions served by newer code: an old version without a built-in of its own, answering
through a version change, with its old contract at its edge and its tenants' plugins at the
newer points they are mapped to."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog_cli import Catalog
from catalog_cli.errors import (
    DeclarationError,
    InvalidArgumentsError,
    PluginCallError,
    PluginValidationError,
    ResultValidationError,
)
from tests.conftest import REPO, Invoke, MakeCatalog, WriteCatalog

# -- the example: interface_a v1, served by v2 -----------------------------------------------

#: interface_a v1 as it was before v2's code served it: its own built-in.
OWN_V1 = """

@hookimpl
def interface_a_v1(ctx: Context, name: str) -> str:
    lines = [f"Hello, {name}!"]
    lines.extend(ctx.points.signature(name=name))
    return "\\n".join(lines)
"""


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, Catalog]:
    """The example catalog, and its twin whose v1 runs a built-in of its own."""
    folder = tmp_path_factory.mktemp("twin")
    for name in ("hookspecs", "builtin_plugins", "plugins"):
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "catalog.toml", folder / "catalog.toml")
    specs = folder / "hookspecs" / "interface_a.py"
    text = specs.read_text(encoding="utf-8")
    specs.write_text(text[: text.index("\n\n@version_change")] + "\n", encoding="utf-8")
    builtins = folder / "builtin_plugins" / "interface_a.py"
    builtins.write_text(builtins.read_text(encoding="utf-8") + OWN_V1, encoding="utf-8")
    return Catalog(REPO / "catalog.toml"), Catalog(folder / "catalog.toml")


def test_the_served_version_has_no_built_in_of_its_own(twins: tuple[Catalog, Catalog]) -> None:
    served, own = twins
    registry = served.registry
    assert registry.implementations["interface_a_v1"] == "GreetingInTheUsersLanguage"
    implemented = {use.hook for plugin in registry.builtins for use in plugin.uses}
    assert "interface_a_v1" not in implemented and "interface_a_v1_signature" not in implemented
    change = registry.interfaces["interface_a"].versions[1].served_by
    assert change is not None and (change.target, dict(change.points)) == (
        2,
        {"signature": "extra_lines"},
    )
    assert own.registry.implementations["interface_a_v1"] == "builtin_plugins.interface_a"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(max_size=12))
def test_every_example_tenant_gets_the_answers_v1_gave(
    twins: tuple[Catalog, Catalog], name: str
) -> None:
    served, own = twins
    for tenant in ("c1", "c2", "c3"):
        expected = own.run("interface_a", customer=tenant, version=1, name=name)
        assert served.run("interface_a", customer=tenant, version=1, name=name) == expected
        method = served.method("interface_a", customer=tenant, version=1)
        assert method(name=name) == expected


def test_the_default_name_and_every_path_answer_the_same(
    twins: tuple[Catalog, Catalog], invoke: Invoke
) -> None:
    served, own = twins
    for tenant in ("c1", "c2", "c3"):
        expected = own.run("interface_a", customer=tenant, version=1)
        outcome = served.execute("interface_a", customer=tenant, version=1)
        assert (outcome.result, outcome.version) == (expected, 1)
        traced = served.execute("interface_a", customer=tenant, version=1, trace=True)
        assert traced.result == expected
        shown = invoke("run", "interface_a", "-C", tenant, "--version", "1", "-a", "name=Ada")
        assert shown.exit_code == 0, shown.stderr
        assert shown.stdout.strip() == own.run(
            "interface_a", customer=tenant, version=1, name="Ada"
        )


def test_a_tenants_plugins_for_one_version_never_change_the_other(
    twins: tuple[Catalog, Catalog],
) -> None:
    served, _own = twins
    # c1's v2 greeting answers v2 calls only; its v1 signature answers v1 calls only.
    v1 = served.run("interface_a", customer="c1", version=1, name="Ada")
    v2 = served.run("interface_a", customer="c1", version=2, name="Ada")
    assert v1 == "Hello, Ada!\n-- The Acme Retail team"
    assert v2.startswith("Hi Ada, welcome back!")


def test_served_calls_from_many_threads_and_tenants(twins: tuple[Catalog, Catalog]) -> None:
    served, own = twins
    expected = {t: own.run("interface_a", customer=t, version=1, name="T") for t in ("c1", "c3")}
    wrong: list[Any] = []

    def work(tenant: str) -> None:
        for _ in range(200):
            answer = served.run("interface_a", customer=tenant, version=1, name="T")
            if answer != expected[tenant]:
                wrong.append((tenant, answer))

    threads = [threading.Thread(target=work, args=(t,)) for t in ("c1", "c3") * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


# -- converters, chains and the old contract ------------------------------------------------

SPECS = '''
from __future__ import annotations

from typing import Any

from catalog_cli import Context, entrypoint, plugin_point, version_change


@entrypoint
def quote_v1(ctx: Context, amount: int) -> dict[str, int]:
    """Quote an amount in whole euros."""


@plugin_point(quote_v1, policy="collect")
def quote_v1_fees(ctx: Context, amount: int) -> int | None:
    """A fee to add."""


@plugin_point(quote_v1, policy="first")
def quote_v1_note(ctx: Context) -> str | None:
    """A note (v2 has no such point)."""


@entrypoint
def quote_v2(ctx: Context, cents: int, currency: str = "EUR") -> dict[str, int | str]:
    """Quote an amount in cents."""


@plugin_point(quote_v2, policy="collect")
def quote_v2_fees(ctx: Context, amount: int, cents: int) -> int | None:
    """A fee to add, in whole units."""


@entrypoint
def quote_v3(ctx: Context, cents: int, currency: str = "EUR", rounding: int = 1) -> dict[str, Any]:
    """Quote an amount in cents, rounded."""


@plugin_point(quote_v3, policy="collect")
def quote_v3_charges(ctx: Context, amount: int, cents: int) -> int | None:
    """A fee to add, in whole units."""


@version_change(quote_v1, quote_v2, points={"fees": "fees"})
class CentsNotEuros:
    """v2 takes cents and names the currency."""

    @staticmethod
    def arguments(old: dict[str, Any]) -> dict[str, Any]:
        return {"cents": old["amount"] * 100}

    @staticmethod
    def result(new: dict[str, Any]) -> dict[str, Any]:
        return {"total": new["total"] // 100}


@version_change(quote_v2, quote_v3, points={"fees": "charges"})
class Rounding:
    """v3 rounds, and calls fees charges."""

    @staticmethod
    def result(new: dict[str, Any]) -> dict[str, Any]:
        return {"total": new["total"], "currency": new["currency"]}
'''

BUILTINS = """
from catalog_cli import hookimpl


@hookimpl
def quote_v3(ctx, cents, currency, rounding):
    fees = sum(ctx.points.charges(amount=cents // 100, cents=cents))
    total = cents + fees * 100
    return {"total": total - total % rounding, "currency": currency, "rounded": rounding}
"""

FEE = """
from catalog_cli import hookimpl


@hookimpl
def quote_v1_fees(ctx, amount):
    SEEN.append((ctx.interface, ctx.version, ctx.plugin))
    if amount == 13:
        raise RuntimeError("unlucky")
    return ctx.settings.get("fee", 1)


SEEN = []
"""

TOML = """
[catalog]
plugin_dirs = ["plugins"]
[tenants.t]
plugins = ["fee"]
[tenants.t.settings.fee]
fee = 2
[tenants.plain]
"""


def _quotes(make_catalog: MakeCatalog, specs: str = SPECS, **files: str) -> Catalog:
    return make_catalog(
        TOML,
        {
            "hookspecs/quote.py": specs,
            "builtin_plugins/quote.py": BUILTINS,
            "plugins/fee.py": FEE,
            **files,
        },
        example=False,
    )


def test_a_chain_of_changes_serves_the_oldest_version(make_catalog: MakeCatalog) -> None:
    catalog = _quotes(make_catalog)
    registry = catalog.registry
    assert registry.implementations["quote_v1"] == "CentsNotEuros + Rounding"
    assert registry.implementations["quote_v2"] == "Rounding"
    # v1: 5 euros -> 500 cents, a fee of 2 at v3's `charges` (mapped fees -> fees -> charges)
    assert catalog.run("quote", customer="t", version=1, amount=5) == {"total": 7}
    assert catalog.run("quote", customer="plain", version=1, amount=5) == {"total": 5}
    # v2 is served too, and the tenant's plugin (written for v1) does not answer there
    assert catalog.run("quote", customer="t", version=2, cents=250) == {
        "total": 250,
        "currency": "EUR",
    }
    assert catalog.run("quote", customer="t", version=3, cents=250, rounding=100) == {
        "total": 200,
        "currency": "EUR",
        "rounded": 100,
    }


def test_a_mapped_plugin_sees_its_own_version_and_is_blamed_for_its_failures(
    make_catalog: MakeCatalog,
) -> None:
    catalog = _quotes(make_catalog)
    catalog.run("quote", customer="t", version=1, amount=5)
    module = catalog.registry.loader.status("fee")
    assert module.SEEN == [("quote", 1, "fee")]  # type: ignore[union-attr]
    with pytest.raises(PluginCallError) as failed:
        catalog.run("quote", customer="t", version=1, amount=13)
    assert (failed.value.plugin, failed.value.version) == ("fee", 1)


def test_the_old_contract_holds_at_the_edge(make_catalog: MakeCatalog) -> None:
    catalog = _quotes(make_catalog)
    with pytest.raises(InvalidArgumentsError) as refused:
        catalog.run("quote", customer="t", version=1, cents=5)
    assert "amount" in str(refused.value) and refused.value.version == 1


def test_a_change_that_answers_wrongly_is_blamed(make_catalog: MakeCatalog) -> None:
    wrong = SPECS.replace('return {"total": new["total"] // 100}', 'return {"total": "many"}')
    catalog = _quotes(make_catalog, wrong)
    with pytest.raises(ResultValidationError) as caught:
        catalog.run("quote", customer="t", version=1, amount=5)
    assert caught.value.plugin == "CentsNotEuros + Rounding"
    assert "version change" in str(caught.value)


def test_a_change_that_moves_arguments_wrongly_is_blamed(make_catalog: MakeCatalog) -> None:
    broken = SPECS.replace('return {"cents": old["amount"] * 100}', 'return {"cent": 1}')
    catalog = _quotes(make_catalog, broken)
    with pytest.raises(PluginCallError) as moved:
        catalog.run("quote", customer="t", version=1, amount=5)
    assert moved.value.plugin == "CentsNotEuros + Rounding"
    assert "do not fit" in str(moved.value)


def test_a_tenant_wrapper_of_the_served_entry_point_still_wraps_it(
    make_catalog: MakeCatalog,
) -> None:
    wrapper = """
from catalog_cli import hookimpl


@hookimpl(wrapper=True)
def quote_v1(ctx):
    answer = yield
    return {"total": answer["total"] * 10}
"""
    catalog = make_catalog(
        TOML.replace('plugins = ["fee"]', 'plugins = ["fee", "tenfold"]'),
        {
            "hookspecs/quote.py": SPECS,
            "builtin_plugins/quote.py": BUILTINS,
            "plugins/fee.py": FEE,
            "plugins/tenfold.py": wrapper,
        },
        example=False,
    )
    assert catalog.run("quote", customer="t", version=1, amount=5) == {"total": 70}


# -- what is refused --------------------------------------------------------------------------


def test_a_plugin_at_a_point_nothing_maps_fails_its_tenants_and_check_names_them(
    write_catalog: WriteCatalog, invoke: Invoke
) -> None:
    noted = """
from catalog_cli import hookimpl


@hookimpl
def quote_v1_note(ctx):
    return "hi"
"""
    path = write_catalog(
        TOML + '[tenants.acme]\nplugins = ["noted"]\n',
        {
            "hookspecs/quote.py": SPECS,
            "builtin_plugins/quote.py": BUILTINS,
            "plugins/fee.py": FEE,
            "plugins/noted.py": noted,
        },
        example=False,
    )
    catalog = Catalog(path)
    assert catalog.run("quote", customer="t", version=1, amount=5) == {"total": 7}
    info = catalog.tenant("acme")
    assert info.status == "failed"
    assert "plugin point 'note' of quote v1" in str(info.error)
    assert "maps no point" in str(info.error)
    checked = invoke("check", catalog=path)
    assert checked.exit_code != 0
    out = checked.stdout + checked.stderr
    # the plugin, and the tenant that selects it
    assert "noted" in out and "acme" in out


def test_a_built_in_for_a_served_version_is_refused(make_catalog: MakeCatalog) -> None:
    extra = (
        BUILTINS
        + """

@hookimpl
def quote_v1(ctx, amount):
    return {"total": amount}
"""
    )
    with pytest.raises(PluginValidationError, match="served by v3's code"):
        make_catalog(
            TOML,
            {"hookspecs/quote.py": SPECS, "builtin_plugins/quote.py": extra, "plugins/fee.py": FEE},
            example=False,
        )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('points={"fees": "fees"}', 'points={"fees": "nope"}'), "v2 has no plugin point 'nope'"),
        (('points={"fees": "fees"}', 'points={"gone": "fees"}'), "v1 has no plugin point 'gone'"),
        (
            ('points={"fees": "charges"}', 'points={"fees": "fees"}'),
            "v3 has no plugin point 'fees'",
        ),
        (
            (
                "def quote_v2_fees(ctx: Context, amount: int, cents: int)",
                "def quote_v2_fees(ctx: Context, cents: int)",
            ),
            "passes no amount: int",
        ),
        (
            (
                '@plugin_point(quote_v2, policy="collect")',
                '@plugin_point(quote_v2, policy="first")',
            ),
            "the policies differ",
        ),
        (
            ("@version_change(quote_v2, quote_v3", "@version_change(quote_v2, quote_v1"),
            "newer version",
        ),
        (("    @staticmethod\n    def arguments", "    def arguments"), "must be a @staticmethod"),
    ],
)
def test_a_version_change_that_does_not_fit_is_a_declaration_error(
    make_catalog: MakeCatalog, edit: tuple[str, str], message: str
) -> None:
    specs = SPECS.replace(*edit, 1)
    assert specs != SPECS
    with pytest.raises(DeclarationError, match=message):
        _quotes(make_catalog, specs)


def test_a_version_served_twice_is_refused(make_catalog: MakeCatalog) -> None:
    twice = (
        SPECS
        + '''

@version_change(quote_v1, quote_v3)
class Again:
    """A second way to serve v1."""
'''
    )
    with pytest.raises(DeclarationError, match="served twice"):
        _quotes(make_catalog, twice)


def test_listings_say_which_versions_are_served(twins: tuple[Catalog, Catalog]) -> None:
    served, _own = twins
    data = served.interface("interface_a").to_dict()
    v1, v2 = data["versions"]
    assert v1["served_by"] == {
        "change": "GreetingInTheUsersLanguage",
        "version": 2,
        "description": served.interface("interface_a").versions[1].served_by.description,  # type: ignore[union-attr]
        "points": {"signature": "extra_lines"},
    }
    assert v2["served_by"] is None


def test_the_changelog_tells_the_history(invoke: Invoke) -> None:
    shown = invoke("interfaces", "changelog", "interface_a")
    assert shown.exit_code == 0, shown.stderr
    text = shown.stdout
    assert "Served by v2's code through version change GreetingInTheUsersLanguage" in text
    assert "signature -> extra_lines" in text
    assert "+ parameter_added (parameter language)" in text
    assert "v1's plugins for it answer at 'extra_lines'" in text
    data = json.loads(invoke("interfaces", "changelog", "interface_a", "--json").stdout)
    v1, v2 = data["versions"]
    assert v1["served_by"]["change"] == "GreetingInTheUsersLanguage" and v1["changes"] == []
    kinds = {(c["kind"], c["point"] or c["parameter"]) for c in v2["changes"]}
    assert ("point_removed", "signature") in kinds and ("parameter_added", "vip") in kinds
    unknown = invoke("interfaces", "changelog", "interface_b")
    assert unknown.exit_code == 4 and "interface_a" in unknown.stderr


def test_serving_a_version_that_drops_a_point_breaks_the_lock(
    tmp_path: Path, invoke: Invoke
) -> None:
    from catalog_cli.testing import write_catalog as kit_write

    own_v1 = (
        BUILTINS
        + """

@hookimpl
def quote_v1(ctx, amount):
    return {"total": amount}


@hookimpl
def quote_v2(ctx, cents, currency):
    return {"total": cents, "currency": currency}
"""
    )
    unserved = SPECS[: SPECS.index("@version_change(quote_v1")]
    before = kit_write(
        tmp_path / "before",
        TOML,
        {"hookspecs/quote.py": unserved, "builtin_plugins/quote.py": own_v1, "plugins/fee.py": FEE},
    )
    assert invoke("lock", catalog=before).exit_code == 0
    after = kit_write(
        tmp_path / "after",
        TOML,
        {"hookspecs/quote.py": SPECS, "builtin_plugins/quote.py": BUILTINS, "plugins/fee.py": FEE},
    )
    shutil.copy(before.parent / "catalog.lock", after.parent / "catalog.lock")
    checked = invoke("check", catalog=after)
    assert checked.exit_code == 15, checked.stdout + checked.stderr
    out = checked.stdout + checked.stderr
    # v1 keeps its `fees` (mapped) and loses `note`, which nothing maps
    removed = [line for line in out.splitlines() if "point_removed" in line]
    assert removed and all("quote v1 point note" in line for line in removed), out
