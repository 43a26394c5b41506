"""The pluggy markers every interface declaration and plugin uses."""

from __future__ import annotations

from typing import Final

import pluggy

#: The pluggy project name: hook specs and implementations are marked for it.
PROJECT: Final = "catalog"

#: Marks a hook specification (use :func:`entrypoint` and :func:`plugin_point` in ``hookspecs/``).
hookspec: Final = pluggy.HookspecMarker(PROJECT)

#: Marks a hook implementation in a built-in or customer plugin.
hookimpl: Final = pluggy.HookimplMarker(PROJECT)
