"""Old-style hookwrappers (``@hookimpl(hookwrapper=True)``, ``outcome = yield``) in customer
plugins: they answer as pluggy runs them, on every path (plain and async built-ins, traced,
with point interceptors), among new-style wrappers in pluggy's order, and a broken one fails
its own tenant naming it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from catalog_cli import CallRequest, Catalog
from tests.test_async import BUILTIN, SPECS

OLD_STYLE = """
from catalog_cli import hookimpl


@hookimpl(hookwrapper=True)
def compose_v1_shape(ctx, text):
    outcome = yield
    outcome.force_result(f"[{outcome.get_result()}]")


@hookimpl(hookwrapper=True)
def compose_v1_lines(ctx, text, n):
    outcome = yield
    outcome.force_result(outcome.get_result() + ["old"])


@hookimpl(hookwrapper=True)
def compose_v1(ctx, text, n):
    outcome = yield
    if outcome.excinfo is not None:
        outcome.force_result(f"rescued {outcome.excinfo[1]}")
    elif text == "refuse":
        outcome.force_exception(ValueError("refused by old"))
    else:
        outcome.force_result(outcome.get_result() + "!")
"""

NEW_STYLE = """
from catalog_cli import hookimpl


@hookimpl(wrapper=True)
def compose_v1_shape(ctx, text):
    result = yield
    return f"<{result}>"


@hookimpl
def compose_v1_lines(ctx, text, n):
    if text == "boom":
        raise RuntimeError("boom")
    return "new"
"""

POINT_INTERCEPTOR = """
from catalog_cli import hookimpl


@hookimpl(wrapper=True)
def catalog_point_call(ctx, call, point):
    return (yield)
"""


def _catalog(
    root: Path, builtin: str, interceptor: bool, plugins: dict[str, str], builtin_extra: str = ""
) -> Catalog:
    folder = root / f"{builtin}-{interceptor}"
    for name in ("hookspecs", "builtin_plugins", "plugins"):
        (folder / name).mkdir(parents=True)
    (folder / "hookspecs" / "compose.py").write_text(SPECS, encoding="utf-8")
    source = BUILTIN[builtin] + builtin_extra
    (folder / "builtin_plugins" / "compose.py").write_text(source, encoding="utf-8")
    (folder / "plugins" / "pi.py").write_text(POINT_INTERCEPTOR, encoding="utf-8")
    for name, source in plugins.items():
        (folder / "plugins" / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    selected = ", ".join(f'"{name}"' for name in plugins)
    toml = f'[catalog]\nplugin_dirs = ["plugins"]\n[tenants.t]\nplugins = [{selected}]\n'
    toml += "[tenants.other]\n"
    if interceptor:
        toml += "[interceptors.pi]\n"
    (folder / "catalog.toml").write_text(toml, encoding="utf-8")
    return Catalog(folder / "catalog.toml")


PATHS = [
    pytest.param(
        builtin,
        interceptor,
        trace,
        id=f"{builtin}-{'pi' if interceptor else 'no pi'}-{'traced' if trace else 'untraced'}",
    )
    for builtin in ("sync", "async")
    for interceptor in (False, True)
    for trace in (False, True)
]


@pytest.mark.parametrize(("builtin", "interceptor", "trace"), PATHS)
def test_old_style_wrappers_answer_as_pluggy_runs_them(
    tmp_path: Path, builtin: str, interceptor: bool, trace: bool
) -> None:
    # The tenant lists "old" first: it runs first, so its wrapper is the outermost (as a
    # new-style wrapper of "old" would be).
    catalog = _catalog(tmp_path, builtin, interceptor, {"old": OLD_STYLE, "new": NEW_STYLE})

    def call(text: str) -> object:
        answer = catalog.call(CallRequest("t", "compose", None, {"text": text}), trace=trace)
        return answer.result if answer.ok else answer.error

    assert call("ab") == "none|[<AB>]|new|old!"
    # the exception reaches the old-style wrapper as its outcome, which may replace it
    assert call("boom") == "rescued boom"
    refused = call("refuse")
    assert getattr(refused, "kind", None) == "plugin_call"
    assert getattr(refused, "plugin", None) == "old"
    assert "refused by old" in getattr(refused, "message", "")
    # the other tenant runs none of it
    other = catalog.call(CallRequest("other", "compose", None, {"text": "ab"}), trace=trace)
    assert other.result == "none|AB"


@pytest.mark.parametrize("builtin", ["sync", "async"])
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("    return None\n    yield\n", "did not yield"),
        ("    outcome = yield\n    yield\n", "yielded twice"),
        ("    outcome = yield\n    raise KeyError('teardown')\n", "KeyError"),
    ],
    ids=["no-yield", "two-yields", "teardown-raises"],
)
def test_a_broken_old_style_wrapper_fails_naming_its_plugin(
    tmp_path: Path, builtin: str, body: str, problem: str
) -> None:
    source = (
        "from catalog_cli import hookimpl\n\n"
        "@hookimpl(hookwrapper=True)\n"
        "def compose_v1_shape(ctx, text):\n" + body
    )
    catalog = _catalog(tmp_path, builtin, False, {"broken": source})
    answer = catalog.call(CallRequest("t", "compose", None, {"text": "ab"}))
    assert not answer.ok
    assert answer.error is not None
    assert answer.error.plugin == "broken", answer.error
    assert problem in answer.error.message
    assert catalog.call(CallRequest("other", "compose", None, {"text": "ab"})).ok


def test_an_old_style_wrapper_of_the_entry_point_runs_in_a_method(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, "sync", False, {"old": OLD_STYLE})
    method = catalog.method("compose", customer="t")
    assert method(text="ab") == "none|[AB]|old!"
    assert method(text="ab", n=2) == "none|[AB]|old!"


#: A built-in's own old-style wrapper, appended to the example's compose built-in.
BUILTIN_OLD_STYLE = """

