"""The timeout interceptor: deadlines in a thread (abandoned) or in a child process (killed)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.cli._exits import exit_code
from catalog_cli.errors import (
    CallTimeoutError,
    CatalogError,
    ConfigError,
    InvalidArgumentsError,
    PluginCallError,
    ResultValidationError,
)
from catalog_cli.interceptors import timeout
from tests.conftest import MakeCatalog

PROBE = "timeout_test_probe"

#: Fast for small quantities; from 100 units it waits for PROBE.RELEASE (at most 5 s), which
#: the probe fixture sets at teardown so no thread outlives its test.
SLOW = f"""
import threading

import {PROBE} as PROBE
from catalog_cli import hookimpl


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    PROBE.THREADS.append(threading.current_thread().name)
    if quantity == 13:
        raise ConnectionError("no route to the discount service")
    if quantity >= 100:
        PROBE.RELEASE.wait(5)
    return 0.1
"""


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    module = ModuleType(PROBE)
    module.THREADS = []  # type: ignore[attr-defined]
    module.RELEASE = threading.Event()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PROBE, module)
    yield module
    module.RELEASE.set()
    for thread in threading.enumerate():
        if thread.name.startswith("catalog-call-"):
            thread.join(5)


def _catalog(
    make_catalog: MakeCatalog, settings: str = "seconds = 0.2", extra: str = ""
) -> Catalog:
    return make_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.timeout]
        settings = {{ {settings} }}
        {extra}
        [tenants.t]
        plugins = ["slow"]
        [tenants.u]
        plugins = ["slow"]
        """,
        {"plugins/slow.py": SLOW},
    )


def _quote(catalog: Catalog, tenant: str = "t", quantity: int = 2) -> Any:
    return catalog.run("price_quote", customer=tenant, unit_price=10.0, quantity=quantity)


def _stats(catalog: Catalog, tenant: str = "t") -> timeout.TimeoutStats:
    return timeout.stats(catalog.interceptor_states("timeout"), tenant)


def _deadline_thread(call_id: str) -> threading.Thread:
    [found] = [t for t in threading.enumerate() if t.name == f"catalog-call-{call_id}"]
    return found


# -- thread ------------------------------------------------------------------------------------


