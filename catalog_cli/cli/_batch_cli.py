"""``catalog run INTERFACE --batch FILE``: one call per JSON line, answers as JSON lines.

The batch itself (chunks, workers, order) is ``catalog_cli._batch``; this is the command line
around it: reading the input, choosing the executor, writing answers as they come, the
progress bar and the summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import time
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from typing import IO, TYPE_CHECKING, Any

import typer

from . import _exits as exits
from ._exits import with_exit_code
from ._options import check_workers, dask_address
from ._session import Session, dumps

if TYPE_CHECKING:
    import concurrent.futures as cf
    from pathlib import Path

    from ..execution._batch import Item, ProcessPool, Progress
    from ..execution._requests import CallAnswer


def read_items(
    source: str, *, customer: str, interface: str, version: int | None
) -> tuple[list[Item], list[int]]:
    """The batch's items from a JSON-lines file (``-``: stdin) and each item's line number.

    Blank lines are skipped; a line that is not a JSON object is a failed item naming its line.
    """
    from ..execution._batch import bad_input
    from ..execution._requests import CallRequest

    name = "stdin" if source == "-" else source
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {name}: {exc}", param_hint="--batch") from None
    items: list[Item] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        lines.append(number)
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            items.append(bad_input(f"{name} line {number}: not valid JSON: {exc}"))
            continue
        if not isinstance(value, dict):
            items.append(
                bad_input(
                    f"{name} line {number}: expected a JSON object of arguments "
                    f'{{"name": value, ...}}, got {_json_kind(value)}'
                )
            )
            continue
        items.append(CallRequest(customer, interface, version, value))
    return items, lines


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


class _Output:
    """Where the answers go: stdout, or ``--out FILE`` by way of ``FILE.partial``.

    FILE itself is replaced only when the batch has run to its end, by a rename (atomic on
    one file system): until then it holds what it held. A batch that stops earlier (an
    executor that cannot be set up, Ctrl-C, a crash) leaves the answers written so far in
    ``FILE.partial``, or no such file if there are none. A FILE that exists but is no
    regular file (``/dev/stdout``, a named pipe) is written to directly.
    """

    def __init__(self, out: str | None) -> None:
        self.out = out
        #: the file the answers end up in, and the one they are written to until then
        self.target: str | None = None
        self.partial: str | None = None
        self.written = 0
        self.stream: IO[str] = sys.stdout
        if out is None or out == "-":
            return
        target = os.path.realpath(out)  # a symbolic link keeps pointing where it did
        direct = os.path.exists(target) and not os.path.isfile(target)
        where = target if direct else f"{target}.partial"
        try:
            # Closed by commit() or abandon(), which run_batch always calls.
            self.stream = open(where, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise typer.BadParameter(f"cannot write {out}: {exc}", param_hint="--out") from None
        if not direct:
            self.target, self.partial = target, where

    def commit(self) -> None:
        """The batch has run to its end: its answers become FILE."""
        if self.stream is sys.stdout:
            return
        self.stream.flush()
        if self.partial is None or self.target is None:
            self.stream.close()
            return
        try:
            os.fsync(self.stream.fileno())  # on disk before the rename makes it FILE
            self.stream.close()
            with contextlib.suppress(FileNotFoundError):
                # The old file's permissions, not a fresh file's defaults.
                os.chmod(self.partial, stat.S_IMODE(os.stat(self.target).st_mode))
            os.replace(self.partial, self.target)
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot replace {self.out} with the answers in {self.partial}: {exc}",
                param_hint="--out",
            ) from None
        self.partial = None

    def abandon(self) -> None:
        """The batch stopped before its end: FILE stays as it was."""
        if self.stream is sys.stdout or self.stream.closed:
            return
        with contextlib.suppress(OSError):
            self.stream.close()
        if self.partial is None:
            return
        if not self.written:
            with contextlib.suppress(OSError):
                os.remove(self.partial)
            return
        sys.stderr.write(
            f"the batch stopped before its end: {self.out} is as it was; the {self.written} "
            f"answer(s) written so far are in {self.partial}\n"
        )


def _wants_progress_bar(as_json: bool, out: str | None) -> bool:
    # On a terminal only, and not when the answers themselves scroll past on it.
    if as_json or not sys.stderr.isatty():
        return False
    return (out is not None and out != "-") or not sys.stdout.isatty()


@contextmanager
def _progress_bar(current: Session, label: str, total: int) -> Iterator[Progress]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=current.err,
        transient=True,
        # The answers may go to stdout: rich must not reroute them into the bar's console.
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task = bar.add_task(label, total=total)

    def advance(done: int, _total: int) -> None:
        bar.update(task, completed=done)

    with bar:
        yield advance


def check_options(
    source: str | None,
    *,
    workers: int | None,
    out: str | None,
    dask: str | None,
    fail_on_error: bool,
    single: dict[str, bool],
) -> None:
    """Usage errors (exit 2): batch options without ``--batch``, or ``single`` options (name ->
    given) of a single call with it."""
    if source is None:
        given = {"--workers": workers is not None, "--out": out is not None}
        given |= {"--dask": dask is not None, "--fail-on-error": fail_on_error}
        for name, present in given.items():
            if present:
                raise typer.BadParameter("only goes with --batch FILE", param_hint=name)
        return
    for name, present in single.items():
        if present:
            raise typer.BadParameter(
                "does not go with --batch (each line of the batch holds its arguments)",
                param_hint=name,
            )
    check_workers(workers, dask)


def run_batch(
    current: Session,
    interface: str,
    *,
    customer: str,
    version: int | None,
    source: str,
    workers: int | None,
    out: str | None,
    dask: str | None,
    timeout: float | None,
    fail_on_error: bool,
    as_json: bool,
) -> None:
    """Run the batch and write its answers; see docs/operations.md, "Batches"."""
    from ..errors import BatchFailedError
    from ..execution._batch import iter_answers
    from ..execution._requests import CallRequest

    dask = dask_address(dask, workers)
    catalog = current.catalog
    # A misspelt interface, tenant or version is the command's error, not every item's.
    catalog.resolve_version(interface, customer=customer, version=version)
    items, lines = read_items(source, customer=customer, interface=interface, version=version)
    requests = sum(1 for item in items if isinstance(item, CallRequest))
    started = time.perf_counter()
    # Opened first, so an --out that cannot be written is refused before a cluster starts;
    # FILE itself is replaced only at the end (see _Output).
    output = _Output(out)
    with ExitStack() as stack:
        stack.callback(output.abandon)  # unless committed by then
        executor, where = _executor(stack, catalog.path, dask, workers, requests)
        progress = None
        if _wants_progress_bar(as_json, out):
            label = f"{interface} for {customer}"
            progress = stack.enter_context(_progress_bar(current, label, len(items)))
        answers = iter_answers(
            catalog.path,
            items,
            executor=executor,
            progress=progress,
            timeout=timeout,
            catalog=catalog,
        )
        ok, failed = _write(answers, lines, output, executor)
        output.commit()
    _summary(ok, failed, time.perf_counter() - started, where, as_json=as_json)
    if failed and fail_on_error:
        raise BatchFailedError(failed, len(items), output=out if out not in (None, "-") else None)


def _executor(
    stack: ExitStack,
    path: Path,
    dask: str | None,
    workers: int | None,
    requests: int,
    pool_class: type[ProcessPool] | None = None,
) -> tuple[cf.Executor | None, str]:
    """Where the batch runs (None: in this process), and how to say so in the summary;
    ``pool_class``: the local pool's class (a ProcessPool by default)."""
    from ..execution._batch import ProcessPool, dask_executor

    if dask is not None:
        executor = stack.enter_context(dask_executor(dask, path, workers=workers))
        return executor, "a local Dask cluster" if dask == "local" else f"Dask at {dask}"
    if workers == 0 or not requests:
        return None, "in this process"
    # At least one worker process, also for one item: a plugin that ends the process it runs
    # in (os._exit, a crash in native code) then ends a worker, and this process still writes
    # every answer, the summary and the exit code. In this process (--workers 0, chosen on
    # purpose) nothing could run after it: no summary, a stale FILE.partial, its exit code.
    wanted = (os.cpu_count() or 1) if workers is None else workers
    size = max(1, min(wanted, requests))  # a pool bigger than the batch only costs start-up
    pool = (pool_class or ProcessPool)(size, preload=path)
    stack.callback(pool.shutdown)
    return pool, "1 worker process" if size == 1 else f"{size} worker processes"


