"""Isolated plugins: ``isolation = "process"`` runs a tenant's plugins in its own worker pool.

A suite of hostile isolated plugins (an endless loop, a 2 GiB allocation, a segfault,
``os._exit``, fork attempts, a hang, file descriptor exhaustion), each in a tenant of its own:
each fails its own tenant's call with an error naming the limit, its worker is replaced and
the next call succeeds, while another tenant's calls keep succeeding at their usual speed.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import (
    ConfigError,
    PluginCallError,
    PluginStartupError,
    PluginValidationError,
    WorkerLimitError,
)
from catalog_cli.testing import write_catalog as kit_write_catalog

from .conftest import REPO, Invoke, WriteCatalog

#: One plugin, told by its settings what to do; ``quantity == 1`` always behaves.
EVIL = """
from __future__ import annotations

import ctypes
import os
import time

from catalog_cli import Context, hookimpl


@hookimpl
def price_quote_v1_discounts(ctx: Context, subtotal: float, quantity: int) -> float | None:
    what = "ok" if quantity == 1 else ctx.settings.get("do", "ok")
    if what == "loop":
        while True:
            pass
    if what == "alloc":
        hog = bytearray(2 * 1024**3)
        return float(len(hog))
    if what == "segv":
        ctypes.string_at(0)
    if what == "exit":
        os._exit(3)
    if what == "fork":
        os.fork()
    if what == "cfork":  # past the audit hook: straight to libc
        if ctypes.CDLL(None).fork() == 0:
            time.sleep(60)
    if what == "hang":
        time.sleep(60)
    if what == "files":
        kept = [open(__file__) for _ in range(10_000)]
        return float(len(kept))
    if what == "raise":
        raise ValueError("no discount today")
    if what == "bomb":  # past the worker's own check: a few bytes that expand without end
        import sys

        sys.modules["catalog_cli.runtime._worker"]._plain = lambda *args: True
        bomb = [0.5]
        for _ in range(40):
            bomb = [bomb, bomb]
        return bomb
    if what == "points":
        ctx.points.tax_rate(country="NL")
    if what == "facts":
        facts = (ctx.tenant, ctx.interface, ctx.version, ctx.plugin, ctx.call_id, os.getpid())
        raise LookupError(repr(facts))
    return 0.5
"""

GOOD = """
from __future__ import annotations

from catalog_cli import Context, hookimpl


@hookimpl
def price_quote_v1_discounts(ctx: Context, subtotal: float, quantity: int) -> float | None:
    return float(ctx.settings.get("rate", 0.1))


@hookimpl
def catalog_startup(tenant: str, settings: dict) -> None:
    if settings.get("fail_start"):
        raise RuntimeError("no licence for " + tenant)
"""

HOSTILE = ("loop", "alloc", "segv", "exit", "fork", "cfork", "hang", "files")

#: kind -> (WorkerLimitError.limit, what its message says)
EXPECTED = {
    "loop": ("cpu", "CPU time limit 1 s"),
    "alloc": ("memory", "memory limit 256 MiB"),
    "segv": ("died", "worker died (signal SIGSEGV)"),
    "exit": ("died", "worker died (exit code 3)"),
    "fork": ("processes", "no child processes"),
    "cfork": ("processes", "no child processes"),
    "hang": ("wall", "wall-clock deadline 1.5 s"),
    "files": ("open_files", "open files limit 64"),
}


#: The wall-clock deadlines of the hostile tenants' calls (the loop's leaves room for its CPU
#: time limit to strike first on a busy machine).
WALL = {"hang": 1.5, "loop": 10}


def _tenant(kind: str) -> str:
    return f"""
[tenants.{kind}]
plugins = ["evil.q"]
isolation = {{ workers = 1, wall_seconds = {WALL.get(kind, 4)} }}

[tenants.{kind}.settings."evil.q"]
do = "{kind}"
"""


TOML = """
[isolation]
cpu_seconds = 1
wall_seconds = 4

