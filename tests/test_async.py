"""Async plugins: a catalog mixing ``async def`` and plain implementations answers as its
all-plain twin, on every path (``arun``, the plain-call bridge, ``acall``, ``Method``,
``catalog run``, batches, the HTTP API), at ``collect``, ``first`` and ``wrap`` points, with
pluggy's ordering (tryfirst/trylast, wrappers outermost-first) and its errors."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog_cli import CallRequest, Catalog
from catalog_cli.cli._exits import code_of as exit_code
from catalog_cli.errors import AsyncRequiredError, CatalogError, PluginValidationError
from tests.conftest import Invoke, WriteCatalog

SPECS = '''
from __future__ import annotations

from catalog_cli import Context, entrypoint, plugin_point


@entrypoint
def compose_v1(ctx: Context, text: str = "x", n: int = 1) -> str:
    """Compose a line from what plugins add."""


@plugin_point(compose_v1, policy="collect")
def compose_v1_lines(ctx: Context, text: str, n: int) -> str | None:
    """A line to add, or None."""


@plugin_point(compose_v1, policy="first")
def compose_v1_pick(ctx: Context, text: str) -> str | None:
    """The first answer wins."""


@plugin_point(compose_v1, policy="wrap")
def compose_v1_shape(ctx: Context, text: str) -> str:
    """The catalog shapes the text; plugins wrap it."""
'''

BUILTIN = {
    "sync": """
from catalog_cli import hookimpl


@hookimpl
def compose_v1(ctx, text, n):
    lines = ctx.points.lines(text=text, n=n)
    pick = ctx.points.pick(text=text)
    shaped = ctx.points.shape(text=text)
    return "|".join([pick or "none", shaped, *lines])


@hookimpl
def compose_v1_shape(ctx, text):
    return text.upper()
""",
    "async": """
import asyncio

from catalog_cli import hookimpl


@hookimpl
async def compose_v1(ctx, text, n):
    lines = await ctx.points.lines(text=text, n=n)
    await asyncio.sleep(0)
    pick = await ctx.points.pick(text=text)
    shaped = await ctx.points.shape(text=text)
    return "|".join([pick or "none", shaped, *lines])


@hookimpl
async def compose_v1_shape(ctx, text):
    await asyncio.sleep(0)
    return text.upper()
""",
}

#: A plugin, plain: ``{i}`` its number; plugin 3's line comes first, plugin 4's pick last.
PLUGIN_SYNC = """
from catalog_cli import hookimpl


@hookimpl(tryfirst={i} == 3)
def compose_v1_lines(ctx, text, n):
    if text == "boom{i}":
        raise ValueError("boom from {i}")
    return None if (n + {i}) % 3 == 0 else f"{i}:{{text}}:{{n}}"


@hookimpl(trylast={i} == 4)
def compose_v1_pick(ctx, text):
    return f"pick{i}" if len(text) % 5 == {i} else None


@hookimpl(wrapper=True)
def compose_v1_shape(ctx, text):
    result = yield
    return f"<{i}{{result}}>"


@hookimpl(wrapper=True)
def compose_v1(ctx, text, n):
    try:
        result = yield
    except ValueError:
        if {i} == 1:
            return "rescued by 1"
        raise
    return result + "#{i}"
"""

#: The same plugin, async.
PLUGIN_ASYNC = """
import asyncio

from catalog_cli import hookimpl


@hookimpl(tryfirst={i} == 3)
async def compose_v1_lines(ctx, text, n):
    await asyncio.sleep(0)
    if text == "boom{i}":
        raise ValueError("boom from {i}")
    return None if (n + {i}) % 3 == 0 else f"{i}:{{text}}:{{n}}"


@hookimpl(trylast={i} == 4)
async def compose_v1_pick(ctx, text):
    await asyncio.sleep(0)
    return f"pick{i}" if len(text) % 5 == {i} else None


@hookimpl(wrapper=True)
async def compose_v1_shape(ctx, text):
    result = yield
    await asyncio.sleep(0)
    yield f"<{i}{{result}}>"


@hookimpl(wrapper=True)
async def compose_v1(ctx, text, n):
    try:
        result = yield
    except ValueError:
        if {i} == 1:
            yield "rescued by 1"
            return
        raise
    yield result + "#{i}"
"""

#: At the ``first`` point: "sleep" waits long, and says so if it is cancelled.
SLEEPER = """
import asyncio
import os
from pathlib import Path

from catalog_cli import hookimpl


@hookimpl(tryfirst=True)
async def compose_v1_pick(ctx, text):
    if text == "sleep":
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            Path(os.environ["ASYNC_TEST_MARKER"]).write_text("cancelled")
            raise
    return None
