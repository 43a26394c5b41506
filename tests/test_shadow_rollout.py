"""Shadow canaries, automatic rollbacks and ramps: a candidate version tried on a tenant's real
calls without its answers ever reaching the caller, stopped when it goes wrong, and given a
growing share on a schedule in which a key that entered the canary never leaves it."""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog_cli import Catalog
from catalog_cli import _deadline as deadline
from catalog_cli.config._canary import CANARY_KEYS, RAMP_STEP_KEYS, ROLLBACK_KEYS, Canary
from catalog_cli.errors import ConfigError, PluginCallError, UnknownCanaryError
from catalog_cli.registry._rollout import RollbackFile
from catalog_cli.registry._versions import bucket, in_canary
from catalog_cli.runtime import _canary as canary_runtime
from catalog_cli.runtime._canary import ShadowPool, describe, differences
from tests.conftest import REPO, Invoke, MakeCatalog, WriteCatalog
from tests.test_isolation import HUNTER

SHADOW_OUTCOMES = ("matched", "mismatched", "failed", "timed_out", "skipped")

#: v2's greeting, by the name it greets: "same..." answers as v1 does (v1 is served by v2's
#: code), "boom..." raises, "hang..." waits for the test's gate, anything else differs.
CANDIDATE = """
from catalog_cli import hookimpl
import {gate}


@hookimpl
def interface_a_v2_greeting(ctx, name):
    {gate}.SEEN.append((ctx.shadow, ctx.call_id, name))
    if name.startswith("boom"):
        raise RuntimeError("the candidate is broken")
    if name.startswith("hang"):
        {gate}.GATE.wait(10)
    if name.startswith("same"):
        return None
    return "v2 " + name
"""

GATE = """
import threading

GATE = threading.Event()
SEEN = []
"""

CATALOG = """
[catalog]
versions = {{ interface_a = 1 }}
plugin_dirs = ["plugins"]
[tenants.t]
plugins = ["candidate"]
[tenants.t.canary.interface_a]
{canary}
[tenants.other]
plugins = ["candidate"]
{extra}
"""


@pytest.fixture
def gate(new_module: Callable[..., str]) -> Iterator[Any]:
    name = new_module("shadow_gate", GATE)
    module = importlib.import_module(name)
    yield module
    module.GATE.set()  # nothing hangs past the test


@pytest.fixture(autouse=True)
def _pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Each test its own pool, so one test's hanging candidates never take another's room.
    monkeypatch.setattr(canary_runtime, "_pools", [ShadowPool(4, 64, 2)])
    monkeypatch.setattr(RollbackFile, "REFRESH", 0.0)
    yield


def _files(gate: Any) -> dict[str, str]:
    return {"plugins/candidate.py": CANDIDATE.format(gate=gate.__name__)}


def _catalog(
    write_catalog: WriteCatalog, gate: Any, canary: str, extra: str = "", **kwargs: Any
) -> Catalog:
    return Catalog(
        write_catalog(CATALOG.format(canary=canary, extra=extra), _files(gate)), **kwargs
    )


def _counts(catalog: Catalog, tenant: str = "t", interface: str = "interface_a") -> dict[str, int]:
    return dict(catalog.canary(interface, customer=tenant).counts)


def _settle(
    catalog: Catalog, total: int, tenant: str = "t", interface: str = "interface_a"
) -> dict[str, int]:
    """The shadow outcomes once ``total`` shadow calls have ended (or ten seconds passed)."""
    until = time.monotonic() + 10
    while True:
        counts = _counts(catalog, tenant, interface)
        if sum(counts[name] for name in SHADOW_OUTCOMES) >= total or time.monotonic() > until:
            return counts
        time.sleep(0.01)


