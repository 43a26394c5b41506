"""What runs for a call, in order, read from the tenant's pluggy hook callers."""

from __future__ import annotations

from typing import Any, NamedTuple

import pluggy

from ..declarations import Policy, Version


class StepPlan(NamedTuple):
    """One hook of a call (the entry point or a plugin point) and who runs there, in order."""

    hook: str
    #: None for the entry point
    point: str | None
    policy: Policy
    #: Wrappers, outermost first.
    wrappers: tuple[str, ...]
    #: Implementations in the order pluggy calls them.
    implementations: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "plugin_point": self.point,
            "policy": self.policy,
            "wrappers": list(self.wrappers),
            "implementations": list(self.implementations),
        }


def _order(pm: pluggy.PluginManager, hook: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    impls = getattr(pm.hook, hook).get_hookimpls()
    # pluggy calls the list back to front: wrappers (kept at the end) first, outermost first.
    called = list(reversed(impls))
    wrappers = tuple(i.plugin_name for i in called if i.wrapper or i.hookwrapper)
    plain = tuple(i.plugin_name for i in called if not (i.wrapper or i.hookwrapper))
    return wrappers, plain


def call_plan(pm: pluggy.PluginManager, version: Version) -> tuple[StepPlan, ...]:
    """The entry point and each plugin point of ``version``, with their plugins in call order."""
    wrappers, plain = _order(pm, version.hook)
    steps = [StepPlan(version.hook, None, "wrap", wrappers, plain)]
    for point in version.points.values():
        wrappers, plain = _order(pm, point.hook)
        steps.append(StepPlan(point.hook, point.name, point.policy, wrappers, plain))
    return tuple(steps)