"""

PLUGINS = 5
FLAVORS = ("sync", "async")
TEXTS = ("a", "hello", "boom2", "boom0", "boom1", "abcd", "xyzzyq", "")


def _folder(root: Path, builtin: str) -> Path:
    folder = root / builtin
    (folder / "hookspecs").mkdir(parents=True)
    (folder / "builtin_plugins").mkdir()
    (folder / "plugins").mkdir()
    (folder / "hookspecs" / "compose.py").write_text(SPECS, encoding="utf-8")
    (folder / "builtin_plugins" / "compose.py").write_text(BUILTIN[builtin], encoding="utf-8")
    for i in range(PLUGINS):
        for flavor, source in (("sync", PLUGIN_SYNC), ("async", PLUGIN_ASYNC)):
            text = source.format(i=i)
            (folder / "plugins" / f"p{i}_{flavor}.py").write_text(text, encoding="utf-8")
    (folder / "plugins" / "sleeper.py").write_text(SLEEPER, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("twins")
    return {builtin: _folder(root, builtin) for builtin in ("sync", "async")}


_files = itertools.count()


def _catalog(folder: Path, tenants: dict[str, list[str]], extra: str = "") -> Catalog:
    """A catalog file of its own in ``folder`` (its modules are imported once per folder)."""
    lines = ['[catalog]\nplugin_dirs = ["plugins"]\n', extra]
    for tenant, plugins in tenants.items():
        listed = ", ".join(f'"{p}"' for p in plugins)
        lines.append(f"[tenants.{tenant}]\nplugins = [{listed}]\n")
    path = folder / f"catalog_{next(_files)}.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return Catalog(path)


def outcome(run: Any) -> tuple[Any, ...]:
    """What a call gave, comparable across twins (a plugin named by its number)."""
    try:
        return ("ok", run())
    except CatalogError as exc:
        plugin = getattr(exc, "plugin", None)
        return ("error", exc.kind, plugin and plugin.split("_")[0])


def answered(answer: Any) -> tuple[Any, ...]:
    if answer.ok:
        return ("ok", answer.result)
    error = answer.error
    return ("error", error.kind, error.plugin and error.plugin.split("_")[0])


tenant_plans = st.lists(
    st.tuples(st.integers(0, PLUGINS - 1), st.sampled_from(FLAVORS)),
    max_size=PLUGINS,
    unique_by=lambda pair: pair[0],
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=tenant_plans,
    builtin=st.sampled_from(("sync", "async")),
    text=st.sampled_from(TEXTS),
    n=st.integers(0, 5),
)
def test_mixed_catalog_answers_as_its_plain_twin(
    folders: dict[str, Path],
    invoke: Invoke,
    plan: list[tuple[int, str]],
    builtin: str,
    text: str,
    n: int,
) -> None:
    mixed = _catalog(folders[builtin], {"t": [f"p{i}_{flavor}" for i, flavor in plan]})
    plain = _catalog(folders["sync"], {"t": [f"p{i}_sync" for i, _ in plan]})
    try:
        expected = outcome(lambda: plain.run("compose", customer="t", text=text, n=n))
        # the plain-call bridge (an event loop of its own), and the async path itself
        assert outcome(lambda: mixed.run("compose", customer="t", text=text, n=n)) == expected
        arun = asyncio.run(_outcome_async(mixed, text, n))
        assert arun == expected
        request = CallRequest("t", "compose", None, {"text": text, "n": n})
        assert answered(asyncio.run(mixed.acall(request))) == expected
        assert answered(mixed.call(request)) == expected
        method = mixed.method("compose", customer="t")
        assert asyncio.run(_outcome_method(method, text, n)) == expected
        # a batch, one call after another and on a thread pool
        items = [{"text": text, "n": n}, {"text": text, "n": n + 1}]
        twin = [answered(a) for a in plain.map("compose", items, customer="t")]
        assert [answered(a) for a in mixed.map("compose", items, customer="t")] == twin
        with ThreadPoolExecutor(2) as pool:
            pooled = mixed.map("compose", items, customer="t", executor=pool)
        assert [answered(a) for a in pooled] == twin
        # the command line
        shown = invoke(
            "run", "compose", "-C", "t", "--arg", f"text={text}", "--arg", f"n={n}", "--json",
            catalog=mixed.path,
        )  # fmt: skip
        if expected[0] == "ok":
            assert shown.exit_code == 0, shown.stderr
            assert json.loads(shown.stdout)["result"] == expected[1]
        else:
            assert shown.exit_code == exit_code(expected[1]), shown.stderr
    finally:
        mixed.close()
        plain.close()


async def _outcome_async(catalog: Catalog, text: str, n: int) -> tuple[Any, ...]:
    try:
        return ("ok", await catalog.arun("compose", customer="t", text=text, n=n))
    except CatalogError as exc:
        plugin = getattr(exc, "plugin", None)
        return ("error", exc.kind, plugin and plugin.split("_")[0])


async def _outcome_method(method: Any, text: str, n: int) -> tuple[Any, ...]:
    try:
        return ("ok", await method.acall(text=text, n=n))
    except CatalogError as exc:
        plugin = getattr(exc, "plugin", None)
        return ("error", exc.kind, plugin and plugin.split("_")[0])


def test_an_example_of_the_property_by_hand(folders: dict[str, Path]) -> None:
    """Every kind of point with async plugins in it, checked against a value written out."""
    catalog = _catalog(folders["sync"], {"t": ["p0_async", "p3_sync", "p2_async"]})
    result = asyncio.run(catalog.arun("compose", customer="t", text="abcdefg", n=1))
    # pick: len 7 % 5 == 2 -> p2; lines: p3 first (tryfirst), then p0 (listed first); p2 has
    # none ((1 + 2) % 3 == 0); shape wrappers outermost-first in the tenant's order; entry
    # wrappers likewise
    assert result == "pick2|<0<3<2ABCDEFG>>>|3:abcdefg:1|0:abcdefg:1#2#3#0"
    assert catalog.runs_async("compose", customer="t")
    assert catalog.run("compose", customer="t", text="abcdefg", n=1) == result


def test_a_plain_catalog_does_not_run_on_the_async_path(folders: dict[str, Path]) -> None:
    catalog = _catalog(folders["sync"], {"t": ["p0_sync"], "u": ["p0_async"]})
    assert not catalog.runs_async("compose", customer="t")
    assert catalog.runs_async("compose", customer="u")


def test_a_plain_call_on_a_running_loop_is_told_to_await(folders: dict[str, Path]) -> None:
    catalog = _catalog(folders["sync"], {"t": ["p0_async"], "plain": ["p0_sync"]})

    async def main() -> Any:
        with pytest.raises(AsyncRequiredError) as info:
            catalog.run("compose", customer="t", text="a")
        message = str(info.value)
        assert "'t'" in message and "compose v1" in message and "arun" in message
        assert info.value.kind == "async_required"
        # a tenant whose version is all plain runs as before, even on a loop
        return catalog.run("compose", customer="plain", text="a")

    assert asyncio.run(main()).startswith("none|<0A>")


def test_one_tenants_async_plugin_leaves_the_others_plain(folders: dict[str, Path]) -> None:
    catalog = _catalog(folders["async"], {"a": ["p1_async"], "b": ["p1_sync"]})
    assert catalog.runs_async("compose", customer="a")
    # the async built-in makes every tenant's version async (it is the catalog's own code)
    assert catalog.runs_async("compose", customer="b")
    assert catalog.run("compose", customer="a", text="q") == catalog.run(
        "compose", customer="b", text="q"
    )


def test_an_async_plugins_failure_names_it_and_fails_only_its_call(
    folders: dict[str, Path],
) -> None:
    catalog = _catalog(folders["sync"], {"t": ["p2_async"], "other": ["p2_sync"]})
    answer = asyncio.run(catalog.acall(CallRequest("t", "compose", None, {"text": "boom2"})))
    assert not answer.ok and answer.error is not None
    assert answer.error.kind == "plugin_call"
    assert answer.error.plugin == "p2_async"
    assert "boom from 2" in answer.error.message and "'t'" in answer.error.message
    assert catalog.run("compose", customer="other", text="ok") == "pick2|<2OK>#2"


def test_arun_works_with_limits_and_a_deadline_cancels(write_catalog: WriteCatalog) -> None:
    slow = """
    import asyncio
    from catalog_cli import hookimpl


    @hookimpl
    async def interface_a_v2_extra_lines(ctx, name, vip):
        if name == "slow":
            await asyncio.sleep(30)
        return "async line"
    """
    path = write_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.t]
        plugins = ["slowpoke"]
        versions = { interface_a = 2 }
        [limits]
        call_timeout = 0.2
        """,
        {"plugins/slowpoke.py": slow},
    )
    catalog = Catalog(path, limits=True)

    async def main() -> tuple[str, Any]:
        fine = await catalog.arun("interface_a", customer="t", name="Ada")
        late = await catalog.acall(CallRequest("t", "interface_a", None, {"name": "slow"}))
        return fine, late

    fine, late = asyncio.run(main())
    assert fine.endswith("async line")
    assert not late.ok and late.error is not None and late.error.kind == "call_timeout"


