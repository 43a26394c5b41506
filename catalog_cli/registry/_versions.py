"""Which version of an interface a call runs, and which rule chose it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ..config import Canary, CatalogConfig, TenantConfig
from ..declarations import Interface

if TYPE_CHECKING:
    from ._rollout import Rollouts

#: ``shadow`` is never a call's answer: it names the candidate's run of a shadow canary.
VersionSource = Literal["requested", "tenant", "catalog", "latest", "canary", "shadow"]


class VersionChoice(NamedTuple):
    """The version a tenant gets for an interface, and which rule chose it."""

    interface: str
    version: int
    source: VersionSource

    def to_dict(self) -> dict[str, Any]:
        return {"interface": self.interface, "version": self.version, "source": self.source}


def bucket(tenant: str, interface: str, value: Any) -> float:
    """Where a key argument's ``value`` falls in [0, 1), by a stable hash: the same in every
    process and every release. A key is in a canary of share s iff its bucket is below s, so
    a key that entered a canary stays in it while the share grows."""
    import hashlib
    import json

    # The value the method gets decides: an omitted argument is its default, and 3.0 is 3
    # (a number from the command line and from JSON may be spelled either way).
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = json.dumps(value, sort_keys=True, default=repr)
    digest = hashlib.blake2b(f"{tenant}\0{interface}\0{text}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


def in_canary(
    canary: Canary,
    tenant: str,
    interface: str,
    arguments: Mapping[str, Any],
    default: Any,
    share: float | None = None,
) -> bool:
    """Whether this call goes to the canary (``share``: its share now; default: the fixed
    one): by a stable hash of the key argument (the same value always lands on the same
    side), or by chance for each call when there is no key."""
    if share is None:
        share = canary.share or 0.0
    if share <= 0:
        return False
    if share >= 1:  # a bucket is below 1, though as a float the highest ones round up to it
        return True
    if canary.key is None:
        import random

        return random.random() < share
    return bucket(tenant, interface, arguments.get(canary.key, default)) < share


def _default(interface: Interface, version: int, name: str | None) -> Any:
    """The declared default of parameter ``name`` of a version (None when it has none)."""
    for param in interface.versions[version].parameters:
        if param.name == name and not param.required:
            return param.default
    return None


def _taken(
    canary: Canary,
    tenant: TenantConfig,
    interface: Interface,
    arguments: Mapping[str, Any],
    rollouts: Rollouts | None,
) -> bool:
    """Whether the canary takes this call (for a shadow: whether its candidate runs too)."""
    if canary.version not in interface.versions:  # else the tenant fails closed on its own
        return False
    if rollouts is not None:
        share = rollouts.share(tenant.id, interface.name, canary)
    elif canary.ramp:
        import time

        from ..config._canary import ramp_share

        share = ramp_share(canary.ramp, time.time())
    else:
        share = canary.share or 0.0
    default = _default(interface, canary.version, canary.key)
    return in_canary(canary, tenant.id, interface.name, arguments, default, share)


def choose(
    config: CatalogConfig,
    tenant: TenantConfig,
    interface: Interface,
    requested: int | None,
    arguments: Mapping[str, Any] | None,
    rollouts: Rollouts | None = None,
) -> VersionChoice:
    """--version given > the tenant's canary share > its pin > the catalog's default > the
    latest. Without ``arguments`` (listings), a canary is never chosen; a shadow canary never
    is (its candidate runs besides the version chosen here). ``rollouts``: the canaries'
    state (their shares now, rollbacks)."""
    name = interface.name
    if requested is not None:
        interface.version(requested)
        return VersionChoice(name, requested, "requested")
    canary = tenant.canaries.get(name)
    if (
        canary is not None
        and arguments is not None
        and canary.mode == "live"
        and _taken(canary, tenant, interface, arguments, rollouts)
    ):
        return VersionChoice(name, canary.version, "canary")
    pinned = tenant.versions.get(name)
    if pinned is not None and pinned in interface.versions:
        return VersionChoice(name, pinned, "tenant")
    default = config.versions.get(name)
    if default is not None:
        return VersionChoice(name, default, "catalog")
    return VersionChoice(name, interface.latest, "latest")


def shadowed(
    tenant: TenantConfig,
    interface: Interface,
    live: VersionChoice,
    arguments: Mapping[str, Any],
    rollouts: Rollouts | None = None,
) -> int | None:
    """The version a shadow canary runs besides ``live`` for a call with ``arguments``, if it
    takes this call (never for a call that asked for a version, nor when the live version is
    the candidate already)."""
    canary = tenant.canaries.get(interface.name)
    if (
        canary is None
        or canary.mode != "shadow"
        or live.source == "requested"
        or live.version == canary.version
        or not _taken(canary, tenant, interface, arguments, rollouts)
    ):
        return None
    return canary.version
