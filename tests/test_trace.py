"""Traced calls: the tree of what ran, from the library and the CLI."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import PluginCallError
from tests.conftest import Invoke, MakeCatalog, WriteCatalog


def steps(node: dict[str, Any], depth: int = 0) -> list[tuple[int, str, str, str | None]]:
    """(depth, kind, name or plugin, result) for every step, in order."""
    label = node.get("plugin") or node["name"]
    found = [(depth, node["kind"], label, node["result"])]
    for child in node["children"]:
        found.extend(steps(child, depth + 1))
    return found


def test_trace_shows_who_produced_what(shipped: Catalog) -> None:
    outcome = shipped.execute(
        "price_quote", customer="c2", arguments={"unit_price": 10.0, "quantity": 3}, trace=True
    )
    assert outcome.trace is not None
    tree = outcome.trace.to_dict()
    assert tree["kind"] == "call" and tree["tenant"] == "c2"
    assert tree["version_source"] == outcome.version_source
    assert tree["call_id"] == outcome.call_id
    assert steps(tree)[1:] == [
        (1, "entry point", "price_quote v1", repr(outcome.result)),
        (2, "implementation", "builtin_plugins.price_quote", repr(outcome.result)),
        (3, "plugin point", "discounts", "[]"),
        (3, "plugin point", "tax_rate", "0.21"),
        (4, "implementation", "customer_2.price_quote", "None"),
        (4, "implementation", "builtin_plugins.price_quote", "0.21"),
        (3, "plugin point", "total", "38.8"),
        (4, "wrapper", "customer_2.price_quote", "38.8"),
        (5, "implementation", "builtin_plugins.price_quote", "36.3"),
    ]
    for node in outcome.trace.root.walk():
        assert node.ended is not None and node.seconds >= 0
        for child in node.children:
            assert child.started >= node.started and child.ended <= node.ended  # type: ignore[operator]


def test_untraced_calls_are_not_recorded_nor_slowed(shipped: Catalog) -> None:
    shipped.execute("interface_a", customer="c1", arguments={"name": "A"}, trace=True)
    pm = shipped.plugin_manager("c1")
    for impl in pm.hook.interface_a_v2_greeting.get_hookimpls():
        # the tenant's own manager keeps the plugin's function: tracing uses a copy
        assert impl.function.__module__ != "catalog_cli.runtime._trace"
    outcome = shipped.execute("interface_a", customer="c1", arguments={"name": "A"})
    assert outcome.trace is None
    assert "trace" not in outcome.to_dict()


def test_a_failed_call_carries_its_trace(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.t]
        plugins = ["bad"]
        """,
        {
            "plugins/bad.py": """
            from catalog_cli import hookimpl

            @hookimpl
            def interface_a_v2_extra_lines(ctx, name):
                raise ValueError(f"no lines for {name}")
            """
        },
    )
    with pytest.raises(PluginCallError) as caught:
        catalog.execute("interface_a", customer="t", arguments={"name": "Zed"}, trace=True)
    tree = caught.value.trace.to_dict()  # type: ignore[union-attr]
    assert tree["error"].startswith("PluginCallError: plugin 'bad' raised ValueError")
    (failed,) = [s for s in steps(tree) if s[2] == "bad"]
    bad = next(n for n in caught.value.trace.root.walk() if n.plugin == "bad")  # type: ignore[union-attr]
    assert failed[1] == "implementation" and bad.error == "ValueError: no lines for Zed"


def test_canary_is_reported_in_the_trace(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        """
        [tenants.t]
        versions = { interface_a = 1 }
        [tenants.t.canary.interface_a]
        version = 2
        share = 0.5
        key = "name"
        """
    )
    sources = set()
    for index in range(40):
        outcome = catalog.execute(
            "interface_a", customer="t", arguments={"name": f"n{index}"}, trace=True
        )
        tree = outcome.trace.to_dict()  # type: ignore[union-attr]
        assert tree["version_source"] == outcome.version_source
        assert tree["name"] == f"interface_a v{outcome.version}"
        sources.add(tree["version_source"])
    assert sources == {"canary", "tenant"}


def test_concurrent_traced_calls_build_their_own_trees(shipped: Catalog) -> None:
    results: dict[str, Any] = {}

    def work(name: str) -> None:
        outcome = shipped.execute(
            "interface_a", customer="c1", arguments={"name": name}, trace=True
        )
        results[name] = outcome.trace.to_dict()  # type: ignore[union-attr]

    names = [f"user{i}" for i in range(8)]
    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in names:
        tree = results[name]
        assert tree["arguments"] == {"name": repr(name)}
        kinds = [s[1] for s in steps(tree)]
        assert kinds.count("entry point") == 1  # one call per tree, no mixing
        # v2's code serves the call: its implementation, then its greeting point's fallback
        method, greeting = [s for s in steps(tree) if s[2] == "builtin_plugins.interface_a"]
        assert f"Hello, {name}!" in (method[3] or "")
        assert f"Hello, {name}!" == (greeting[3] or "").strip("'")


