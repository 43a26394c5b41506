"""The contract lock as the commands see it: where the lock is, what changed, how it is shown.

Shared by ``catalog lock`` and ``catalog check``; the comparison itself is
``declarations._compat``, a pure function over two contracts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..declarations import Interface
    from ..declarations._compat import ContractChange
    from ._session import Session


def lock_path(catalog: Path) -> Path:
    """The lock of a catalog file: next to it, ``catalog.toml`` -> ``catalog.lock``."""
    return catalog.with_suffix(".lock")


def read_lock(path: Path) -> tuple[str, dict[str, Any]] | None:
    """The text of the lock at ``path`` and the contract it records; None if there is none.
    Raises LockFileError for a lock that cannot be read or is not one."""
    from ..declarations._lock import parse
    from ..errors import ConfigProblem, LockFileError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LockFileError(path, [ConfigProblem("", f"cannot read the lock: {exc}")]) from None
    return text, parse(text, path)


def write_lock(path: Path, text: str) -> None:
    """Write the lock whole or not at all: a reader never sees half of one. Raises
    LockFileError when it cannot be written (a read-only folder, a full disk)."""
    import tempfile  # not at start-up: only this command writes files

    from ..errors import ConfigProblem, LockFileError

    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise LockFileError(path, [ConfigProblem("", f"cannot write the lock: {exc}")]) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            problem = ConfigProblem("", f"cannot write the lock: {exc}")
            raise LockFileError(path, [problem]) from None
        raise


class Verdict(NamedTuple):
    """The declarations compared with the lock or a revision."""

    #: the lock file (None: compared with a revision)
    lock: Path | None
    revision: str | None
    changes: tuple[ContractChange, ...]
    #: with a lock: whether it records exactly the declarations (``catalog lock`` would
    #: write nothing)
    up_to_date: bool | None

    @property
    def breaking(self) -> list[ContractChange]:
        return [change for change in self.changes if change.breaking]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lock": None if self.lock is None else str(self.lock),
            "revision": self.revision,
            "ok": not self.breaking,
            "up_to_date": self.up_to_date,
            "breaking": len(self.breaking),
            "changes": [change.to_dict() for change in self.changes],
        }


def verdict(
    catalog: Path, interfaces: Mapping[str, Interface], against: str | None
) -> Verdict | None:
    """``interfaces`` (the catalog's, now) compared with the catalog's lock, or with its
    declarations at git revision ``against``; None when there is no lock to compare with."""
    from ..declarations._compat import compare
    from ..declarations._lock import contract, render

    now = contract(interfaces.values())
    if against is not None:
        from ..registry._declared import interfaces_at

        then = contract(interfaces_at(catalog, against).values())
        return Verdict(None, against, tuple(compare(then, now)), None)
    path = lock_path(catalog)
    found = read_lock(path)
    if found is None:
        return None
    text, locked = found
    return Verdict(path, None, tuple(compare(locked, now)), text == render(now))


def show_changes(current: Session, changes: Sequence[ContractChange], title: str) -> None:
    """The changes as a table on stdout, breaking ones first."""
    from ._render import table

    ordered = sorted(changes, key=lambda change: not change.breaking)
    current.out.print(
        table(
            title,
            ("effect", "kind", "where", "what"),
            ((c.effect, c.kind, c.where, c.detail or "-") for c in ordered),
            names=2,
        )
    )