[tenants.good]
plugins = ["good.q"]
isolation = "process"

[tenants.plain]
plugins = ["good.q"]

[tenants.misc]
plugins = ["evil.q"]
isolation = { plugins = ["evil.*"], workers = 1 }
""" + "".join(_tenant(kind) for kind in HOSTILE)

FILES = {"plugins/evil/q.py": EVIL, "plugins/good/q.py": GOOD}


def quote(catalog: Catalog, tenant: str, quantity: int = 1) -> float:
    """The discount (a fraction) ``tenant``'s plugins give on ``quantity`` units."""
    result = catalog.run("price_quote", customer=tenant, unit_price=10.0, quantity=quantity)
    return round(float(result["discount"]) / (10.0 * quantity), 4)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    folder = tmp_path_factory.mktemp("isolated")
    path = kit_write_catalog(folder, TOML, FILES, declarations_from=REPO)
    catalog = Catalog(path)
    yield catalog
    catalog.close()


def pool_pids(catalog: Catalog, tenant: str) -> list[int]:
    pool = catalog._runtimes.get(tenant).workers
    assert pool is not None
    return pool.pids()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- hostile plugins -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_isolated_plugin_fails_its_own_tenant_naming_the_limit(
    hostile: Catalog, kind: str
) -> None:
    assert quote(hostile, kind) == 0.5  # warm: its worker is up
    before = pool_pids(hostile, kind)
    with pytest.raises(WorkerLimitError) as caught:
        quote(hostile, kind, quantity=5)
    error = caught.value
    limit, reason = EXPECTED[kind]
    assert (error.limit, error.reason) == (limit, reason), str(error)
    assert isinstance(error, PluginCallError) and error.kind == "plugin_call"
    assert (error.plugin, error.tenant, error.interface, error.version) == (
        "evil.q",
        kind,
        "price_quote",
        1,
    )
    message = str(error)
    assert reason in message and "'evil.q'" in message and f"tenant {kind!r}" in message
    assert "killed and replaced" in message
    assert error.record().kind == "plugin_call"
    # replaced: a new process serves the next call
    assert quote(hostile, kind) == 0.5
    after = pool_pids(hostile, kind)
    assert len(after) == 1 and after != before and not alive(before[0])
    status = hostile._runtimes.get(kind).workers.status()  # type: ignore[union-attr]
    assert status.restarts.get(limit, 0) >= 1 and status.last_restart is not None
    # the other tenants never noticed
    assert quote(hostile, "good") == 0.1 and quote(hostile, "plain") == 0.1


def test_a_fork_through_libc_leaves_no_process_behind(hostile: Catalog) -> None:
    quote(hostile, "cfork")
    [worker] = pool_pids(hostile, "cfork")
    with pytest.raises(WorkerLimitError, match="no child processes"):
        quote(hostile, "cfork", quantity=5)
    # the worker's whole process group was killed: its sleeping child too
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _group(worker):
        time.sleep(0.05)
    assert _group(worker) == []


