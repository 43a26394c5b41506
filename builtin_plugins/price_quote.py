"""The catalog's implementation of price_quote, version 1."""

from __future__ import annotations

from catalog_cli import Context, hookimpl
from catalog_cli.errors import InvalidArgumentsError

#: Used when no plugin knows the country and the tenant sets no ``default_tax_rate``.
DEFAULT_TAX_RATE = 0.21
#: Discounts from all plugins add up to at most this fraction.
MAX_DISCOUNT = 0.5


@hookimpl
def price_quote_v1(
    ctx: Context, unit_price: float, quantity: int, country: str
) -> dict[str, float | str]:
    problems = {}
    if unit_price < 0:
        problems["unit_price"] = f"must be >= 0, got {unit_price}"
    if quantity < 1:
        problems["quantity"] = f"must be >= 1, got {quantity}"
    if problems:
        raise InvalidArgumentsError(ctx.interface, ctx.version, problems)
    subtotal = round(unit_price * quantity, 2)
    discount = min(sum(ctx.points.discounts(subtotal=subtotal, quantity=quantity)), MAX_DISCOUNT)
    tax_rate = ctx.points.tax_rate(country=country)
    total = ctx.points.total(subtotal=subtotal, discount=discount, tax_rate=tax_rate)
    return {
        "subtotal": subtotal,
        "discount": round(subtotal * discount, 2),
        "tax_rate": tax_rate,
        "total": round(total, 2),
        "currency": str(ctx.settings.get("currency", "EUR")),
    }


@hookimpl
def price_quote_v1_tax_rate(ctx: Context, country: str) -> float:
    return float(ctx.settings.get("default_tax_rate", DEFAULT_TAX_RATE))


@hookimpl
def price_quote_v1_total(subtotal: float, discount: float, tax_rate: float) -> float:
    return subtotal * (1 - discount) * (1 + tax_rate)
