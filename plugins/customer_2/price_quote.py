"""Customer 2 (Globex Wholesale): untaxed exports, a handling fee, totals rounded up to 5 cents."""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from typing import Any

from catalog_cli import Context, Health, hookimpl


@hookimpl
def price_quote_v1_tax_rate(ctx: Context, country: str) -> float | None:
    if country not in ctx.settings.get("domestic", ["NL"]):
        return 0.0  # intra-community supply: reverse-charged
    return None


@hookimpl(wrapper=True)
def price_quote_v1_total(ctx: Context) -> Generator[None, float, float]:
    total = yield
    total += float(ctx.settings.get("handling_fee", 0.0))
    return math.ceil(round(total * 20, 6)) / 20


@hookimpl
def catalog_health(settings: Mapping[str, Any]) -> Health:
    fee = float(settings.get("handling_fee", 0.0))
    if fee < 0:
        return Health("unhealthy", f"handling_fee is negative: {fee}")
    return Health("healthy", f"handling fee {fee:.2f}")