def test_catalog_run_runs_an_async_tenant(invoke: Invoke, folders: dict[str, Path]) -> None:
    catalog = _catalog(folders["async"], {"t": ["p0_async", "p1_sync"]})
    result = invoke(
        "run", "compose", "-C", "t", "--arg", "text=hey", "--json", catalog=catalog.path
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["result"] == catalog.run("compose", customer="t", text="hey")


# -- registration ------------------------------------------------------------------------------


def _plugin(body: str) -> str:
    return "from catalog_cli import hookimpl\n\n\n" + textwrap.dedent(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "@hookimpl(wrapper=True)\nasync def interface_a_v2_extra_lines(ctx, name, vip):\n"
            "    return None\n",
            "an async wrapper must `yield`",
        ),
        (
            "@hookimpl\nasync def interface_a_v2_extra_lines(ctx, name, vip):\n    yield 'x'\n",
            "an async def that yields is a wrapper",
        ),
        (
            "@hookimpl(hookwrapper=True)\nasync def interface_a_v2_extra_lines(ctx, name, vip):\n"
            "    yield\n",
            "old-style hookwrapper cannot be async",
        ),
        (
            "@hookimpl\nasync def catalog_startup(tenant, settings):\n    pass\n",
            "must be a plain def",
        ),
    ],
)
def test_async_shapes_that_cannot_work_are_refused(
    write_catalog: WriteCatalog, body: str, message: str
) -> None:
    path = write_catalog(
        '[catalog]\nplugin_dirs = ["plugins"]\n[tenants.t]\nplugins = ["acme"]\n'
        "versions = { interface_a = 2 }\n[tenants.other]\n",
        {"plugins/acme.py": _plugin(body)},
    )
    catalog = Catalog(path)
    with pytest.raises(PluginValidationError, match=message) as info:
        catalog.run("interface_a", customer="t")
    assert info.value.plugin == "acme"
    assert catalog.run("interface_a", customer="other").startswith("Hello")


