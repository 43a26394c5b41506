"""One bad tenant or client never takes the others down, over real sockets: `catalog serve`
in a process of its own, a noisy tenant saturating its limit and slow clients holding
connections open, while a quiet tenant's calls keep their latency."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

import httpx

from catalog_cli.config._keys import hash_key

from .conftest import WriteCatalog
from .test_http_server import catalog_serve, command_env

KEYS = {"noisy": "key-of-the-noisy-tenant-0123", "quiet": "key-of-the-quiet-tenant-0123"}

SLOW_GREETING = """
import time

from catalog_cli import hookimpl

@hookimpl
def interface_a_v2_greeting(ctx, name):
    time.sleep(ctx.settings["seconds"])
    return None
"""


@pytest.fixture
def catalog_file(write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CATALOG_JOBS_DB", raising=False)
    return write_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]

        [limits]
        concurrent_calls = 2
        call_timeout = 0.5

        [tenants.noisy]
        plugins = ["slow"]
        api_keys = ["{hash_key(KEYS["noisy"])}"]
        [tenants.noisy.settings.slow]
        seconds = 2.0

        [tenants.quiet]
        api_keys = ["{hash_key(KEYS["quiet"])}"]
        """,
        {"plugins/slow.py": SLOW_GREETING},
    )


def _quiet_latencies(url: str, count: int) -> list[float]:
    """Seconds per call of the quiet tenant, one after the other on one connection."""
    seconds = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS['quiet']}"}) as c:
        for _ in range(count):
            began = time.perf_counter()
            answer = c.post("/v1/interfaces/interface_a/run", json={"arguments": {"name": "Q"}})
            seconds.append(time.perf_counter() - began)
            assert answer.status_code == 200, answer.text
    return seconds


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


#: The noisy tenant's clients, in a process of their own (the test's own threads would
#: compete with the quiet client for this interpreter): each sends calls back to back, and
#: waits a little after a refusal. Prints how many answers of each status it got.
NOISY_CLIENTS = """
import collections, sys, threading, time
import httpx

url, key, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
counts = collections.Counter()
lock = threading.Lock()
stop = time.monotonic() + seconds

def client():
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer " + key}, timeout=30) as c:
        while time.monotonic() < stop:
            answer = c.post("/v1/interfaces/interface_a/run", json={"arguments": {"name": "N"}})
            with lock:
                counts[answer.status_code] += 1
            if answer.status_code in (429, 503):
                time.sleep(0.2)

threads = [threading.Thread(target=client) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(dict(counts), flush=True)
"""


def test_a_noisy_tenant_saturating_its_limit_leaves_the_quiet_ones_latency(
    catalog_file: Path,
) -> None:
    # Four call threads: without a bulkhead, the noisy tenant's eight clients would hold them
    # all, and the quiet tenant's calls would wait behind its half-second ones.
    args = ("--job-threads", "0", "--call-threads", "4")
    with catalog_serve(catalog_file, *args) as (url, _server):
        _quiet_latencies(url, 50)  # warm: the tenant built, the connection's path hot
        idle = _quiet_latencies(url, 300)
        noisy = subprocess.Popen(
            [sys.executable, "-c", NOISY_CLIENTS, url, KEYS["noisy"], "8"],
            env=command_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(1.5)  # the noisy tenant's limit is full, its calls past their deadline
            loaded = _quiet_latencies(url, 300)
        finally:
            out, _ = noisy.communicate(timeout=60)
        counts = {int(k): v for k, v in eval(out.strip()).items()}
    # The noisy tenant was refused beyond its limit, and its calls hit their deadline.
    assert counts.get(429, 0) > 0 and counts.get(504, 0) > 0, counts
    assert set(counts) <= {429, 503, 504}, counts
    # A few milliseconds of slack: at sub-millisecond latencies the scheduler's own jitter
    # is of that order.
    assert p99(loaded) <= 2 * p99(idle) + 0.002, (p99(idle), p99(loaded), counts)


def _half_open(address: str, port: int, host: str) -> socket.socket:
    """A connection from ``host`` that sends half a request head and then nothing."""
    sock = socket.socket()
    sock.bind((host, 0))
    sock.connect((address, port))
    sock.sendall(b"POST /v1/interfaces/interface_a/run HTTP/1.1\r\nHost: x\r\n")
    return sock


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _open_files(pid: int) -> int | None:
    folder = Path(f"/proc/{pid}/fd")
    return len(os.listdir(folder)) if folder.exists() else None


@pytest.mark.skipif(sys.platform != "linux", reason="needs 127.0.0.2 as a second client")
def test_slow_clients_are_cut_off_and_cannot_take_every_connection(catalog_file: Path) -> None:
    args = ("--job-threads", "0", "--header-timeout", "1", "--max-client-connections", "20")
    with catalog_serve(catalog_file, *args) as (url, server):
        port = int(url.rsplit(":", 1)[1])
        before = _open_files(server.pid)
        # One client opens 200 connections and sends each half a request head.
        slow = [_half_open("127.0.0.1", port, "127.0.0.1") for _ in range(200)]
        try:
            # Beyond its 20, each is closed at once.
            cut = sum(_closed_by_server(sock, 0.5) for sock in slow[20:])
            assert cut == 180
            # Another client meanwhile: served, and promptly.
            other = httpx.Client(
                base_url=url,
                transport=httpx.HTTPTransport(local_address="127.0.0.2"),
                headers={"Authorization": f"Bearer {KEYS['quiet']}"},
            )
            with other:
                began = time.perf_counter()
                answer = other.post(
                    "/v1/interfaces/interface_a/run", json={"arguments": {"name": "Q"}}
                )
                assert answer.status_code == 200, answer.text
                assert time.perf_counter() - began < 0.5
            # The 20 it kept are closed once their head is overdue (1 s).
            assert all(_closed_by_server(sock, 3.0) for sock in slow[:20])
        finally:
            for sock in slow:
                sock.close()
        if before is not None:
            time.sleep(0.3)
            after = _open_files(server.pid)
            assert after is not None and after <= before + 5, (before, after)


def test_a_slow_body_is_answered_408(catalog_file: Path) -> None:
    with catalog_serve(catalog_file, "--job-threads", "0", "--body-timeout", "0.5") as (url, _):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            head = textwrap.dedent(
                f"""\
                POST /v1/interfaces/interface_a/run HTTP/1.1\r
                Host: x\r
                Authorization: Bearer {KEYS["quiet"]}\r
                Content-Type: application/json\r
                Content-Length: 100\r
                \r
                """
            )
            sock.sendall(head.encode() + b'{"arguments": ')
            sock.settimeout(5)
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