def _write(
    answers: Generator[CallAnswer, None, None],
    lines: list[int],
    to: _Output,
    executor: cf.Executor | None,
) -> tuple[int, int]:
    """Write each answer as a JSON line as it comes; (how many ok, how many failed)."""
    from ..execution._batch import ProcessPool

    ok = failed = 0
    output = to.stream
    try:
        for index, found in enumerate(answers):
            row = {"index": index, "line": lines[index], **found.to_dict()}
            row["error"] = with_exit_code(found.error)
            output.write(dumps(row) + "\n")
            to.written += 1
            if found.ok:
                ok += 1
            else:
                failed += 1
        output.flush()
    except KeyboardInterrupt:
        if isinstance(executor, ProcessPool):
            executor.terminate()  # a plugin may hang: do not wait for running chunks
        raise
    except BrokenPipeError:
        # The reader went away (`| head`): nobody wants the rest, so stop as interrupted.
        if isinstance(executor, ProcessPool):
            executor.terminate()
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, output.fileno())  # so closing at exit cannot fail again
            os.close(devnull)
        except (OSError, ValueError):  # not a real file: nothing left to close badly
            pass
        raise typer.Exit(exits.INTERRUPTED) from None
    finally:
        answers.close()
    return ok, failed


def _summary(ok: int, failed: int, seconds: float, where: str, *, as_json: bool) -> None:
    total = ok + failed
    if as_json:
        data = {"items": total, "ok": ok, "failed": failed, "seconds": seconds, "ran": where}
        sys.stderr.write(json.dumps({"batch": data}) + "\n")
        return
    rate = f", {total / seconds:,.0f} calls/s" if seconds > 0 and total else ""
    sys.stderr.write(f"{ok} ok, {failed} failed in {seconds:.2f} s ({where}{rate})\n")
