"""Files written all at once or not at all: nothing a user wrote is ever overwritten."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import ScaffoldError


class Created(NamedTuple):
    """What a scaffolding command wrote, and what to do next."""

    files: tuple[Path, ...]
    #: the next steps, as sentences or commands
    next: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"created": [str(path) for path in self.files], "next": list(self.next)}


def write_files(files: Mapping[Path, str], *, refuse: tuple[Path, ...] = ()) -> tuple[Path, ...]:
    """Write each file (its text dedented), creating folders; refuse, writing nothing, when any
    of them (or of ``refuse``) exists already."""
    existing = [path for path in (*files, *refuse) if path.exists()]
    if existing:
        raise ScaffoldError(existing)
    written = []
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        content = textwrap.dedent(text).lstrip("\n")
        # "x": a file created meanwhile by someone else is still not overwritten
        with path.open("x", encoding="utf-8") as handle:
            handle.write(content)
        written.append(path)
    return tuple(written)
