"""The catalog's implementation of interface_a (welcome message), version 2.

Version 1 has no implementation of its own: v2's code serves it (see the version change
``GreetingInTheUsersLanguage`` in ``hookspecs/interface_a.py``)."""

from __future__ import annotations

from catalog_cli import Context, hookimpl

_GREETINGS = {"en": "Hello", "es": "Hola", "de": "Hallo"}


@hookimpl
def interface_a_v2(ctx: Context, name: str, language: str, vip: bool) -> str:
    lines = [ctx.points.greeting(name=name, language=language)]
    if vip:
        lines.append("As a VIP member you get priority support.")
    lines.extend(ctx.points.extra_lines(name=name, vip=vip))
    return "\n".join(lines)


@hookimpl
def interface_a_v2_greeting(ctx: Context, name: str, language: str) -> str:
    # Registered before every tenant plugin, so pluggy calls it last: the fallback.
    return f"{_GREETINGS.get(language, 'Hello')}, {name}!"
