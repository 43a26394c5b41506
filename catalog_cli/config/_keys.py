"""API keys: who a request is, from the key it presents.

catalog.toml never holds a key itself, only its hash (``"sha256:<64 hex digits>"`` of the
UTF-8 key) or a reference to an environment variable that holds the key (``"${env:NAME}"``,
read when the key ring is built: at server start and after each reload). A tenant's keys
authenticate as that tenant; ``[serve] admin_keys`` as the administrator. A key read from the
environment loses surrounding whitespace (a secret file's trailing newline) and must have at
least ``MIN_KEY_LENGTH`` characters.

A key is recognised by its SHA-256 hash: looked up in a table of the stored hashes, then
compared once with ``hmac.compare_digest``. The lookup's timing can only tell something about
the hash of what the caller sent, which the caller knows already; it tells nothing about a
stored key (finding a key from its hash is what SHA-256 makes infeasible). One lookup costs
the same with ten keys or a hundred thousand.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    from ._config import CatalogConfig

#: How catalog.toml writes a key's hash.
HASH_PREFIX: Final = "sha256:"
_HASH: Final = re.compile(r"^sha256:([0-9a-f]{64})$")
_ENV: Final = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
#: The shortest key an environment variable may hold: shorter ones are guessable.
MIN_KEY_LENGTH: Final = 16


class Identity(NamedTuple):
    """Who a key authenticates: one tenant, or the administrator (``tenant`` None)."""

    tenant: str | None
    admin: bool = False

    def describe(self) -> str:
        return "the administrator" if self.admin else f"tenant {self.tenant!r}"


ADMIN: Final = Identity(None, admin=True)


def hash_key(key: str) -> str:
    """The line catalog.toml stores for ``key``: ``"sha256:<hex>"`` of its UTF-8 bytes."""
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    """A new random key (256 bits, URL-safe text) and its hash for catalog.toml."""
    key = secrets.token_urlsafe(32)
    return key, hash_key(key)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class KeyRing:
    """Stored key hashes and whom each authenticates.

    ``problems`` lists the configured keys that cannot authenticate anyone (an environment
    variable that is not set, one key given to two identities), for the server log.
    """

    def __init__(
        self, entries: Iterable[tuple[str, Identity]], problems: Iterable[str] = ()
    ) -> None:
        found: dict[bytes, Identity] = {}
        conflicts: set[bytes] = set()
        notes = list(problems)
        for stored, identity in entries:
            match = _HASH.match(stored)
            if match is None:
                notes.append(f"a key of {identity.describe()} is not a sha256 hash; it is ignored")
                continue
            digest = bytes.fromhex(match.group(1))
            other = found.get(digest)
            if other is not None and other != identity:
                # Whichever identity it picked, one of the two would be impersonated.
                conflicts.add(digest)
                notes.append(
                    f"one key is configured for both {other.describe()} and "
                    f"{identity.describe()}: it authenticates neither"
                )
            found[digest] = identity
        #: hash -> (the stored hash, whom it authenticates)
        self._entries: dict[bytes, tuple[bytes, Identity]] = {
            digest: (digest, identity)
            for digest, identity in found.items()
            if digest not in conflicts
        }
        self.problems: tuple[str, ...] = tuple(notes)

    @classmethod
    def from_config(
        cls, config: CatalogConfig, environ: Mapping[str, str] | None = None
    ) -> KeyRing:
        """The keys of ``config``'s tenants and ``[serve] admin_keys``; environment
        references are read from ``environ`` (default: ``os.environ``) now."""
        env = os.environ if environ is None else environ
        entries: list[tuple[str, Identity]] = []
        problems: list[str] = []
        # Entries are named by their text, not their position: the configuration has dropped
        # the invalid ones already, so a position counted here could name the wrong entry.
        owners: list[tuple[str, Identity, str]] = [
            (value, ADMIN, "serve.admin_keys") for value in config.admin_keys
        ]
        for tenant in config.tenants.values():
            owners += [
                (value, Identity(tenant.id), f"tenants.{tenant.id}.api_keys")
                for value in tenant.api_keys
            ]
        for value, identity, where in owners:
            reference = _ENV.match(value)
            if reference is None:
                entries.append((value, identity))
                continue
            name = reference.group(1)
            entry = f'{where} entry "{value}"'
            key = env.get(name, "").strip()
            if not key:
                problems.append(
                    f"{entry}: environment variable {name} is not set (or empty); "
                    f"that key of {identity.describe()} cannot authenticate"
                )
            elif len(key) < MIN_KEY_LENGTH:
                problems.append(
                    f"{entry}: the key in environment variable {name} has {len(key)} "
                    f"characters, fewer than {MIN_KEY_LENGTH}; that key of "
                    f"{identity.describe()} is refused (make one with `catalog keys new`)"
                )
            else:
                entries.append((hash_key(key), identity))
        return cls(entries, problems)

    def identify(self, key: str) -> Identity | None:
        """Whom ``key`` authenticates, or None (see the module docstring)."""
        digest = _digest(key)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        stored, identity = entry
        # The table found it by equality; the constant-time compare decides.
        return identity if hmac.compare_digest(stored, digest) else None

    def __len__(self) -> int:
        return len(self._entries)

    def tenants(self) -> set[str]:
        """The tenants that have at least one usable key."""
        return {i.tenant for _d, i in self._entries.values() if i.tenant is not None}
