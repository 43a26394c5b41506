"""``catalog replay RECORDING``: run the calls of a recording again and say which differ.

The replay itself (reading, running on the batch executors, comparing) is
``catalog_cli.execution._replay``; this is the command line around it: the options, the
executor, the progress bar, the report and the exit code.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import _complete as complete
from . import _exits as exits
from ._exits import with_exit_code
from ._options import (
    check_workers,
    customer_option,
    dask_address,
    dask_option,
    limit_option,
    timeout_option,
    version_option,
    workers_option,
)
from ._session import Session, json_option, session

if TYPE_CHECKING:
    from ..execution._replay import RecordedCall, ReplayedCall, ReplayReport

#: differences shown per call in the text report (--json has them all)
SHOWN_DIFFERENCES = 10


def replay(
    ctx: typer.Context,
    recording: Annotated[
        str,
        typer.Argument(
            help="The recording: JSON lines written by the record interceptor.",
            metavar="RECORDING",
            show_default=False,
        ),
    ],
    version: Annotated[
        int | None,
        version_option(
            "Run every call at version N. Default: the version each tenant runs now (not the "
            "recorded one), or the one a call asked for."
        ),
    ] = None,
    customer: Annotated[
        list[str] | None, customer_option("Only the calls of this tenant (repeatable).")
    ] = None,
    interface: Annotated[
        list[str] | None,
        typer.Option(
            "--interface",
            "-i",
            metavar="NAME",
            help="Only the calls of this interface (repeatable).",
            autocompletion=complete.interfaces,
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        limit_option("Replay only the first N calls (after --customer and --interface)."),
    ] = None,
    timeout: Annotated[
        float | None,
        timeout_option("Each call may take this long; beyond, it fails (call_timeout)."),
    ] = None,
    workers: Annotated[int | None, workers_option()] = None,
    dask: Annotated[str | None, dask_option()] = None,
    as_json: Annotated[
        bool, json_option("Print the report as JSON: counts and the calls not same.")
    ] = False,
) -> None:
    """Run the calls of RECORDING again, on the catalog in use, and report for each whether
    it gives the same answer as recorded: same, different (with where), failed or skipped.

    Exit 0 when no call differs or fails, 17 when some do.

    Example: catalog replay recording.jsonl --customer c1 --catalog ../next/catalog.toml
    """
    current = session(ctx, as_json=as_json)
    check_workers(workers, dask)
    dask = dask_address(dask, workers)
    from ..execution._replay import QuietPool, read_recording, run_calls, select
    from ._batch_cli import _executor, _progress_bar

    try:
        entries = read_recording(recording)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise typer.BadParameter(
            f"cannot read {recording}: {reason}", param_hint="RECORDING"
        ) from None
    calls, malformed = select(
        entries, customers=customer or (), interfaces=interface or (), limit=limit
    )
    _check_choice(entries, calls, malformed, customer or [], interface or [])
    catalog = current.catalog
    started = time.perf_counter()
    with ExitStack() as stack:
        runnable = _runnable(calls)
        # As a batch does: worker processes, so a plugin that ends its process ends a worker,
        # and the report is still written; their calls are not recorded again.
        executor, where = _executor(stack, catalog.path, dask, workers, runnable, QuietPool)
        progress = None
        if runnable and _wants_progress_bar(as_json):
            # skipped calls never run: the bar counts the others
            progress = stack.enter_context(_progress_bar(current, "replaying", runnable))
        try:
            report = run_calls(
                catalog,
                calls,
                malformed,
                recording=recording,
                version=version,
                executor=executor,
                progress=progress,
                timeout=timeout,
                started=started,
            )
        except KeyboardInterrupt:
            from ..execution._batch import ProcessPool

            if isinstance(executor, ProcessPool):
                executor.terminate()  # a plugin may hang: do not wait for running chunks
            raise
    if as_json:
        data = report.to_dict()
        data["ran"] = where
        data["calls"] = [_row(call) for call in report.calls if call.outcome != "same"]
        current.json(data)
    else:
        _print(report, where)
    _exit(current, report)


def _wants_progress_bar(as_json: bool) -> bool:
    # The report comes at the end, when the bar is gone: a terminal on stderr is enough.
    return not as_json and sys.stderr.isatty()


def _runnable(calls: list[RecordedCall]) -> int:
    return sum(1 for call in calls if call.arguments is not None and not call.redacted)


def _check_choice(
    entries: list[Any],
    calls: list[RecordedCall],
    malformed: list[Any],
    customers: list[str],
    interfaces: list[str],
) -> None:
    """Usage errors (exit 2): a recording with lines but no call in them, or a --customer or
    --interface that no recorded call has (a typo would otherwise replay nothing, and pass)."""
    from ..execution._replay import RecordedCall

    recorded = [entry for entry in entries if isinstance(entry, RecordedCall)]
    if not recorded and malformed:
        raise typer.BadParameter(
            f"no line is a recorded call ({len(malformed)} malformed; the first: {malformed[0]})",
            param_hint="RECORDING",
        )
    for option, wanted, have in (
        ("--customer", customers, {call.tenant for call in recorded}),
        ("--interface", interfaces, {call.interface for call in recorded}),
    ):
        missing = [name for name in wanted if name not in have]
        if missing:
            known = ", ".join(sorted(have)) or "none"
            raise typer.BadParameter(
                f"no recorded call of {', '.join(repr(n) for n in missing)} (the recording has: "
                f"{known})",
                param_hint=option,
            )


def _row(call: ReplayedCall) -> dict[str, Any]:
    row = call.to_dict()
    row["error"] = with_exit_code(call.error)  # the code a single `catalog run` would give
    return row


def _print(report: ReplayReport, where: str) -> None:
    out = sys.stdout
    for call in report.calls:
        if call.outcome != "same":
            out.write(_describe(call) + "\n")
            # A failure's error is on the line above: only how it differs from a recorded one.
            shown = [d for d in call.differences if call.outcome != "failed" or d.change != "added"]
            for difference in shown[:SHOWN_DIFFERENCES]:
                out.write(f"    {difference}\n")
            more = len(shown) - SHOWN_DIFFERENCES + call.more_differences
            if more > 0:
                out.write(f"    ... and {more} more (--json has them all)\n")
    for line in report.malformed:
        out.write(f"malformed  {line}\n")
    out.flush()
    counts = report.counts
    total = len(report.calls)
    summary = ", ".join(f"{counts[name]} {name}" for name in ("same", "different", "failed"))
    if counts["skipped"]:
        summary += f", {counts['skipped']} skipped"
    if counts["malformed"]:
        summary += f"; {counts['malformed']} malformed line(s)"
    sys.stderr.write(f"{total} call(s) replayed in {report.seconds:.2f} s ({where}): {summary}\n")


def _describe(call: ReplayedCall) -> str:
    versions = f"v{call.recorded_version}"
    if call.version is not None:
        versions += f" -> v{call.version} ({call.version_source})"
    text = (
        f"{call.outcome:<10} line {call.line}: {call.interface} {versions} for "
        f"{call.tenant!r}, call {call.call_id}"
    )
    if call.outcome == "failed" and call.error is not None:
        text += f": {call.error.message} (exit code {exits.exit_code(call.error)})"
    elif call.reason is not None:
        text += f": {call.reason}"
    return text


def _exit(current: Session, report: ReplayReport) -> None:
    if report.ok:
        return
    counts = report.counts
    different, failed = counts["different"], counts["failed"]
    parts = []
    if different:
        parts.append(f"{different} differ{'s' if different == 1 else ''} from the recording")
    if failed:
        parts.append(f"{failed} failed")
    current.abort(
        f"of {len(report.calls)} replayed call(s), {' and '.join(parts)}",
        exits.REPLAY_DIFFERS,
        "replay_differs",
    )