def _group(pgid: int) -> list[int]:
    """The processes in process group ``pgid`` (Linux: from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def test_what_an_isolated_plugin_raises_is_its_own_failure_and_its_worker_serves_on(
    make_catalog: Callable[..., Catalog],
) -> None:
    catalog = make_catalog(
        """
        [tenants.t]
        plugins = ["evil.q"]
        isolation = { workers = 1 }
        [tenants.t.settings."evil.q"]
        do = "raise"
        """,
        FILES,
    )
    try:
        quote(catalog, "t")
        [pid] = pool_pids(catalog, "t")
        with pytest.raises(PluginCallError) as caught:
            quote(catalog, "t", quantity=5)
        assert not isinstance(caught.value, WorkerLimitError)
        assert caught.value.plugin == "evil.q"
        assert type(caught.value.cause) is ValueError
        assert str(caught.value.cause) == "no discount today"
        assert "ValueError" in caught.value.cause.remote_traceback  # type: ignore[attr-defined]
        assert pool_pids(catalog, "t") == [pid]  # the same worker serves on
    finally:
        catalog.close()


def test_the_worker_rebuilds_the_plugins_context_and_ctx_points_says_why_not(
    make_catalog: Callable[..., Catalog],
) -> None:
    catalog = make_catalog(
        """
        [tenants.t1]
        plugins = ["evil.q"]
        isolation = { workers = 1 }
        [tenants.t1.settings."evil.q"]
        do = "facts"
        [tenants.t2]
        plugins = ["evil.q"]
        isolation = { workers = 1 }
        [tenants.t2.settings."evil.q"]
        do = "points"
        """,
        FILES,
    )
    try:
        with pytest.raises(PluginCallError) as facts:
            quote(catalog, "t1", quantity=5)
        tenant, interface, version, plugin, call_id, pid = eval(str(facts.value.cause))
        assert (tenant, interface, version, plugin) == ("t1", "price_quote", 1, "evil.q")
        assert call_id == facts.value.call_id  # the caller's call id, in the worker
        # the plugin ran in the tenant's worker, not in this process
        assert pid in pool_pids(catalog, "t1") and pid != os.getpid()
        with pytest.raises(PluginCallError) as caught:
            quote(catalog, "t2", quantity=5)
        assert type(caught.value.cause).__name__ == "PointsUnavailableError"
        assert "ctx.points.tax_rate is not available to an isolated plugin" in str(caught.value)
    finally:
        catalog.close()


# -- other tenants ---------------------------------------------------------------------------


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def _measure(catalog: Catalog, rounds: int, threads: int = 2) -> tuple[list[float], list[float]]:
    """Call tenant ``good`` from ``threads`` threads while every hostile plugin strikes
    ``rounds`` times, with quiet spells between; (latencies of calls made while none was
    striking, latencies of calls made while some were). Both kinds are interleaved over the
    same span of time, so what else the machine does weighs on both alike."""
    samples: list[tuple[float, float]] = []
    failures: list[BaseException] = []
    strikes: list[tuple[float, float]] = []
    done = threading.Event()

    def call_good() -> None:
        mine = []
        try:
            while not done.is_set():
                began = time.perf_counter()
                assert quote(catalog, "good") == 0.1
                mine.append((began, time.perf_counter() - began))
        except BaseException as exc:
            failures.append(exc)
        samples.extend(mine)

    def strike(kind: str) -> None:
        try:
            quote(catalog, kind, quantity=5)
        except WorkerLimitError as exc:
            if EXPECTED[kind][1] not in str(exc):
                failures.append(exc)
        else:
            failures.append(AssertionError(f"{kind} did not fail"))

    callers = [threading.Thread(target=call_good) for _ in range(threads)]
    for thread in callers:
        thread.start()
    for _round in range(rounds):
        time.sleep(0.8)  # quiet
        began = time.perf_counter()
        strikers = [threading.Thread(target=strike, args=(kind,)) for kind in HOSTILE]
        for thread in strikers:
            thread.start()
        for thread in strikers:
            thread.join()
        strikes.append((began, time.perf_counter()))
    time.sleep(0.8)
    done.set()
    for thread in callers:
        thread.join()
    assert not failures, failures
    quiet: list[float] = []
    struck: list[float] = []
    for began, seconds in samples:
        if any(start <= began <= end for start, end in strikes):
            struck.append(seconds)
        elif not any(end < began < end + 0.3 for _start, end in strikes):  # replacements
            quiet.append(seconds)
    return quiet, struck


def test_another_tenants_calls_keep_their_latency_while_hostile_plugins_fail(
    hostile: Catalog,
) -> None:
    """The good tenant's p99 while hostile plugins strike stays within 1.5x of its p99 while
    none does (idle), over real calls from two threads (one per worker of its pool).

    Why this can fail: with the hostile plugins in-process the endless loop would hold the
    GIL in the very process serving the good tenant (every other thread then waits its turn,
    5 ms a switch: p99 far above 1.5x), and the segfault and ``os._exit`` would end the
    process. Here they burn their own processes' time; the good tenant's calls only share the
    machine's cores with them. The idle and struck calls are interleaved in time; a machine
    busy with other work can still spoil one measurement, so up to three are made, and the
    best counts.
    """
    for kind in HOSTILE:
        quote(hostile, kind)  # every pool warm
    ratios = []
    for _attempt in range(3):
        quiet, struck = _measure(hostile, rounds=1)
        assert len(quiet) > 1000 and len(struck) > 1000, (len(quiet), len(struck))
        ratios.append(round(_p99(struck) / _p99(quiet), 2))
        if ratios[-1] <= 1.5:
            return
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    if load > cores + 1:
        # More runnable processes than cores, besides ours: a spinning plugin then takes a
        # share of a core from everything else on the machine, this process and the good
        # tenant's worker included, and the tail latency measures the neighbours.
        pytest.skip(f"machine oversubscribed (load {load:.1f} on {cores} cores): {ratios}")
    raise AssertionError(f"p99 struck / p99 quiet over three measurements: {ratios}")


# -- checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key", "message"),
    [
        ("[isolation]\nworkerz = 2\n", "isolation.workerz", "unknown key"),
        ("[isolation]\nmemory_mib = 10\n", "isolation.memory_mib", "from 64 to"),
        ("[isolation]\ncpu_seconds = 0.5\n", "isolation.cpu_seconds", "an integer"),
        ("[isolation]\nwall_seconds = -1\n", "isolation.wall_seconds", "above 0"),
        ("[isolation]\nopen_files = 4\n", "isolation.open_files", "from 16 to"),
        ("[isolation]\nworkers = true\n", "isolation.workers", "from 1 to 64"),
    ],
)
def test_catalog_isolation_errors_name_the_file_and_key(
    write_catalog: WriteCatalog, toml: str, key: str, message: str
) -> None:
    path = write_catalog(toml + "[tenants.t]\n", FILES)
    with pytest.raises(ConfigError) as caught:
        Catalog(path)
    text = str(caught.value)
    assert str(path) in text and key in text and message in text


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        ('isolation = "processes"', "tenants.t.isolation", 'expected "process"'),
        ("isolation = 3", "tenants.t.isolation", 'expected "process", "none" or a table'),
        ("isolation = { plugin = ['evil.q'] }", "tenants.t.isolation.plugin", "did you mean"),
        ("isolation = { plugins = ['nope.*'] }", "tenants.t.isolation.plugins", "matches none"),
        ("isolation = { plugins = [] }", "tenants.t.isolation.plugins", "isolates nothing"),
        ("isolation = { wall_seconds = 0 }", "tenants.t.isolation.wall_seconds", "above 0"),
    ],
)
def test_a_tenants_isolation_errors_fail_it_closed_naming_the_key(
    make_catalog: Callable[..., Catalog], section: str, key: str, message: str
) -> None:
    catalog = make_catalog(
        f"[tenants.t]\nplugins = ['evil.q']\n{section}\n[tenants.u]\nplugins = ['good.q']\n",
        FILES,
    )
    with pytest.raises(ConfigError) as caught:
        quote(catalog, "t")
    text = str(caught.value)
    assert "catalog.toml" in text and key in text and message in text, text
    assert quote(catalog, "u") == 0.1  # the others keep working
    catalog.close()


def test_isolation_none_runs_in_process(make_catalog: Callable[..., Catalog]) -> None:
    catalog = make_catalog(
        '[tenants.t]\nplugins = ["good.q"]\nisolation = "none"\n',
        FILES,
    )
    assert quote(catalog, "t") == 0.1
    assert catalog._runtimes.get("t").workers is None


DECLARATIONS = {
    "hookspecs/odd.py": """
