"""The history of an interface, read from its declarations: each version, what changed from
the version before (as the contract lock judges changes), and the version changes through
which newer code serves older versions."""

from __future__ import annotations

from typing import Any, NamedTuple

from ._changes import VersionChange
from ._compat import ContractChange, compare
from ._lock import contract
from ._model import Interface, Version


class ChangelogEntry(NamedTuple):
    """One version of an interface, and how it came to be."""

    version: int
    summary: str
    #: ``{"message", "sunset"}`` for a deprecated version
    deprecated: dict[str, str | None] | None
    #: the change through which a newer version's code serves it (None: its own code)
    served_by: VersionChange | None
    #: what changed from the version before it (empty for the first)
    changes: tuple[ContractChange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "summary": self.summary,
            "deprecated": self.deprecated,
            "served_by": None if self.served_by is None else self.served_by.to_dict(),
            "changes": [
                {
                    "kind": c.kind,
                    "effect": c.effect,
                    "point": c.point,
                    "parameter": c.parameter,
                    "detail": c.detail,
                }
                for c in self.changes
            ],
        }


def changelog(interface: Interface) -> list[ChangelogEntry]:
    """``interface``'s versions, oldest first, each with what changed since the one before."""
    entries = []
    previous: Version | None = None
    for number in sorted(interface.versions):
        version = interface.versions[number]
        changes: list[ContractChange] = []
        if previous is not None:
            changes = _between(interface.name, previous, version)
        entries.append(
            ChangelogEntry(
                number,
                version.summary,
                version.deprecation,
                version.served_by,
                tuple(changes),
            )
        )
        previous = version
    return entries


def _between(name: str, old: Version, new: Version) -> list[ContractChange]:
    """The contract changes from ``old`` to ``new``, compared as if one version had become the
    other (what a caller moving from one to the other meets). Deprecation is left out: it is
    said of each version on its own."""
    served = old.served_by if old.served_by and old.served_by.target == new.number else None
    found = []
    for change in compare(_alone(name, old), _alone(name, new)):
        detail = change.detail
        point = change.point
        if served is not None and change.kind == "point_removed" and point in served.points:
            assert point is not None
            onto = served.points[point]
            detail = (
                f"v{old.number}'s plugins for it answer at {onto!r} (version change {served.name})"
            )
        found.append(change._replace(version=None, detail=detail))
    return found


def _alone(name: str, version: Version) -> dict[str, Any]:
    snapshot = contract([Interface(name, "", {version.number: version})])
    data = snapshot["interfaces"][name]["versions"][str(version.number)]
    data = {**data, "deprecated": None}
    return {"interfaces": {name: {"versions": {"0": data}}}}
