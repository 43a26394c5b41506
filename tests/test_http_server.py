"""The HTTP API on a real socket: uvicorn on loopback, `catalog serve` as a process, reload
under load, and the `catalog keys` / `catalog serve` commands."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from catalog_cli.cli._exits import exit_code
from catalog_cli.config._keys import hash_key
from catalog_cli.http import ServeSettings, create_app

from .conftest import REPO, Invoke, WriteCatalog

KEY = "key-of-c1-for-the-socket-tests"
ADMIN_KEY = "admin-key-for-the-socket-tests"

GREET = """
from catalog_cli import hookimpl

@hookimpl
def interface_a_v2_greeting(name):
    return "gen{generation} " + name
"""


def wait_for(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def write_plugin(path: Path, generation: int) -> None:
    path.write_text(GREET.format(generation=generation), encoding="utf-8")
    # A new mtime per version: a rewrite within the same second must not reuse stale bytecode.
    stamp = 1_700_000_000 + generation * 10
    os.utime(path, (stamp, stamp))


@pytest.fixture
def catalog_file(write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CATALOG_JOBS_DB", raising=False)
    path = write_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]

        [serve]
        admin_keys = ["{hash_key(ADMIN_KEY)}"]

        [tenants.c1]
        plugins = ["acme.greet"]
        api_keys = ["{hash_key(KEY)}"]
        """,
    )
    (path.parent / "plugins" / "acme").mkdir(parents=True)
    write_plugin(path.parent / "plugins" / "acme" / "greet.py", 0)
    return path


@contextmanager
def uvicorn_on_loopback(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1, a port the OS picks, in a thread."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-under-test", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive())
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()