from __future__ import annotations

from catalog_cli import Context, entrypoint, plugin_point


class Basket:
    pass


@entrypoint
def odd_v1(ctx: Context, n: int) -> int:
    \"\"\"Odd.\"\"\"


@plugin_point(odd_v1, policy="collect")
def odd_v1_basket(ctx: Context, basket: Basket) -> int | None:
    \"\"\"Given an object.\"\"\"


@plugin_point(odd_v1, policy="collect")
def odd_v1_thing(ctx: Context, n: int) -> Basket | None:
    \"\"\"Returns an object.\"\"\"


@plugin_point(odd_v1, policy="collect")
def odd_v1_fine(ctx: Context, n: int) -> int | None:
    \"\"\"Data.\"\"\"
""",
    "builtin_plugins/odd.py": """
from __future__ import annotations

from catalog_cli import Context, hookimpl


@hookimpl
def odd_v1(ctx: Context, n: int) -> int:
    return sum(ctx.points.fine(n=n))
""",
}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "@hookimpl\ndef odd_v1_basket(ctx, basket):\n    return 1\n",
            "passes 'basket' as Basket, which is not a data type",
        ),
        (
            "@hookimpl\ndef odd_v1_thing(ctx, n):\n    return None\n",
            "returns Basket | None, which is not a data type",
        ),
        (
            "@hookimpl(wrapper=True)\ndef odd_v1(ctx, n):\n    return (yield)\n",
            "cannot implement a wrapper",
        ),
        (
            "@hookimpl\ndef catalog_call_event(event):\n    pass\n"
            "@hookimpl\ndef odd_v1_fine(ctx, n):\n    return n\n",
            "cannot observe events",
        ),
    ],
)
def test_an_isolated_plugin_must_pass_and_return_data(
    make_catalog: Callable[..., Catalog], body: str, message: str
) -> None:
    plugin = "from catalog_cli import hookimpl\n\n" + body
    catalog = make_catalog(
        """
        [tenants.t]
        plugins = ["p"]
        isolation = "process"
        [tenants.same]
        plugins = ["p"]
        """,
        {**DECLARATIONS, "plugins/p.py": plugin},
        example=False,
    )
    with pytest.raises(PluginValidationError) as caught:
        catalog.run("odd", customer="t", n=1)
    text = str(caught.value)
    assert "plugin 'p'" in text and message in text and "tenant 't' fails closed" in text
    assert 'isolation = "process"' in text
    catalog.close()


def test_a_startup_hook_runs_in_the_workers_and_its_failure_fails_the_tenant_closed(
    make_catalog: Callable[..., Catalog],
) -> None:
    catalog = make_catalog(
        """
        [tenants.t]
        plugins = ["good.q"]
        isolation = "process"
        [tenants.t.settings."good.q"]
        fail_start = true
        [tenants.u]
        plugins = ["good.q"]
        isolation = "process"
        """,
        FILES,
    )
    with pytest.raises(PluginStartupError) as caught:
        quote(catalog, "t")
    assert "no licence for t" in str(caught.value) and caught.value.plugin == "good.q"
    assert quote(catalog, "u") == 0.1
    catalog.close()


# -- visible ---------------------------------------------------------------------------------


def test_the_pool_shows_in_tenants_show_health_and_metrics(
    write_catalog: WriteCatalog, invoke: Invoke
) -> None:
    path = write_catalog(
        '[tenants.t]\nplugins = ["good.q"]\nisolation = { workers = 1, memory_mib = 200 }\n',
        FILES,
    )
    shown = invoke("tenants", "show", "t", "--json", catalog=path)
    assert shown.exit_code == 0, shown.output
    isolation = json.loads(shown.stdout)["isolation"]
    assert isolation["plugins"] == ["good.q"]
    assert isolation["limits"]["memory_mib"] == 200 and isolation["limits"]["workers"] == 1
    assert len(isolation["workers"]) == 1 and isolation["restarts_total"] == 0
    text = invoke("tenants", "show", "t", catalog=path)
    assert "isolated in worker processes: good.q" in text.output
    assert "memory 200 MiB" in text.output
    health = invoke("health", "--json", catalog=path)
    assert health.exit_code == 0, health.output
    [check] = [c for c in json.loads(health.stdout)["checks"] if c["plugin"] == "good.q"]
    assert check["status"] == "healthy" and "1 of 1 worker processes up" in check["details"]
    with Catalog(path) as catalog:
        quote(catalog, "t")
        from catalog_cli.runtime._workers import prometheus_text

        text = prometheus_text(catalog.worker_pools())
        assert 'catalog_isolation_workers{tenant="t"} 1.0' in text
        assert 'catalog_isolation_calls_total{outcome="ok",tenant="t"} 1.0' in text


# -- no orphans ------------------------------------------------------------------------------


def test_close_and_reload_leave_no_worker_behind(write_catalog: WriteCatalog) -> None:
    path = write_catalog('[tenants.t]\nplugins = ["good.q"]\nisolation = "process"\n', FILES)
    catalog = Catalog(path)
    quote(catalog, "t")
    first = pool_pids(catalog, "t")
    assert len(first) == 2 and all(alive(pid) for pid in first)
    catalog.reload()
    quote(catalog, "t")
    second = pool_pids(catalog, "t")
    assert set(second).isdisjoint(first)
    gc.collect()  # the old catalog's tenants are shut down once nothing holds them
    assert not any(alive(pid) for pid in first)
    catalog.close()
    assert not any(alive(pid) for pid in second)
    assert quote(catalog, "t") == 0.1  # built again after close
    third = pool_pids(catalog, "t")
    catalog.close()
    assert not any(alive(pid) for pid in third)


def test_an_answer_that_expands_without_end_is_refused_not_expanded(
    make_catalog: Callable[..., Catalog],
) -> None:
    """A worker may write anything to its pipe: 40 levels of a list holding one list twice
    (a few hundred bytes of pickle, 2**40 values written out) fail the call in a blink."""
    catalog = make_catalog(
        """
        [tenants.t]
        plugins = ["evil.q"]
        isolation = { workers = 1 }
        [tenants.t.settings."evil.q"]
        do = "bomb"
        [tenants.other]
        plugins = ["good.q"]
        isolation = { workers = 1 }
        """,
        FILES,
    )
    try:
        started = time.monotonic()
        with pytest.raises(WorkerLimitError, match="more than 1,000,000 values") as caught:
            quote(catalog, "t", quantity=5)
        assert time.monotonic() - started < 5
        assert caught.value.plugin == "evil.q"
        assert quote(catalog, "t") == 0.5  # a fresh worker serves on
        assert quote(catalog, "other") == 0.1
    finally:
        catalog.close()


FORKED = """
import os
import sys

from catalog_cli import Catalog

catalog = Catalog(sys.argv[1])
quote = lambda: catalog.run("price_quote", customer="t", unit_price=10.0, quantity=1)
quote()
child = os.fork()
if child == 0:
    sys.exit(0)  # a normal exit runs the child's finalizers: they must spare the workers
os.waitpid(child, 0)
print(quote()["discount"])
catalog.close()
"""


def test_a_forked_child_of_the_catalog_process_leaves_its_workers_alone(
    write_catalog: WriteCatalog, tmp_path: Path
) -> None:
    import subprocess
    import sys

    path = write_catalog('[tenants.t]\nplugins = ["good.q"]\nisolation = "process"\n', FILES)
    script = tmp_path / "forked.py"
    script.write_text(FORKED, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, str(script), str(path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1.0"
