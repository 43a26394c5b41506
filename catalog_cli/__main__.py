"""``python -m catalog_cli``: the ``catalog`` command."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main(prog_name="python -m catalog_cli")