def test_an_async_wrapper_that_yields_three_times_is_named(write_catalog: WriteCatalog) -> None:
    body = """
    @hookimpl(wrapper=True)
    async def interface_a_v2_extra_lines(ctx, name, vip):
        result = yield
        yield result
        yield result
    """
    path = write_catalog(
        '[catalog]\nplugin_dirs = ["plugins"]\n[tenants.t]\nplugins = ["acme"]\n'
        "versions = { interface_a = 2 }\n",
        {"plugins/acme.py": _plugin(body)},
    )
    answer = Catalog(path).call(CallRequest("t", "interface_a", None, {}))
    assert answer.error is not None and answer.error.plugin == "acme"
    assert "yielded three times" in answer.error.message


def test_an_async_plugins_wrong_result_is_its_own(write_catalog: WriteCatalog) -> None:
    body = """
    @hookimpl
    async def interface_a_v2_extra_lines(ctx, name, vip):
        return 42
    """
    path = write_catalog(
        '[catalog]\nplugin_dirs = ["plugins"]\n[tenants.t]\nplugins = ["acme"]\n'
        "versions = { interface_a = 2 }\n",
        {"plugins/acme.py": _plugin(body)},
    )
    answer = Catalog(path).call(CallRequest("t", "interface_a", None, {}))
    assert answer.error is not None and answer.error.kind == "result_validation"
    assert answer.error.plugin == "acme" and "got int 42" in answer.error.message


# -- the HTTP API --------------------------------------------------------------------------------


def _server(folder: Path, tenants: dict[str, list[str]]) -> Any:
    """A test client of a server of a catalog in ``folder``: each tenant's key is
    ``key-of-<tenant>-0123456789``."""
    pytest.importorskip("fastapi")
    import warnings

    from catalog_cli.config._keys import hash_key
    from catalog_cli.http import ServeSettings, create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's test client asks for another httpx
        from starlette.testclient import TestClient

    lines = ['[catalog]\nplugin_dirs = ["plugins"]\n']
    for tenant, plugins in tenants.items():
        listed = ", ".join(f'"{p}"' for p in plugins)
        key = hash_key(f"key-of-{tenant}-0123456789")
        lines.append(f'[tenants.{tenant}]\nplugins = [{listed}]\napi_keys = ["{key}"]\n')
    path = folder / f"catalog_{next(_files)}.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return TestClient(create_app(path, settings=ServeSettings(max_timeout=5.0, job_threads=1)))


def _post(client: Any, tenant: str, **body: Any) -> Any:
    headers = {"Authorization": f"Bearer key-of-{tenant}-0123456789", **body.pop("headers", {})}
    return client.post("/v1/interfaces/compose/run", json=body, headers=headers)


#: Tenants of the HTTP API's twin test: ``m<k>`` with plugins of both kinds, ``s<k>`` the same
#: plugins all plain (drawn once, so one server serves every example).
PAIRS = 12


def _pairs(seed: int) -> dict[str, list[str]]:
    draw = random.Random(seed)
    tenants: dict[str, list[str]] = {}
    for k in range(PAIRS):
        chosen = draw.sample(range(PLUGINS), draw.randint(0, PLUGINS))
        tenants[f"m{k}"] = [f"p{i}_{draw.choice(FLAVORS)}" for i in chosen]
        tenants[f"s{k}"] = [f"p{i}_sync" for i in chosen]
    return tenants


