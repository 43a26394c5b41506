"""``catalog run``: invoke a method for a customer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import CatalogError
from . import _complete as complete
from ._options import customer_option, dask_option, timeout_option, version_option, workers_option
from ._session import Session, json_object, json_option, session

if TYPE_CHECKING:
    from ..declarations import Version


def parse_arguments(declared: Version, pairs: list[str], json_text: str | None) -> dict[str, Any]:
    """Method arguments from ``--args`` JSON and ``--arg name=value`` pairs (which win).

    Each ``--arg`` value is parsed by its parameter's declared type. Values that do not parse
    are reported together with every other problem the declaration check finds.
    """
    from .._json import text_problem
    from ..errors import InvalidArgumentsError

    arguments = (
        json_object(json_text, "--args", shape='{"name": value, ...}')
        if json_text is not None
        else {}
    )
    types = {p.name: p.type for p in declared.parameters}
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--arg")
        problem = text_problem(pair)
        if problem is not None:
            raise typer.BadParameter(f"{name}: {problem}", param_hint="--arg")
        if name in seen:
            raise typer.BadParameter(
                f"{name} is given twice; give each argument once", param_hint="--arg"
            )
        seen.add(name)
        data_type = types.get(name)
        if data_type is None:
            arguments[name] = text  # unknown: the declaration check names it
            continue
        try:
            arguments[name] = data_type.parse(text)
        except ValueError as exc:
            problems[name] = str(exc)
            arguments.pop(name, None)
    if problems:
        try:
            declared.bind(arguments)
        except InvalidArgumentsError as exc:
            for name, why in exc.problems.items():
                problems.setdefault(name, why)  # an unparsable value is not also "missing"
        raise InvalidArgumentsError(declared.interface, declared.number, problems)
    return arguments


def _show_failed_trace(current: Session, exc: CatalogError, *, as_json: bool) -> None:
    """The trace of a failed call: as JSON on stdout, else as a tree on stderr (then the error
    message and exit code follow, as for any error)."""
    trace = exc.trace.to_dict()  # type: ignore[attr-defined]
    if as_json:
        current.json({"error": str(exc), "error_type": type(exc).__name__, "trace": trace})
        return
    from ._render import trace_tree

    current.err.print(trace_tree(trace))


def run(
    ctx: typer.Context,
    interface: Annotated[
        str,
        typer.Argument(
            help="The interface (method) to run.",
            metavar="INTERFACE",
            autocompletion=complete.interfaces,
        ),
    ],
    customer: Annotated[str, customer_option("The tenant (customer) id to run for.")],
    version: Annotated[
        int | None,
        version_option(
            "The version to run. Default: the tenant's pin, the catalog's default, else the latest."
        ),
    ] = None,
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg",
            "-a",
            metavar="NAME=VALUE",
            help="A method argument as NAME=VALUE, parsed by the declared type (repeatable).",
            show_default=False,
        ),
    ] = None,
    args: Annotated[
        str | None,
        typer.Option(
            "--args",
            metavar="JSON",
            help="Method arguments as a JSON object; @FILE reads a file, - reads stdin.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float | None, timeout_option("Give up after this many seconds (exit code 8).")
    ] = None,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace",
            help="Also show what ran: interceptors, entry point, plugin points and each "
            "plugin's implementation, with durations, results and errors.",
        ),
    ] = False,
    as_json: Annotated[bool, json_option("Print the result and call facts as JSON.")] = False,
    background: Annotated[
        bool,
        typer.Option(
            "--background",
            help="Submit the call as a background job: print its id at once and start a "
            "worker (`catalog jobs work --drain`) that runs it; see `catalog jobs show ID`.",
        ),
    ] = False,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch",
            metavar="FILE",
            help="Run once per line of FILE, JSON lines of arguments (- reads stdin), and "
            "write one JSON answer per line, in input order; a failed item does not stop "
            "the batch.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[int | None, workers_option(only_with="--batch")] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="With --batch: write the answers to FILE (default: stdout).",
            show_default=False,
        ),
    ] = None,
    dask: Annotated[str | None, dask_option(only_with="--batch")] = None,
    fail_on_error: Annotated[
        bool,
        typer.Option("--fail-on-error", help="With --batch: exit 13 if any item failed."),
    ] = False,
) -> None:
    """Run INTERFACE for a customer and print its result.

    Example: catalog run interface_a --version 2 --customer c1 --arg name=Ada
    """
    current = session(ctx, as_json=as_json)
    from ._batch_cli import check_options

    check_options(
        batch,
        workers=workers,
        out=out,
        dask=dask,
        fail_on_error=fail_on_error,
        single={
            "--arg": bool(arg),
            "--args": args is not None,
            "--trace": trace,
            "--background": background,
        },
    )
    if batch is not None:
        from ._batch_cli import run_batch

        run_batch(
            current,
            interface,
            customer=customer,
            version=version,
            source=batch,
            workers=workers,
            out=out,
            dask=dask,
            timeout=timeout,
            fail_on_error=fail_on_error,
            as_json=as_json,
        )
        return
    if background:
        from .jobs import check_background

        check_background(trace=trace, timeout=timeout)
    catalog = current.catalog
    choice = catalog.resolve_version(interface, customer=customer, version=version)
    declared = catalog.interface(interface).version(choice.version)
    arguments = parse_arguments(declared, arg or [], args)
    if version is None:
        # A canary may send this call to another version, whose types then parse the values.
        final = catalog.resolve_version(interface, customer=customer, arguments=arguments)
        if final.version != choice.version:
            declared = catalog.interface(interface).version(final.version)
            arguments = parse_arguments(declared, arg or [], args)
        choice = final
    if background:
        from .jobs import submit_background

        submit_background(current, interface, customer, version, declared, arguments)
        return
    try:
        outcome = catalog.execute(
            interface,
            customer=customer,
            version=version,
            arguments=arguments,
            timeout=timeout,
            trace=trace,
            choice=choice,
        )
    except CatalogError as exc:
        if exc.trace is not None:
            _show_failed_trace(current, exc, as_json=as_json)
        raise
    if as_json:
        current.json(outcome.to_dict())
        return
    from ._render import print_value, trace_tree

    print_value(current.out, outcome.result)
    if outcome.trace is not None:
        current.err.print(trace_tree(outcome.trace.to_dict()))
    current.err.print(
        f"[dim]{interface} v{outcome.version} ({outcome.version_source}) for {customer} · "
        f"call {outcome.call_id} · {outcome.seconds * 1000:.2f} ms[/]"
    )
