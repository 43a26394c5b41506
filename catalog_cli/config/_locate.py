"""Which catalog file to use when none is named."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

#: Names a catalog file when no ``--catalog`` option or path is given.
ENV_VAR: Final = "CATALOG_FILE"
FILENAME: Final = "catalog.toml"


def _installed_example() -> Path:
    return Path(__file__).resolve().parent.parent / "example" / FILENAME


def packaged_catalog() -> Path:
    """The example catalog shipped with task-catalog: inside the installed package, or the top
    of a checkout of its repository."""
    installed = _installed_example()
    return installed if installed.is_file() else installed.parent.parent.parent / FILENAME


def is_installed_example(path: Path) -> bool:
    """Whether ``path`` is the example catalog inside the installed package (read-only: the
    catalog never writes into site-packages)."""
    try:
        return path.resolve() == _installed_example()
    except OSError:
        return False


def data_dir() -> Path:
    """Where task-catalog keeps data of its own (the example catalog's job store)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "task-catalog"


def find_catalog(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The catalog file to load and why: the given path ("given"), $CATALOG_FILE
    ("$CATALOG_FILE"), the nearest ``catalog.toml`` in the working directory or its parents
    ("nearest"), else the example catalog shipped with task-catalog ("example")."""
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
    return packaged_catalog(), "example"
