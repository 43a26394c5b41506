"""The catalog's own interceptors, switched on per catalog in ``[interceptors.<name>]``.

Each is a plugin module exactly like a user's interceptor, written against the public API
only: ``catalog_call`` (and maybe ``catalog_point_call``) wrappers taking their own ``ctx``,
``PLUGIN`` metadata with a settings schema, and ``ORDER``, its default place in the chain
(lower wraps further out).
"""

from __future__ import annotations

from catalog_cli.registry import BUILTIN, DEFAULT_ORDER, default_order

__all__ = ["BUILTIN", "DEFAULT_ORDER", "default_order"]
