"""The example catalog's business logic written with plain pluggy: the benchmarks' anchor.

No code of task-catalog is used here. It is what a good engineer would write without the
catalog: one PluginManager per tenant, hookspecs as a class, the built-in implementation and
each customer plugin as an object holding its settings as attributes, plugin points called
through ``pm.hook``. The results are the example catalog's, value for value (the benchmarks
check it), so the two sides do the same work.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from typing import Any

import pluggy

PROJECT = "anchor"
spec = pluggy.HookspecMarker(PROJECT)
impl = pluggy.HookimplMarker(PROJECT)

_GREETINGS = {"en": "Hello", "es": "Hola", "de": "Hallo"}


class Specs:
    """interface_a v1 and v2, price_quote v1, and their plugin points."""

    @spec(firstresult=True)
    def interface_a_v1(self, name: str) -> str: ...

    @spec
    def interface_a_v1_signature(self, name: str) -> str | None: ...

    @spec(firstresult=True)
    def interface_a_v2(self, name: str, language: str, vip: bool) -> str: ...

    @spec(firstresult=True)
    def interface_a_v2_greeting(self, name: str, language: str) -> str | None: ...

    @spec
    def interface_a_v2_extra_lines(self, name: str, vip: bool) -> str | None: ...

    @spec(firstresult=True)
    def price_quote_v1(self, unit_price: float, quantity: int, country: str) -> dict[str, Any]: ...

    @spec
    def price_quote_v1_discounts(self, subtotal: float, quantity: int) -> float | None: ...

    @spec(firstresult=True)
    def price_quote_v1_tax_rate(self, country: str) -> float | None: ...

    @spec(firstresult=True)
    def price_quote_v1_total(self, subtotal: float, discount: float, tax_rate: float) -> float: ...


class Builtin:
    """The catalog's own implementation of both interfaces, for one tenant."""

    def __init__(self, hook: Any, currency: str = "EUR", default_tax_rate: float = 0.21) -> None:
        self.hook = hook
        self.currency = currency
        self.default_tax_rate = default_tax_rate

    @impl
    def interface_a_v1(self, name: str) -> str:
        lines = [f"Hello, {name}!"]
        lines.extend(self.hook.interface_a_v1_signature(name=name))
        return "\n".join(lines)

    @impl
    def interface_a_v2(self, name: str, language: str, vip: bool) -> str:
        lines = [self.hook.interface_a_v2_greeting(name=name, language=language)]
        if vip:
            lines.append("As a VIP member you get priority support.")
        lines.extend(self.hook.interface_a_v2_extra_lines(name=name, vip=vip))
        return "\n".join(lines)

    @impl
    def interface_a_v2_greeting(self, name: str, language: str) -> str:
        return f"{_GREETINGS.get(language, 'Hello')}, {name}!"

    @impl
    def price_quote_v1(self, unit_price: float, quantity: int, country: str) -> dict[str, Any]:
        problems = {}
        if unit_price < 0:
            problems["unit_price"] = f"must be >= 0, got {unit_price}"
        if quantity < 1:
            problems["quantity"] = f"must be >= 1, got {quantity}"
        if problems:
            raise ValueError(problems)
        hook = self.hook
        subtotal = round(unit_price * quantity, 2)
        discount = min(
            sum(hook.price_quote_v1_discounts(subtotal=subtotal, quantity=quantity)), 0.5
        )
        tax_rate = hook.price_quote_v1_tax_rate(country=country)
        total = hook.price_quote_v1_total(subtotal=subtotal, discount=discount, tax_rate=tax_rate)
        return {
            "subtotal": subtotal,
            "discount": round(subtotal * discount, 2),
            "tax_rate": tax_rate,
            "total": round(total, 2),
            "currency": str(self.currency),
        }

    @impl
    def price_quote_v1_tax_rate(self, country: str) -> float:
        return float(self.default_tax_rate)

    @impl
    def price_quote_v1_total(self, subtotal: float, discount: float, tax_rate: float) -> float:
        return subtotal * (1 - discount) * (1 + tax_rate)


