"""Record and replay: what recording costs a call, and how fast a recording of 10 000 calls is
replayed, each against the same work written without the catalog.

Recording: ``Catalog.run`` of price_quote v1 for c1 with the ``record`` interceptor on (and
off), against the same call in plain pluggy (``benchmarks/plain_pluggy.py``) with one
new-style wrapper written here that times the call and appends the same fields as one JSON
line with one ``os.write`` to a file opened ``O_APPEND`` (and without the wrapper).

Replay: a recording of price_quote calls of c1, c2 and c3 (``--calls``, default 10 000), made
by the catalog itself, in which one line in a hundred has its recorded total changed, so every
side must find exactly those as different. The anchors contain no catalog code
(``benchmarks/plain_replay.py``): a plain loop that reads the lines with ``json``, calls the
tenant's plain-pluggy hook and compares the result with ``==``; and a
``concurrent.futures.ProcessPoolExecutor`` whose workers do that on chunks of lines. The
catalog's sides: ``catalog_cli.replay`` in this process, on its process pool, on a Dask
``LocalCluster`` (with the ``dask`` extra); pools are started and warmed up before any clock
runs (start-up is reported apart). And the whole command, ``catalog replay --workers N
--json`` in a fresh interpreter, against the plain loop as a script in a fresh interpreter
(``python -m benchmarks.plain_replay``, which imports no catalog code): wall time, start-up
included. Each round runs the sides back to back; figures are medians over rounds, ratios
medians of per-round ratios.

    python -m benchmarks.bench_replay [--calls 10000] [--rounds 3] [--workers N] [--json]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks import plain_pluggy, plain_replay
from benchmarks.bench_batch import summarize
from benchmarks.bench_call import paired, ratio
from catalog_cli import Catalog, replay
from catalog_cli.execution._batch import dask_executor
from catalog_cli.execution._replay import QuietPool

REPO = Path(__file__).resolve().parent.parent
TENANTS = ("c1", "c2", "c3")
#: the argument the catalog fills in from the declaration's default; plain pluggy has none
DEFAULTS = {"country": "NL"}
#: one recorded line in this many is changed, so that replays must find it
TAMPER_EVERY = 100

PLAIN_LOOP, PLAIN_POOL, PLAIN_SCRIPT = "plain loop", "plain process pool", "plain loop script"

# -- recording -----------------------------------------------------------------------------


class JsonLines:
    """Appends one JSON line per call, with the fields a recording line holds."""

    def __init__(self, fd: int, tenant: str) -> None:
        self.fd = fd
        self.tenant = tenant
        self.serial = 0

    @plain_pluggy.impl(wrapper=True)
    def price_quote_v1(
        self, unit_price: float, quantity: int, country: str
    ) -> Generator[None, Any, Any]:
        started = time.perf_counter()
        result = yield
        self.serial += 1
        line = {
            "format": 1,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "call_id": f"anchor-{self.serial:06x}",
            "tenant": self.tenant,
            "interface": "price_quote",
            "version": 1,
            "version_source": "tenant",
            "arguments": {"unit_price": unit_price, "quantity": quantity, "country": country},
            "outcome": "ok",
            "result": result,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        os.write(self.fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())
        return result


def example(folder: Path, extra: str = "") -> Path:
    """The example catalog in ``folder`` (plugins and code from the repository), plus
    ``extra`` TOML."""
    for name in ("plugins", "hookspecs", "builtin_plugins"):
        (folder / name).symlink_to(REPO / name)
    path = folder / "catalog.toml"
    text = (REPO / "catalog.toml").read_text(encoding="utf-8")
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


def measure_recording(folder: Path, rounds: int, calls: int) -> list[dict[str, Any]]:
    on = folder / "on"
    off = folder / "off"
    on.mkdir()
    off.mkdir()
    with (
        Catalog(example(on, "[interceptors.record]\n")) as recorded,
        Catalog(example(off)) as plain,
    ):
        arguments: dict[str, Any] = {"unit_price": 9.99, "quantity": 12}
        full = {**DEFAULTS, **arguments}
        bare = plain_pluggy.managers()["c1"].hook.price_quote_v1
        pm = plain_pluggy.manager(plain_pluggy.TENANTS["c1"])
        fd = os.open(folder / "anchor.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        pm.register(JsonLines(fd, "c1"))
        lined = pm.hook.price_quote_v1
        run_on, run_off = recorded.run, plain.run

        sides: dict[str, Callable[[], Any]] = {
            "plain pluggy": lambda: bare(**full),
            "plain pluggy + JSON line": lambda: lined(**full),
            "Catalog.run": lambda: run_off("price_quote", customer="c1", **arguments),
            "Catalog.run + record": lambda: run_on("price_quote", customer="c1", **arguments),
        }
        assert len({json.dumps(side()) for side in sides.values()}) == 1, "the sides differ"
        try:
            times = paired(sides, rounds, calls)
        finally:
            os.close(fd)
    us = {name: statistics.median(found) * 1e6 for name, found in times.items()}
    return [
        {
            "what": "a call with record on",
            "catalog_us": round(us["Catalog.run + record"], 2),
            "anchor": "plain pluggy + JSON line",
            "anchor_us": round(us["plain pluggy + JSON line"], 2),
            "ratio": round(ratio(times, "Catalog.run + record", "plain pluggy + JSON line"), 2),
        },
        {
            "what": "what recording adds to a call",
            "catalog_us": round(us["Catalog.run + record"] - us["Catalog.run"], 2),
            "anchor": "what the JSON-line wrapper adds",
            "anchor_us": round(us["plain pluggy + JSON line"] - us["plain pluggy"], 2),
            "ratio": round(
                (us["Catalog.run + record"] - us["Catalog.run"])
                / (us["plain pluggy + JSON line"] - us["plain pluggy"]),
                2,
            ),
        },
    ]


# -- replay --------------------------------------------------------------------------------


def make_recording(path: Path, calls: int) -> tuple[Path, int]:
    """A recording of ``calls`` price_quote calls made by the catalog, one line in
    TAMPER_EVERY changed; the recording's path and how many lines were changed."""
    with Catalog(path) as catalog:
        for index in range(calls):
            tenant = TENANTS[index % len(TENANTS)]
            catalog.run(
                "price_quote",
                customer=tenant,
                unit_price=1.0 + index % 97,
                quantity=1 + index % 25,
                country="DE" if index % 7 == 0 else "NL",
            )
    recording = path.parent / "recording.jsonl"
    lines = recording.read_text(encoding="utf-8").splitlines()
    assert len(lines) == calls, f"{len(lines)} lines recorded for {calls} calls"
    changed = 0
    for index in range(0, len(lines), TAMPER_EVERY):
        data = json.loads(lines[index])
        data["result"]["total"] = round(data["result"]["total"] + 1, 2)
        lines[index] = json.dumps(data)
        changed += 1
    recording.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return recording, changed


