"""Batches: ``map_calls`` serially and on a real process pool, and ``catalog run --batch``."""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import os
import pickle
import queue
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.cli import _batch_cli
from catalog_cli.cli._exits import exit_code
from catalog_cli.errors import (
    BatchFailedError,
    ConfigError,
    ExecutorError,
    UnknownInterfaceError,
    UnknownTenantError,
)
from catalog_cli.execution import _batch as batch
from catalog_cli.execution._batch import ProcessPool, map_calls, run_chunk, worker_catalog
from catalog_cli.execution._requests import CallAnswer, CallRequest
from catalog_cli.runtime._context import new_call_id
from tests.conftest import Invoke, WriteCatalog

TOML = """\
    [catalog]
    plugin_dirs = ["plugins"]

    [tenants.t]
    plugins = ["acme.sign"]
    """

# Sleeps a random moment so chunks finish out of order; fails on purpose for some names.
SIGN = """\
    import os
    import random
    import signal
    import time

    from catalog_cli import hookimpl


    @hookimpl
    def interface_a_v1_signature(ctx, name):
        time.sleep(random.random() / 500)
        if name.startswith("boom"):
            raise ValueError(f"no signature for {name}")
        if name == "slow":
            time.sleep(2.5)
        if name == "die":
            os._exit(3)  # the worker process ends, as a crash in native code would end it
        if name == "interrupt":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the batch
            time.sleep(5)  # the interrupt arrives first
        if name == "reset":  # as a plugin's own event loop, ending, may leave it
            signal.signal(signal.SIGINT, signal.default_int_handler)
        return f"-- {name}"
    """


def expected(name: str) -> str:
    return f"Hello, {name}!\n-- {name}"


@pytest.fixture
def path(write_catalog: WriteCatalog) -> Path:
    return write_catalog(TOML, {"plugins/acme/sign.py": SIGN})


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    # One real pool for the module: spawning interpreters is the slow part.
    with ProcessPool(2) as found:
        yield found


@pytest.fixture(autouse=True)
def _close_cached_catalogs() -> Iterator[None]:
    yield
    batch._close_catalogs()  # what run_chunk loaded in this process, as a worker would