@pytest.fixture(scope="module", params=["sync", "async"])
def twin_server(folders: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[Any]:
    with _server(folders[request.param], _pairs(7)) as client:
        yield client


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(k=st.integers(0, PAIRS - 1), text=st.sampled_from(TEXTS), n=st.integers(0, 5))
def test_the_http_api_answers_as_the_plain_twin(
    twin_server: Any, k: int, text: str, n: int
) -> None:
    """Each tenant's first call builds it (on a call thread); later ones are awaited."""
    mixed = _post(twin_server, f"m{k}", arguments={"text": text, "n": n})
    plain = _post(twin_server, f"s{k}", arguments={"text": text, "n": n})
    assert mixed.status_code == plain.status_code, (mixed.text, plain.text)
    if plain.status_code == 200:
        assert mixed.json()["result"] == plain.json()["result"]
    else:
        assert mixed.json()["type"] == plain.json()["type"]


@pytest.mark.parametrize("builtin", ["async", "sync"])
def test_the_http_api_cancels_an_async_call_at_its_deadline(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builtin: str
) -> None:
    """An async plugin waiting is cancelled at the deadline, also when the plain built-in that
    called its point waits for it in a worker thread."""
    marker = tmp_path / "marker"
    monkeypatch.setenv("ASYNC_TEST_MARKER", str(marker))
    with _server(folders[builtin], {"t": ["sleeper", "p0_async"]}) as client:
        assert _post(client, "t", arguments={"text": "a"}).status_code == 200  # built
        late = _post(client, "t", arguments={"text": "sleep"}, headers={"X-Timeout": "0.2"})
        assert late.status_code == 504, late.text
        # on the async path the call's task is cancelled: nothing of it runs on
        deadline = time.monotonic() + 5
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert marker.read_text() == "cancelled"
        assert _post(client, "t", arguments={"text": "b"}).status_code == 200


# -- interceptors ------------------------------------------------------------------------------

ASYNC_INTERCEPTOR = """
import asyncio

from catalog_cli import hookimpl

SEEN = []


@hookimpl(wrapper=True)
async def catalog_call(ctx, call):
    SEEN.append(("enter", ctx.name, call.asynchronous))
    await asyncio.sleep(0)
    result = yield
    SEEN.append(("leave", ctx.name))
    yield result + " [" + ctx.name + "]"


@hookimpl(wrapper=True)
async def catalog_point_call(ctx, call, point):
    result = yield
    SEEN.append(("point", point.point, point.plugin))
    yield result
"""

PLAIN_INTERCEPTOR = """
from catalog_cli import hookimpl

ORDER = 1


@hookimpl(wrapper=True)
def catalog_call(ctx, call):
    result = yield
    return result + " [plain]"
"""

FLAKY = """
import asyncio

from catalog_cli import hookimpl

FAILURES = {"left": 2}


@hookimpl
async def interface_a_v2_extra_lines(ctx, name, vip):
    await asyncio.sleep(0)
    if name == "flaky" and FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise ConnectionError("try again")
    if name == "slow":
        await asyncio.sleep(10)
    return "async line"
"""


def test_an_async_interceptor_wraps_plain_and_async_calls(write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.watch]
        [interceptors.plain]
        [tenants.t]
        plugins = ["flaky"]
        versions = { interface_a = 2 }
        [tenants.u]
        versions = { interface_a = 2 }
        """,
        {
            "plugins/watch.py": ASYNC_INTERCEPTOR,
            "plugins/plain.py": PLAIN_INTERCEPTOR,
            "plugins/flaky.py": FLAKY,
        },
    )
    catalog = Catalog(path)
    # an async interceptor puts every call in its scope on the async path, plain plugins too
    assert catalog.runs_async("interface_a", customer="u")
    via_bridge = catalog.run("interface_a", customer="u", name="Ada")
    assert via_bridge == "Hello, Ada! [watch] [plain]"  # plain is outermost (ORDER 1)
    awaited = asyncio.run(catalog.arun("interface_a", customer="t", name="Ada"))
    assert awaited == "Hello, Ada!\nasync line [watch] [plain]"
    use = next(use for use in catalog.registry.plan("t").interceptors if use.name == "watch")
    watch: Any = use.plugin.module
    assert ("enter", "watch", True) in watch.SEEN
    assert ("point", "extra_lines", "flaky") in watch.SEEN
    traced = asyncio.run(
        catalog.acall(CallRequest("t", "interface_a", None, {"name": "Bo"}), trace=True)
    )
    assert traced.ok and traced.trace is not None
    kinds = [(node.kind, node.name) for node in traced.trace.root.walk()]
    assert ("interceptor", "watch") in kinds and ("interceptor", "plain") in kinds


def test_retry_and_timeout_work_on_the_async_path(
    write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog_cli.interceptors import retry, timeout

    slept: list[float] = []
    monkeypatch.setattr(retry, "_sleep", slept.append)
    path = write_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.retry.settings]
        attempts = 3
        on = ["ConnectionError", "TimeoutError"]
        backoff = 0.01
        jitter = false
        [interceptors.timeout]
        settings = { seconds = 0.2 }
        [tenants.t]
        plugins = ["flaky"]
        versions = { interface_a = 2 }
        """,
        {"plugins/flaky.py": FLAKY},
    )
    catalog = Catalog(path)
    assert catalog.runs_async("interface_a", customer="t")

    async def main() -> tuple[str, Any]:
        recovered = await catalog.arun("interface_a", customer="t", name="flaky")
        late = await catalog.acall(CallRequest("t", "interface_a", None, {"name": "slow"}))
        return recovered, late

    recovered, late = asyncio.run(main())
    assert recovered.endswith("async line")
    assert slept == [0.01, 0.02, 0.01, 0.02]
    counts = retry.counters(catalog.interceptor_states("retry"), "t")
    assert counts[("interface_a", 2)] == {"retries": 4, "recovered": 1, "gave_up": 1}
    # the deadline cancels each attempt (a timed-out attempt is retried, then given up)
    assert late.error is not None and late.error.kind == "call_timeout"
    assert timeout.stats(catalog.interceptor_states("timeout"), "t").cancelled == 3


def test_jobs_run_an_async_tenant(folders: dict[str, Path]) -> None:
    from catalog_cli import JobStore, JobWorker

    catalog = _catalog(folders["async"], {"t": ["p0_async", "p2_sync"]})
    expected = catalog.run("compose", customer="t", text="job", n=1)
    with JobStore.for_catalog(catalog) as store:
        job = store.submit(CallRequest("t", "compose", None, {"text": "job", "n": 1}))
        assert JobWorker(catalog, store, threads=1).drain() == 1
        done = store.get(job.id)
    assert done.status == "succeeded" and done.result == expected


