"""Customer 1 (Acme Retail): a casual greeting and the team's signature."""

from __future__ import annotations

from catalog_cli import Context, hookimpl


@hookimpl
def interface_a_v1_signature(ctx: Context, name: str) -> str:
    return f"-- {ctx.settings.get('team', 'The Acme team')}"


@hookimpl
def interface_a_v2_greeting(ctx: Context, name: str, language: str) -> str | None:
    if language != "en":
        return None  # let the catalog greet in other languages
    return f"{ctx.settings.get('greeting', 'Hi')} {name}, welcome back!"


@hookimpl
def interface_a_v2_extra_lines(ctx: Context, name: str, vip: bool) -> str:
    return f"-- {ctx.settings.get('team', 'The Acme team')}"