def _wait(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    until = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < until, "gave up waiting"
        time.sleep(0.01)
    return found


SHADOW = 'version = 2\nshare = 1\nmode = "shadow"\nkey = "name"'


# -- shadow calls ----------------------------------------------------------------------------


def test_the_caller_always_gets_the_live_answer(write_catalog: WriteCatalog, gate: Any) -> None:
    catalog = _catalog(write_catalog, gate, SHADOW)

    names = st.lists(
        st.tuples(st.sampled_from(["same", "diff", "boom"]), st.text("abcxyz", max_size=4)),
        min_size=1,
        max_size=20,
    )

    made = [0]

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(names)
    def check(calls: list[tuple[str, str]]) -> None:
        for prefix, rest in calls:
            name = prefix + rest
            expected = f"Hello, {name}!"  # v1's answer; v2's would start "v2 " or raise
            assert catalog.run("interface_a", customer="t", name=name) == expected
            outcome = catalog.execute("interface_a", customer="t", arguments={"name": name})
            assert (outcome.result, outcome.version, outcome.version_source) == (
                expected,
                1,
                "catalog",
            )
            made[0] += 2

    check()
    # Every call was shadowed (share 1), and each shadow call ended one way, once.
    counts = _settle(catalog, made[0])
    assert sum(counts[name] for name in SHADOW_OUTCOMES) == made[0]
    assert counts["ok"] == counts["error"] == 0  # no call of the candidate was answered
    for name, outcome in (("same-1", "matched"), ("diff-1", "mismatched"), ("boom-1", "failed")):
        before = _counts(catalog)[outcome]
        assert catalog.run("interface_a", customer="t", name=name) == f"Hello, {name}!"
        assert _settle(catalog, made[0] + 1)[outcome] == before + 1
        made[0] += 1


def test_mismatches_are_counted_and_logged_with_the_call_id(
    write_catalog: WriteCatalog, gate: Any, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = _catalog(write_catalog, gate, SHADOW)
    with caplog.at_level(logging.WARNING, logger="catalog.shadow"):
        outcome = catalog.execute("interface_a", customer="t", arguments={"name": "diff"})
        assert _settle(catalog, 1)["mismatched"] == 1
        catalog.execute("interface_a", customer="t", arguments={"name": "same"})
        assert _settle(catalog, 2)["matched"] == 1
    [record] = [r for r in caplog.records if r.name == "catalog.shadow"]
    message = record.getMessage()
    assert f"[call {outcome.call_id}]" in message
    assert "$: 'Hello, diff!' != 'v2 diff'" in message
    assert record.call_id == outcome.call_id  # type: ignore[attr-defined]
    assert (record.version, record.live_version) == (2, 1)  # type: ignore[attr-defined]
    # The candidate's plugins saw a shadow call, under the live call's id.
    assert (True, outcome.call_id, "diff") in gate.SEEN


SECRET_SPECS = """
from catalog_cli import Context, entrypoint


@entrypoint
def vault_v1(ctx: Context, user: str, api_token: str = "") -> dict:
    \"\"\"Open the vault.\"\"\"


@entrypoint
def vault_v2(ctx: Context, user: str, api_token: str = "") -> dict:
    \"\"\"Open the vault, faster.\"\"\"
"""

SECRET_IMPL = """
from catalog_cli import hookimpl


@hookimpl
def vault_v1(ctx, user, api_token):
    return {"user": user, "token": api_token + "-one", "speed": 1}


@hookimpl
def vault_v2(ctx, user, api_token):
    return {"user": user, "token": api_token + "-two", "speed": 2.0000001}
"""


def test_a_mismatch_log_hides_secrets(
    make_catalog: MakeCatalog, new_module: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    specs, impl = new_module("vault_specs", SECRET_SPECS), new_module("vault_impl", SECRET_IMPL)
    catalog = make_catalog(
        f"""
        [catalog]
        hookspecs = ["{specs}"]
        builtins = ["{impl}"]
        [tenants.t]
        versions = {{ vault = 1 }}
        [tenants.t.canary.vault]
        version = 2
        share = 1
        mode = "shadow"
        """,
        example=False,
    )
    with caplog.at_level(logging.WARNING, logger="catalog.shadow"):
        catalog.run("vault", customer="t", user="ada", api_token="s3cr3t")
        _wait(lambda: caplog.records)
    message = caplog.records[0].getMessage()
    assert "s3cr3t" not in message
    assert "$.token: *** != ***" in message and "$.speed: 1 != 2.0000001" in message
    assert "'api_token': '***'" in message


def test_a_tolerance_lets_close_numbers_match(
    make_catalog: MakeCatalog, new_module: Callable[..., str]
) -> None:
    specs = new_module("tolerant_specs", SECRET_SPECS)
    impl = new_module(
        "tolerant_impl", SECRET_IMPL.replace('"-two"', '"-one"').replace("2.0000001", "1.0000001")
    )
    catalog = make_catalog(
        f"""
        [catalog]
        hookspecs = ["{specs}"]
        builtins = ["{impl}"]
        [tenants.t]
        versions = {{ vault = 1 }}
        [tenants.t.canary.vault]
        version = 2
        share = 1
        mode = "shadow"
        tolerance = 1e-6
        """,
        example=False,
    )
    catalog.run("vault", customer="t", user="ada")
    counts = _settle(catalog, 1, interface="vault")
    assert (counts["matched"], counts["mismatched"]) == (1, 0)


MISSING = canary_runtime._MISSING


@pytest.mark.parametrize(
    ("live", "candidate", "tolerance", "found"),
    [
        ({"a": 1, "b": [1, 2]}, {"b": (1, 2), "a": 1.0}, 0.0, []),
        (True, 1, 0.0, [("$", True, 1)]),
        (1.0, 1.0 + 1e-12, 0.0, [("$", 1.0, 1.0 + 1e-12)]),
        (1.0, 1.0 + 1e-12, 1e-9, []),
        (float("nan"), float("nan"), 0.0, []),
        ([1, 2], [1], 0.0, [("$[1]", 2, MISSING)]),
        (
            {"a": {"b": "x"}},
            {"a": {"b": "y", "c": 1}},
            0.0,
            [("$.a.b", "x", "y"), ("$.a.c", MISSING, 1)],
        ),
        ("3", 3, 0.0, [("$", "3", 3)]),
        (None, {}, 0.0, [("$", None, {})]),
    ],
)
def test_answers_compare_as_json_values(
    live: Any, candidate: Any, tolerance: float, found: list[tuple[str, Any, Any]]
) -> None:
    assert differences(live, candidate, tolerance) == found


def test_answers_nested_deeper_than_the_recursion_limit_compare() -> None:
    deep: Any = 1
    other: Any = 2
    for _ in range(sys.getrecursionlimit() * 2):
        deep, other = [deep], [other]
    [(path, a, b)] = differences(deep, other)
    assert (a, b) == (1, 2) and path.endswith("[0]")
    assert describe([("$.x", 1, 2)] * 5).endswith("and 2 more")


def test_shadow_calls_never_reach_interceptors_or_the_live_series(
    write_catalog: WriteCatalog, gate: Any
) -> None:
    catalog = _catalog(
        write_catalog,
        gate,
        SHADOW,
        extra=(
            "[interceptors.metrics]\n"
            "[interceptors.rate_limit]\nsettings = { rate = 0.001, burst = 3 }"
        ),
    )
    for i in range(3):
        catalog.run("interface_a", customer="t", name=f"diff{i}")
    _settle(catalog, 3)
    # The candidate's three runs took none of the three tokens the tenant's rate limit gave (the
    # live calls all passed), and the metrics counted the live calls only.
    [series] = [s for s in catalog.metrics() if s.tenant == "t"]
    assert (series.version, series.version_source, series.calls) == (1, "catalog", 3)


def test_a_traced_call_notes_its_shadow_call(
    write_catalog: WriteCatalog, gate: Any, invoke: Invoke
) -> None:
    catalog = _catalog(write_catalog, gate, SHADOW)
    outcome = catalog.execute("interface_a", customer="t", arguments={"name": "x"}, trace=True)
    assert outcome.trace is not None
    [node] = [n for n in outcome.trace.to_dict()["children"] if n["kind"] == "shadow"]
    assert (node["name"], node["version"], node["outcome"]) == ("interface_a v2", 2, "started")
    shown = invoke("run", "interface_a", "-C", "t", "-a", "name=x", "--trace", catalog=catalog.path)
    assert shown.exit_code == 0, shown.output
    assert "shadow call interface_a v2  started" in shown.output


def test_a_call_that_asks_for_its_version_is_not_shadowed(
    write_catalog: WriteCatalog, gate: Any
) -> None:
    catalog = _catalog(write_catalog, gate, SHADOW)
    catalog.run("interface_a", customer="t", version=1, name="x")
    catalog.run("interface_a", customer="other", name="x")
    catalog.run("interface_a", customer="t", name="y")
    counts = _settle(catalog, 1)
    time.sleep(0.05)
    assert sum(_counts(catalog)[name] for name in SHADOW_OUTCOMES) == 1 == counts["mismatched"]


# -- room and deadlines ----------------------------------------------------------------------


def test_shadow_calls_are_skipped_when_there_is_no_room(
    write_catalog: WriteCatalog, gate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(canary_runtime, "_pools", [ShadowPool(1, 1, 5)])
    catalog = _catalog(write_catalog, gate, SHADOW)
    started = time.monotonic()
    catalog.run("interface_a", customer="t", name="hang-1")  # runs, and waits
    _wait(lambda: any(name == "hang-1" for _, _, name in gate.SEEN))
    catalog.run("interface_a", customer="t", name="hang-2")  # waits for the thread
    traced = catalog.execute("interface_a", customer="t", arguments={"name": "x"}, trace=True)
    assert time.monotonic() - started < 5  # the caller never waited for the candidate
    assert traced.trace is not None
    [node] = [n for n in traced.trace.to_dict()["children"] if n["kind"] == "shadow"]
    assert node["outcome"] == "skipped: the shadow pool is full (1 calls waiting)"
    assert _counts(catalog)["skipped"] == 1
    gate.GATE.set()
    assert _settle(catalog, 3)["mismatched"] == 2


def test_one_tenant_has_at_most_its_share_of_the_pool(
    write_catalog: WriteCatalog, gate: Any
) -> None:
    catalog = _catalog(
        write_catalog,
        gate,
        SHADOW,
        extra='[tenants.other.canary.interface_a]\nversion = 2\nshare = 1\nmode = "shadow"',
    )
    for i in range(4):
        catalog.run("interface_a", customer="t", name=f"hang-{i}")
    assert _counts(catalog)["skipped"] == 2  # two of the pool's four threads are t's at most
    catalog.run("interface_a", customer="other", name="diff")
    assert _settle(catalog, 1, tenant="other")["mismatched"] == 1  # others still get room


def test_a_hanging_candidate_ends_at_its_deadline_against_its_tenant_only(
    write_catalog: WriteCatalog, gate: Any
) -> None:
    # Tenant ids of this test alone: abandoned threads are counted per id, process-wide.
    toml = CATALOG.format(
        canary=SHADOW, extra="[tenants.t.limits.interfaces.interface_a]\ncall_timeout = 0.2"
    )
    toml = toml.replace("tenants.t.", "tenants.hangs.").replace("[tenants.t]", "[tenants.hangs]")
    catalog = Catalog(
        write_catalog(toml.replace("tenants.other", "tenants.bystander"), _files(gate))
    )
    started = time.monotonic()
    assert catalog.run("interface_a", customer="hangs", name="hang") == "Hello, hang!"
    # The caller never waits for the candidate, which hangs until the gate opens; the bound
    # leaves room for building the tenant on a busy machine.
    assert time.monotonic() - started < 5
    counts = _settle(catalog, 1, tenant="hangs")
    assert counts["timed_out"] == 1
    assert deadline.abandoned("hangs") == 1 and deadline.abandoned("bystander") == 0
    assert canary_runtime.pool().open("hangs") == 1  # still running: it keeps its room
    assert catalog.run("interface_a", customer="bystander", name="x") == "Hello, x!"
    gate.GATE.set()
    _wait(lambda: deadline.abandoned("hangs") == 0 and canary_runtime.pool().open("hangs") == 0)


# -- rollbacks -------------------------------------------------------------------------------

ROLLBACK = "rollback = { error_rate = 0.2, mismatch_rate = 0.5, window = 20, min_calls = 10 }"

OBSERVER = """
from catalog_cli import hookimpl

EVENTS = []


@hookimpl
def catalog_event(event):
    if event.kind == "canary_rolled_back":
        EVENTS.append(event)
"""


def test_failing_shadow_calls_roll_the_canary_back(
    write_catalog: WriteCatalog,
    gate: Any,
    caplog: pytest.LogCaptureFixture,
    new_module: Callable[..., str],
) -> None:
    observer = new_module("rollback_observer", OBSERVER)
    toml = CATALOG.format(canary=f"{SHADOW}\n{ROLLBACK}", extra="").replace(
        'plugins = ["candidate"]\n[tenants.t.canary',
        'plugins = ["candidate", "observer"]\n[tenants.t.canary',
    )
    toml = toml.replace(
        'plugin_dirs = ["plugins"]',
        f'plugin_dirs = ["plugins"]\nmodules = {{ observer = "{observer}" }}',
    )
    catalog = Catalog(write_catalog(toml, _files(gate)))
    told: list[Any] = []
    catalog.subscribe(told.append)
    with caplog.at_level(logging.WARNING, logger="catalog.canary"):
        for i in range(10):
            assert catalog.run("interface_a", customer="t", name=f"boom{i}") == f"Hello, boom{i}!"
            _settle(catalog, i + 1)
    status = catalog.canary("interface_a", customer="t")
    assert status.rolled_back is not None and status.share == 0.0 and status.planned == 1.0
    assert status.rolled_back.rate == "error_rate" and status.rolled_back.value == 1.0
    [record] = [r for r in caplog.records if r.name == "catalog.canary"]
    assert "error rate 100.0% above 20.0% over the candidate's last 10 calls (window 20)" in (
        record.getMessage()
    )
    assert (record.rate, record.threshold, record.window) == ("error_rate", 0.2, 20)  # type: ignore[attr-defined]
    # The catalog event: to the catalog's subscribers, and to the tenant's own plugins.
    assert catalog.events.flush()
    [event] = sys.modules[observer].EVENTS
    details = event.details
    assert (event.tenant, details["interface"], details["version"]) == ("t", "interface_a", 2)
    assert details["reason"] == status.rolled_back.reason
    assert (details["rate"], details["threshold"], details["window"]) == ("error_rate", 0.2, 20)
    assert details["call_id"] == status.rolled_back.call_id
    assert [e for e in told if e.kind == "canary_rolled_back"] == [event]
    # Rolled back: no more shadow calls, and the callers never noticed any of it.
    before = _counts(catalog)
    for i in range(20):
        assert catalog.run("interface_a", customer="t", name=f"boom{i}") == f"Hello, boom{i}!"
    assert _counts(catalog) == before


def test_mismatches_roll_a_shadow_back(write_catalog: WriteCatalog, gate: Any) -> None:
    catalog = _catalog(write_catalog, gate, f"{SHADOW}\n{ROLLBACK}")
    for i in range(10):  # min_calls: judged from the tenth, and every answer differed
        catalog.run("interface_a", customer="t", name=f"diff{i}")
        _settle(catalog, i + 1)
    rollback = catalog.canary("interface_a", customer="t").rolled_back
    assert rollback is not None and rollback.rate == "mismatch_rate"
    assert (rollback.value, rollback.threshold, rollback.calls) == (1.0, 0.5, 10)


def test_a_live_canary_with_a_failing_candidate_rolls_back(
    write_catalog: WriteCatalog, gate: Any
) -> None:
    rule = "rollback = { error_rate = 0.1, window = 10, min_calls = 5 }"
    catalog = _catalog(write_catalog, gate, f'version = 2\nshare = 0.5\nkey = "name"\n{rule}')
    failures = 0
    for i in range(200):
        try:
            catalog.run("interface_a", customer="t", name=f"boom{i}")
        except PluginCallError:
            failures += 1
        if catalog.canary("interface_a", customer="t").rolled_back is not None:
            break
    assert failures == 5  # the rule's min_calls: judged from the fifth, all of them failed
    status = catalog.canary("interface_a", customer="t")
    assert status.rolled_back is not None and status.counts["error"] == 5
    # Every call goes to the live version now, on every path.
    for i in range(300):
        assert catalog.run("interface_a", customer="t", name=f"boom{i}") == f"Hello, boom{i}!"
        answer = catalog.execute("interface_a", customer="t", arguments={"name": f"boom{i}"})
        assert answer.version_source == "catalog"


def test_refusals_and_bad_arguments_are_not_the_candidates_errors(
    write_catalog: WriteCatalog, gate: Any
) -> None:
    rule = "rollback = { error_rate = 0.1, window = 10, min_calls = 1 }"
    catalog = _catalog(write_catalog, gate, f'version = 2\nshare = 0.999\nkey = "name"\n{rule}')
    for _ in range(5):
        answer = catalog.call(_request(name="x", language="klingon"))
        assert not answer.ok and answer.error is not None
        assert answer.error.kind == "invalid_arguments"
    assert catalog.canary("interface_a", customer="t").rolled_back is None


def _request(**arguments: Any) -> Any:
    from catalog_cli.execution._requests import CallRequest

    return CallRequest("t", "interface_a", None, arguments)


def test_a_rollback_holds_across_reloads_and_restarts_until_reset(
    write_catalog: WriteCatalog, gate: Any, invoke: Invoke
) -> None:
    catalog = _catalog(write_catalog, gate, f"{SHADOW}\n{ROLLBACK}")
    for i in range(10):
        catalog.run("interface_a", customer="t", name=f"boom{i}")
        _settle(catalog, i + 1)
    assert catalog.canary("interface_a", customer="t").rolled_back is not None
    stored = json.loads(catalog.path.with_name("catalog.rollbacks.json").read_text())
    assert [r["tenant"] for r in stored["rollbacks"]] == ["t"] and stored["format"] == 1
    catalog.reload()
    assert catalog.canary("interface_a", customer="t").rolled_back is not None
    restarted = Catalog(catalog.path)  # another process, or the next start
    assert restarted.canary("interface_a", customer="t").rolled_back is not None
    # `tenants show` in yet another process says why and when.
    shown = invoke("tenants", "show", "t", catalog=catalog.path)
    assert "ROLLED BACK at " in shown.stdout
    assert "error rate 100.0% above 20.0%" in shown.stdout
    assert "catalog tenants reset-canary t interface_a" in shown.stdout
    data = json.loads(invoke("tenants", "show", "t", "--json", catalog=catalog.path).stdout)
    rolled = data["rollouts"]["interface_a"]["rolled_back"]
    assert (rolled["rate"], rolled["threshold"], rolled["window"]) == ("error_rate", 0.2, 20)
    assert rolled["at"].endswith("Z") and data["rollouts"]["interface_a"]["share"] == 0.0
    # Reset from the command line: every process sees it, the candidate is judged afresh.
    reset = invoke("tenants", "reset-canary", "t", "interface_a", "--json", catalog=catalog.path)
    assert reset.exit_code == 0, reset.output
    assert json.loads(reset.stdout)["reset"] is True
    assert catalog.canary("interface_a", customer="t").rolled_back is None
    assert restarted.canary("interface_a", customer="t").window == (0, 0, 0)
    catalog.run("interface_a", customer="t", name="same")
    assert _settle(catalog, 11)["matched"] == 1
    again = invoke("tenants", "reset-canary", "t", "interface_a", catalog=catalog.path)
    assert "was not rolled back" in again.stdout


def test_a_rollback_is_for_its_version_only(write_catalog: WriteCatalog, gate: Any) -> None:
    catalog = _catalog(write_catalog, gate, f"{SHADOW}\n{ROLLBACK}")
    for i in range(10):
        catalog.run("interface_a", customer="t", name=f"boom{i}")
        _settle(catalog, i + 1)
    # The catalog's file now names v1 as the candidate (of a tenant pinned to v2).
    text = (
        catalog.path.read_text()
        .replace("versions = { interface_a = 1 }", "")
        .replace("version = 2\nshare = 1", "version = 1\nshare = 1")
    )
    catalog.path.write_text(text + "\n[tenants.t.versions]\ninterface_a = 2\n")
    catalog.reload()
    assert catalog.canary("interface_a", customer="t").rolled_back is None


def test_unknown_canaries_are_named(write_catalog: WriteCatalog, gate: Any, invoke: Invoke) -> None:
    catalog = _catalog(write_catalog, gate, SHADOW)
    with pytest.raises(UnknownCanaryError, match="unknown canary 'price_quote' of tenant 't'"):
        catalog.reset_canary("price_quote", customer="t")
    result = invoke("tenants", "reset-canary", "other", "interface_a", catalog=catalog.path)
    assert result.exit_code == 4, result.output


# -- ramps -----------------------------------------------------------------------------------

DAY = 86_400.0
START = 1_796_083_200.0  # 2026-12-01T00:00:00Z

RAMP = """version = 2
key = "name"
ramp = [
    { at = "2026-12-01T00:00:00Z", share = 0.01 },
    { at = "2026-12-03", share = 0.1 },
    { at = 2026-12-05T12:00:00+02:00, share = 0.5 },
    { at = 2026-12-07, share = 1 },
]"""


def test_a_ramp_steps_up_on_the_injected_clock(write_catalog: WriteCatalog, gate: Any) -> None:
    now = [START - 1]
    catalog = _catalog(write_catalog, gate, RAMP, clock=lambda: now[0])
    names = [f"user-{i}" for i in range(2000)]

    def on_canary() -> set[str]:
        return {
            name
            for name in names
            if catalog.resolve_version("interface_a", customer="t", arguments={"name": name}).source
            == "canary"
        }

    seen: list[set[str]] = []
    for moment, share in [
        (START - 1, 0.0),
        (START, 0.01),
        (START + 2 * DAY - 1, 0.01),
        (START + 2 * DAY, 0.1),
        (START + 4.5 * DAY - 2 * 3600, 0.5),
        (START + 6 * DAY, 1.0),
    ]:
        now[0] = moment
        status = catalog.canary("interface_a", customer="t")
        assert status.share == share, moment
        inside = on_canary()
        assert abs(len(inside) - share * len(names)) <= max(5, 0.25 * share * len(names))
        assert all(inside >= earlier for earlier in seen)  # nobody leaves while it grows
        seen.append(inside)
    now[0] = START + 3 * DAY
    assert catalog.canary("interface_a", customer="t").next_step is not None
    assert catalog.canary("interface_a", customer="t").next_step.when == "2026-12-05T10:00:00Z"  # type: ignore[union-attr]


def test_ramps_show_their_steps(write_catalog: WriteCatalog, gate: Any, invoke: Invoke) -> None:
    catalog = _catalog(write_catalog, gate, RAMP)
    shown = invoke("tenants", "show", "t", catalog=catalog.path)
    assert shown.exit_code == 0, shown.output
    assert (
        "ramp: 1% from 2026-12-01T00:00:00Z, 10% from 2026-12-03T00:00:00Z, 50% from "
        "2026-12-05T10:00:00Z, 100% from 2026-12-07T00:00:00Z"
    ) in shown.stdout
    data = json.loads(invoke("tenants", "show", "t", "--json", catalog=catalog.path).stdout)
    assert data["canaries"]["interface_a"]["ramp"][2] == {
        "at": "2026-12-05T10:00:00Z",
        "share": 0.5,
    }
    assert data["canaries"]["interface_a"]["share"] is None


@pytest.fixture(scope="module")
def buckets() -> list[float]:
    """Where 100 000 keys fall, by the hash the canaries use."""
    return [bucket("t", "interface_a", f"user-{i}") for i in range(100_000)]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shares=st.lists(
        st.floats(min_value=0.0, max_value=1.0, exclude_min=True), min_size=2, max_size=6
    ).map(sorted),
    sample=st.lists(st.integers(0, 99_999), min_size=1, max_size=50),
)
def test_a_key_in_a_canary_stays_in_it_while_its_share_grows(
    buckets: list[float], shares: list[float], sample: list[int]
) -> None:
    canary = Canary(2, None, "name")
    for index in sample:  # the decision is exactly "its bucket is below the share"
        for share in shares:
            expected = buckets[index] < share or share >= 1
            arguments = {"name": f"user-{index}"}
            assert in_canary(canary, "t", "interface_a", arguments, None, share) == expected
    counts = []
    for smaller, larger in itertools.pairwise(shares):
        # over all 100 000 keys: every key in at the smaller share is in at the larger
        assert not [b for b in buckets if b < smaller and not b < larger]
        counts.append(sum(b < larger for b in buckets))
    assert counts == sorted(counts)


def test_100000_keys_never_leave_a_growing_ramp(write_catalog: WriteCatalog, gate: Any) -> None:
    now = [START]
    catalog = _catalog(write_catalog, gate, RAMP, clock=lambda: now[0])
    registry = catalog.registry
    was_in: set[int] = set()
    for moment in (START, START + 2 * DAY, START + 4.5 * DAY, START + 6 * DAY):
        now[0] = moment
        inside = {
            i
            for i in range(100_000)
            if registry.resolve("interface_a", "t", None, {"name": f"user-{i}"}).source == "canary"
        }
        assert was_in <= inside
        was_in = inside
    assert len(was_in) == 100_000


def test_the_split_of_a_fixed_share_is_as_it_was() -> None:
    # The hash is part of the promise: a key on one side stays there across releases.
    assert [round(bucket("c2", "interface_a", name), 6) for name in ("Ada", "Bob", 3, 3.0)] == [
        round(bucket("c2", "interface_a", "Ada"), 6),
        round(bucket("c2", "interface_a", "Bob"), 6),
        round(bucket("c2", "interface_a", 3), 6),
        round(bucket("c2", "interface_a", 3), 6),
    ]
    import hashlib

    digest = hashlib.blake2b(b'c2\x00interface_a\x00"Ada"', digest_size=8).digest()
    assert bucket("c2", "interface_a", "Ada") == int.from_bytes(digest, "big") / 2**64


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ('version = 2\nshare = 0.1\nmode = "dark"', "mode", 'expected "live" or "shadow"'),
        ("version = 2\nshare = 1", "share", "above 0 and below 1, got 1"),
        ('version = 2\nshare = 1.5\nmode = "shadow"', "share", "above 0 and at most 1, got 1.5"),
        (
            'version = 2\nshare = 0.1\nramp = [{ at = "2026-12-01", share = 0.5 }]',
            "share",
            "give share or ramp, not both",
        ),
        ("version = 2\nramp = []", "ramp", "expected an array of steps"),
        (
            'version = 2\nramp = [{ at = "2026-12-03", share = 0.1 },\n'
            '{ at = "2026-12-01", share = 0.5 }]',
            "ramp",
            "step 2: its time (2026-12-01T00:00:00Z) must come after step 1's",
        ),
        (
            'version = 2\nramp = [{ at = "2026-12-01", share = 0.5 },\n'
            '{ at = "2026-12-03", share = 0.1 }]',
            "ramp",
            "step 2: share 0.1 is below step 1's (0.5): a ramp only goes up",
        ),
        (
            'version = 2\nramp = [{ at = "2026-12-01", share = 0 }]',
            "ramp",
            "step 1: share: expected a fraction above 0",
        ),
        (
            'version = 2\nramp = [{ at = "next week", share = 0.5 }]',
            "ramp",
            "step 1: at: expected an ISO date",
        ),
        (
            'version = 2\nramp = [{ at = "2026-12-01", share = 0.5, by = 1 }]',
            "ramp",
            "step 1: unknown key 'by'",
        ),
        ("version = 2\nshare = 0.1\nrollback = { window = 10 }", "rollback", "name the rate"),
        (
            "version = 2\nshare = 0.1\nrollback = { error_rate = 1.5 }",
            "rollback.error_rate",
            "at least 0 and below 1",
        ),
        (
            "version = 2\nshare = 0.1\nrollback = { mismatch_rate = 0.1 }",
            "rollback.mismatch_rate",
            'only a shadow canary (mode = "shadow") compares answers',
        ),
        (
            "version = 2\nshare = 0.1\nrollback = { error_rate = 0.1, window = 0 }",
            "rollback.window",
            "1 to 100000",
        ),
        (
            "version = 2\nshare = 0.1\n"
            "rollback = { error_rate = 0.1, window = 10, min_calls = 11 }",
            "rollback.min_calls",
            "1 to the window (10), got 11",
        ),
        (
            "version = 2\nshare = 0.1\nrollback = { error_rate = 0.1, within = 3 }",
            "rollback.within",
            "unknown key",
        ),
        ("version = 2\nshare = 0.1\ntolerance = 0.1", "tolerance", "only a shadow canary"),
        (
            'version = 2\nshare = 0.1\nmode = "shadow"\ntolerance = -1',
            "tolerance",
            "at least 0, got -1",
        ),
    ],
)
def test_bad_canary_keys_fail_the_tenant_closed_naming_the_key(
    make_catalog: MakeCatalog, table: str, key: str, message: str
) -> None:
    catalog = make_catalog(
        f"[tenants.t]\n[tenants.t.canary.interface_a]\n{table}\n[tenants.other]\n"
    )
    with pytest.raises(ConfigError) as info:
        catalog.run("interface_a", customer="t")
    assert info.value.key == f"tenants.t.canary.interface_a.{key}"
    assert message in str(info.value)
    assert catalog.run("interface_a", customer="other", version=2) == "Hello, there!"


def test_every_canary_key_is_documented() -> None:
    reference = (REPO / "docs" / "catalog-toml.md").read_text(encoding="utf-8")
    prefix = "tenants.<id>.canary.<interface>"
    keys = [f"{prefix}.{key}" for key in CANARY_KEYS]
    keys += [f"{prefix}.rollback.{key}" for key in ROLLBACK_KEYS]
    keys += [f"{prefix}.ramp[].{key}" for key in RAMP_STEP_KEYS]
    missing = [key for key in keys if f"| `{key}` |" not in reference]
    assert not missing


# -- isolation and reporting -----------------------------------------------------------------


def test_no_tenant_reaches_another_tenants_canary_state(
    make_catalog: MakeCatalog, new_module: Callable[..., str], gate: Any
) -> None:
    tools = new_module(
        "shadow_hunter",
        HUNTER.replace(
            "price_quote_v1_discounts(ctx, subtotal, quantity)",
            "interface_a_v2_greeting(ctx, name)",
        ),
    )
    catalog = make_catalog(
        f"""
        [catalog]
        versions = {{ interface_a = 1 }}
        plugin_dirs = ["plugins"]
        [catalog.modules]
        hunter = "{tools}"
        [tenants.VICTIM]
        plugins = ["candidate"]
        [tenants.VICTIM.canary.interface_a]
        version = 2
        share = 1
        mode = "shadow"
        {ROLLBACK}
        [tenants.spy]
        plugins = ["hunter"]
        [tenants.spy.canary.interface_a]
        version = 2
        share = 1
        mode = "shadow"
        {ROLLBACK}
        """,
        _files(gate),
    )
    for i in range(10):  # the victim's canary: counted, logged, rolled back
        catalog.run("interface_a", customer="VICTIM", name=f"VICTIM-boom{i}")
        _settle(catalog, i + 1, tenant="VICTIM")
    assert catalog.canary("interface_a", customer="VICTIM").rolled_back is not None
    catalog.run("interface_a", customer="spy", name="x")  # the hunter runs in its shadow call
    hunter = sys.modules[tools]
    _wait(lambda: hunter.SEEN)
    assert hunter.FOUND == []
    assert min(hunter.SEEN) > 200, hunter.SEEN
    spy = catalog.canary("interface_a", customer="spy")
    assert spy.rolled_back is None


def test_metrics_export_the_canaries(write_catalog: WriteCatalog, gate: Any) -> None:
    from catalog_cli.registry._rollout import prometheus_text

    catalog = _catalog(write_catalog, gate, SHADOW)
    catalog.run("interface_a", customer="t", name="diff")
    _settle(catalog, 1)
    text = prometheus_text(catalog.canary_series())
    assert (
        'catalog_canary_calls_total{interface="interface_a",mode="shadow",outcome="mismatched",'
        'tenant="t",version="2"} 1.0'
    ) in text
    assert (
        'catalog_canary_share{interface="interface_a",mode="shadow",tenant="t",version="2"} 1.0'
        in text
    )
    labels = 'interface="interface_a",mode="shadow",tenant="t",version="2"'
    assert f"catalog_canary_rolled_back{{{labels}}} 0.0" in text


def test_a_plugin_knows_a_shadow_call(write_catalog: WriteCatalog, gate: Any) -> None:
    catalog = _catalog(write_catalog, gate, SHADOW)
    catalog.run("interface_a", customer="other", version=2, name="live")
    catalog.run("interface_a", customer="t", name="shadowed")
    _settle(catalog, 1)
    assert (False, gate.SEEN[0][1], "live") == gate.SEEN[0]
    assert [seen[0] for seen in gate.SEEN if seen[2] == "shadowed"] == [True]


def test_unwritable_rollbacks_hold_in_the_process(
    write_catalog: WriteCatalog,
    gate: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("CATALOG_ROLLBACKS", str(blocker / "rollbacks.json"))
    catalog = _catalog(write_catalog, gate, f"{SHADOW}\n{ROLLBACK}")
    with caplog.at_level(logging.WARNING, logger="catalog.canary"):
        for i in range(10):
            catalog.run("interface_a", customer="t", name=f"boom{i}")
            _settle(catalog, i + 1)
    assert catalog.canary("interface_a", customer="t").rolled_back is not None
    assert any("cannot write the rollbacks file" in r.getMessage() for r in caplog.records)


def test_with_limits_a_shadow_takes_no_room_of_its_tenants_calls(
    write_catalog: WriteCatalog, gate: Any
) -> None:
    catalog = _catalog(
        write_catalog,
        gate,
        SHADOW,
        extra="[tenants.t.limits]\nconcurrent_calls = 1",
        limits=True,
    )
    # The candidate hangs: were its shadow calls counted as t's calls, the next one would be
    # refused (one call at a time).
    for i in range(3):
        assert catalog.run("interface_a", customer="t", name=f"hang-{i}") == f"Hello, hang-{i}!"
    greet = catalog.method("interface_a", customer="t")
    assert greet(name="hang-3") == "Hello, hang-3!"
    assert canary_runtime.pool().open("t") == 2  # its share of the pool, the rest skipped


def test_with_limits_a_method_follows_a_live_canary(write_catalog: WriteCatalog, gate: Any) -> None:
    catalog = _catalog(write_catalog, gate, 'version = 2\nshare = 0.5\nkey = "name"', limits=True)
    greet = catalog.method("interface_a", customer="t")
    answers = {greet(name=f"diff{i}").startswith("v2 ") for i in range(60)}
    assert answers == {True, False}


def test_the_servers_metrics_show_a_tenant_its_own_canaries_only(
    write_catalog: WriteCatalog, gate: Any
) -> None:
    import warnings

    from starlette.exceptions import StarletteDeprecationWarning

    from catalog_cli.config._keys import hash_key
    from catalog_cli.http import ServeSettings, create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient

    keys = {tenant: f"key-of-{tenant}-0123456789" for tenant in ("t", "other")}
    path = write_catalog(
        CATALOG.format(canary=SHADOW, extra="").replace(
            'plugins = ["candidate"]\n[tenants.t.canary',
            f'plugins = ["candidate"]\napi_keys = ["{hash_key(keys["t"])}"]\n[tenants.t.canary',
        )
        + f'api_keys = ["{hash_key(keys["other"])}"]\n',
        _files(gate),
    )
    app = create_app(path, settings=ServeSettings(max_timeout=5.0, job_threads=1))
    series = 'catalog_canary_calls_total{interface="interface_a",mode="shadow",outcome="mismatched"'
    with TestClient(app) as client:
        own = {"Authorization": f"Bearer {keys['t']}"}
        answer = client.post(
            "/v1/interfaces/interface_a/run", json={"arguments": {"name": "x"}}, headers=own
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"] == "Hello, x!"

        def counted() -> str:
            text: str = client.get("/v1/metrics", headers=own).text
            return text if series in text else ""

        text = _wait(counted)
        assert f'{series},tenant="t",version="2"}} 1.0' in text
        theirs = client.get("/v1/metrics", headers={"Authorization": f"Bearer {keys['other']}"})
        assert "catalog_canary" not in theirs.text