class Customer1Greetings:
    def __init__(self, team: str = "The Acme team", greeting: str = "Hi") -> None:
        self.team = team
        self.greeting = greeting

    @impl
    def interface_a_v1_signature(self, name: str) -> str:
        return f"-- {self.team}"

    @impl
    def interface_a_v2_greeting(self, name: str, language: str) -> str | None:
        if language != "en":
            return None
        return f"{self.greeting} {name}, welcome back!"

    @impl
    def interface_a_v2_extra_lines(self, name: str, vip: bool) -> str:
        return f"-- {self.team}"


class Customer1Quotes:
    def __init__(self, loyalty_rate: float = 0.0, bulk_from: int = 10) -> None:
        self.loyalty_rate = loyalty_rate
        self.bulk_from = bulk_from

    @impl
    def price_quote_v1_discounts(self, subtotal: float, quantity: int) -> float | None:
        return float(self.loyalty_rate) or None

    @impl(specname="price_quote_v1_discounts")
    def bulk_discount(self, quantity: int) -> float | None:
        return 0.1 if quantity >= int(self.bulk_from) else None


class Customer2Greetings:
    def __init__(self, legal_notice: str | None = None) -> None:
        self.legal_notice = legal_notice

    @impl
    def interface_a_v1_signature(self, name: str) -> str:
        return "Globex Wholesale B.V."

    @impl
    def interface_a_v2_greeting(self, name: str, language: str) -> str:
        salutation = {"en": "Dear", "es": "Estimado/a", "de": "Sehr geehrte/r"}[language]
        return f"{salutation} {name},"

    @impl
    def interface_a_v2_extra_lines(self, name: str, vip: bool) -> str | None:
        return self.legal_notice


class Customer2Quotes:
    def __init__(self, domestic: tuple[str, ...] = ("NL",), handling_fee: float = 0.0) -> None:
        self.domestic = domestic
        self.handling_fee = handling_fee

    @impl
    def price_quote_v1_tax_rate(self, country: str) -> float | None:
        if country not in self.domestic:
            return 0.0
        return None

    @impl(wrapper=True)
    def price_quote_v1_total(self) -> Generator[None, float, float]:
        total = yield
        total += float(self.handling_fee)
        return math.ceil(round(total * 20, 6)) / 20


#: The example catalog's tenants: their plugins (in call order) and settings.
TENANTS: dict[str, list[tuple[type[Any], Mapping[str, Any]]]] = {
    "c1": [
        (Customer1Greetings, {"team": "The Acme Retail team", "greeting": "Hi"}),
        (Customer1Quotes, {"loyalty_rate": 0.05, "bulk_from": 10}),
    ],
    "c2": [
        (
            Customer2Greetings,
            {"legal_notice": "Globex Wholesale B.V., Chamber of Commerce 12345678."},
        ),
        (Customer2Quotes, {"domestic": ("NL",), "handling_fee": 2.5}),
    ],
    "c3": [],
}
BUILTIN_SETTINGS: dict[str, Mapping[str, Any]] = {"c2": {"currency": "EUR"}}


def manager(
    plugins: list[tuple[type[Any], Mapping[str, Any]]],
    builtin: Mapping[str, Any] | None = None,
) -> pluggy.PluginManager:
    """A tenant's manager: the specs, the built-in, then the plugins (called in list order)."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(Specs)
    pm.register(Builtin(pm.hook, **(builtin or {})))
    for kind, settings in reversed(plugins):
        pm.register(kind(**settings))
    return pm


def managers() -> dict[str, pluggy.PluginManager]:
    """One manager per example tenant."""
    return {
        tenant: manager(plugins, BUILTIN_SETTINGS.get(tenant))
        for tenant, plugins in TENANTS.items()
    }
