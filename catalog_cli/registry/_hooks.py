"""Every hook a catalog has, and what one plugin implements of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ..declarations import Interface, Policy
from ..declarations import _hooks as catalog_hooks


class HookInfo(NamedTuple):
    """What a hook name means: an interface version's entry point or one of its plugin points,
    or one of the hooks every catalog has (``interface`` is then "")."""

    hook: str
    interface: str
    version: int
    #: None for the entry point; the short name of a catalog hook ("startup", ...)
    point: str | None
    policy: Policy
    #: the parameters implementations may take (``ctx`` first where the hook has one)
    argnames: tuple[str, ...]
    #: the parameters' resolved annotations, and the return annotation (None: not declared)
    hints: Mapping[str, Any] | None = None
    returns: Any = None

    @property
    def label(self) -> str:
        if self.hook in catalog_hooks.INTERCEPTOR_HOOKS:
            return f"interceptor hook {self.hook}"
        if not self.interface:
            return f"{self.point} hook {self.hook}"
        where = f"{self.interface} v{self.version}"
        return (
            f"{where} entry point" if self.point is None else f"{where} plugin point {self.point!r}"
        )

    @property
    def takes_ctx(self) -> bool:
        return bool(self.argnames) and self.argnames[0] == "ctx"


class HookUse(NamedTuple):
    """One hook implementation of a plugin."""

    hook: str
    interface: str
    version: int
    point: str | None
    wrapper: bool
    tryfirst: bool
    trylast: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "interface": self.interface,
            "version": self.version,
            "plugin_point": self.point,
            "wrapper": self.wrapper,
            "tryfirst": self.tryfirst,
            "trylast": self.trylast,
        }


def hook_index(interfaces: Mapping[str, Interface]) -> dict[str, HookInfo]:
    """Every hook name the interfaces declare, and the catalog's own hooks (interface "")."""
    index: dict[str, HookInfo] = {
        hook: HookInfo(hook, "", 0, short, "collect", catalog_hooks.LIFECYCLE_ARGNAMES)
        for hook, short in catalog_hooks.LIFECYCLE.items()
    }
    index[catalog_hooks.EVENTS] = HookInfo(
        catalog_hooks.EVENTS, "", 0, "call events", "collect", ("event",)
    )
    index[catalog_hooks.CATALOG_EVENTS] = HookInfo(
        catalog_hooks.CATALOG_EVENTS, "", 0, "catalog events", "collect", ("event",)
    )
    index["catalog_call"] = HookInfo("catalog_call", "", 0, "method call", "wrap", ("ctx", "call"))
    index["catalog_point_call"] = HookInfo(
        "catalog_point_call", "", 0, "plugin point call", "wrap", ("ctx", "call", "point")
    )
    for interface in interfaces.values():
        for version in interface.versions.values():
            index[version.hook] = HookInfo(
                version.hook,
                interface.name,
                version.number,
                None,
                "wrap",
                ("ctx", *(p.name for p in version.parameters)),
                {p.name: p.hint for p in version.parameters},
                version.return_hint,
            )
            for point in version.points.values():
                index[point.hook] = HookInfo(
                    point.hook,
                    interface.name,
                    version.number,
                    point.name,
                    point.policy,
                    ("ctx", *(p.name for p in point.parameters)),
                    {p.name: p.hint for p in point.parameters},
                    point.return_hint,
                )
    return index
