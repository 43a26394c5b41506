"""The example catalog's business logic as plain Python functions: the floor of the benchmarks.

No framework at all: each tenant's variant written out as functions calling functions, the
way the logic would look with every plugin known in advance. Results match the example
catalog value for value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

_GREETINGS = {"en": "Hello", "es": "Hola", "de": "Hallo"}


def _quote(
    unit_price: float,
    quantity: int,
    country: str,
    discounts: Callable[[float, int], list[float]],
    tax_rate: Callable[[str], float],
    total: Callable[[float, float, float], float],
    currency: str = "EUR",
) -> dict[str, Any]:
    problems = {}
    if unit_price < 0:
        problems["unit_price"] = f"must be >= 0, got {unit_price}"
    if quantity < 1:
        problems["quantity"] = f"must be >= 1, got {quantity}"
    if problems:
        raise ValueError(problems)
    subtotal = round(unit_price * quantity, 2)
    discount = min(sum(discounts(subtotal, quantity)), 0.5)
    rate = tax_rate(country)
    due = total(subtotal, discount, rate)
    return {
        "subtotal": subtotal,
        "discount": round(subtotal * discount, 2),
        "tax_rate": rate,
        "total": round(due, 2),
        "currency": currency,
    }


def _total(subtotal: float, discount: float, tax_rate: float) -> float:
    return subtotal * (1 - discount) * (1 + tax_rate)


def _c2_tax_rate(country: str) -> float:
    return 0.0 if country not in ("NL",) else 0.21


def _c2_total(subtotal: float, discount: float, tax_rate: float) -> float:
    total = _total(subtotal, discount, tax_rate) + 2.5
    return math.ceil(round(total * 20, 6)) / 20


def price_quote_c2(unit_price: float, quantity: int, country: str = "NL") -> dict[str, Any]:
    return _quote(unit_price, quantity, country, _no_discounts, _c2_tax_rate, _c2_total)


def _no_discounts(subtotal: float, quantity: int) -> list[float]:
    return []


def _default_tax_rate(country: str) -> float:
    return 0.21


def price_quote_c3(unit_price: float, quantity: int, country: str = "NL") -> dict[str, Any]:
    return _quote(unit_price, quantity, country, _no_discounts, _default_tax_rate, _total)


def interface_a_v2_c1(name: str = "there", language: str = "en", vip: bool = False) -> str:
    greeting = f"Hi {name}, welcome back!" if language == "en" else None
    lines = [greeting or f"{_GREETINGS.get(language, 'Hello')}, {name}!"]
    if vip:
        lines.append("As a VIP member you get priority support.")
    lines.append("-- The Acme Retail team")
    return "\n".join(lines)


def interface_a_v1_c3(name: str = "there") -> str:
    lines = [f"Hello, {name}!"]
    lines.extend([])  # no signatures: c3 has no plugins
    return "\n".join(lines)
