"""Quote a price for a quantity of units: subtotal, discount, tax and total."""

from __future__ import annotations

from catalog_cli import Context, entrypoint, plugin_point


@entrypoint
def price_quote_v1(
    ctx: Context, unit_price: float, quantity: int, country: str = "NL"
) -> dict[str, float | str]:
    """Quote ``quantity`` units at ``unit_price``, taxed for ``country``."""


@plugin_point(price_quote_v1, policy="collect")
def price_quote_v1_discounts(ctx: Context, subtotal: float, quantity: int) -> float | None:
    """Return a discount as a fraction of the subtotal; all discounts add up (capped)."""


@plugin_point(price_quote_v1, policy="first")
def price_quote_v1_tax_rate(ctx: Context, country: str) -> float | None:
    """Return the tax rate for ``country``; the first non-None answer wins."""


@plugin_point(price_quote_v1, policy="wrap")
def price_quote_v1_total(ctx: Context, subtotal: float, discount: float, tax_rate: float) -> float:
    """The total due; the catalog computes it, plugins may only wrap it (rounding, fees)."""