def replay_sides(
    stack: ExitStack, path: Path, recording: Path, workers: int
) -> Iterator[tuple[str, float, Callable[[], tuple[int, int]]]]:
    """(label, start-up seconds, run) per side; run gives (same, different)."""
    hooks = plain_replay.hooks()
    catalog = stack.enter_context(Catalog(path))

    def plain_loop() -> tuple[int, int]:
        with open(recording, "rb") as handle:
            return plain_replay.compare(handle.read().splitlines(), hooks)

    def ours(executor: Any) -> Callable[[], tuple[int, int]]:
        def run() -> tuple[int, int]:
            counts = replay(catalog, recording, executor=executor).counts
            assert counts["failed"] == counts["skipped"] == counts["malformed"] == 0, counts
            return counts["same"], counts["different"]

        return run

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }

    def command(args: list[str]) -> Callable[[], tuple[int, int]]:
        def run() -> tuple[int, int]:
            done = subprocess.run(
                [sys.executable, *args], capture_output=True, env=env, check=False, cwd=REPO
            )
            assert done.returncode in (0, 17), done.stderr.decode()
            counts = json.loads(done.stdout)["counts"]
            return counts["same"], counts["different"]

        return run

    ours(None)()  # every tenant built, as the plain managers are
    yield PLAIN_LOOP, 0.0, plain_loop
    yield "replay(), in this process", 0.0, ours(None)
    started = time.perf_counter()
    plain_pool = stack.enter_context(
        concurrent.futures.ProcessPoolExecutor(workers, initializer=plain_replay.worker)
    )
    list(plain_pool.map(plain_replay.chunk, [[]] * (workers * 4)))  # every worker up

    def plain_pooled() -> tuple[int, int]:
        with open(recording, "rb") as handle:
            lines = handle.read().splitlines()
        size = max(1, len(lines) // (workers * 4))
        chunks = [lines[i : i + size] for i in range(0, len(lines), size)]
        found = list(plain_pool.map(plain_replay.chunk, chunks))
        return sum(s for s, _ in found), sum(d for _, d in found)

    yield PLAIN_POOL, time.perf_counter() - started, plain_pooled
    started = time.perf_counter()
    pool = stack.enter_context(QuietPool(workers, preload=path))
    ours(pool)()  # warm: every worker has loaded the catalog and built the tenants
    yield f"replay(), process pool ({workers})", time.perf_counter() - started, ours(pool)
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("dask not installed: no Dask side", file=sys.stderr)
    else:
        started = time.perf_counter()
        cluster = stack.enter_context(dask_executor("local", path, workers=workers))
        ours(cluster)()
        yield (
            f"replay(), Dask LocalCluster ({workers})",
            time.perf_counter() - started,
            ours(cluster),
        )
    yield PLAIN_SCRIPT, 0.0, command(["-m", "benchmarks.plain_replay", str(recording)])
    yield (
        f"catalog replay --workers {workers}",
        0.0,
        command(
            [
                "-m",
                "catalog_cli",
                "-c",
                str(path),
                "replay",
                str(recording),
                "--workers",
                str(workers),
                "--json",
            ]
        ),
    )


def _anchor(label: str) -> str:
    if "pool" in label or "Dask" in label:
        return PLAIN_POOL
    if label.startswith("catalog replay") or label == PLAIN_SCRIPT:
        return PLAIN_SCRIPT
    return PLAIN_LOOP


def measure_replay(folder: Path, calls: int, rounds: int, workers: int) -> list[dict[str, Any]]:
    (folder / "replay").mkdir()
    path = example(folder / "replay", "[interceptors.record]\n")
    recording, changed = make_recording(path, calls)
    expected = (calls - changed, changed)
    with ExitStack() as stack:
        found = list(replay_sides(stack, path, recording, workers))
        times: dict[str, list[float]] = {label: [] for label, _setup, _run in found}
        ratios: dict[str, list[float]] = {label: [] for label in times}
        for _round in range(rounds):
            took: dict[str, float] = {}
            for label, _setup, run in found:
                started = time.perf_counter()
                counts = run()
                took[label] = time.perf_counter() - started
                assert counts == expected, f"{label}: {counts}, expected {expected}"
            for label, seconds in took.items():
                times[label].append(seconds)
                ratios[label].append(seconds / took[_anchor(label)])
    assert len(recording.read_text(encoding="utf-8").splitlines()) == calls, "replays recorded"
    return summarize(found, times, ratios, calls, _anchor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--record-rounds", type=int, default=21)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as folder:
        recording = measure_recording(Path(folder), options.record_rounds, 2000)
        replaying = measure_replay(Path(folder), options.calls, options.rounds, options.workers)
    if options.json:
        data = {"calls": options.calls, "workers": options.workers}
        print(json.dumps({**data, "recording": recording, "replay": replaying}))
        return
    print(f"recording ({options.record_rounds} rounds of 2000 calls of price_quote for c1)")
    for row in recording:
        print(
            f"  {row['what']}: {row['catalog_us']:.2f} us against {row['anchor']} "
            f"{row['anchor_us']:.2f} us: {row['ratio']:.2f} x"
        )
    print(
        f"replay of {options.calls} recorded calls, {options.workers} workers, "
        f"{os.cpu_count()} CPUs, median of {options.rounds} rounds"
    )
    print(
        f"  {'side':<34} {'seconds':>8} {'calls/s':>10} {'start-up s':>10}  "
        "time / anchor's (in the same round)"
    )
    for row in replaying:
        print(
            f"  {row['side']:<34} {row['seconds']:>8.2f} {row['calls_per_second']:>10,.0f} "
            f"{row['startup_seconds']:>10.2f}  {row['time_vs_anchor']:.2f} x {row['anchor']}"
        )


if __name__ == "__main__":
    main()