def test_tenants_interleaved_on_one_loop_never_see_each_other(folders: dict[str, Path]) -> None:
    """Many calls of three tenants in flight at once on one event loop, each plugin waiting on
    the loop: every answer is its own tenant's, and every call has its own id."""
    tenants = {"a": ["p0_async", "p1_async"], "b": ["p2_async"], "c": ["p3_sync", "p4_async"]}
    catalog = _catalog(folders["async"], tenants)
    expected = {t: catalog.run("compose", customer=t, text="hello", n=2) for t in tenants}
    assert len(set(expected.values())) == 3

    async def main() -> list[tuple[str, Any]]:
        order = [t for _ in range(100) for t in tenants]
        answers = await asyncio.gather(
            *(
                catalog.acall(CallRequest(t, "compose", None, {"text": "hello", "n": 2}))
                for t in order
            )
        )
        return list(zip(order, answers, strict=True))

    found = asyncio.run(main())
    assert all(answer.result == expected[tenant] for tenant, answer in found)
    assert len({answer.call_id for _, answer in found}) == len(found)


def test_an_isolated_plugin_on_the_async_path_leaves_the_loop_free(
    write_catalog: WriteCatalog,
) -> None:
    """A tenant with an async plugin and an isolated one: its calls run on the async path, and
    the isolated plugin's call waits for its worker process in a thread, not on the loop."""
    slow = """
    import time
    from catalog_cli import hookimpl


    @hookimpl
    def interface_a_v2_extra_lines(ctx, name, vip):
        time.sleep(0.3)
        return "isolated line for " + name
    """
    path = write_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.t]
        plugins = ["slow", "flaky"]
        versions = { interface_a = 2 }
        isolation = { plugins = ["slow"], workers = 1 }
        """,
        {"plugins/slow.py": slow, "plugins/flaky.py": FLAKY},
    )
    catalog = Catalog(path)
    try:
        assert catalog.runs_async("interface_a", customer="t")

        async def main() -> tuple[str, int]:
            ticks = 0

            async def ticking() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.ensure_future(ticking())
            result = await catalog.arun("interface_a", customer="t", name="Ada")
            ticker.cancel()
            return result, ticks

        result, ticks = asyncio.run(main())
        assert result == "Hello, Ada!\nisolated line for Ada\nasync line"
        assert ticks >= 10  # the loop went on while the worker slept 0.3 s
    finally:
        catalog.close()


def test_a_batch_on_worker_processes_runs_an_async_tenant(folders: dict[str, Path]) -> None:
    from catalog_cli import ProcessPool

    catalog = _catalog(folders["async"], {"t": ["p0_async", "p1_sync", "p2_async"]})
    items = [{"text": text, "n": 1} for text in ("a", "hello", "boom2", "abcdefg")]
    here = [answered(a) for a in catalog.map("compose", items, customer="t")]
    with ProcessPool(1) as pool:
        there = catalog.map("compose", items, customer="t", executor=pool)
    assert [answered(a) for a in there] == here
    assert ("ok", "rescued by 1#0") in here  # p2 fails at "boom2", p1's wrapper rescues it


def test_every_builtin_interceptor_works_on_the_async_path(write_catalog: WriteCatalog) -> None:
    """The built-in interceptors around an async tenant's calls: each does its work (checks,
    counts, caches, records) as on the plain path."""
    from catalog_cli.execution._replay import read_recording
    from catalog_cli.interceptors import metrics

    path = write_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.logging]
        [interceptors.metrics]
        [interceptors.validation]
        [interceptors.circuit_breaker]
        [interceptors.rate_limit]
        settings = { rate = 1000, burst = 1000 }
        [interceptors.retry]
        [interceptors.timeout]
        [interceptors.record]
        settings = { path = "calls.jsonl" }
        [interceptors.cache]
        include = { interfaces = ["interface_a"] }
        [tenants.t]
        plugins = ["flaky"]
        versions = { interface_a = 2 }
        """,
        {"plugins/flaky.py": FLAKY},
    )
    catalog = Catalog(path)
    assert catalog.runs_async("interface_a", customer="t")

    async def main() -> list[Any]:
        return [await catalog.arun("interface_a", customer="t", name="Ada") for _ in range(3)]

    results = asyncio.run(main())
    assert results == ["Hello, Ada!\nasync line"] * 3
    series = metrics.collect(catalog.interceptor_states("metrics"))
    assert [(s.tenant, s.calls, s.errors) for s in series] == [("t", 3, 0)]
    recorded = read_recording(path.parent / "calls.jsonl")
    assert len(recorded) == 3
    cache = catalog.interceptor_states("cache")["t"]
    assert cache  # the cache kept the answer for the repeated calls
    catalog.close()


def test_tenants_show_says_which_versions_run_async(
    invoke: Invoke, folders: dict[str, Path]
) -> None:
    catalog = _catalog(folders["sync"], {"t": ["p0_async"], "plain": ["p0_sync"]})
    shown = invoke("tenants", "show", "t", "--json", catalog=catalog.path)
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["runs_async"] == ["compose"]
    plain = invoke("tenants", "show", "plain", "--json", catalog=catalog.path)
    assert json.loads(plain.stdout)["runs_async"] == []
    text = invoke("tenants", "show", "t", catalog=catalog.path)
    assert "compose v1  (version from: latest)  · async" in text.stdout


