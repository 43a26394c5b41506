"""The ``catalog`` command: one sub-app per noun, errors turned into exit codes in ``_app``."""

from __future__ import annotations

from ._app import app, main

__all__ = ["app", "main"]