def test_cli_trace_tree_on_stderr(invoke: Invoke) -> None:
    result = invoke(
        "run", "price_quote", "-C", "c2", "-a", "unit_price=10", "-a", "quantity=3", "--trace"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] == 38.8
    assert "plugin point total (wrap)" in result.stderr
    assert "wrapper customer_2.price_quote" in result.stderr
    assert "plugin point" not in result.stdout


def test_cli_trace_json(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "c1", "-a", "name=Ada", "--trace", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["trace"]["kind"] == "call"
    assert data["trace"]["children"][0]["kind"] == "entry point"


def test_cli_trace_of_a_failed_call(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.t]
        plugins = ["bad"]
        """,
        {
            "plugins/bad.py": """
            from catalog_cli import hookimpl

            @hookimpl
            def interface_a_v2_extra_lines(ctx):
                raise ValueError("broken")
            """
        },
    )
    result = invoke("run", "interface_a", "-C", "t", "--trace", catalog=path)
    assert result.exit_code == 7
    assert "implementation bad" in result.stderr and "ValueError: broken" in result.stderr
    result = invoke("run", "interface_a", "-C", "t", "--trace", "--json", catalog=path)
    assert result.exit_code == 7
    data = json.loads(result.stdout)
    assert data["error_type"] == "PluginCallError"
    assert any(s[2] == "bad" for s in steps(data["trace"]))


def test_secrets_never_enter_a_trace(make_catalog: MakeCatalog, new_module: Any) -> None:
    specs = new_module(
        "signin_specs",
        '''
        from catalog_cli import Context, entrypoint

        @entrypoint
        def signin_v1(ctx: Context, user: str, password: str, headers: dict[str, str]) -> str:
            """Sign in."""
        ''',
    )
    impl = new_module(
        "signin_impl",
        """
        from catalog_cli import hookimpl

        @hookimpl
        def signin_v1(ctx, user, password, headers):
            return user
        """,
    )
    catalog = make_catalog(
        f"""
        [catalog]
        hookspecs = ["{specs}"]
        builtins = ["{impl}"]
        [tenants.t]
        """
    )
    arguments = {"user": "ada", "password": "hunter2", "headers": {"X-Api-Key": "k123"}}
    outcome = catalog.execute("signin", customer="t", arguments=arguments, trace=True)
    text = json.dumps(outcome.trace.to_dict())  # type: ignore[union-attr]
    assert "hunter2" not in text and "k123" not in text
    assert outcome.trace.to_dict()["arguments"]["user"] == "'ada'"  # type: ignore[union-attr]


def test_retried_attempts_after_a_timeout_are_siblings(make_catalog: MakeCatalog) -> None:
    # The first attempt hangs past its deadline and is abandoned; its steps must not swallow
    # the second attempt's.
    slow = """
    import threading
    from catalog_cli import hookimpl

    RELEASE = threading.Event()
    RUNS = []

    @hookimpl
    def interface_a_v2_extra_lines(ctx):
        RUNS.append(1)
        if len(RUNS) == 1:
            RELEASE.wait(10)
        return "done"
    """
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.retry]
        settings = { attempts = 2, backoff = 0, on = ["TimeoutError"] }
        [interceptors.timeout]
        settings = { seconds = 0.2 }
        [tenants.t]
        plugins = ["slow"]
        """,
        {"plugins/slow.py": slow},
    )
    try:
        outcome = catalog.execute("interface_a", customer="t", trace=True)
        tree = outcome.trace.to_dict()  # type: ignore[union-attr]  # while the first still hangs
    finally:
        module = next(m for n, m in sys.modules.items() if n.endswith(".slow"))
        module.RELEASE.set()
    assert outcome.result.endswith("done")
    (retry,) = tree["children"]
    assert retry["name"] == "retry"
    attempts = retry["children"]
    assert [a["name"] for a in attempts] == ["timeout", "timeout"]
    assert attempts[0]["error"].startswith("CallTimeoutError")
    assert attempts[1]["error"] is None and attempts[1]["result"].endswith("done'")
    first_entry = attempts[0]["children"][0]
    assert first_entry.get("unfinished") is True  # abandoned while it ran


def test_cli_trace_shows_interceptors_in_wrap_order(
    invoke: Invoke, write_catalog: WriteCatalog
) -> None:
    path = write_catalog(
        """
        [interceptors.metrics]
        [interceptors.validation]
        [interceptors.logging]
        [tenants.t]
        """
    )
    result = invoke("run", "interface_a", "-C", "t", "--trace", catalog=path)
    assert result.exit_code == 0, result.output
    order = [
        line.split("interceptor ")[1].split()[0]
        for line in result.stderr.splitlines()
        if "interceptor " in line
    ]
    assert order == ["logging", "metrics", "validation"]
