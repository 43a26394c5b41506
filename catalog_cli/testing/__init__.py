"""The plugin-author kit: load a catalog (from a folder, or from data written into a temporary
folder), run its methods, and assert a plugin's contract, in any test framework.

With pytest the same comes as fixtures, registered wherever task-catalog is installed:
``catalog_file``, ``catalog``, ``make_catalog`` and ``catalog_cli`` (see ``_fixtures``).
"""

from __future__ import annotations

from ._kit import (
    CliResult,
    assert_plugin_contract,
    find_catalog_file,
    invoke_cli,
    load_catalog,
    write_catalog,
)

__all__ = [
    "CliResult",
    "assert_plugin_contract",
    "find_catalog_file",
    "invoke_cli",
    "load_catalog",
    "write_catalog",
]
