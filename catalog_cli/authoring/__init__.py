"""Writing a catalog's files: a new catalog, interface, version or plugin, and the hook
reference generated from its declarations."""

from __future__ import annotations

from ._files import Created
from ._init import init_catalog
from ._new import new_interface, new_plugin, new_version
from ._reference import reference

__all__ = [
    "Created",
    "init_catalog",
    "new_interface",
    "new_plugin",
    "new_version",
    "reference",
]
