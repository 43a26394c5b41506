"""Customer 2 (Globex Wholesale): formal greetings and a legal notice."""

from __future__ import annotations

from catalog_cli import Context, hookimpl


@hookimpl
def interface_a_v1_signature(ctx: Context, name: str) -> str:
    return "Globex Wholesale B.V."


@hookimpl
def interface_a_v2_greeting(ctx: Context, name: str, language: str) -> str:
    salutation = {"en": "Dear", "es": "Estimado/a", "de": "Sehr geehrte/r"}[language]
    return f"{salutation} {name},"


@hookimpl
def interface_a_v2_extra_lines(ctx: Context, name: str, vip: bool) -> str | None:
    return ctx.settings.get("legal_notice")