# -- found in review -----------------------------------------------------------------------

ROUGH = """
import asyncio

from catalog_cli import hookimpl

LOG = []


@hookimpl
async def interface_a_v2_extra_lines(ctx, name, vip):
    if name == "exit":
        raise SystemExit(3)
    if name == "interrupt":
        raise KeyboardInterrupt
    if name == "cancelled":
        future = asyncio.get_running_loop().create_future()
        future.cancel()  # a shared lookup another caller gave up on, say
        return await future
    if name == "slow":
        try:
            await asyncio.sleep(1.0)
        except asyncio.CancelledError:
            LOG.append("cancelled")
            raise
        LOG.append("ran on after the call was over")
    return "async line"
"""


def _rough(write_catalog: WriteCatalog, extra: str = "", **options: Any) -> Catalog:
    path = write_catalog(
        '[catalog]\nplugin_dirs = ["plugins"]\n' + extra + "[tenants.t]\nplugins = "
        '["rough"]\nversions = { interface_a = 2 }\n',
        {"plugins/rough.py": ROUGH},
    )
    return Catalog(path, **options)


@pytest.mark.parametrize("name", ["exit", "interrupt"])
@pytest.mark.parametrize("timeout", [False, True])
def test_a_plugins_system_exit_on_the_async_path_is_its_own_failure(
    write_catalog: WriteCatalog, name: str, timeout: bool
) -> None:
    """Raised in a task of the catalog's (the timeout interceptor's, a point called from a
    plain built-in in a worker thread), SystemExit would end the event loop itself."""
    extra = "[interceptors.timeout]\nsettings = { seconds = 5 }\n" if timeout else ""
    catalog = _rough(write_catalog, extra)

    async def main() -> Any:
        other = asyncio.ensure_future(asyncio.sleep(0.05, "the loop goes on"))
        answer = await catalog.acall(CallRequest("t", "interface_a", None, {"name": name}))
        return answer, await other

    answer, other = asyncio.run(main())
    assert other == "the loop goes on"
    assert answer.error is not None and answer.error.kind == "plugin_call"
    assert answer.error.plugin == "rough"


def test_a_deadline_cancels_what_the_timeout_interceptor_runs(write_catalog: WriteCatalog) -> None:
    catalog = _rough(write_catalog, "[interceptors.timeout]\nsettings = { seconds = 5 }\n")
    log = sys.modules[catalog.registry.plan("t").plugins[0].module.__name__].LOG

    async def main() -> Any:
        request = CallRequest("t", "interface_a", None, {"name": "slow"})
        answer = await catalog.acall(request, timeout=0.2)
        await asyncio.sleep(1.2)
        return answer

    answer = asyncio.run(main())
    assert answer.error is not None and answer.error.kind == "call_timeout"
    assert log == ["cancelled"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="a task tells who cancelled it from 3.11")
def test_a_plugins_own_cancelled_error_is_its_failure(write_catalog: WriteCatalog) -> None:
    catalog = _rough(write_catalog)
    request = CallRequest("t", "interface_a", None, {"name": "cancelled"})
    plain = catalog.call(request)
    awaited = asyncio.run(catalog.acall(request))
    assert plain.error is not None and awaited.error is not None
    assert (awaited.error.kind, awaited.error.plugin) == (plain.error.kind, plain.error.plugin)
    assert awaited.error.plugin == "rough"


def test_a_method_with_limits_is_awaited_too(write_catalog: WriteCatalog) -> None:
    catalog = _rough(write_catalog, limits=True)
    method = catalog.method("interface_a", customer="t")
    assert asyncio.run(method.acall(name="Ada")) == "Hello, Ada!\nasync line"


def test_many_calls_at_once_with_isolated_and_offloaded_code_all_finish(
    write_catalog: WriteCatalog,
) -> None:
    """Plain built-ins waiting in worker threads for points whose isolated plugin waits for
    its worker in a thread too: never one pool whose threads all wait on each other."""
    isolated = """
    from catalog_cli import hookimpl


    @hookimpl
    def interface_a_v2_extra_lines(ctx, name, vip):
        return "isolated line"
    """
    path = write_catalog(
        '[catalog]\nplugin_dirs = ["plugins"]\n[tenants.t]\nplugins = ["rough", "iso"]\n'
        'versions = { interface_a = 2 }\nisolation = { plugins = ["iso"], workers = 2 }\n',
        {"plugins/rough.py": ROUGH, "plugins/iso.py": isolated},
    )
    catalog = Catalog(path)
    try:

        async def main() -> list[Any]:
            calls = [catalog.arun("interface_a", customer="t", name=f"u{i}") for i in range(24)]
            return list(await asyncio.wait_for(asyncio.gather(*calls), 20))

        found = asyncio.run(main())
        assert found[3] == "Hello, u3!\nasync line\nisolated line"
    finally:
        catalog.close()


