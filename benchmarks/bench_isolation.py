"""What running a plugin isolated in a worker process costs per call, warm.

Two tenants of one catalog select the same plugin, one implementation of ``price_quote``'s
``discounts`` point: tenant ``inproc`` runs it in the catalog's process, tenant ``isolated``
declares ``isolation = "process"`` (a pool of one worker, started before timing). Both answer
the same ``Catalog.run`` calls; the figure is the isolated call's extra time (the median of the
per-round differences), which is one round trip to the worker: the arguments pickled through a
pipe, the plugin's context rebuilt there, the answer read back as data.

The anchor has no catalog code in it: the same round trip written plainly, a parent writing a
length-prefixed pickle of the same arguments to a pipe and a child process (a few lines of
Python, ``ECHO`` below) calling a function with them and writing back its pickled result.

    python -m benchmarks.bench_isolation [--rounds 31] [--calls 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import select
import statistics
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_call import paired
from catalog_cli import Catalog

REPO = Path(__file__).resolve().parent.parent

PLUGIN = """
from __future__ import annotations

from catalog_cli import Context, hookimpl


@hookimpl
def price_quote_v1_discounts(ctx: Context, subtotal: float, quantity: int) -> float | None:
    return 0.1 if quantity >= 10 else None
"""

TOML = """
[tenants.inproc]
plugins = ["bench.q"]

[tenants.isolated]
plugins = ["bench.q"]
isolation = { workers = 1 }
"""

ARGUMENTS: dict[str, Any] = {"unit_price": 9.99, "quantity": 12, "country": "NL"}

#: The anchor's child: reads a frame, calls a function with its arguments, writes the result.
ECHO = """
import os, pickle, struct, sys
inbox, outbox = int(sys.argv[1]), int(sys.argv[2])
def discounts(subtotal, quantity):
    return 0.1 if quantity >= 10 else None
def read(n):
    data = b""
    while len(data) < n:
        chunk = os.read(inbox, n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data
while True:
    (size,) = struct.unpack("!I", read(4))
    key, args = pickle.loads(read(size))
    out = pickle.dumps(("ok", discounts(*args)))
    os.write(outbox, struct.pack("!I", len(out)) + out)
"""


class PlainRoundTrip:
    """The anchor: one round trip to a plain child process per call, no catalog code."""

    def __init__(self) -> None:
        to_child, self.inbox = os.pipe()
        self.outbox, from_child = os.pipe()
        self.child = subprocess.Popen(
            [sys.executable, "-c", ECHO, str(to_child), str(from_child)],
            pass_fds=(to_child, from_child),
        )
        os.close(to_child)
        os.close(from_child)
        self.poller = select.poll()
        self.poller.register(self.outbox, select.POLLIN)

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            self.poller.poll(5000)
            data += os.read(self.outbox, size - len(data))
        return data

    def __call__(self) -> Any:
        data = pickle.dumps((("bench.q", "price_quote_v1_discounts"), (119.88, 12)))
        os.write(self.inbox, struct.pack("!I", len(data)) + data)
        (size,) = struct.unpack("!I", self._read(4))
        return pickle.loads(self._read(size))[1]

    def close(self) -> None:
        os.close(self.inbox)
        os.close(self.outbox)
        self.child.wait()


def measure(rounds: int, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("hookspecs", "builtin_plugins"):
            (root / name).symlink_to(REPO / name)
        (root / "plugins" / "bench").mkdir(parents=True)
        (root / "plugins" / "bench" / "q.py").write_text(PLUGIN, encoding="utf-8")
        (root / "catalog.toml").write_text(TOML, encoding="utf-8")
        catalog = Catalog(root / "catalog.toml")
        plain = PlainRoundTrip()
        try:
            run = catalog.run

            def side(tenant: str) -> Callable[[], Any]:
                return lambda: run("price_quote", customer=tenant, **ARGUMENTS)

            inproc, isolated = side("inproc"), side("isolated")
            assert inproc() == isolated(), "the two tenants must answer alike"
            assert plain() == 0.1
            times = paired(
                {"in-process": inproc, "isolated": isolated, "plain round trip": plain},
                rounds,
                calls,
            )
        finally:
            plain.close()
            catalog.close()
    extra = [a - b for a, b in zip(times["isolated"], times["in-process"], strict=True)]
    return {
        "in_process_us": round(statistics.median(times["in-process"]) * 1e6, 1),
        "isolated_us": round(statistics.median(times["isolated"]) * 1e6, 1),
        "isolated_extra_us": round(statistics.median(extra) * 1e6, 1),
        "plain_round_trip_us": round(statistics.median(times["plain round trip"]) * 1e6, 1),
        "extra_over_plain_round_trip": round(
            statistics.median(
                (a - b) / c
                for a, b, c in zip(
                    times["isolated"],
                    times["in-process"],
                    times["plain round trip"],
                    strict=True,
                )
            ),
            2,
        ),
        "target_extra_us": 200,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    row = measure(options.rounds, options.calls)
    if options.json:
        print(json.dumps(row, indent=2))
        return 0
    print(
        f"price_quote for a tenant whose discount plugin runs in-process and for one whose "
        f"plugin is isolated ({options.rounds} rounds x {options.calls} calls):"
    )
    print(f"  in-process Catalog.run: {row['in_process_us']:.1f} us")
    print(f"  isolated Catalog.run:   {row['isolated_us']:.1f} us")
    print(
        f"  an isolated call's extra time: {row['isolated_extra_us']:.1f} us "
        f"(target: at most {row['target_extra_us']} us)"
    )
    print(
        f"  the plain pipe round trip (anchor, no catalog code): "
        f"{row['plain_round_trip_us']:.1f} us; the extra time is "
        f"{row['extra_over_plain_round_trip']:.2f}x it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
