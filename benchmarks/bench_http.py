"""Load on `catalog serve` over loopback, against the same endpoint in plain FastAPI.

Three servers run side by side on 127.0.0.1, each uvicorn with one worker process: `catalog
serve` (no job threads) with a copy of the shipped catalog whose tenant c2 has an API key, and
two anchors from ``benchmarks/plain_fastapi.py``: the run endpoint written with plain FastAPI
over the example's business logic in plain pluggy (bearer key checked by its hash, body
validated by pydantic, the tenant's manager called, JSON written), with no catalog code, once
as a ``def`` endpoint (Starlette's thread pool) and once as an ``async def`` one (on the event
loop). All get a fixed number of requests for ``price_quote`` v1 (a simple method: a few
plugin points, microseconds of work) from client threads, each on its own keep-alive
connection (``http.client``, the lightest client at hand: clients share the machine's cores
with the servers), round after round in turns. Reports throughput, p50/p99 latency and errors
(which must be 0) of each, and the medians over the rounds of the catalog's throughput ÷ the
``def`` anchor's (target: at least 1) and the catalog's p99 ÷ the ``async def`` anchor's
(target: at most 1.5). ``Catalog.run`` of the same call in this process is shown for scale.

    python -m benchmarks.bench_http [--requests 5000] [--concurrency 16] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from catalog_cli import Catalog
from catalog_cli.config._keys import hash_key

REPO = Path(__file__).resolve().parent.parent
KEY = "benchmark-key-of-c2"
INTERFACE = "price_quote"
ARGUMENTS: dict[str, Any] = {"unit_price": 9.99, "quantity": 12, "country": "DE"}
BODY = json.dumps({"version": 1, "arguments": ARGUMENTS}).encode()
PATH = f"/v1/interfaces/{INTERFACE}/run"
#: the servers compared, each in a process of its own
SIDES = ["catalog", "anchor", "async anchor"]


def write_catalog(folder: Path) -> Path:
    """The shipped catalog with its interfaces, its plugins found where they are, and a key
    for c2."""
    for name in ("hookspecs", "builtin_plugins"):
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    text = (REPO / "catalog.toml").read_text(encoding="utf-8")
    text = text.replace('plugin_dirs = ["plugins"]', f"plugin_dirs = [{str(REPO / 'plugins')!r}]")
    text = text.replace("[tenants.c2]\n", f'[tenants.c2]\napi_keys = ["{hash_key(KEY)}"]\n', 1)
    # One tenant is the whole load here: its limit of calls at once is above the clients'.
    text += "\n[tenants.c2.limits]\nconcurrent_calls = 0\n"
    path = folder / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def catalog_command(catalog: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from catalog_cli.cli import main; main()",
        "--catalog",
        str(catalog),
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
        "--job-threads",
        "0",
        "--log-level",
        "warning",
    ]


def anchor_command(port: int, style: str) -> list[str]:
    # The anchor's key hash made with hashlib, as its user would: no catalog code on its side.
    digest = hashlib.sha256(KEY.encode("utf-8")).hexdigest()
    return [sys.executable, "-m", "benchmarks.plain_fastapi", str(port), digest, style]


def start_server(command: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "CATALOG_FILE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["CATALOG_JOBS_DB"] = str(log.parent / "jobs.sqlite3")
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr
        )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{command[2]} exited:\n{log.read_text(encoding='utf-8')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"{command[2]} did not start within 60 s") from None
            time.sleep(0.05)


def send(connection: http.client.HTTPConnection) -> tuple[int, bytes]:
    """One request; its status and body."""
    connection.request(
        "POST",
        PATH,
        body=BODY,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )
    response = connection.getresponse()
    return response.status, response.read()


def call(connection: http.client.HTTPConnection) -> int:
    return send(connection)[0]


def answer(port: int) -> Any:
    """The result one request gets."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        return json.loads(send(connection)[1])["result"]
    finally:
        connection.close()


def load(port: int, requests: int, concurrency: int) -> dict[str, Any]:
    """``requests`` calls from ``concurrency`` threads; latencies of the successful ones."""
    lock = threading.Lock()
    left = [requests]
    latencies: list[float] = []
    errors: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        try:
            while True:
                with lock:
                    if left[0] == 0:
                        break
                    left[0] -= 1
                started = time.perf_counter()
                try:
                    status = call(connection)
                except (OSError, http.client.HTTPException) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    continue
                if status == 200:
                    mine.append(time.perf_counter() - started)
                else:
                    errors.append(f"HTTP {status}")
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": requests,
        "concurrency": concurrency,
        "seconds": wall,
        "throughput": requests / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if latencies
        else None,
        "errors": len(errors),
        "first_errors": errors[:5],
    }


