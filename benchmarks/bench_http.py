"""Load on `catalog serve` over loopback, against the same method called in-process.

Starts `catalog serve` (uvicorn, one worker process, no job threads) on 127.0.0.1 with a copy
of the shipped catalog whose tenant c2 has an API key, then sends a fixed number of requests
for ``price_quote`` v1 (a simple method: a few plugin points, microseconds of work) from a
fixed number of client threads, each on its own keep-alive connection (``http.client``, the
lightest client at hand: the client shares the machine's cores with the server). Reports
throughput, p50/p99 latency and errors (which must be 0), and ``Catalog.run`` and
``Catalog.execute`` (what the endpoint calls) for the same call in this process.

    python benchmarks/bench_http.py [--requests 5000] [--concurrency 16] [--json]
"""

from __future__ import annotations

import argparse
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


def write_catalog(folder: Path) -> Path:
    """The shipped catalog with its interfaces, its plugins found where they are, and a key
    for c2."""
    for name in ("hookspecs", "builtin_plugins"):
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    text = (REPO / "catalog.toml").read_text(encoding="utf-8")
    text = text.replace('plugin_dirs = ["plugins"]', f"plugin_dirs = [{str(REPO / 'plugins')!r}]")
    text = text.replace("[tenants.c2]\n", f'[tenants.c2]\napi_keys = ["{hash_key(KEY)}"]\n', 1)
    path = folder / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(catalog: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "CATALOG_FILE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["CATALOG_JOBS_DB"] = str(catalog.parent / "jobs.sqlite3")
    command = [
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
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(f"catalog serve exited:\n{log.read_text(encoding='utf-8')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("catalog serve did not start within 60 s") from None
            time.sleep(0.05)


def call(connection: http.client.HTTPConnection) -> int:
    connection.request(
        "POST",
        PATH,
        body=BODY,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )
    response = connection.getresponse()
    response.read()
    return response.status


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
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-http-") as folder:
        catalog = write_catalog(Path(folder))
        port = free_port()
        server = start_server(catalog, port, Path(folder) / "serve.log")
        try:
            load(port, min(500, options.requests), options.concurrency)  # warm-up
            figures = load(port, options.requests, options.concurrency)
        finally:
            server.terminate()
            server.wait(30)
        local = in_process(catalog, 2000)

    per_request = figures["seconds"] / figures["requests"]
    figures["in_process_run_us"] = local["run"] * 1e6
    figures["in_process_execute_us"] = local["execute"] * 1e6
    figures["in_process_run_per_second"] = 1 / local["run"]
    #: how many times more calls per second Catalog.run makes in one thread than the server
    figures["ratio_in_process_vs_http_throughput"] = per_request / local["run"]
    #: the median request's latency against one in-process call
    figures["ratio_p50_vs_in_process_run"] = (figures["p50_ms"] or 0) / 1000 / local["run"]
    if options.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"catalog serve (1 worker), {figures['requests']} requests, "
            f"{figures['concurrency']} concurrent, loopback:"
        )
        print(f"  throughput  {figures['throughput']:.0f} requests/s")
        print(f"  latency     p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms")
        print(f"  errors      {figures['errors']} {figures['first_errors'] or ''}")
        print(
            f"in-process:   Catalog.run {figures['in_process_run_us']:.1f} µs/call "
            f"({figures['in_process_run_per_second']:.0f}/s, one thread), "
            f"Catalog.execute {figures['in_process_execute_us']:.1f} µs/call"
        )
        print(
            f"ratio:        in-process calls/s ÷ HTTP requests/s = "
            f"{figures['ratio_in_process_vs_http_throughput']:.0f}; "
            f"p50 latency ÷ in-process call = {figures['ratio_p50_vs_in_process_run']:.0f}"
        )
    if figures["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
