"""Customer 1 (Acme Retail): a loyalty discount, and a bulk discount from 10 units."""

from __future__ import annotations

from catalog_cli import Context, PluginMeta, hookimpl

PLUGIN = PluginMeta(
    version="1.2.0",
    author="Acme Retail platform team",
    requires_api="1.0",
    interfaces={"price_quote": [1]},
)


@hookimpl
def price_quote_v1_discounts(ctx: Context, subtotal: float, quantity: int) -> float | None:
    return float(ctx.settings.get("loyalty_rate", 0.0)) or None


# A second implementation of the same hook in one module: `specname` names the hook.
@hookimpl(specname="price_quote_v1_discounts")
def bulk_discount(ctx: Context, quantity: int) -> float | None:
    return 0.1 if quantity >= int(ctx.settings.get("bulk_from", 10)) else None
