"""Cost of a call with the logging and metrics interceptors on, against raw pluggy with the
same wrappers.

Our side: ``Catalog.run`` for a tenant of the shipped catalog with ``[interceptors.logging]``
and ``[interceptors.metrics]`` switched on. The raw side: the same tenant's plugins in a plain
pluggy manager, with the very same interceptor generator functions registered as new-style
wrappers directly on the entry-point hook (fed a minimal call object), called as a pluggy user
would. The difference is what the catalog adds: resolving the tenant's call, checking the
arguments, the context, the ``catalog_call`` hook that carries the interceptors and the
``Call`` object. Logging is measured twice: with the ``catalog.calls`` logger silenced (the
record is never built) and writing every record to a handler that drops it.

Each round times the sides back to back; ratios are medians of per-round ratios.

    python benchmarks/bench_interceptors.py [--rounds 51] [--calls 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from catalog_cli import Catalog, hookimpl
from catalog_cli.interceptors import log, metrics

REPO = Path(__file__).resolve().parent.parent

#: (label, tenant, interface, version, arguments)
CASES: list[tuple[str, str, str, int, dict[str, Any]]] = [
    ("interface_a v2, c1", "c1", "interface_a", 2, {"name": "Ada", "language": "en", "vip": True}),
    (
        "price_quote v1, c2",
        "c2",
        "price_quote",
        1,
        {"unit_price": 9.99, "quantity": 12, "country": "DE"},
    ),
]

INTERCEPTORS = """
[interceptors.logging]
include = {{ tenants = ["c1", "c2"] }}
[interceptors.metrics]
include = {{ tenants = ["c1", "c2"] }}
"""


def _catalog(folder: Path) -> Catalog:
    """The shipped catalog with the two interceptors on for c1 and c2 (plugins from the repo)."""
    text = (REPO / "catalog.toml").read_text(encoding="utf-8")
    text = text.replace('plugin_dirs = ["plugins"]', f"plugin_dirs = [{str(REPO / 'plugins')!r}]")
    path = folder / "catalog.toml"
    path.write_text(text + INTERCEPTORS.format(), encoding="utf-8")
    return Catalog(path)


class _RawCall:
    """What the interceptors read of a call, without the catalog's machinery."""

    __slots__ = ("arguments", "ctx", "interface", "settings", "state", "tenant", "version")
    version_source = "tenant"
    canary = False

    def __init__(self, ctx: Any, settings: Any, state: dict[str, Any]) -> None:
        self.ctx = ctx
        self.tenant = ctx.tenant
        self.interface = ctx.interface
        self.version = ctx.version
        self.arguments: dict[str, Any] = {}
        self.settings = settings
        self.state = state

    @property
    def call_id(self) -> str:
        return str(self.ctx.call_id)  # numbered on first use, as on our side


def _raw_wrapper(
    interceptor: Callable[[Any], Generator[None, Any, Any]], settings: Any
) -> Callable[..., Any]:
    state: dict[str, Any] = {}

    @hookimpl(wrapper=True)
    def wrapper(ctx: Any) -> Generator[None, Any, Any]:
        return (yield from interceptor(_RawCall(ctx, settings, state)))

    return wrapper


def _per_call(func: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - start) / calls


def measure(catalog: Catalog, rounds: int, calls: int) -> list[dict[str, Any]]:
    from catalog_cli._tenants import new_manager, register

    state = catalog._state
    rows = []
    for label, tenant, interface, version, arguments in CASES:
        built = state.tenant(tenant)
        declared = catalog.interface(interface).version(version)
        # The same plugins in a plain manager, and the interceptors' wrappers on the entry hook.
        pm = new_manager(state.spec_modules)
        for name, module in [
            *state.builtins,
            *((n, state.loader.load(state.sources[n])) for n in reversed(built.plugins)),
        ]:
            register(pm, name, module)
        uses = {use.name: use for use in built.interceptors}
        for name, module in (("metrics", metrics), ("logging", log)):
            wrapper = _raw_wrapper(module.catalog_call, uses[name].settings)
            pm.register(types.SimpleNamespace(**{declared.hook: wrapper}), name=f"raw.{name}")
        hook = getattr(pm.hook, declared.hook)
        scope, _ = state.prepare(tenant, interface, version)
        full = declared.bind(dict(arguments))

        from catalog_cli.runtime._context import Context

        def raw(hook: Any = hook, scope: Any = scope, full: dict[str, Any] = full) -> Any:
            return hook(ctx=Context(scope), **full)

        def ours(
            interface: str = interface,
            tenant: str = tenant,
            version: int = version,
            arguments: dict[str, Any] = arguments,
        ) -> Any:
            return catalog.run(interface, customer=tenant, version=version, **arguments)

        assert raw() == ours(), f"{label}: the sides disagree"
        row: dict[str, Any] = {"case": label}
        for mode in ("silenced", "recorded"):
            logger = logging.getLogger(log.LOGGER)
            logger.setLevel(logging.INFO if mode == "recorded" else logging.WARNING)
            times: dict[str, list[float]] = {"raw": [], "ours": []}
            for _ in range(rounds):
                times["raw"].append(_per_call(raw, calls))
                times["ours"].append(_per_call(ours, calls))
            ratio = statistics.median(
                o / r for o, r in zip(times["ours"], times["raw"], strict=True)
            )
            row[f"{mode}_raw_us"] = round(statistics.median(times["raw"]) * 1e6, 3)
            row[f"{mode}_catalog_us"] = round(statistics.median(times["ours"]) * 1e6, 3)
            row[f"{mode}_ratio"] = round(ratio, 3)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=51)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    logger = logging.getLogger(log.LOGGER)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False  # records are built and handled, never printed
    with tempfile.TemporaryDirectory() as folder:
        rows = measure(_catalog(Path(folder)), options.rounds, options.calls)
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"Catalog.run with logging + metrics interceptors vs raw pluggy with the same wrappers "
        f"({options.rounds} rounds x {options.calls} calls; medians, ratios of pairs)"
    )
    for row in rows:
        print(f"  {row['case']}")
        for mode in ("silenced", "recorded"):
            print(
                f"    logging {mode:8}: raw {row[f'{mode}_raw_us']:7.2f} us  "
                f"catalog {row[f'{mode}_catalog_us']:7.2f} us  ratio {row[f'{mode}_ratio']:.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
