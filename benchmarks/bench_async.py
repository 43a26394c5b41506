"""What a call on the async path costs, against plain asyncio code doing the same work, and
against the plain (sync) path.

The work: a method whose entry point gathers a ``collect`` point, a ``first`` point and a
``wrap`` point from two customer plugins, and a tenant wrapper around the whole. Written
three ways, returning the same values (checked before timing):

- ``plain asyncio`` (the anchor): ``async def`` functions awaiting each other in the order
  pluggy would call them, with the same per-tenant settings as attributes of objects; no
  catalog code and no pluggy;
- the catalog, every implementation ``async def``: ``await catalog.arun(...)`` and
  ``await method.acall(...)`` (a ``Method`` made once);
- the catalog's plain twin, every implementation a plain ``def``: ``catalog.run(...)``, the
  sync path, for the cost of going async at all.

Two cases: no implementation suspends (``await`` of nothing pending: the pure overhead of
the async path), and one plugin waits once on the event loop (``asyncio.sleep(0)``, a stand-in
for I/O: what a real async plugin does).

Each round times every side back to back (the order rotating) within one event loop; a
ratio is the median of the per-round ratios.

    python -m benchmarks.bench_async [--rounds 41] [--calls 2000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_call import ratio as paired_ratio

SPECS = '''
from catalog_cli import Context, entrypoint, plugin_point


@entrypoint
def compose_v1(ctx: Context, text: str = "x", n: int = 1) -> str:
    """Compose a line."""


@plugin_point(compose_v1, policy="collect")
def compose_v1_lines(ctx: Context, text: str, n: int) -> str | None:
    """A line to add."""


@plugin_point(compose_v1, policy="first")
def compose_v1_pick(ctx: Context, text: str) -> str | None:
    """The first answer wins."""


@plugin_point(compose_v1, policy="wrap")
def compose_v1_shape(ctx: Context, text: str) -> str:
    """Shape the text."""
'''

BUILTIN = """
from catalog_cli import hookimpl


@hookimpl
{a}def compose_v1(ctx, text, n):
    lines = {w}ctx.points.lines(text=text, n=n)
    pick = {w}ctx.points.pick(text=text)
    shaped = {w}ctx.points.shape(text=text)
    return "|".join([pick or "none", shaped, *lines])


@hookimpl
{a}def compose_v1_shape(ctx, text):
    return text.upper()
"""

PLUGIN = """
import asyncio

from catalog_cli import hookimpl


@hookimpl
{a}def compose_v1_lines(ctx, text, n):
    {suspend}return ctx.settings["mark"] + text * n


@hookimpl
{a}def compose_v1_pick(ctx, text):
    return ctx.settings["mark"] if len(text) > {limit} else None
"""

WRAPPER = """
from catalog_cli import hookimpl


@hookimpl(wrapper=True)
{a}def compose_v1(ctx, text, n):
    result = yield
    {back} result + "."
"""

CATALOG = """
[catalog]
plugin_dirs = ["plugins"]

[tenants.t]
plugins = ["wrap", "one", "two"]

[tenants.t.settings.one]
mark = "1:"

