"""Which version of an interface a call runs, and which rule chose it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from ..config import Canary, CatalogConfig, TenantConfig
from ..declarations import Interface

VersionSource = Literal["requested", "tenant", "catalog", "latest", "canary"]


class VersionChoice(NamedTuple):
    """The version a tenant gets for an interface, and which rule chose it."""

    interface: str
    version: int
    source: VersionSource

    def to_dict(self) -> dict[str, Any]:
        return {"interface": self.interface, "version": self.version, "source": self.source}


def in_canary(
    canary: Canary, tenant: str, interface: str, arguments: Mapping[str, Any], default: Any
) -> bool:
    """Whether this call goes to the canary: by a stable hash of the key argument (the same
    value always lands on the same side), or by chance for each call when there is no key."""
    if canary.key is None:
        import random

        return random.random() < canary.share
    import hashlib
    import json

    # The value the method gets decides: an omitted argument is its default, and 3.0 is 3
    # (a number from the command line and from JSON may be spelled either way).
    value = arguments.get(canary.key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    value = json.dumps(value, sort_keys=True, default=repr)
    digest = hashlib.blake2b(f"{tenant}\0{interface}\0{value}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64 < canary.share


def _default(interface: Interface, version: int, name: str | None) -> Any:
    """The declared default of parameter ``name`` of a version (None when it has none)."""
    for param in interface.versions[version].parameters:
        if param.name == name and not param.required:
            return param.default
    return None


def choose(
    config: CatalogConfig,
    tenant: TenantConfig,
    interface: Interface,
    requested: int | None,
    arguments: Mapping[str, Any] | None,
) -> VersionChoice:
    """--version given > the tenant's canary share > its pin > the catalog's default > the
    latest. Without ``arguments`` (listings), a canary is never chosen."""
    name = interface.name
    if requested is not None:
        interface.version(requested)
        return VersionChoice(name, requested, "requested")
    canary = tenant.canaries.get(name)
    if (
        canary is not None
        and arguments is not None
        and canary.version in interface.versions  # else the tenant fails closed on its own
        and in_canary(
            canary, tenant.id, name, arguments, _default(interface, canary.version, canary.key)
        )
    ):
        return VersionChoice(name, canary.version, "canary")
    pinned = tenant.versions.get(name)
    if pinned is not None and pinned in interface.versions:
        return VersionChoice(name, pinned, "tenant")
    default = config.versions.get(name)
    if default is not None:
        return VersionChoice(name, default, "catalog")
    return VersionChoice(name, interface.latest, "latest")