def names(count: int, *, failing: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    return [{"name": f"boom{i}" if i in failing else f"n{i}"} for i in range(count)]


def check_answers(answers: list[CallAnswer], inputs: list[dict[str, Any]]) -> None:
    assert len(answers) == len(inputs)
    for found, arguments in zip(answers, inputs, strict=True):
        name = arguments["name"]
        if name.startswith("boom"):
            assert not found.ok
            assert found.error is not None
            assert found.error.type == "PluginCallError"
            assert f"no signature for {name}" in found.error.message
            assert exit_code(found.error) == 7
            assert found.result is None
        else:
            assert found.ok, found.error
            assert found.result == expected(name)
            assert found.version == 1
            assert found.version_source == "requested"
            assert found.call_id


# -- in this process -----------------------------------------------------------------------


def test_serial_answers_in_order_and_a_failed_item_does_not_stop_the_batch(path: Path) -> None:
    inputs = names(12, failing=(0, 5, 11))
    with Catalog(path) as catalog:
        answers = map_calls(path, "interface_a", inputs, customer="t", version=1, catalog=catalog)
    check_answers(answers, inputs)


def test_serial_without_a_catalog_loads_the_file_for_the_batch(path: Path) -> None:
    inputs = names(3, failing=(1,))
    check_answers(map_calls(path, "interface_a", inputs, customer="t", version=1), inputs)


def test_serial_with_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        map_calls(tmp_path / "nope.toml", "interface_a", [{}], customer="t")


def test_misspelt_names_raise_before_anything_runs(path: Path) -> None:
    with Catalog(path) as catalog:
        with pytest.raises(UnknownInterfaceError):
            map_calls(path, "interface_b", [{}], customer="t", catalog=catalog)
        with pytest.raises(UnknownTenantError):
            map_calls(path, "interface_a", [{}], customer="nobody", catalog=catalog)


def test_an_input_that_is_not_a_mapping_is_a_failed_item(path: Path) -> None:
    inputs: list[Any] = [{"name": "a"}, ["not", "a", "mapping"], {"name": "b"}, "text"]
    answers = map_calls(path, "interface_a", inputs, customer="t", version=1)
    assert [a.ok for a in answers] == [True, False, True, False]
    error = answers[1].error
    assert error is not None
    assert (error.kind, error.type, error.message) == (
        "invalid_arguments",
        "InvalidArgumentsError",
        "input 1: expected a mapping of arguments, got list",
    )
    assert exit_code(error) == 5
    assert answers[3].error is not None
    assert "input 3" in answers[3].error.message


def test_invalid_arguments_are_failed_items_naming_the_parameter(path: Path) -> None:
    inputs: list[dict[str, Any]] = [{"name": 3}, {"nmae": "x"}, {"name": "ok"}]
    answers = map_calls(path, "interface_a", inputs, customer="t", version=1)
    assert [a.ok for a in answers] == [False, False, True]
    for found, parameter in zip(answers[:2], ("name", "nmae"), strict=True):
        assert found.error is not None
        assert found.error.type == "InvalidArgumentsError"
        assert parameter in found.error.message


def test_timeout_bounds_each_call(path: Path) -> None:
    # The first call builds the tenant within its deadline: the bound leaves room for that on a
    # busy machine, and the slow call is far beyond it.
    inputs = [{"name": "a"}, {"name": "slow"}, {"name": "b"}]
    answers = map_calls(path, "interface_a", inputs, customer="t", version=1, timeout=1.0)
    assert [a.ok for a in answers] == [True, False, True]
    assert answers[1].error is not None
    assert answers[1].error.type == "CallTimeoutError"
    assert exit_code(answers[1].error) == 8


def test_progress_grows_to_the_total(path: Path) -> None:
    seen: list[tuple[int, int]] = []
    inputs: list[Any] = [*names(10), "bad"]
    map_calls(
        path,
        "interface_a",
        inputs,
        customer="t",
        version=1,
        progress=lambda done, total: seen.append((done, total)),
        chunk_size=3,
    )
    done = [d for d, _total in seen]
    assert done == sorted(done)
    assert done[-1] == 11
    assert {total for _done, total in seen} == {11}
    assert len(seen) >= 4  # one report per chunk of three, and the bad input up front


def test_an_empty_batch(path: Path) -> None:
    assert map_calls(path, "interface_a", [], customer="t") == []


def test_a_chunk_size_below_one_is_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        map_calls(path, "interface_a", [{}], customer="t", chunk_size=0)


def test_a_thread_pool_is_an_executor_too(path: Path) -> None:
    inputs = names(9, failing=(4,))
    with cf.ThreadPoolExecutor(3) as threads:
        answers = map_calls(
            path, "interface_a", inputs, customer="t", version=1, executor=threads, chunk_size=2
        )
    check_answers(answers, inputs)


def test_a_thread_pool_batch_runs_on_the_callers_catalog_not_a_copy(
    write_catalog: WriteCatalog,
) -> None:
    # A copy would start the plugins again and count the calls in metrics of its own.
    path = write_catalog(TOML + "\n    [interceptors.metrics]\n", {"plugins/acme/sign.py": SIGN})
    inputs = names(7, failing=(3,))
    with Catalog(path) as catalog, cf.ThreadPoolExecutor(3) as threads:
        answers = catalog.map(
            "interface_a", inputs, customer="t", version=1, executor=threads, chunk_size=2
        )
        check_answers(answers, inputs)
        [series] = catalog.metrics()
        assert (series.tenant, series.calls, series.errors) == ("t", 7, 1)
        assert batch._CATALOGS == {}  # no catalog loaded for the tasks
        assert batch._LENT == {}  # the loan ends with the batch


def test_a_task_elsewhere_loads_its_own_catalog_and_a_late_one_runs_nothing(path: Path) -> None:
    requests = [CallRequest("t", "interface_a", 1, {"name": "a"}).to_dict()]
    # Another pid: a forked worker that inherited the loan's key loads the file itself.
    [found] = batch._unpack(run_chunk(str(path), requests, None, (-1, "inherited")), 1)
    assert found.ok
    assert str(path) in batch._CATALOGS
    # This pid, but the loan is over: the batch stopped; nothing runs.
    [late] = batch._unpack(run_chunk(str(path), requests, None, (os.getpid(), "over")), 1)
    assert not late.ok
    assert late.error is not None
    assert late.error.message == "not run: the batch that sent it had ended"


# -- a real process pool -------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, None])
def test_pool_keeps_input_order_and_records_failures(
    path: Path, pool: ProcessPool, chunk_size: int | None
) -> None:
    inputs = names(40, failing=(3, 17, 39))
    seen: list[int] = []
    answers = map_calls(
        path,
        "interface_a",
        inputs,
        customer="t",
        version=1,
        executor=pool,
        chunk_size=chunk_size,
        progress=lambda done, _total: seen.append(done),
    )
    check_answers(answers, inputs)
    assert seen == sorted(seen)
    assert seen[-1] == 40
    # The calls ran in the workers: each numbers its calls from its own process's call-id
    # prefix (how many workers take part depends on how fast the second one starts).
    prefixes = {a.call_id.split("-")[0] for a in answers if a.call_id}
    assert prefixes and new_call_id().split("-")[0] not in prefixes
    assert len({a.call_id for a in answers}) == len(answers)


def test_a_dead_worker_fails_only_the_item_that_ends_it(path: Path, pool: ProcessPool) -> None:
    # The review's case: the default chunking puts 25 items in a chunk here; only item 150
    # may fail, and every other item of its chunk (and of the chunks the pool took down
    # with it) gets its own answer.
    inputs = names(200)
    inputs[150] = {"name": "die"}
    answers = map_calls(path, "interface_a", inputs, customer="t", version=1, executor=pool)
    assert [i for i, a in enumerate(answers) if not a.ok] == [150]
    error = answers[150].error
    assert error is not None
    assert error.type == "BrokenProcessPool"
    assert error.message.startswith(
        "item 150: the worker process running it died, also when it ran alone"
    )
    for i, found in enumerate(answers):
        if i != 150:
            assert found.result == expected(f"n{i}"), (i, found.error)
    # The pool replaced itself: it goes on working.
    again = map_calls(path, "interface_a", names(4), customer="t", version=1, executor=pool)
    assert all(a.ok for a in again)


def test_workers_that_cannot_load_the_catalog_fail_every_item_saying_why(
    tmp_path: Path, pool: ProcessPool
) -> None:
    missing = tmp_path / "elsewhere" / "catalog.toml"
    answers = map_calls(missing, "interface_a", names(3), customer="t", executor=pool)
    for found in answers:
        assert not found.ok
        assert found.error is not None
        assert exit_code(found.error) == 3
        assert "cannot load the catalog" in found.error.message
        assert str(missing) in found.error.message


def test_arguments_that_cannot_travel_fail_only_their_item(path: Path) -> None:
    inputs: list[dict[str, Any]] = [{"name": "a"}, {"name": threading.Lock()}, {"name": "b"}]
    seen: list[int] = []
    with cf.ThreadPoolExecutor(1) as threads:
        answers = map_calls(
            path,
            "interface_a",
            inputs,
            customer="t",
            version=1,
            executor=threads,
            chunk_size=3,
            progress=lambda done, _total: seen.append(done),
        )
    assert [a.ok for a in answers] == [True, False, True]
    assert seen == [1, 3]  # the item that stayed behind, then the chunk of the two others
    assert answers[1].error is not None
    assert "input 1: its arguments cannot travel to a worker" in answers[1].error.message


# -- the workers' side ---------------------------------------------------------------------


def test_a_worker_loads_the_catalog_once_and_again_when_the_file_changes(path: Path) -> None:
    first = worker_catalog(str(path))
    assert worker_catalog(str(path)) is first
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert worker_catalog(str(path)) is not first


def test_run_chunk_answers_data_with_data(path: Path) -> None:
    requests = [CallRequest("t", "interface_a", 1, {"name": "a"}).to_dict(), {"tenant": "t"}]
    first, second = batch._unpack(run_chunk(str(path), requests, None), 2)
    assert first.ok
    assert first.result == expected("a")
    assert not second.ok
    assert second.error is not None
    assert second.error.type == "InvalidArgumentsError"  # names what the request lacks
    assert "interface" in second.error.message
    rows = pickle.loads(run_chunk(str(path), requests, None))
    assert [type(row) for row in rows] == [tuple, tuple]  # plain data, in the field order
    assert rows[0][:2] == (True, expected("a"))


def test_a_result_that_cannot_travel_fails_only_its_item() -> None:
    good = CallAnswer(True, "fine", call_id="c-1")
    bad = CallAnswer(True, threading.Lock(), call_id="c-2")
    good_back, bad_back = batch._unpack(batch._pack([good, bad]), 2)
    assert good_back == good
    assert not bad_back.ok
    assert bad_back.result is None
    assert bad_back.error is not None
    assert exit_code(bad_back.error) == 7
    assert "c-2" in bad_back.error.message
    assert "cannot travel back" in bad_back.error.message


# -- executors that misbehave --------------------------------------------------------------


class Breaking(cf.Executor):
    """A pool of one worker thread that runs chunks in turn, item by item; an item named "die"
    ends the worker: its chunk and every chunk still queued fail with BrokenExecutor, as when
    a real process pool loses a process. ``runs`` counts how often each item started."""

    def __init__(self, workers: int = 4) -> None:
        self.workers = workers  # what the batch sizes its chunks and window by
        self.runs: Counter[str] = Counter()
        self.tasks: queue.Queue[tuple[cf.Future[Any], Callable[..., Any], tuple[Any, ...]]]
        self.tasks = queue.Queue()
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        self.tasks.put((future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            future, fn, args = self.tasks.get()
            if fn is None:
                return
            dies = False
            for request in pickle.loads(args[1]):
                name = request["arguments"]["name"]
                self.runs[name] += 1
                if name == "die" or name.startswith("die-"):
                    dies = True
                    break
            if not dies:
                future.set_result(fn(*args))
                continue
            broken = cf.BrokenExecutor("a process in the pool was terminated abruptly")
            future.set_exception(broken)
            while not self.tasks.empty():  # the pool is broken: everything queued fails
                queued, queued_fn, _args = self.tasks.get()
                if queued_fn is None:
                    return
                queued.set_exception(broken)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.tasks.put((cf.Future(), None, ()))  # type: ignore[arg-type]
        self.thread.join()


def test_a_chunk_taken_down_with_a_worker_is_split_until_the_culprit_runs_alone(
    path: Path,
) -> None:
    inputs = names(200)
    inputs[150] = {"name": "die"}
    with Breaking(workers=4) as breaking:
        answers = map_calls(path, "interface_a", inputs, customer="t", version=1, executor=breaking)
    assert [i for i, a in enumerate(answers) if not a.ok] == [150]
    assert answers[150].error is not None
    assert answers[150].error.type == "BrokenExecutor"
    assert "item 150: the worker process running it died, also when it ran alone" in (
        answers[150].error.message
    )
    assert all(a.result == expected(f"n{i}") for i, a in enumerate(answers) if i != 150)
    # 25 items a chunk: each item ran in its chunk, then (if taken down) once more alone.
    assert breaking.runs["die"] == 2 == batch.runs_bound(25)
    assert max(breaking.runs.values()) <= 2


def test_a_big_chunk_is_split_in_parts_then_items_so_each_item_runs_at_most_three_times(
    path: Path,
) -> None:
    inputs = names(1000)
    inputs[500] = {"name": "die"}
    with Breaking(workers=1) as breaking:
        answers = map_calls(
            path, "interface_a", inputs, customer="t", version=1, executor=breaking,
            chunk_size=1000,
        )  # fmt: skip
    assert [i for i, a in enumerate(answers) if not a.ok] == [500]
    assert all(a.ok for i, a in enumerate(answers) if i != 500)
    # In the chunk, in its part of 32 (items 480 to 511), alone: three runs at most.
    assert breaking.runs["die"] == 3 == batch.runs_bound(1000)
    assert max(breaking.runs.values()) == 3
    assert [n for n, runs in breaking.runs.items() if runs == 3] == [
        f"n{i}" if i != 500 else "die" for i in range(480, 501)
    ]  # the items after "die" did not run in the chunk: it ended there
    assert batch.runs_bound(1) == 2
    assert batch.runs_bound(1024) == 3
    assert batch.runs_bound(1025) == 4


def test_the_search_for_culprits_stops_after_max_deaths(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "MAX_DEATHS", 2)
    inputs = names(40)
    for i in (3, 20, 30):
        inputs[i] = {"name": f"die-{i}"}
    with Breaking(workers=1) as breaking:
        answers = map_calls(
            path, "interface_a", inputs, customer="t", version=1, executor=breaking,
            chunk_size=40,
        )  # fmt: skip
    # Parts of two, each alone: [2, 3] and [20, 21] die, the two deaths allowed; what is not
    # cleared by then (those two parts, and the parts after them) is not run again.
    failed = [2, 3, *range(20, 40)]
    assert [i for i, a in enumerate(answers) if not a.ok] == failed
    for i in failed:
        error = answers[i].error
        assert error is not None
        message = error.message
        assert "not run again" in message
        assert "stops looking for the items that end their worker after 2 deaths" in message
    assert answers[2].error.type == "BrokenExecutor"  # type: ignore[index]
    assert (breaking.runs["die-3"], breaking.runs["die-20"], breaking.runs["die-30"]) == (2, 1, 0)
    assert all(a.result == expected(f"n{i}") for i, a in enumerate(answers) if a.ok)


class Closed(cf.Executor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        raise RuntimeError("cannot schedule new futures after shutdown")


def test_an_executor_that_refuses_work_fails_the_items_saying_so(path: Path) -> None:
    answers = map_calls(path, "interface_a", names(3), customer="t", executor=Closed())
    assert len(answers) == 3
    for found in answers:
        assert found.error is not None
        assert "could not be handed to the executor" in found.error.message
        assert "after shutdown" in found.error.message


def test_dask_without_the_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    needs = pytest.raises(ExecutorError, match=r"pip install 'task-catalog\[dask\]'")
    with needs, batch.dask_executor("local", path):
        pass


# -- catalog run --batch ---------------------------------------------------------------------


def lines_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_cli_batch_from_a_file_to_a_file(invoke: Invoke, path: Path, tmp_path: Path) -> None:
    source = tmp_path / "inputs.jsonl"
    source.write_text(
        '{"name": "a"}\n\n{"name": "boom"}\n[1, 2]\n{not json\n{"name": "b"}\n', encoding="utf-8"
    )
    out = tmp_path / "answers.jsonl"
    result = invoke(
        "run", "interface_a", "-C", "t", "--version", "1", "--batch", str(source),
        "--out", str(out), "--workers", "0", catalog=path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    rows = lines_of(out.read_text(encoding="utf-8"))
    assert [row["index"] for row in rows] == [0, 1, 2, 3, 4]
    assert [row["line"] for row in rows] == [1, 3, 4, 5, 6]  # the blank line is skipped
    assert [row["ok"] for row in rows] == [True, False, False, False, True]
    assert rows[0]["result"] == expected("a")
    assert rows[1]["error"]["type"] == "PluginCallError"
    assert f"{source} line 4: expected a JSON object" in rows[2]["error"]["message"]
    assert f"{source} line 5: not valid JSON" in rows[3]["error"]["message"]
    assert set(rows[0]) == {
        "index", "line", "ok", "result", "error", "version", "version_source", "call_id",
        "seconds",
    }  # fmt: skip
    assert "2 ok, 3 failed in" in result.stderr
    assert "in this process" in result.stderr


def test_cli_batch_from_stdin_on_a_real_pool(invoke: Invoke, path: Path) -> None:
    inputs = names(30, failing=(7,))
    text = "".join(json.dumps(i) + "\n" for i in inputs)
    result = invoke(
        "run", "interface_a", "-C", "t", "--version", "1", "--batch", "-", "--workers", "2",
        catalog=path, input=text,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = lines_of(result.stdout)
    assert [row["index"] for row in rows] == list(range(30))
    answers = [CallAnswer.from_dict(row) for row in rows]
    check_answers(answers, inputs)
    assert "29 ok, 1 failed in" in result.stderr
    assert "2 worker processes" in result.stderr


def test_cli_out_replaces_the_file_only_at_the_end(
    invoke: Invoke, path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "answers.jsonl"
    out.write_text("old answers\n", encoding="utf-8")
    out.chmod(0o640)
    result = invoke(
        "run", "interface_a", "-C", "t", "--version", "1", "--batch", "-", "--workers", "0",
        "--out", str(out), catalog=path, input='{"name": "a"}\n{"name": "b"}\n',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [row["result"] for row in lines_of(out.read_text(encoding="utf-8"))] == [
        expected("a"),
        expected("b"),
    ]
    assert out.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("answers")) == [
        "answers.jsonl"
    ]


def test_cli_out_is_kept_when_the_executor_cannot_be_set_up(
    invoke: Invoke, path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # --dask without the extra
    out = tmp_path / "o2.jsonl"
    out.write_text("earlier results\n", encoding="utf-8")
    result = invoke(
        "run", "interface_a", "-C", "t", "--batch", "-", "--dask", "local", "--out", str(out),
        catalog=path, input='{"name": "a"}\n',
    )  # fmt: skip
    assert result.exit_code == exit_code(ExecutorError) == 3
    assert out.read_text(encoding="utf-8") == "earlier results\n"
    assert not (tmp_path / "o2.jsonl.partial").exists()


def test_cli_interrupted_batch_keeps_the_file_and_leaves_the_answers_so_far_beside_it(
    invoke: Invoke, path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "answers.jsonl"
    out.write_text("earlier results\n", encoding="utf-8")
    text = '{"name": "a"}\n{"name": "b"}\n{"name": "interrupt"}\n{"name": "c"}\n'
    result = invoke(
        "run", "interface_a", "-C", "t", "--version", "1", "--batch", "-", "--workers", "0",
        "--out", str(out), catalog=path, input=text,
    )  # fmt: skip
    assert result.exit_code == 130
    assert out.read_text(encoding="utf-8") == "earlier results\n"
    partial = tmp_path / "answers.jsonl.partial"
    rows = lines_of(partial.read_text(encoding="utf-8"))
    assert [row["result"] for row in rows] == [expected("a"), expected("b")]
    assert f"{out} is as it was; the 2 answer(s) written so far are in {partial}" in " ".join(
        result.stderr.split()
    )


def test_cli_interrupt_after_a_plugin_reset_the_sigint_handler_still_ends_the_batch(
    invoke: Invoke, path: Path, tmp_path: Path
) -> None:
    text = '{"name": "a"}\n{"name": "reset"}\n{"name": "interrupt"}\n{"name": "c"}\n'
    result = invoke(
        "run", "interface_a", "-C", "t", "--version", "1", "--batch", "-", "--workers", "0",
        "--out", str(tmp_path / "answers.jsonl"), catalog=path, input=text,
    )  # fmt: skip
    assert result.exit_code == 130, result.output


def test_cli_fail_on_error_exits_13(invoke: Invoke, path: Path, tmp_path: Path) -> None:
    out = tmp_path / "answers.jsonl"
    text = '{"name": "a"}\n{"name": "boom"}\n'
    result = invoke(
        "run", "interface_a", "-C", "t", "--version", "1", "--batch", "-", "--workers", "1",
        "--out", str(out), "--fail-on-error", catalog=path, input=text,
    )  # fmt: skip
    assert result.exit_code == exit_code(BatchFailedError) == 13
    assert "1 ok, 1 failed" in result.stderr
    assert f"1 of 2 items of the batch failed; the answers are in {out}" in result.stderr
    assert len(lines_of(out.read_text(encoding="utf-8"))) == 2
    clean = invoke(
        "run", "interface_a", "-C", "t", "--version", "1", "--batch", "-", "--workers", "1",
        "--fail-on-error", catalog=path, input='{"name": "a"}\n',
    )  # fmt: skip
    assert clean.exit_code == 0, clean.output


def test_cli_json_summary(invoke: Invoke, path: Path) -> None:
    result = invoke(
        "run", "interface_a", "-C", "t", "--batch", "-", "--workers", "0", "--json",
        catalog=path, input='{"name": "a"}\n"x"\n',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])["batch"]
    assert (summary["items"], summary["ok"], summary["failed"]) == (2, 1, 1)
    assert len(lines_of(result.stdout)) == 2


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--workers", "2"), "--workers"),
        (("--out", "x.jsonl"), "--out"),
        (("--dask", "local"), "--dask"),
        (("--fail-on-error",), "--fail-on-error"),
    ],
)
def test_cli_batch_options_need_batch(
    invoke: Invoke, path: Path, args: tuple[str, ...], option: str
) -> None:
    result = invoke("run", "interface_a", "-C", "t", *args, catalog=path)
    assert result.exit_code == 2
    assert option in result.output
    assert "only goes with --batch" in result.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--arg", "name=x"), "--arg"),
        (("--args", "{}"), "--args"),
        (("--trace",), "--trace"),
        (("--dask", "tcp://127.0.0.1:8786", "--workers", "2"), "--workers"),
    ],
)
def test_cli_options_that_do_not_go_with_batch(
    invoke: Invoke, path: Path, args: tuple[str, ...], option: str
) -> None:
    result = invoke("run", "interface_a", "-C", "t", "--batch", "-", *args, catalog=path)
    assert result.exit_code == 2
    assert option in result.output


def test_cli_unreadable_batch_file_is_a_usage_error(
    invoke: Invoke, path: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.jsonl"
    result = invoke("run", "interface_a", "-C", "t", "--batch", str(missing), catalog=path)
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_cli_unknown_interface_fails_the_command_not_each_item(invoke: Invoke, path: Path) -> None:
    result = invoke(
        "run", "interface_b", "-C", "t", "--batch", "-", catalog=path, input='{"name": "a"}\n'
    )
    assert result.exit_code == 4
    assert "unknown interface 'interface_b'" in result.stderr
    assert result.stdout == ""


def test_cli_dask_from_the_environment_unless_workers_given(
    invoke: Invoke, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setenv("CATALOG_DASK", "local")
    text = '{"name": "a"}\n'
    result = invoke("run", "interface_a", "-C", "t", "--batch", "-", catalog=path, input=text)
    assert result.exit_code == exit_code(ExecutorError) == 3
    assert "task-catalog[dask]" in result.stderr
    explicit = invoke(
        "run", "interface_a", "-C", "t", "--batch", "-", "--workers", "0", catalog=path,
        input=text,
    )  # fmt: skip
    assert explicit.exit_code == 0, explicit.output


# -- the progress bar ------------------------------------------------------------------------


class _Tty(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("stderr_tty", "stdout_tty", "out", "as_json", "shown"),
    [
        (True, False, None, False, True),  # answers piped on: a bar on the terminal
        (True, True, "answers.jsonl", False, True),  # answers to a file
        (True, True, None, False, False),  # answers scroll past on the terminal themselves
        (True, False, None, True, False),  # --json: no decoration
        (False, False, "answers.jsonl", False, False),  # stderr piped
    ],
)
def test_progress_bar_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
    stderr_tty: bool,
    stdout_tty: bool,
    out: str | None,
    as_json: bool,
    shown: bool,
) -> None:
    monkeypatch.setattr(sys, "stderr", _Tty(stderr_tty))
    monkeypatch.setattr(sys, "stdout", _Tty(stdout_tty))
    assert _batch_cli._wants_progress_bar(as_json, out) is shown


def test_progress_bar_draws_the_batch(path: Path) -> None:
    from rich.console import Console

    from catalog_cli.cli._session import Session

    current = Session(path, False)
    screen = io.StringIO()
    current._err = Console(file=screen, force_terminal=True, width=100)
    with _batch_cli._progress_bar(current, "interface_a for t", 5) as progress:
        map_calls(path, "interface_a", names(5), customer="t", version=1, progress=progress)
    assert "interface_a for t" in screen.getvalue()
    assert "5/5" in screen.getvalue()


def test_catalog_map_runs_the_batch_on_the_catalog_itself(path: Path) -> None:
    inputs = names(5, failing=(2,))
    with Catalog(path) as catalog:
        check_answers(catalog.map("interface_a", inputs, customer="t", version=1), inputs)
        with pytest.raises(UnknownTenantError):
            catalog.map("interface_a", inputs, customer="nobody")
        with cf.ThreadPoolExecutor(2) as threads:
            answers = catalog.map(
                "interface_a", inputs, customer="t", version=1, executor=threads, chunk_size=2
            )
        check_answers(answers, inputs)