def test_a_call_past_its_deadline_raises_and_its_thread_is_abandoned(
    make_catalog: MakeCatalog, probe: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = _catalog(make_catalog)
    with caplog.at_level(logging.INFO, logger="catalog.interceptors.timeout"):
        with pytest.raises(CallTimeoutError) as caught:
            _quote(catalog, quantity=100)
        error = caught.value
        assert (error.tenant, error.interface, error.version) == ("t", "price_quote", 1)
        assert error.seconds == 0.2
        assert exit_code(error) == 8
        [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert warning.name == "catalog.interceptors.timeout"
        assert error.call_id in warning.getMessage()
        assert "abandoned" in warning.getMessage()
        # The caller has its answer; the work is still going on.
        assert _stats(catalog) == timeout.TimeoutStats(abandoned=1, running=1, killed=0)
        assert timeout.abandoned(catalog.interceptor_states("timeout"), "t") == 1

        worker = _deadline_thread(error.call_id)
        probe.RELEASE.set()
        worker.join(5)
        assert not worker.is_alive()
    assert _stats(catalog) == timeout.TimeoutStats(abandoned=1, running=0, killed=0)
    finished = [r for r in caplog.records if r.levelno == logging.INFO]
    assert f"abandoned call {error.call_id} finished" in finished[0].getMessage()
    assert _stats(catalog, "u") == timeout.TimeoutStats(0, 0, 0)


def test_fast_calls_run_in_the_deadline_thread_and_are_unaffected(
    make_catalog: MakeCatalog, probe: ModuleType
) -> None:
    catalog = _catalog(make_catalog, "seconds = 30")
    plain = _catalog(make_catalog, extra="enabled = false")
    assert _quote(catalog) == _quote(plain)
    assert probe.THREADS[0].startswith("catalog-call-")  # with the interceptor
    assert probe.THREADS[1] == threading.current_thread().name  # without
    # An error inside keeps its culprit: the traceback comes back from the thread.
    with pytest.raises(PluginCallError) as caught:
        _quote(catalog, quantity=13)
    assert caught.value.plugin == "slow"
    assert isinstance(caught.value.cause, ConnectionError)
    assert _stats(catalog) == timeout.TimeoutStats(0, 0, 0)


@pytest.fixture
def deadlines(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The deadlines calls were given, without threads or waiting: calls run at once."""
    seen: list[float] = []

    def run(func: Callable[[], Any], seconds: float, name: str, *, owner: str) -> Any:
        seen.append(seconds)
        return func()

    monkeypatch.setattr(timeout, "call_with_deadline", run)
    return seen


def test_the_default_deadline_and_a_tenants_own(
    make_catalog: MakeCatalog, probe: ModuleType, deadlines: list[float]
) -> None:
    catalog = _catalog(
        make_catalog, settings="", extra="[tenants.u.interceptors.timeout]\nseconds = 2.5"
    )
    _quote(catalog, "t")
    _quote(catalog, "u")
    assert deadlines == [30.0, 2.5]
    shared = _catalog(
        make_catalog, settings="seconds = 4", extra="[tenants.u.interceptors.timeout]\nseconds = 1"
    )
    _quote(shared, "t")
    _quote(shared, "u")
    assert deadlines[2:] == [4.0, 1.0]


def test_a_tenants_own_deadline_is_the_one_that_fires(
    make_catalog: MakeCatalog, probe: ModuleType
) -> None:
    catalog = _catalog(
        make_catalog,
        settings="seconds = 0.2",
        extra="[tenants.u.interceptors.timeout]\nseconds = 0.3",
    )
    with pytest.raises(CallTimeoutError) as for_t:
        _quote(catalog, "t", quantity=100)
    with pytest.raises(CallTimeoutError) as for_u:
        _quote(catalog, "u", quantity=100)
    assert (for_t.value.seconds, for_u.value.seconds) == (0.2, 0.3)


@pytest.mark.parametrize(
    ("settings", "extra", "key", "message"),
    [
        ("seconds = 0", "", "interceptors.timeout.settings.seconds", "must be above 0"),
        ("seconds = -1.5", "", "interceptors.timeout.settings.seconds", "must be above 0"),
        ('seconds = "soon"', "", "interceptors.timeout.settings.seconds", "expected a number"),
        (
            'isolation = "fork"',
            "",
            "interceptors.timeout.settings.isolation",
            "must be one of thread, process",
        ),
        (
            "",
            "[tenants.t.interceptors.timeout]\nseconds = 0",
            "tenants.t.interceptors.timeout.seconds",
            "must be above 0",
        ),
    ],
)
def test_bad_settings_fail_the_tenant_closed_naming_the_key(
    make_catalog: MakeCatalog, probe: ModuleType, settings: str, extra: str, key: str, message: str
) -> None:
    catalog = _catalog(make_catalog, settings, 'include = { tenants = ["t"] }\n' + extra)
    with pytest.raises(ConfigError) as caught:
        _quote(catalog, "t")
    assert key in str(caught.value)
    assert message in str(caught.value)
    assert _quote(catalog, "u")["discount"] == 2.0  # out of scope: not affected


def test_scope_leaves_other_tenants_in_the_callers_thread(
    make_catalog: MakeCatalog, probe: ModuleType
) -> None:
    catalog = _catalog(make_catalog, "seconds = 30", extra='exclude = { tenants = ["u"] }')
    _quote(catalog, "t")
    _quote(catalog, "u")
    assert probe.THREADS[0].startswith("catalog-call-")
    assert probe.THREADS[1] == threading.current_thread().name


def test_abandoned_calls_are_counted_per_tenant_under_threads(
    make_catalog: MakeCatalog, probe: ModuleType
) -> None:
    catalog = _catalog(make_catalog)
    tenants = ["t"] * 6 + ["u"] * 2

    def call(tenant: str) -> str:
        with pytest.raises(CallTimeoutError) as caught:
            _quote(catalog, tenant, quantity=100)
        return caught.value.tenant

    with ThreadPoolExecutor(max_workers=len(tenants)) as pool:
        assert sorted(pool.map(call, tenants)) == sorted(tenants)
    assert _stats(catalog, "t") == timeout.TimeoutStats(abandoned=6, running=6, killed=0)
    assert _stats(catalog, "u") == timeout.TimeoutStats(abandoned=2, running=2, killed=0)
    probe.RELEASE.set()
    for thread in threading.enumerate():
        if thread.name.startswith("catalog-call-"):
            thread.join(5)
    assert _stats(catalog, "t").running == 0
    assert _stats(catalog, "u").running == 0


def test_the_module_declares_its_settings_and_order() -> None:
    assert timeout.ORDER == 700
    assert timeout.PLUGIN.settings.defaults() == {"seconds": 30.0, "isolation": "thread"}


# -- process -----------------------------------------------------------------------------------

#: Runs in the child process: leaves a file named after its pid (holding the call id), then
#: sleeps a minute from 100 units, fails at 13, answers text at 7.
IN_CHILD = """
import os
import time
from pathlib import Path

from catalog_cli import hookimpl

MARKS = Path({marks!r})


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    (MARKS / str(os.getpid())).write_text(ctx.call_id)
    if quantity >= 100:
        time.sleep(60)
    if quantity == 13:
        raise ConnectionError("no route to the discount service")
    if quantity == 7:
        return "lots"
    if quantity == 66:
        os._exit(3)
    return 0.1
"""

#: A user interceptor inside the timeout: notes the process its catalog_call runs in.
NOTE_PID = """
import os
from pathlib import Path

from catalog_cli import hookimpl


@hookimpl(wrapper=True)
def catalog_call(ctx, call):
    with (Path({marks!r}) / "interceptor").open("a") as notes:
        notes.write(f"{{os.getpid()}}\\n")
    return (yield)
"""


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    folder = tmp_path / "marks"
    folder.mkdir()
    return folder


def _process_catalog(make_catalog: MakeCatalog, marks: Path, seconds: float) -> Catalog:
    return make_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.timeout]
        settings = {{ seconds = {seconds}, isolation = "process" }}
        [interceptors.validation]
        [interceptors.note_pid]
        order = 900
        [tenants.t]
        plugins = ["in_child"]
        """,
        {
            "plugins/in_child.py": IN_CHILD.format(marks=str(marks)),
            "plugins/note_pid.py": NOTE_PID.format(marks=str(marks)),
        },
    )


def _children(marks: Path) -> list[int]:
    return [int(p.name) for p in marks.iterdir() if p.name.isdigit()]


def test_process_isolation_kills_the_child_at_the_deadline(
    make_catalog: MakeCatalog, marks: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 3 s: far more than starting the child takes, far less than the plugin's minute.
    catalog = _process_catalog(make_catalog, marks, seconds=3)
    with (
        caplog.at_level(logging.WARNING, logger="catalog.interceptors.timeout"),
        pytest.raises(CallTimeoutError) as caught,
    ):
        _quote(catalog, quantity=100)
    assert caught.value.seconds == 3
    [pid] = _children(marks)
    assert pid != os.getpid()
    assert (marks / str(pid)).read_text() == caught.value.call_id  # the same call, in the child
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    assert multiprocessing.active_children() == []
    assert _stats(catalog) == timeout.TimeoutStats(abandoned=0, running=0, killed=1)
    [warning] = caplog.records
    assert f"(pid {pid}) was killed" in warning.getMessage()
    assert caught.value.call_id in warning.getMessage()


def test_process_isolation_answers_like_the_method_and_runs_it_once(
    make_catalog: MakeCatalog, marks: Path
) -> None:
    catalog = _process_catalog(make_catalog, marks, seconds=30)
    outcome = catalog.execute(
        "price_quote", customer="t", arguments={"unit_price": 10.0, "quantity": 2}
    )
    assert outcome.result == {
        "subtotal": 20.0,
        "discount": 2.0,
        "tax_rate": 0.21,
        "total": 21.78,
        "currency": "EUR",
    }
    [pid] = _children(marks)
    assert pid != os.getpid()
    assert (marks / str(pid)).read_text() == outcome.call_id
    # The interceptor inside the timeout ran once, here: the child runs only the method.
    assert (marks / "interceptor").read_text() == f"{os.getpid()}\n"
    assert multiprocessing.active_children() == []
    assert _stats(catalog) == timeout.TimeoutStats(0, 0, 0)


def test_errors_in_the_child_come_back_as_their_own_classes(
    make_catalog: MakeCatalog, marks: Path
) -> None:
    catalog = _process_catalog(make_catalog, marks, seconds=30)
    with pytest.raises(PluginCallError) as failed:
        _quote(catalog, quantity=13)
    assert failed.value.plugin == "in_child"
    assert isinstance(failed.value.cause, ConnectionError)
    assert "no route to the discount service" in str(failed.value)
    assert exit_code(failed.value) == 7
    # The plugin-point interceptors run in the child, with the call.
    with pytest.raises(ResultValidationError) as wrong:
        _quote(catalog, quantity=7)
    assert wrong.value.plugin == "in_child"
    assert wrong.value.where == "plugin point 'discounts'"
    # The built-in's own argument check.
    with pytest.raises(InvalidArgumentsError, match="quantity: must be >= 1"):
        _quote(catalog, quantity=0)


def test_a_plugin_ending_the_child_is_a_plugin_failure(
    make_catalog: MakeCatalog, marks: Path
) -> None:
    catalog = _process_catalog(make_catalog, marks, seconds=30)
    with pytest.raises(PluginCallError) as failed:
        _quote(catalog, quantity=66)
    assert exit_code(failed.value) == 7 and failed.value.tenant == "t"
    assert "ended without an answer (exit code 3)" in str(failed.value)


class _Holder(Exception):
    """An exception that cannot be pickled: it holds a lock."""

    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def test_errors_cross_the_process_boundary() -> None:
    error = PluginCallError(
        plugin="p", tenant="t", interface="i", version=2, call_id="c-1", cause=_Holder()
    )
    sent = pickle.loads(pickle.dumps(timeout.portable(error)))
    back = timeout.rebuild(*sent)
    assert type(back) is PluginCallError
    assert str(back) == str(error)
    assert (back.plugin, back.tenant, back.interface, back.version, back.call_id) == (
        "p",
        "t",
        "i",
        2,
        "c-1",
    )
    assert isinstance(back.cause, RuntimeError)
    assert str(back.cause) == "_Holder: holds a lock"

    other = timeout.rebuild(*pickle.loads(pickle.dumps(timeout.portable(KeyError("k")))))
    assert type(other) is CatalogError
    assert str(other) == "the call's child process failed: KeyError: 'k'"