def test_the_async_paths_threads_never_keep_the_process_alive(folders: dict[str, Path]) -> None:
    """Plain code abandoned at a deadline must not hold up the process's exit (nor make the
    command line end early for threads it takes for a plugin's)."""
    import threading

    catalog = _catalog(folders["sync"], {"t": ["p0_async"]})  # the plain built-in is offloaded
    assert asyncio.run(catalog.arun("compose", customer="t", text="a")).startswith("none|")
    ours = [t for t in threading.enumerate() if t.name.startswith("catalog-async-")]
    assert ours and all(t.daemon for t in ours)


STOPPER = """
from catalog_cli import hookimpl


@hookimpl
def interface_a_v2_greeting(ctx, name, language):
    if name == "stop":
        raise StopIteration("no greeting")
    return None
"""


@pytest.mark.parametrize(
    "extra",
    [
        "",
        "[interceptors.timeout]\nsettings = { seconds = 20 }\n",
        '[interceptors.timeout]\nsettings = { seconds = 20, isolation = "process" }\n',
    ],
    ids=["no-interceptor", "timeout", "timeout-in-a-process"],
)
def test_a_plugins_stopiteration_on_the_async_path_fails_its_call(
    write_catalog: WriteCatalog, extra: str
) -> None:
    """An asyncio future cannot hold a StopIteration: one a plain plugin raised in a worker
    thread of the async path left the call waiting for ever. It fails the call, blamed on the
    plugin, as Python's RuntimeError for a coroutine that raises StopIteration."""
    path = write_catalog(
        '[catalog]\nplugin_dirs = ["plugins"]\n' + extra + "[tenants.t]\nplugins = "
        '["rough", "stopper"]\nversions = { interface_a = 2 }\n',
        {"plugins/rough.py": ROUGH, "plugins/stopper.py": STOPPER},
    )
    catalog = Catalog(path)
    assert catalog.runs_async("interface_a", customer="t")
    outcome: list[Any] = []

    def call() -> None:
        try:
            outcome.append(catalog.run("interface_a", customer="t", name="stop"))
        except CatalogError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the call never ended"
    (error,) = outcome
    assert isinstance(error, CatalogError)
    assert error.plugin == "stopper", error
    assert "StopIteration" in str(error)
    assert catalog.run("interface_a", customer="t", name="Ada").startswith("Hello, Ada")


WATCHER = """
from catalog_cli import hookimpl

SEEN = []


@hookimpl(wrapper=True)
async def interface_a_v2_greeting(ctx, name, language):
    try:
        result = yield
    except Exception as exc:
        SEEN.append(type(exc).__name__)
        raise
    yield result
"""


def test_async_wrappers_each_see_a_stopiteration_as_in_pluggy(write_catalog: WriteCatalog) -> None:
    # Thrown into an async generator, a StopIteration comes out as a RuntimeError; pluggy hands
    # the StopIteration itself on to the outer wrappers, and so does the async driver.
    path = write_catalog(
        '[catalog]\nplugin_dirs = ["plugins"]\n[tenants.t]\nplugins = '
        '["outer", "inner", "stopper"]\nversions = { interface_a = 2 }\n',
        {"plugins/outer.py": WATCHER, "plugins/inner.py": WATCHER, "plugins/stopper.py": STOPPER},
    )
    catalog = Catalog(path)
    with pytest.raises(CatalogError) as caught:
        asyncio.run(catalog.arun("interface_a", customer="t", name="stop"))
    assert caught.value.plugin == "stopper"
    modules = {p.name: p.module for p in catalog.registry.plan("t").plugins}
    assert modules["inner"].SEEN == ["StopIteration"]
    assert modules["outer"].SEEN == ["StopIteration"]


def test_the_timeout_in_a_process_answers_on_the_async_path(write_catalog: WriteCatalog) -> None:
    # The child process runs the entry point alone (its plugin points and their async
    # implementations included), not the interceptors again: it cannot start a child itself.
    isolated = _rough(
        write_catalog,
        '[interceptors.timeout]\nsettings = { seconds = 20, isolation = "process" }\n',
    )
    assert isolated.runs_async("interface_a", customer="t")
    answer = isolated.call(CallRequest("t", "interface_a", None, {"name": "Ada", "vip": True}))
    assert answer.ok, answer.error
    assert "async line" in answer.result
    again = isolated.arun("interface_a", customer="t", name="Ada", vip=True)
    assert asyncio.run(again) == answer.result


HELPER_GENERATOR = """
from catalog_cli import hookimpl


def _lines(name):
    yield next(iter([]))  # a helper generator's own StopIteration: Python's RuntimeError


@hookimpl
def interface_a_v2_greeting(ctx, name, language):
    return "".join(_lines(name))
"""


def test_a_plugins_helper_generator_error_is_blamed_on_the_plugin(
    write_catalog: WriteCatalog,
) -> None:
    path = write_catalog(
        '[catalog]\nplugin_dirs = ["plugins"]\n[tenants.t]\nplugins = ["helper"]\n'
        "versions = { interface_a = 2 }\n",
        {"plugins/helper.py": HELPER_GENERATOR},
    )
    with pytest.raises(CatalogError) as caught:
        Catalog(path).run("interface_a", customer="t", name="Ada")
    assert caught.value.plugin == "helper"
    assert "generator raised StopIteration" in str(caught.value)
