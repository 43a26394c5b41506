"""``catalog keys``: API keys for ``catalog serve``."""

from __future__ import annotations

import sys

import typer

from ._group import Group
from ._session import JsonOption, session

app = typer.Typer(cls=Group, help="Make API keys for `catalog serve`.", no_args_is_help=True)


@app.command("new")
def new_key(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print a new random API key, and its hash for catalog.toml.

    The key goes to its client; only the hash goes in the file (a tenant's api_keys, or
    [serve] admin_keys). The key is not stored anywhere: keep it now.
    """
    from ..config._keys import new_key as make

    key, hashed = make()
    current = session(ctx, as_json=as_json)
    if as_json:
        current.json({"key": key, "hash": hashed})
        return
    sys.stdout.write(f"key   {key}\nhash  {hashed}\n")
    sys.stderr.write(
        "Give the key to its client: it is shown only now. List the hash in catalog.toml, in\n"
        "a tenant's api_keys = [...] or in [serve] admin_keys = [...].\n"
    )