@hookimpl(hookwrapper=True, specname="compose_v1_shape")
def shape_wrapper(ctx, text):
    outcome = yield
    outcome.force_result(outcome.get_result() + "~")
"""


@pytest.mark.parametrize(("builtin", "interceptor", "trace"), PATHS)
def test_a_builtins_old_style_wrapper_runs_on_every_path(
    tmp_path: Path, builtin: str, interceptor: bool, trace: bool
) -> None:
    catalog = _catalog(tmp_path, builtin, interceptor, {"new": NEW_STYLE}, BUILTIN_OLD_STYLE)
    for tenant, expected in (("t", "none|<AB~>|new"), ("other", "none|AB~")):
        answer = catalog.call(CallRequest(tenant, "compose", None, {"text": "ab"}), trace=trace)
        assert answer.ok, answer.error
        assert answer.result == expected


def test_every_tenant_shares_one_converted_wrapper(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, "sync", False, {"old": OLD_STYLE})
    toml = catalog.path.read_text(encoding="utf-8")
    catalog.path.write_text(toml + '[tenants.u]\nplugins = ["old"]\n', encoding="utf-8")
    catalog = Catalog(catalog.path)

    def step(tenant: str) -> object:
        impls = catalog.plugin_manager(tenant).hook.compose_v1_shape.get_hookimpls()
        (found,) = [impl.function for impl in impls if impl.plugin_name == "old"]
        return getattr(found, "__func__", found)  # the bound method's function

    assert step("t") is step("u")


def test_an_old_style_wrapper_yielding_twice_is_closed_at_once(tmp_path: Path) -> None:
    source = """
    from pathlib import Path

    from catalog_cli import hookimpl

    @hookimpl(hookwrapper=True)
    def compose_v1_shape(ctx, text):
        try:
            outcome = yield
            yield
        finally:
            (Path(ctx.settings["folder"]) / "closed").write_text("yes")
    """
    catalog = _catalog(tmp_path, "sync", False, {"twice": source})
    toml = catalog.path.read_text(encoding="utf-8")
    toml += f'[tenants.t.settings.twice]\nfolder = "{tmp_path.as_posix()}"\n'
    catalog.path.write_text(toml, encoding="utf-8")
    answer = Catalog(catalog.path).call(CallRequest("t", "compose", None, {"text": "ab"}))
    assert answer.error is not None and answer.error.plugin == "twice"
    assert "yielded twice" in answer.error.message
    assert (tmp_path / "closed").read_text() == "yes"  # closed before the answer, not at GC