[tenants.t.settings.two]
mark = "2:"
"""


def write_catalog(root: Path, flavor: str, suspend: bool) -> Path:
    """The catalog of one side: ``flavor`` "async" or "plain"; ``suspend``: plugin one
    waits once on the loop (async only)."""
    asynchronous = flavor == "async"
    a, w = ("async ", "await ") if asynchronous else ("", "")
    folder = root / f"{flavor}{'-suspending' if suspend else ''}"
    for sub in ("hookspecs", "builtin_plugins", "plugins"):
        (folder / sub).mkdir(parents=True)
    (folder / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    (folder / "hookspecs" / "compose.py").write_text(SPECS, encoding="utf-8")
    builtin = BUILTIN.format(a=a, w=w)
    (folder / "builtin_plugins" / "compose.py").write_text(builtin, encoding="utf-8")
    for name, limit, waits in (("one", 3, suspend), ("two", 1, False)):
        source = PLUGIN.format(
            a=a, limit=limit, suspend="await asyncio.sleep(0)\n    " if waits else ""
        )
        (folder / "plugins" / f"{name}.py").write_text(source, encoding="utf-8")
    wrapper = WRAPPER.format(a=a, back="yield" if asynchronous else "return")
    (folder / "plugins" / "wrap.py").write_text(wrapper, encoding="utf-8")
    return folder / "catalog.toml"


class PlainPlugin:
    """A customer plugin as plain asyncio code: its settings as attributes."""

    def __init__(self, mark: str, limit: int, suspend: bool) -> None:
        self.mark = mark
        self.limit = limit
        self.suspend = suspend

    async def lines(self, text: str, n: int) -> str | None:
        if self.suspend:
            await asyncio.sleep(0)
        return self.mark + text * n

    async def pick(self, text: str) -> str | None:
        return self.mark if len(text) > self.limit else None


class PlainTenant:
    """The same work as plain asyncio code: the anchor (no catalog code, no pluggy)."""

    def __init__(self, suspend: bool) -> None:
        # in the order pluggy calls them: the tenant's plugins as listed
        self.plugins = [PlainPlugin("1:", 3, suspend), PlainPlugin("2:", 1, False)]

    async def shape(self, text: str) -> str:
        return text.upper()

    async def compose(self, text: str = "x", n: int = 1) -> str:
        lines = [found for p in self.plugins if (found := await p.lines(text, n)) is not None]
        pick = None
        for plugin in self.plugins:
            pick = await plugin.pick(text)
            if pick is not None:
                break
        shaped = await self.shape(text)
        return "|".join([pick or "none", shaped, *lines]) + "."


async def _timed(func: Callable[[], Awaitable[Any]], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await func()
    return (time.perf_counter() - start) / calls


async def _timed_sync(func: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - start) / calls


async def measure_case(root: Path, suspend: bool, rounds: int, calls: int) -> dict[str, Any]:
    from catalog_cli import Catalog

    asynchronous = Catalog(write_catalog(root, "async", suspend))
    plain = Catalog(write_catalog(root, "plain", False))
    anchor = PlainTenant(suspend)
    method = asynchronous.method("compose", customer="t")
    arguments: dict[str, Any] = {"text": "hello", "n": 2}
    sides: dict[str, tuple[bool, Callable[[], Any]]] = {
        "plain asyncio": (True, lambda: anchor.compose(**arguments)),
        "Catalog.arun": (True, lambda: asynchronous.arun("compose", customer="t", **arguments)),
        "Method.acall": (True, lambda: method.acall(**arguments)),
        "Catalog.run (plain twin)": (
            False,
            lambda: plain.run("compose", customer="t", **arguments),
        ),
    }
    results = {}
    for name, (awaited, side) in sides.items():
        results[name] = await side() if awaited else side()
    assert len({repr(v) for v in results.values()}) == 1, results
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            awaited, side = sides[name]
            timer = _timed(side, calls) if awaited else _timed_sync(side, calls)
            times[name].append(await timer)
    asynchronous.close()
    plain.close()

    def ratio(side: str, anchor_side: str) -> float:
        return round(paired_ratio(times, side, anchor_side), 3)

    return {
        "case": "one plugin waits once on the loop" if suspend else "nothing suspends",
        "us": {name: round(statistics.median(t) * 1e6, 2) for name, t in times.items()},
        "arun_vs_asyncio": ratio("Catalog.arun", "plain asyncio"),
        "acall_vs_asyncio": ratio("Method.acall", "plain asyncio"),
        "arun_vs_sync_run": ratio("Catalog.arun", "Catalog.run (plain twin)"),
    }


def measure(rounds: int, calls: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)

        async def both() -> list[dict[str, Any]]:
            return [
                await measure_case(root / "pure", False, rounds, calls),
                await measure_case(root / "suspending", True, rounds, calls),
            ]

        return asyncio.run(both())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    rows = measure(options.rounds, options.calls)
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"Calls on the async path against plain asyncio and the sync path ({options.rounds} "
        f"rounds x {options.calls} calls; times are medians, ratios medians of per-round ratios)"
    )
    for row in rows:
        print(f"  {row['case']}")
        print("    " + ", ".join(f"{name} {us:.2f} us" for name, us in row["us"].items()))
        print(
            f"    Catalog.arun / plain asyncio {row['arun_vs_asyncio']:.3f}   "
            f"Method.acall / plain asyncio {row['acall_vs_asyncio']:.3f}   "
            f"Catalog.arun / Catalog.run of the plain twin {row['arun_vs_sync_run']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
