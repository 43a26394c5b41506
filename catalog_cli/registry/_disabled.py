"""Plugins switched off at run time, over what the tenants' sections select.

An operator disables a plugin for one tenant, or for every tenant that selects it, while the
catalog runs (``execution/_management``); the catalog file is not touched. A registry holds
the disablings in force when it was made, and a tenant's selection leaves those plugins out,
as if its section did not list them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple


class Disabling(NamedTuple):
    """One plugin switched off, for one tenant or (``tenant`` None) every tenant: by whom,
    why and when."""

    plugin: str
    #: None: every tenant that selects it
    tenant: str | None
    #: who did it: ``cli (<OS user>)``, an admin key (``admin key sha256:<prefix>``), ...
    by: str
    reason: str
    #: when, as ISO 8601 text in UTC
    at: str

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()

    def describe(self) -> str:
        """``disabled (by cli (ada), "flaky upstream", 2024-05-01T10:00:00Z)``"""
        reason = f", {self.reason!r}" if self.reason else ""
        return f"disabled (by {self.by}{reason}, {self.at})"


class DisabledPlugins:
    """The disablings in force, looked up by tenant and by plugin (never changed: a change
    makes a new one)."""

    __slots__ = ("_by_tenant", "_everywhere", "records")

    def __init__(self, records: Iterable[Disabling] = ()) -> None:
        #: one per (plugin, tenant), in the order they were made
        self.records: tuple[Disabling, ...] = tuple(
            {(r.plugin, r.tenant): r for r in records}.values()
        )
        self._everywhere = frozenset(r.plugin for r in self.records if r.tenant is None)
        by_tenant: dict[str, set[str]] = {}
        for record in self.records:
            if record.tenant is not None:
                by_tenant.setdefault(record.tenant, set()).add(record.plugin)
        self._by_tenant: Mapping[str, frozenset[str]] = {
            tenant: frozenset(names) for tenant, names in by_tenant.items()
        }

    def of(self, tenant: str) -> frozenset[str]:
        """The plugins ``tenant`` does not run, although its section may select them."""
        own = self._by_tenant.get(tenant)
        return self._everywhere | own if own else self._everywhere

    def find(self, plugin: str, tenant: str | None) -> Disabling | None:
        """The disabling of ``plugin`` for ``tenant`` (None: the one for every tenant)."""
        for record in self.records:
            if record.plugin == plugin and record.tenant == tenant:
                return record
        return None

    def applying(self, plugin: str, tenant: str) -> Disabling | None:
        """What keeps ``plugin`` from running for ``tenant``: the disabling for every tenant
        first, else the tenant's own."""
        return self.find(plugin, None) or self.find(plugin, tenant)

    def __bool__(self) -> bool:
        return bool(self.records)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DisabledPlugins):
            return NotImplemented
        return {(r.plugin, r.tenant) for r in self.records} == {
            (r.plugin, r.tenant) for r in other.records
        }

    def __hash__(self) -> int:
        return hash(frozenset((r.plugin, r.tenant) for r in self.records))

    def __repr__(self) -> str:
        return f"DisabledPlugins({list(self.records)!r})"


#: nothing disabled
NONE = DisabledPlugins()
