"""Watched reload, and reloads that reach every worker process of a server within a bound."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import httpx
import pytest

from catalog_cli import Catalog
from catalog_cli.http import _coherence

from .test_http_server import (
    ADMIN_KEY,
    KEY,
    catalog_file,  # noqa: F401 - the fixture
    catalog_serve,
    wait_for,
    write_plugin,
)

pytest.importorskip("watchfiles")

PLUGIN = Path("plugins") / "acme" / "greet.py"
#: How long after a reload returns every worker may still answer from the old catalog: the
#: workers' look at the shared epoch (every 0.2 s), one reload, and room for a slow machine.
BOUND = 2.0


def _greeting(catalog: Catalog) -> str:
    answer: str = catalog.run("interface_a", customer="c1", version=2, name="x")
    return answer


def test_a_watched_catalog_reloads_when_a_plugin_changes(catalog_file: Path) -> None:  # noqa: F811
    catalog = Catalog(catalog_file, watch=True)
    try:
        assert _greeting(catalog).startswith("gen0 x")
        write_plugin(catalog_file.parent / PLUGIN, 1)
        wait_for(lambda: _greeting(catalog).startswith("gen1 x"), 10)
        assert catalog.generation >= 1
    finally:
        catalog.close()


def test_a_refused_watched_reload_keeps_the_catalog_serving(
    catalog_file: Path,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = Catalog(catalog_file, watch=True)
    try:
        with caplog.at_level(logging.WARNING, logger="catalog.watch"):
            text = catalog_file.read_text(encoding="utf-8")
            catalog_file.write_text(text + "\n[tenants.c1\n", encoding="utf-8")  # broken TOML
            wait_for(lambda: any("refused" in r.getMessage() for r in caplog.records), 10)
        assert _greeting(catalog).startswith("gen0 x")
        catalog_file.write_text(text, encoding="utf-8")
        write_plugin(catalog_file.parent / PLUGIN, 2)
        wait_for(lambda: _greeting(catalog).startswith("gen2 x"), 10)
    finally:
        catalog.close()


def _answers(url: str, count: int) -> list[tuple[str, str]]:
    """``count`` calls, each on a connection of its own (so both workers answer): the
    greeting and the generation each answer says."""
    found = []
    for _ in range(count):
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as client:
            answer = client.post(
                "/v1/interfaces/interface_a/run",
                json={"version": 2, "arguments": {"name": "x"}},
            )
            assert answer.status_code == 200, answer.text
            found.append(
                (answer.json()["result"].split()[0], answer.headers["x-catalog-generation"])
            )
    return found


def test_a_reload_reaches_every_worker_within_the_bound(catalog_file: Path) -> None:  # noqa: F811
    args = ("--workers", "2", "--job-threads", "0")
    with catalog_serve(catalog_file, *args) as (url, _process):
        assert {greeting for greeting, _ in _answers(url, 20)} == {"gen0"}
        write_plugin(catalog_file.parent / PLUGIN, 1)
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        reload = httpx.post(url + "/v1/admin/reload", headers=admin)
        assert reload.status_code == 200, reload.text
        epoch = reload.json()["generation"]
        assert epoch >= 1
        time.sleep(BOUND)
        after = _answers(url, 60)
        # No answer after the bound comes from the old code, and every worker says so.
        assert {greeting for greeting, _ in after} == {"gen1"}
        assert {generation for _, generation in after} == {str(epoch)}
        health = httpx.get(url + "/v1/health", headers=admin)
        assert health.json()["generation"] == epoch


def test_catalog_serve_watch_reloads_on_a_change(catalog_file: Path) -> None:  # noqa: F811
    with catalog_serve(catalog_file, "--watch", "--job-threads", "0") as (url, _process):
        assert {greeting for greeting, _ in _answers(url, 3)} == {"gen0"}
        write_plugin(catalog_file.parent / PLUGIN, 3)
        wait_for(lambda: {g for g, _ in _answers(url, 2)} == {"gen3"}, 15)


def test_the_epoch_is_shared_and_only_goes_up(tmp_path: Path, catalog_file: Path) -> None:  # noqa: F811
    path = tmp_path / "epoch"
    first = _coherence.Coherence(Catalog(catalog_file), path)
    second = _coherence.Coherence(Catalog(catalog_file), path)
    try:
        assert (first.epoch, second.epoch) == (0, 0)
        assert first.announce() == 1
        wait_for(lambda: second.epoch == 1, 5)  # the other one reloaded and serves it
        assert second.announce() == 2 and _coherence.read_epoch(path) == 2
        wait_for(lambda: first.epoch == 2, 5)
    finally:
        first.stop()
        second.stop()


def test_a_watched_edit_reaches_every_worker_with_no_failed_request(
    catalog_file: Path,  # noqa: F811
) -> None:
    args = ("--watch", "--workers", "2", "--job-threads", "0")
    with catalog_serve(catalog_file, *args) as (url, _process):
        assert {greeting for greeting, _ in _answers(url, 10)} == {"gen0"}
        failures: list[str] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                try:
                    _answers(url, 1)
                except (AssertionError, httpx.HTTPError) as exc:
                    failures.append(repr(exc))

        clients = [threading.Thread(target=load) for _ in range(3)]
        for client in clients:
            client.start()
        try:
            time.sleep(0.3)
            write_plugin(catalog_file.parent / PLUGIN, 4)
            # the watch's debounce (0.3 s) and reload, then the bound for the other worker
            time.sleep(1.0 + BOUND)
            after = _answers(url, 40)
        finally:
            stop.set()
            for client in clients:
                client.join()
        assert failures == []
        assert {greeting for greeting, _ in after} == {"gen4"}
        assert len({generation for _, generation in after}) == 1