def in_process(catalog_path: Path, calls: int, rounds: int = 21) -> dict[str, float]:
    """Seconds per call of ``Catalog.run`` and ``Catalog.execute`` (medians of rounds)."""
    catalog = Catalog(catalog_path)
    try:
        catalog.run(INTERFACE, customer="c2", version=1, **ARGUMENTS)  # builds the tenant
        run_times, execute_times = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                catalog.run(INTERFACE, customer="c2", version=1, **ARGUMENTS)
            run_times.append((time.perf_counter() - started) / calls)
            started = time.perf_counter()
            for _ in range(calls):
                catalog.execute(INTERFACE, customer="c2", version=1, arguments=ARGUMENTS)
            execute_times.append((time.perf_counter() - started) / calls)
    finally:
        catalog.close()
    return {"run": statistics.median(run_times), "execute": statistics.median(execute_times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-http-") as folder:
        catalog = write_catalog(Path(folder))
        ports = {side: free_port() for side in SIDES}
        commands = {
            "catalog": catalog_command(catalog, ports["catalog"]),
            "anchor": anchor_command(ports["anchor"], "def"),
            "async anchor": anchor_command(ports["async anchor"], "async"),
        }
        servers = {
            side: start_server(commands[side], ports[side], Path(folder) / f"{side}.log")
            for side in SIDES
        }
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
        try:
            results = {side: answer(port) for side, port in ports.items()}
            if len({json.dumps(result) for result in results.values()}) != 1:
                raise SystemExit(f"the sides answer differently: {results}")
            for port in ports.values():
                load(port, min(500, options.requests), options.concurrency)  # warm-up
            for round_ in range(options.rounds):
                shift = round_ % len(SIDES)
                for side in SIDES[shift:] + SIDES[:shift]:
                    runs[side].append(load(ports[side], options.requests, options.concurrency))
        finally:
            for server in servers.values():
                server.terminate()
                server.wait(30)
        local = in_process(catalog, 2000)

    def median(side: str, key: str) -> float:
        return statistics.median(run[key] or 0.0 for run in runs[side])

    pairs = list(zip(runs["catalog"], runs["anchor"], strict=True))
    async_pairs = list(zip(runs["catalog"], runs["async anchor"], strict=True))
    figures: dict[str, Any] = {
        "requests": options.requests,
        "concurrency": options.concurrency,
        "rounds": options.rounds,
        "sides": {
            side: {
                "throughput": median(side, "throughput"),
                "p50_ms": median(side, "p50_ms"),
                "p99_ms": median(side, "p99_ms"),
                "errors": sum(run["errors"] for run in runs[side]),
                "first_errors": [e for run in runs[side] for e in run["first_errors"]][:5],
            }
            for side in runs
        },
        #: catalog ÷ anchor: the time per request (the inverse of throughput), the p50 latency
        "ratio_time_per_request": statistics.median(
            a["throughput"] / c["throughput"] for c, a in pairs
        ),
        "ratio_p50": statistics.median((c["p50_ms"] or 0) / (a["p50_ms"] or 1) for c, a in pairs),
        #: catalog ÷ the def anchor: throughput (target: at least 1)
        "ratio_throughput": statistics.median(c["throughput"] / a["throughput"] for c, a in pairs),
        #: catalog ÷ the async def anchor: p99 latency (target: at most 1.5)
        "ratio_p99_vs_async": statistics.median(
            (c["p99_ms"] or 0) / (a["p99_ms"] or 1) for c, a in async_pairs
        ),
        "in_process_run_us": local["run"] * 1e6,
        "in_process_execute_us": local["execute"] * 1e6,
    }
    errors = sum(side["errors"] for side in figures["sides"].values())
    if options.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{options.requests} requests for price_quote v1 (c2), {options.concurrency} "
            f"concurrent, loopback, uvicorn with 1 worker; medians of {options.rounds} rounds"
        )
        labels = {
            "catalog": "catalog serve",
            "anchor": "plain FastAPI (def) + pluggy",
            "async anchor": "plain FastAPI (async def)",
        }
        for side, data in figures["sides"].items():
            print(
                f"  {labels[side]:<30} {data['throughput']:6.0f} requests/s, p50 "
                f"{data['p50_ms']:.2f} ms, p99 {data['p99_ms']:.2f} ms, errors {data['errors']}"
                f" {data['first_errors'] or ''}"
            )
        print(
            f"  catalog / def anchor: throughput {figures['ratio_throughput']:.3f} (target >= 1), "
            f"p50 latency {figures['ratio_p50']:.3f}"
        )
        print(
            f"  catalog / async def anchor: p99 latency {figures['ratio_p99_vs_async']:.3f} "
            "(target <= 1.5)"
        )
        print(
            f"for scale, in this process: Catalog.run {figures['in_process_run_us']:.1f} µs/call, "
            f"Catalog.execute {figures['in_process_execute_us']:.1f} µs/call"
        )
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
