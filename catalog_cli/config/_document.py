"""A catalog file as parsed: its sections, the line of every key, and tenants one at a time.

A catalog with a hundred thousand tenants is tens of megabytes of TOML, which takes seconds to
parse; a command that runs a method for one tenant must not pay for the others. So a large
file is parsed once and kept in a cache (see ``_cache``), from which each tenant's table is
read on its own when it is needed. Small files are simply parsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import _toml


class Document:
    """The top-level tables of a catalog file (all but ``tenants``), and its tenants' ids;
    each tenant's table and key lines are read when first asked for."""

    def __init__(
        self,
        path: Path | None,
        top: dict[str, Any],
        tenant_ids: Sequence[str],
        lines: _toml.LineIndex,
        *,
        tenants_table: Any = None,
    ) -> None:
        self.path = path
        #: the document without its ``tenants`` table
        self.top = top
        #: tenant id -> position, in file order (a dict: membership is one look-up)
        self.tenant_ids: dict[str, int] = {tenant: i for i, tenant in enumerate(tenant_ids)}
        #: the value of ``tenants`` when it is not a table of tables (reported as a problem)
        self.tenants_table = tenants_table
        self._lines = lines

    def tenant(self, tenant: str) -> Any:
        """The raw value of ``[tenants.<tenant>]``."""
        raise NotImplementedError

    def tenant_lines(self, tenant: str) -> Mapping[tuple[str, ...], int]:
        raise NotImplementedError

    def line_of(self, path: Sequence[str]) -> int | None:
        """The line that defines ``path`` (or its longest defined prefix)."""
        key = tuple(path)
        if len(key) >= 2 and key[0] == "tenants" and key[1] in self.tenant_ids:
            found = _toml.LineIndex(dict(self.tenant_lines(key[1]))).line_of(key)
            if found is not None:
                return found
        return self._lines.line_of(key)


class ParsedDocument(Document):
    """A document parsed from its text, held whole in memory."""

    def __init__(self, path: Path | None, document: dict[str, Any], text: str) -> None:
        lines = _toml.LineIndex.of(text)
        raw = document.pop("tenants", {})
        tenants = raw if isinstance(raw, dict) else {}
        self._tenants = tenants
        self._tenant_lines = lines.split(("tenants",)) if tenants else {}
        super().__init__(
            path,
            document,
            list(tenants),
            lines,
            tenants_table=None if isinstance(raw, dict) else raw,
        )

    def tenant(self, tenant: str) -> Any:
        return self._tenants[tenant]

    def tenant_lines(self, tenant: str) -> Mapping[tuple[str, ...], int]:
        return self._tenant_lines.get(tenant, {})

    def records(self) -> list[tuple[str, Any, dict[tuple[str, ...], int]]]:
        """(id, table, key lines) of every tenant, for the cache."""
        return [(t, self._tenants[t], self._tenant_lines.get(t, {})) for t in self._tenants]

    @property
    def lines(self) -> _toml.LineIndex:
        return self._lines