def test_a_real_socket_serves_calls_and_refuses_wrong_keys(catalog_file: Path) -> None:
    app = create_app(catalog_file, settings=ServeSettings(job_threads=1))
    with uvicorn_on_loopback(app) as url, httpx.Client(base_url=url) as client:
        ok = client.post(
            "/v1/interfaces/interface_a/run",
            json={"arguments": {"name": "Ada"}},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["result"].startswith("gen0 Ada")
        refused = client.post("/v1/interfaces/interface_a/run", headers={"X-API-Key": "nope"})
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        job = client.post("/v1/interfaces/interface_a/jobs", headers={"X-API-Key": KEY}).json()

        def finished() -> Any:
            found = client.get(f"/v1/jobs/{job['id']}", headers={"X-API-Key": KEY}).json()
            return found if found["status"] == "succeeded" else None

        assert wait_for(finished)["result"].startswith("gen0 there")


def _first_reply(url: str, head: bytes) -> bytes:
    """Send ``head`` (a request whose body is mostly never sent) and read the reply's start."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


def test_a_real_socket_refuses_a_huge_body_before_reading_it(catalog_file: Path) -> None:
    app = create_app(catalog_file, settings=ServeSettings(job_threads=0))
    head = (
        "POST /v1/interfaces/interface_a/run HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/json\r\nContent-Length: 209715200\r\n{key}\r\n{{"
    )
    with uvicorn_on_loopback(app) as url:
        # 200 MB announced, one byte sent: the answer comes at once, from the headers alone.
        without_key = _first_reply(url, head.format(key="").encode())
        assert without_key.startswith(b"HTTP/1.1 401"), without_key
        with_key = _first_reply(url, head.format(key=f"X-API-Key: {KEY}\r\n").encode())
        assert with_key.startswith(b"HTTP/1.1 413"), with_key


def test_reload_under_load_fails_no_request(catalog_file: Path) -> None:
    plugin = catalog_file.parent / "plugins" / "acme" / "greet.py"
    app = create_app(catalog_file, settings=ServeSettings(job_threads=0))
    stop = threading.Event()
    lock = threading.Lock()
    answers: list[tuple[int, str]] = []
    crashes: list[BaseException] = []

    def call_repeatedly(url: str) -> None:
        try:
            with httpx.Client(base_url=url, headers={"X-API-Key": KEY}) as client:
                while not stop.is_set():
                    response = client.post(
                        "/v1/interfaces/interface_a/run", json={"arguments": {"name": "Ada"}}
                    )
                    result = response.json().get("result", response.text)
                    with lock:
                        answers.append((response.status_code, str(result)))
        except BaseException as exc:  # reported by the test, not lost in the thread
            crashes.append(exc)

    def more_answers(count: int) -> Callable[[], bool]:
        return lambda: len(answers) >= count

    reloads = 12
    with uvicorn_on_loopback(app) as url:
        callers = [threading.Thread(target=call_repeatedly, args=(url,)) for _ in range(4)]
        for caller in callers:
            caller.start()
        try:
            with httpx.Client(base_url=url, headers={"X-API-Key": ADMIN_KEY}) as admin:
                wait_for(more_answers(8))
                for generation in range(1, reloads + 1):
                    write_plugin(plugin, generation)
                    response = admin.post("/v1/admin/reload")
                    assert response.status_code == 200, response.text
                    assert response.json()["generation"] == generation
                    # Each caller has at most one call from before the reload in flight: of
                    # 8 more answers, at least 4 come from calls made after it.
                    wait_for(more_answers(len(answers) + 8))
        finally:
            stop.set()
            for caller in callers:
                caller.join(30)
    assert not crashes
    failed = [answer for answer in answers if answer[0] != 200]
    assert failed == []
    # Every version of the plugin file served in turn, and nothing else did.
    assert {result for _status, result in answers} == {f"gen{n} Ada" for n in range(reloads + 1)}


# -- the commands ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def catalog_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from catalog_cli.cli import main; main()", *args]


def command_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CATALOG_FILE", "CATALOG_DEBUG")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@contextmanager
def catalog_serve(catalog_file: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`catalog serve` in a process of its own, on a free port; stopped with Ctrl-C."""
    port = free_port()
    log = catalog_file.parent / "serve.log"
    with (
        log.open("w", encoding="utf-8") as stderr,
        subprocess.Popen(
            catalog_command("--catalog", str(catalog_file), "serve", "--port", str(port), *args),
            env=command_env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        ) as process,
    ):
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert process.poll() is None, log.read_text(encoding="utf-8")
            try:
                return httpx.get(url + "/openapi.json").status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_for(up, 60)
            yield url, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_catalog_serve_serves_until_interrupted(catalog_file: Path, workers: str) -> None:
    with catalog_serve(catalog_file, "--workers", workers, "--job-threads", "0") as (url, proc):
        response = httpx.post(
            url + "/v1/interfaces/interface_a/run",
            json={"arguments": {"name": "Ada"}},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["result"].startswith("gen0 Ada")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0


def test_catalog_serve_on_a_busy_port_exits_14(catalog_file: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            catalog_command("--catalog", str(catalog_file), "serve", "--port", str(port)),
            env=command_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 14, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_catalog_serve_with_an_unusable_job_store_exits_3_before_starting(
    catalog_file: Path, tmp_path: Path, workers: str
) -> None:
    env = command_env()
    env["CATALOG_JOBS_DB"] = str(tmp_path / "nonexistent" / "x.db")
    done = subprocess.run(
        catalog_command(
            "--catalog", str(catalog_file), "serve", "--port", str(free_port()), "-w", workers
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "job store" in done.stderr and "x.db" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Started" not in done.stderr  # no server process was started


def test_catalog_serve_exits_non_zero_when_a_worker_cannot_start(
    catalog_file: Path, tmp_path: Path
) -> None:
    env = command_env()
    env["CATALOG_JOBS_DB"] = str(tmp_path / "nonexistent" / "x.db")
    # The store is fine when the command checks it, gone when the workers open it: any
    # failure of a worker's start-up the command cannot foresee.
    skip_check = (
        "import catalog_cli.cli.serve as serve; serve.check_job_store = lambda catalog: None; "
        "from catalog_cli.cli import main; main()"
    )
    args = ["--catalog", str(catalog_file), "serve", "-p", str(free_port()), "-w", "2"]
    done = subprocess.run(
        [sys.executable, "-c", skip_check, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 14, done.stderr
    assert "could not start" in done.stderr
    assert "cannot start:" in done.stderr and "Traceback" not in done.stderr


def test_catalog_serve_without_the_extra_says_what_to_install(
    invoke: Invoke, catalog_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now fails
    result = invoke("serve", catalog=catalog_file)
    assert result.exit_code == 14
    assert "pip install 'task-catalog[serve]'" in result.output


def test_catalog_serve_warns_about_keys_that_cannot_authenticate(
    write_catalog: WriteCatalog,
) -> None:
    path = write_catalog(
        """
        [tenants.c1]
        api_keys = ["${env:NOT_SET_ANYWHERE_42}"]
        """
    )
    port = free_port()
    with socket.socket() as busy:  # the server stops at once: only the warning matters here
        busy.bind(("127.0.0.1", port))
        busy.listen()
        done = subprocess.run(
            catalog_command("--catalog", str(path), "serve", "--port", str(port)),
            env=command_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert "NOT_SET_ANYWHERE_42" in done.stderr
    assert "no API key can authenticate" in done.stderr


def test_keys_new_prints_a_key_and_its_hash(invoke: Invoke) -> None:
    result = invoke("keys", "new")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert lines["hash"] == hash_key(lines["key"])
    as_json = invoke("keys", "new", "--json")
    data = json.loads(as_json.stdout)
    assert data["hash"] == hash_key(data["key"]) and data["key"] != lines["key"]


def test_catalog_serve_with_a_bad_setting_in_the_environment_exits_3(
    invoke: Invoke, catalog_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALOG_MAX_TIMEOUT", "forever")
    result = invoke("serve", catalog=catalog_file)
    assert result.exit_code == 3
    assert "$CATALOG_MAX_TIMEOUT" in result.output


def test_the_exit_code_of_serve_is_documented() -> None:
    from catalog_cli.errors import ServeError

    table = (REPO / "docs" / "exit-codes.md").read_text(encoding="utf-8")
    assert f"| {exit_code(ServeError)} | `catalog serve` could not start" in table
