"""The replay benchmark's anchor: a recording replayed with plain json and plain pluggy.

No code of task-catalog is used here (nor imported: the anchor run as a script pays only for
what it uses). Each recorded line is read with ``json``, its arguments given to the tenant's
plain-pluggy hook (``benchmarks/plain_pluggy.py``) and the result compared with ``==``.

    python -m benchmarks.plain_replay RECORDING
"""

from __future__ import annotations

import json
import sys
from typing import Any

from benchmarks import plain_pluggy

#: a plain-pool worker's hooks: price_quote v1 per tenant, in plain pluggy
_hooks: dict[str, Any] = {}


def hooks() -> dict[str, Any]:
    """price_quote v1 per example tenant, in plain pluggy."""
    return {tenant: pm.hook.price_quote_v1 for tenant, pm in plain_pluggy.managers().items()}


def compare(lines: list[bytes], hooks: dict[str, Any]) -> tuple[int, int]:
    """(same, different) of recorded lines, replayed with plain pluggy and plain json."""
    same = different = 0
    for raw in lines:
        line = json.loads(raw)
        result = hooks[line["tenant"]](**line["arguments"])
        if result == line["result"]:
            same += 1
        else:
            different += 1
    return same, different


def worker() -> None:
    """A plain pool's initializer: the hooks built once per worker process."""
    _hooks.update(hooks())


def chunk(lines: list[bytes]) -> tuple[int, int]:
    """A plain pool's task: ``compare`` on the worker's hooks."""
    return compare(lines, _hooks)


def main() -> None:
    with open(sys.argv[1], "rb") as handle:
        same, different = compare(handle.read().splitlines(), hooks())
    print(json.dumps({"counts": {"same": same, "different": different}}))


if __name__ == "__main__":
    main()
