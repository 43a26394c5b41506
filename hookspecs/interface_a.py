"""Compose the welcome message a customer's user sees after signing in."""

from __future__ import annotations

from typing import Literal

from catalog_cli import Context, entrypoint, plugin_point, version_change


@entrypoint(deprecated="use v2, which greets in the user's language", sunset="2027-06-30")
def interface_a_v1(ctx: Context, name: str = "there") -> str:
    """A greeting line for ``name`` followed by the lines plugins sign with."""


@plugin_point(interface_a_v1, policy="collect")
def interface_a_v1_signature(ctx: Context, name: str) -> str | None:
    """Return a line to sign the message with, or None."""


@entrypoint
def interface_a_v2(
    ctx: Context,
    name: str = "there",
    language: Literal["en", "es", "de"] = "en",
    vip: bool = False,
) -> str:
    """A greeting in the user's language, a VIP line, then the lines plugins add."""


@plugin_point(interface_a_v2, policy="first")
def interface_a_v2_greeting(ctx: Context, name: str, language: str) -> str | None:
    """Return the greeting line; the first non-None answer wins, the catalog's comes last."""


@plugin_point(interface_a_v2, policy="collect")
def interface_a_v2_extra_lines(ctx: Context, name: str, vip: bool) -> str | None:
    """Return a line to add below the greeting, or None."""


@version_change(interface_a_v1, interface_a_v2, points={"signature": "extra_lines"})
class GreetingInTheUsersLanguage:
    """v2 greets in the user's language (plugin point ``greeting``), adds a line for VIP
    members, and calls the lines plugins add ``extra_lines`` (v1: ``signature``). A v1 call is
    a v2 call in English for a member who is not a VIP: v2's defaults."""
