"""Which catalog file to use when none is named."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

#: Names a catalog file when no ``--catalog`` option or path is given.
ENV_VAR: Final = "CATALOG_FILE"
FILENAME: Final = "catalog.toml"


def packaged_catalog() -> Path:
    """The example catalog shipped with task-catalog: inside the installed package, or the top
    of a checkout of its repository."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "example" / FILENAME
    return installed if installed.is_file() else package.parent / FILENAME


def find_catalog(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The catalog file to load and why: the given path, $CATALOG_FILE, the nearest
    ``catalog.toml`` in the working directory or its parents, else the packaged default."""
    if explicit is not None:
        return Path(explicit), "given"
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env), f"${ENV_VAR}"
    cwd = Path.cwd()
    for directory in (cwd, *cwd.parents):
        candidate = directory / FILENAME
        if candidate.is_file():
            return candidate, "nearest"
    return packaged_catalog(), "packaged default"
