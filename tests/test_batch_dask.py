"""Batches on a real Dask cluster: a ``LocalCluster`` of two worker processes on loopback."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog_cli._batch import check_dask_workers, map_calls
from catalog_cli.errors import ExecutorError
from tests.conftest import Invoke, WriteCatalog
from tests.test_batch import SIGN, TOML, check_answers, expected, names

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    # Dask itself does not retry a task whose worker died (by default it does, up to three
    # times, killing a worker each time): the batch's own rerun alone is what runs, and fast.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # no fixed port to collide with (and warn about)
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as found,
    ):
        yield found


@pytest.fixture
def path(write_catalog: WriteCatalog) -> Path:
    return write_catalog(TOML, {"plugins/acme/sign.py": SIGN})


def test_dask_keeps_input_order_and_records_failures(path: Path, client: Any) -> None:
    inputs = names(40, failing=(0, 21))
    seen: list[int] = []
    answers = map_calls(
        path,
        "interface_a",
        inputs,
        customer="t",
        version=1,
        executor=client.get_executor(pure=False),
        chunk_size=3,
        progress=lambda done, _total: seen.append(done),
    )
    check_answers(answers, inputs)
    assert seen == sorted(seen)
    assert seen[-1] == 40
    assert len({a.call_id.split("-")[0] for a in answers if a.call_id}) == 2  # both workers


def test_dask_lost_worker_fails_its_chunk_and_the_rest_goes_on(path: Path, client: Any) -> None:
    inputs = names(8)
    inputs[6] = {"name": "die"}
    answers = map_calls(
        path,
        "interface_a",
        inputs,
        customer="t",
        version=1,
        executor=client.get_executor(pure=False),
        chunk_size=2,
    )
    assert [i for i, a in enumerate(answers) if not a.ok] == [6, 7]
    error = answers[6].error
    assert error is not None
    assert error["type"] == "KilledWorker"
    assert "items 6 to 7 (one chunk)" in error["message"]
    assert "also when they ran alone" in error["message"]
    assert [a.result for a in answers[:6]] == [expected(f"n{i}") for i in range(6)]
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the other tests


def test_dask_workers_that_cannot_load_the_catalog_are_refused_up_front(
    tmp_path: Path, client: Any
) -> None:
    missing = tmp_path / "only-here" / "catalog.toml"
    with pytest.raises(ExecutorError) as caught:
        check_dask_workers(client, "the test cluster", str(missing))
    message = str(caught.value)
    assert "2 of 2 Dask workers cannot load the catalog" in message
    assert str(missing) in message
    assert caught.value.exit_code == 3


def test_cli_batch_on_a_dask_scheduler(
    invoke: Invoke, path: Path, tmp_path: Path, client: Any
) -> None:
    inputs = names(25, failing=(24,))
    source = tmp_path / "inputs.jsonl"
    source.write_text("".join(json.dumps(i) + "\n" for i in inputs), encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    address = client.scheduler.address
    result = invoke(
        "run", "interface_a", "-C", "t", "--version", "1", "--batch", str(source),
        "--out", str(out), "--dask", address, catalog=path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["index"] for row in rows] == list(range(25))
    assert [row["ok"] for row in rows] == [True] * 24 + [False]
    assert rows[3]["result"] == expected("n3")
    assert "24 ok, 1 failed in" in result.stderr
    assert f"Dask at {address}" in result.stderr


def test_cli_batch_on_a_local_dask_cluster_started_for_the_run(invoke: Invoke, path: Path) -> None:
    result = invoke(
        "run", "interface_a", "-C", "t", "--version", "1", "--batch", "-", "--dask", "local",
        "--workers", "1", catalog=path, input='{"name": "a"}\n{"name": "b"}\n',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["result"] for row in rows] == [expected("a"), expected("b")]
    assert "a local Dask cluster" in result.stderr


def test_cli_unreachable_scheduler_is_exit_3(
    invoke: Invoke, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("catalog_cli._batch.DASK_CONNECT_TIMEOUT", 0.5)
    result = invoke(
        "run", "interface_a", "-C", "t", "--batch", "-", "--dask", "tcp://127.0.0.1:9",
        catalog=path, input='{"name": "a"}\n',
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
