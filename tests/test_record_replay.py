"""Record and replay: the ``record`` interceptor's lines, and ``catalog replay`` of them.

The catalogs here declare an interface of their own (``quote``), so what is recorded and what
differs on purpose is decided here, not by the example catalog.
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from catalog_cli import CallRequest, Catalog, ReplayReport, replay
from catalog_cli.cli import replay as replay_cli
from catalog_cli.cli._exits import REPLAY_DIFFERS, exit_code
from catalog_cli.errors import ConfigError
from catalog_cli.execution._replay import (
    Difference,
    diff,
    parse_line,
    read_recording,
    run_calls,
    select,
)
from catalog_cli.interceptors import record
from catalog_cli.testing import write_catalog
from tests.conftest import REPO, Invoke

SPEC = """\
    from __future__ import annotations

    from typing import Any

    from catalog_cli import Context, entrypoint, plugin_point


    @entrypoint
    def quote_v1(
        ctx: Context,
        price: float,
        quantity: int = 1,
        password: str = "",
        tags: list[str] | None = None,
    ) -> Any:
        \"\"\"A price for a quantity, with the lines of the quote.\"\"\"


    @plugin_point(quote_v1, policy="first")
    def quote_v1_rate(ctx: Context, quantity: int) -> float | None:
        \"\"\"A discount rate for the quantity.\"\"\"


    @entrypoint
    def quote_v2(
        ctx: Context,
        price: float,
        quantity: int = 1,
        password: str = "",
        tags: list[str] | None = None,
    ) -> Any:
        \"\"\"As v1, with a handling fee from ten units on.\"\"\"
    """

IMPL = """\
    import time

    from catalog_cli import hookimpl


    class Odd(dict):
        def items(self):
            raise RuntimeError("no items today")


    def _quote(ctx, price, quantity, password, rate):
        if price == 999:
            time.sleep(0.3)  # slow, for a timeout on replay
        if price == 500:
            return Odd(a=1)  # a result the recording cannot even look into
        if price < 0:
            raise ValueError(f"no price below 0 ({password})")
        if price == 404:
            return {1, 2}  # not JSON
        total = round(price * quantity * (1 - (rate or 0)), 2)
        return {
            "total": total,
            "lines": [price] * min(quantity, 3),
            "note": f"quoted for {password}" if password else "",
        }


    @hookimpl
    def quote_v1(ctx, price, quantity, password, tags):
        return _quote(ctx, price, quantity, password, ctx.points.rate(quantity=quantity))


    @hookimpl
    def quote_v2(ctx, price, quantity, password, tags):
        answer = _quote(ctx, price, quantity, password, None)
        if isinstance(answer, dict) and quantity >= 10:
            answer["total"] = round(answer["total"] + 1.5, 2)
        return answer
    """

RATE = """\
    from catalog_cli import hookimpl


    @hookimpl
    def quote_v1_rate(ctx, quantity):
        if quantity == 7 and ctx.settings.get("fail_at_seven"):
            raise RuntimeError("seven is unlucky")
        return float(ctx.settings.get("rate", 0.1)) if quantity >= 5 else None
    """

FILES = {"hookspecs/quote.py": SPEC, "builtin_plugins/quote.py": IMPL, "plugins/acme/rate.py": RATE}


def catalog_toml(
    *,
    rate: float = 0.1,
    record_settings: str = "",
    fail_at_seven: bool = False,
    b_version: int = 1,
    b_name: str = "b",
) -> str:
    """Tenant a (a discount rate from five units on), tenant b (none), both recorded."""
    return f"""
        [catalog]
        plugin_dirs = ["plugins"]

        [tenants.a]
        plugins = ["acme.rate"]
        versions = {{ quote = 1 }}

        [tenants.a.settings."acme.rate"]
        rate = {rate}
        fail_at_seven = {str(fail_at_seven).lower()}

        [tenants.{b_name}]
        versions = {{ quote = {b_version} }}

        [interceptors.record]
        settings = {{ {record_settings} }}
        """


Write = Callable[..., Path]


@pytest.fixture
def make(tmp_path: Path) -> Write:
    """``make("now", **toml options)``: a catalog in ``tmp_path/now``; its path."""

    def write(name: str = "now", files: dict[str, str] | None = None, **options: Any) -> Path:
        return write_catalog(tmp_path / name, catalog_toml(**options), {**FILES, **(files or {})})

    return write


@pytest.fixture(autouse=True)
def _closed_recordings() -> Any:
    yield
    record.close_files()  # each test's files are its own


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_quotes(
    path: Path, quantities: range | list[int], tenants: tuple[str, ...] = ("a", "b")
) -> None:
    with Catalog(path) as catalog:
        for tenant in tenants:
            for quantity in quantities:
                catalog.run("quote", customer=tenant, price=2.5, quantity=quantity)


# -- recording ---------------------------------------------------------------------------------


def test_each_call_is_one_json_line_with_its_facts(make: Write) -> None:
    path = make()
    with Catalog(path) as catalog:
        catalog.run("quote", customer="a", price=2.5, quantity=6)
        with pytest.raises(Exception, match="no price below 0"):
            catalog.run("quote", customer="b", price=-1.0)
    first, second = lines(path.parent / "recording.jsonl")
    assert first["format"] == 1
    assert first["time"].endswith("Z") and first["call_id"]
    assert {k: first[k] for k in ("tenant", "interface", "version", "version_source")} == {
        "tenant": "a",
        "interface": "quote",
        "version": 1,
        "version_source": "tenant",
    }
    # as the method received them: defaults filled in
    assert first["arguments"] == {"price": 2.5, "quantity": 6, "password": "", "tags": None}
    assert first["outcome"] == "ok"
    assert first["result"] == {"total": 13.5, "lines": [2.5, 2.5, 2.5], "note": ""}
    assert isinstance(first["duration_ms"], float)
    assert "redacted" not in first and "redact" not in first
    assert second["outcome"] == "error" and "result" not in second
    assert second["error"]["kind"] == "plugin_call"
    assert second["error"]["type"] == "PluginCallError"
    assert second["error"]["cause"] == "ValueError"
    assert "no price below 0" in second["error"]["message"]


def test_the_path_is_relative_to_the_catalog_file_and_its_folder_is_made(
    make: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make(record_settings='path = "deep/er/calls.jsonl"')
    monkeypatch.chdir(tmp_path)
    run_quotes(path, [1])
    written = path.parent / "deep" / "er" / "calls.jsonl"
    assert len(lines(written)) == 2
    if os.name == "posix":
        assert written.stat().st_mode & 0o077 == 0  # it holds arguments: its owner's only


def test_sampling_is_decided_by_the_call_id(make: Write) -> None:
    path = make(record_settings="sample = 0.3")
    ids = [f"test-{n:06x}" for n in range(400)]
    with Catalog(path) as catalog:
        for call_id in ids:
            answer = catalog.call(CallRequest("b", "quote", None, {"price": 1.0}), call_id=call_id)
            assert answer.ok
    recorded = [line["call_id"] for line in lines(path.parent / "recording.jsonl")]
    assert recorded == [i for i in ids if record.sampled(i, 0.3)]
    assert 80 < len(recorded) < 160  # about 120
    assert all(record.sampled(i, 1.0) for i in ids)


def test_a_secret_never_reaches_the_file(make: Write) -> None:
    secret = "hunter2-Secret"
    path = make(record_settings='redact = ["password", "total"]')
    with Catalog(path) as catalog:
        catalog.run("quote", customer="b", price=2.0, password=secret)
        with pytest.raises(Exception, match=secret):  # the method itself says it
            catalog.run("quote", customer="b", price=-1.0, password=secret)
        catalog.run("quote", customer="b", price=3.0)
    text = (path.parent / "recording.jsonl").read_text(encoding="utf-8")
    assert secret not in text
    ok, failed, plain = lines(path.parent / "recording.jsonl")
    assert ok["arguments"]["password"] == "***"
    assert ok["redacted"] == ["password"]
    assert ok["redact"] == ["password", "total"]
    assert ok["result"]["note"] == "quoted for ***"  # echoed by the method: cut out
    assert ok["result"]["total"] == "***"  # a key of the result that is a secret's name
    assert "***" in failed["error"]["message"]
    assert "redacted" not in plain and plain["result"]["total"] == "***"


def test_nested_secrets_are_redacted_by_path() -> None:
    hidden: list[str] = []
    secrets: list[str] = []
    shown = record._hide(
        {"card": {"Api-Key": "k1", "n": 1}, "items": [{"token": 5}]},
        record.patterns_of(record.SECRET_NAMES),
        "",
        hidden,
        secrets,
    )
    assert shown == {"card": {"Api-Key": "***", "n": 1}, "items": [{"token": "***"}]}
    assert hidden == ["card.Api-Key", "items[0].token"]
    assert sorted(secrets) == ["5", "k1"]


def test_redacting_a_result_never_changes_it() -> None:
    patterns = record.patterns_of(["token"])
    clean = {"total": 1.0, "lines": [{"name": "x"}]}
    assert record.redacted(clean, patterns) is clean  # nothing to hide: not even copied
    secret = {"total": 1.0, "lines": [{"Token": "t", "empty_token": ""}], "pair": ("a", 1)}
    shown = record.redacted(secret, patterns)
    assert shown == {"total": 1.0, "lines": [{"Token": "***", "empty_token": ""}], "pair": ("a", 1)}
    assert secret["lines"] == [{"Token": "t", "empty_token": ""}]


def test_a_result_that_is_not_json_is_recorded_as_its_repr(make: Write) -> None:
    path = make()
    with Catalog(path) as catalog:
        assert catalog.run("quote", customer="b", price=404.0) == {1, 2}
    (line,) = lines(path.parent / "recording.jsonl")
    assert "result" not in line
    assert line["result_repr"] == "{1, 2}"
    assert line["outcome"] == "ok"


def test_a_line_that_cannot_be_built_never_fails_the_call(
    make: Write, caplog: pytest.LogCaptureFixture
) -> None:
    path = make()
    with (
        caplog.at_level(logging.WARNING, logger="catalog.interceptors.record"),
        Catalog(path) as catalog,
    ):
        for _ in range(3):
            assert catalog.run("quote", customer="b", price=500.0) == {"a": 1}
        catalog.run("quote", customer="b", price=1.0)
    (line,) = lines(path.parent / "recording.jsonl")
    assert line["arguments"]["price"] == 1.0
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "cannot build the record of call" in warning and "no items today" in warning


def test_threads_recording_at_once_write_whole_lines(make: Write) -> None:
    path = make()
    long_tags = ["x" * 900] * 6  # lines longer than PIPE_BUF: written under a lock
    threads = 8
    per_thread = 150

    def work(catalog: Catalog, number: int) -> None:
        for index in range(per_thread):
            tags = long_tags if index % 3 == 0 else [f"t{number}"]
            catalog.run("quote", customer="b", price=float(number), quantity=index, tags=tags)

    with Catalog(path) as catalog:
        workers = [threading.Thread(target=work, args=(catalog, n)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    found = lines(path.parent / "recording.jsonl")  # every line is JSON
    assert len(found) == threads * per_thread
    seen = {(line["arguments"]["price"], line["arguments"]["quantity"]) for line in found}
    assert len(seen) == threads * per_thread
    assert max(len(json.dumps(line)) for line in found) > record.PIPE_BUF


PROCESS = """\
import sys
from catalog_cli import Catalog

with Catalog(sys.argv[1]) as catalog:
    for index in range(int(sys.argv[2])):
        tags = ["y" * 700] * 8 if index % 2 else []
        catalog.run("quote", customer="b", price=float(sys.argv[3]), quantity=index, tags=tags)
"""


def test_processes_recording_at_once_write_whole_lines(make: Write) -> None:
    path = make()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = [
        subprocess.Popen([sys.executable, "-c", PROCESS, str(path), "300", str(float(n))], env=env)
        for n in range(3)
    ]
    assert [process.wait(timeout=120) for process in started] == [0, 0, 0]
    found = lines(path.parent / "recording.jsonl")
    assert len(found) == 900
    assert len({(x["arguments"]["price"], x["arguments"]["quantity"]) for x in found}) == 900


def test_a_file_that_cannot_be_written_never_fails_a_call(
    make: Write, caplog: pytest.LogCaptureFixture
) -> None:
    path = make(record_settings='path = "blocker/calls.jsonl"')
    (path.parent / "blocker").write_text("a file, not a folder", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="catalog.interceptors.record"):
        run_quotes(path, range(1, 40))
    warnings = [r for r in caplog.records if r.name == "catalog.interceptors.record"]
    assert len(warnings) == 1  # once, not once per call
    assert "cannot write the recording" in warnings[0].getMessage()


def test_the_file_is_rotated_at_max_bytes(make: Write) -> None:
    path = make(record_settings="max_bytes = 3000, backups = 2")
    run_quotes(path, range(60), tenants=("b",))
    folder = path.parent
    files = sorted(p.name for p in folder.glob("recording.jsonl*"))
    assert files == ["recording.jsonl", "recording.jsonl.1", "recording.jsonl.2"]
    for name in files:
        assert (folder / name).stat().st_size <= 3000
        lines(folder / name)  # whole lines only
    kept = [q for name in files for q in (x["arguments"]["quantity"] for x in lines(folder / name))]
    assert max(kept) == 59  # the newest are kept, the oldest dropped


def test_without_backups_recording_stops_when_the_file_is_full(
    make: Write, caplog: pytest.LogCaptureFixture
) -> None:
    path = make(record_settings="max_bytes = 2000, backups = 0")
    with caplog.at_level(logging.WARNING, logger="catalog.interceptors.record"):
        run_quotes(path, range(40), tenants=("b",))
    written = path.parent / "recording.jsonl"
    assert written.stat().st_size <= 2000
    assert not (path.parent / "recording.jsonl.1").exists()
    assert [q for q in (x["arguments"]["quantity"] for x in lines(written))] == list(
        range(len(lines(written)))
    )
    assert sum("has reached max_bytes" in r.getMessage() for r in caplog.records) == 1


def test_recording_starts_again_when_a_full_file_is_moved_away(
    make: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(record, "_now", lambda: clock[0])
    path = make(record_settings="max_bytes = 1500, backups = 0")
    written = path.parent / "recording.jsonl"
    with Catalog(path) as catalog:
        for quantity in range(20):
            catalog.run("quote", customer="b", price=1.0, quantity=quantity)
        full = len(lines(written))
        written.rename(path.parent / "kept.jsonl")
        catalog.run("quote", customer="b", price=1.0, quantity=100)  # within the second: lost
        clock[0] += record.CHECK_SECONDS
        catalog.run("quote", customer="b", price=1.0, quantity=101)
    assert full < 20
    assert [x["arguments"]["quantity"] for x in lines(written)] == [101]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("sample = 0", "sample: must be above 0 and at most 1"),
        ("sample = 1.5", "sample: must be above 0 and at most 1"),
        ("max_bytes = -1", "max_bytes: must be at least 0"),
        ('path = ""', "path: must name a file"),
        ("rate = 1", "unknown setting"),
    ],
)
def test_settings_are_checked(make: Write, setting: str, message: str) -> None:
    path = make(record_settings=setting)
    with Catalog(path) as catalog, pytest.raises(ConfigError, match=message):
        catalog.run("quote", customer="b", price=1.0)


def test_calls_made_while_paused_are_not_recorded(make: Write) -> None:
    path = make()
    with Catalog(path) as catalog:
        with record.paused():
            catalog.run("quote", customer="b", price=1.0)
        catalog.run("quote", customer="b", price=2.0)
    assert [x["arguments"]["price"] for x in lines(path.parent / "recording.jsonl")] == [2.0]


# -- replay: the library ---------------------------------------------------------------------


def recorded(make: Write, quantities: range | list[int] = range(1, 13)) -> tuple[Path, Path]:
    """A catalog with the record interceptor and a recording of ``quantities`` for a and b."""
    path = make()
    run_quotes(path, quantities)
    return path, path.parent / "recording.jsonl"


def test_a_replay_on_the_same_code_is_all_same(make: Write) -> None:
    path, recording = recorded(make)
    report = replay(path, recording)
    assert isinstance(report, ReplayReport)
    assert report.counts == {"same": 24, "different": 0, "failed": 0, "skipped": 0, "malformed": 0}
    assert report.ok
    assert len(lines(recording)) == 24  # the replay's own calls were not recorded
    first = report.calls[0]
    assert (first.version, first.version_source, first.recorded_version) == (1, "tenant", 1)
    assert first.replay_call_id != first.call_id


def test_a_replay_says_exactly_which_calls_differ_and_where(make: Write) -> None:
    _path, recording = recorded(make)
    other = make("next", rate=0.2)  # a's discount from five units on is 20 % now
    with Catalog(other) as catalog:
        report = replay(catalog, recording)
    different = [c for c in report.calls if c.outcome == "different"]
    assert [(c.tenant, c.line) for c in different] == [("a", q) for q in range(5, 13)]
    assert report.count("same") == 16 and not report.ok
    six = next(c for c in different if c.line == 6)
    assert six.differences == (Difference("result.total", "changed", 13.5, 12.0),)
    assert str(six.differences[0]) == "result.total: 13.5 -> 12.0"


def test_a_version_forced_on_replay(make: Write) -> None:
    _path, recording = recorded(make)
    report = replay(make("next", rate=0.1), recording, version=2, customers=["b"])
    assert {c.version for c in report.calls} == {2}
    different = [c.line for c in report.calls if c.outcome == "different"]
    assert different == [22, 23, 24]  # b's quantities 10, 11 and 12 pay the fee in v2
    assert str(report.calls[-1].differences[0]) == "result.total: 30.0 -> 31.5"


def test_a_replay_runs_the_version_the_tenant_runs_now(make: Write) -> None:
    _path, recording = recorded(make, [12])
    report = replay(make("moved", b_version=2), recording)  # b is on v2 there
    by_tenant = {c.tenant: c for c in report.calls}
    assert (by_tenant["a"].version, by_tenant["a"].outcome) == (1, "same")
    assert (by_tenant["b"].recorded_version, by_tenant["b"].version) == (1, 2)
    assert by_tenant["b"].outcome == "different"


def test_a_call_that_asked_for_its_version_asks_again(make: Write) -> None:
    path = make()
    with Catalog(path) as catalog:
        catalog.run("quote", customer="b", price=3.0, quantity=10, version=2)  # b is on v1
        catalog.run("quote", customer="b", price=3.0, quantity=10)
    report = replay(path, path.parent / "recording.jsonl")
    asked, pinned = report.calls
    assert (asked.recorded_version, asked.version, asked.version_source) == (2, 2, "requested")
    assert (pinned.recorded_version, pinned.version, pinned.version_source) == (1, 1, "tenant")
    assert report.counts["same"] == 2
    forced = replay(path, path.parent / "recording.jsonl", version=1)
    assert [c.version for c in forced.calls] == [1, 1]
    assert [c.outcome for c in forced.calls] == ["different", "same"]  # v1 has no fee


def test_failures_are_reported_with_their_error(make: Write) -> None:
    _path, recording = recorded(make, [6, 7, 8])
    report = replay(make("next", fail_at_seven=True), recording)
    failed = [c for c in report.calls if c.outcome == "failed"]
    assert [(c.tenant, c.line) for c in failed] == [("a", 2)]
    (call,) = failed
    assert call.error is not None and call.error.kind == "plugin_call"
    assert call.error.plugin == "acme.rate"
    assert call.differences[0].path == "error"
    assert call.differences[0].change == "added"
    assert "seven is unlucky" in (call.reason or "")


def test_an_error_that_happens_again_is_the_same(make: Write) -> None:
    path = make()
    with Catalog(path) as catalog, pytest.raises(Exception, match="below 0"):
        catalog.run("quote", customer="b", price=-5.0)
    report = replay(path, path.parent / "recording.jsonl")
    (call,) = report.calls
    assert call.outcome == "same"
    assert call.error is not None and call.error.kind == "plugin_call"


def test_a_recorded_error_that_is_now_a_result_is_different(tmp_path: Path, make: Write) -> None:
    path, recording = recorded(make, [1])
    broken = dict(lines(recording)[0])
    broken["outcome"] = "error"
    broken.pop("result")
    broken["error"] = {"kind": "plugin_call", "type": "PluginCallError", "message": "boom"}
    edited = tmp_path / "edited.jsonl"
    edited.write_text(json.dumps(broken) + "\n", encoding="utf-8")
    (call,) = replay(path, edited).calls
    assert call.outcome == "different"
    assert [str(d) for d in call.differences] == [
        'error: {"kind": "plugin_call", "type": "PluginCallError"} -> (absent)',
        'result: (absent) -> {"total": 2.5, "lines": [2.5], "note": ""}',
    ]


def test_calls_that_cannot_be_replayed_or_compared_are_skipped_with_why(make: Write) -> None:
    path = make()
    with Catalog(path) as catalog:
        catalog.run("quote", customer="b", price=1.0, password="pw")
        catalog.run("quote", customer="b", price=404.0)
    report = replay(path, path.parent / "recording.jsonl")
    redacted, unreadable = report.calls
    assert redacted.outcome == "skipped" and redacted.version is None  # not run
    assert redacted.reason == "argument 'password' was redacted when recorded: it cannot run again"
    assert unreadable.outcome == "skipped" and unreadable.version == 1  # run, not compared
    assert "not JSON" in (unreadable.reason or "")
    assert report.ok


def test_a_tenant_the_other_catalog_lacks_fails_its_calls_only(make: Write) -> None:
    _path, recording = recorded(make, [1, 2])
    report = replay(make("next", b_name="c"), recording)
    assert [c.outcome for c in report.calls] == ["same", "same", "failed", "failed"]
    error = report.calls[-1].error
    assert error is not None and error.kind == "unknown_tenant" and exit_code(error) == 4


def test_malformed_lines_are_reported_by_number(tmp_path: Path, make: Write) -> None:
    path, recording = recorded(make, [1])
    good = recording.read_text(encoding="utf-8").splitlines()
    bad = {
        "{not json": "not valid JSON",
        "[1, 2]": "not a JSON object",
        '{"format": 9}': "format 9 is not one this version reads",
        '{"format": 1, "call_id": "x", "tenant": "b"}': "interface: expected an interface name",
        json.dumps({**json.loads(good[0]), "outcome": "maybe"}): "outcome: expected",
        json.dumps({**json.loads(good[0]), "version": True}): "version: expected a version",
    }
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(("\n".join([good[0], *bad, "", good[1]]) + "\n").encode() + b"\xff\xfe\n")
    report = replay(path, mixed)
    assert report.counts["same"] == 2
    assert [m.line for m in report.malformed] == [2, 3, 4, 5, 6, 7, 10]
    for found, why in zip(report.malformed, [*bad.values(), "not UTF-8 text"], strict=True):
        assert why in found.reason, (found, why)
    assert report.ok  # malformed lines are reported, not failures of the code


def test_the_lines_of_a_recording_parse_back(make: Write) -> None:
    _path, recording = recorded(make, [6])
    first, _second = read_recording(recording)
    assert not isinstance(first, str)
    again = parse_line(1, recording.read_bytes().splitlines()[0])
    assert again == first
    assert first.tenant == "a" and first.arguments == {
        "price": 2.5,
        "quantity": 6,
        "password": "",
        "tags": None,
    }


def test_diff_walks_objects_and_arrays_strictly() -> None:
    found, more = diff(
        {"a": 1, "b": [1, 2, 3], "c": {"d": True}, "odd key": 1, "gone": 0},
        {"a": 1.0, "b": [1, 5], "c": {"d": 1}, "odd key": 2, "new": None},
    )
    assert more == 0
    assert [str(d) for d in found] == [
        "result.a: 1 -> 1.0",
        "result.b[1]: 2 -> 5",
        "result.b[2]: 3 -> (absent)",
        "result.c.d: true -> 1",
        'result["odd key"]: 1 -> 2',
        "result.gone: 0 -> (absent)",
        "result.new: (absent) -> null",
    ]
    found, more = diff(list(range(300)), list(range(1, 301)))
    assert len(found) == 100 and more == 200


# -- replay: the command line -----------------------------------------------------------------


def test_the_command_exits_0_when_all_are_same(make: Write, invoke: Invoke) -> None:
    path, recording = recorded(make, [1, 6])
    result = invoke("replay", str(recording), "--workers", "0", catalog=path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert (
        "4 call(s) replayed" in result.stderr and "4 same, 0 different, 0 failed" in result.stderr
    )


def test_the_command_against_another_catalog_exits_17(make: Write, invoke: Invoke) -> None:
    path, recording = recorded(make, [1, 6, 7])
    other = make("next", rate=0.2, fail_at_seven=True)
    result = invoke(
        "replay", str(recording), "--workers", "0", "--catalog", str(other), catalog=path
    )
    assert result.exit_code == REPLAY_DIFFERS == 17
    assert "Traceback" not in result.stderr
    call_id = lines(recording)[1]["call_id"]
    different, difference, failed = result.stdout.splitlines()
    assert different == f"different  line 2: quote v1 -> v1 (tenant) for 'a', call {call_id}"
    assert difference == "    result.total: 13.5 -> 12.0"
    assert failed.startswith("failed     line 3: quote v1 -> v1 (tenant) for 'a', call ")
    assert "plugin 'acme.rate' raised RuntimeError" in failed
    assert "(exit code 7)" in result.stdout
    assert (
        "error: of 6 replayed call(s), 1 differs from the recording and 1 failed" in result.stderr
    )


def test_the_json_report(make: Write, invoke: Invoke) -> None:
    _path, recording = recorded(make, [1, 6, 7])
    other = make("next", rate=0.2, fail_at_seven=True)
    result = invoke("replay", str(recording), "--workers", "0", "--json", catalog=other)
    assert result.exit_code == 17
    data = json.loads(result.stdout)
    assert data["counts"] == {"same": 4, "different": 1, "failed": 1, "skipped": 0, "malformed": 0}
    assert data["recording"] == str(recording) and data["catalog"] == str(other)
    assert data["ran"] == "in this process"
    different, failed = data["calls"]
    assert different["outcome"] == "different" and different["line"] == 2
    assert different["differences"] == [
        {"path": "result.total", "change": "changed", "recorded": 13.5, "replayed": 12.0}
    ]
    assert failed["error"]["exit_code"] == 7 and failed["error"]["kind"] == "plugin_call"
    assert set(different) >= {
        "call_id",
        "tenant",
        "interface",
        "recorded_version",
        "version",
        "version_source",
        "replay_call_id",
        "reason",
        "more_differences",
    }
    error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert error["kind"] == "replay_differs" and error["exit_code"] == 17


def test_customer_limit_and_version_options(make: Write, invoke: Invoke) -> None:
    path, recording = recorded(make)
    result = invoke(
        "replay",
        str(recording),
        "--workers",
        "0",
        "-C",
        "b",
        "--version",
        "2",
        "--json",
        catalog=path,
    )
    data = json.loads(result.stdout)
    assert result.exit_code == 17
    assert data["counts"]["same"] + data["counts"]["different"] == 12
    assert [c["line"] for c in data["calls"]] == [22, 23, 24]
    assert {c["tenant"] for c in data["calls"]} == {"b"}
    assert {c["version"] for c in data["calls"]} == {2}
    limited = invoke(
        "replay", str(recording), "--workers", "0", "--limit", "5", "--json", catalog=path
    )
    assert limited.exit_code == 0
    assert sum(json.loads(limited.stdout)["counts"].values()) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--customer", "zz"], "no recorded call of 'zz' (the recording has: a, b)"),
        (["--interface", "nope"], "no recorded call of 'nope' (the recording has: quote)"),
        (["--limit", "0"], "--limit"),
        (["--version", "0"], "--version"),
        (["--workers", "2", "--dask", "tcp://x:1"], "a Dask scheduler has its own workers"),
    ],
)
def test_usage_errors(make: Write, invoke: Invoke, args: list[str], message: str) -> None:
    path, recording = recorded(make, [1])
    result = invoke("replay", str(recording), *args, catalog=path)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_recording_that_cannot_be_read_or_holds_no_call(
    tmp_path: Path, make: Write, invoke: Invoke
) -> None:
    path = make()
    missing = invoke("replay", str(tmp_path / "nope.jsonl"), catalog=path)
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("hello\nworld\n", encoding="utf-8")
    result = invoke("replay", str(garbage), catalog=path)
    assert result.exit_code == 2
    assert "no line is a recorded call (2 malformed; the first: line 1: not valid JSON" in (
        result.stderr
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    nothing = invoke("replay", str(empty), catalog=path)
    assert nothing.exit_code == 0 and "0 call(s) replayed" in nothing.stderr


def test_malformed_lines_in_the_text_report(tmp_path: Path, make: Write, invoke: Invoke) -> None:
    path, recording = recorded(make, [1])
    with open(recording, "a", encoding="utf-8") as handle:
        handle.write('{"format": 1, "tenant": "a"\n')
    result = invoke("replay", str(recording), "--workers", "0", catalog=path)
    assert result.exit_code == 0
    assert result.stdout.startswith("malformed  line 3: not valid JSON")
    assert "1 malformed line(s)" in result.stderr


def test_a_replay_on_worker_processes_records_nothing(make: Write, invoke: Invoke) -> None:
    _path, recording = recorded(make, range(1, 31))
    other = make("next", rate=0.2)
    result = invoke("replay", str(recording), "--workers", "2", "--json", catalog=other)
    data = json.loads(result.stdout)
    assert result.exit_code == 17
    assert data["ran"] == "2 worker processes"
    assert data["counts"] == {
        "same": 34,
        "different": 26,
        "failed": 0,
        "skipped": 0,
        "malformed": 0,
    }
    assert not (other.parent / "recording.jsonl").exists()  # the workers' calls: not recorded
    assert len(lines(recording)) == 60


def test_a_replay_on_threads_of_this_process_records_nothing(make: Write) -> None:
    path, recording = recorded(make, range(1, 21))
    with Catalog(path) as catalog, cf.ThreadPoolExecutor(2) as threads:
        report = replay(catalog, recording, executor=threads)
    assert report.counts["same"] == 40
    assert len(lines(recording)) == 40


def test_a_call_beyond_the_timeout_fails(make: Write, invoke: Invoke) -> None:
    path = make()
    with Catalog(path) as catalog:
        catalog.run("quote", customer="b", price=999.0)
        catalog.run("quote", customer="b", price=1.0)
    recording = path.parent / "recording.jsonl"
    result = invoke(
        "replay", str(recording), "--workers", "0", "--timeout", "0.05", "--json", catalog=path
    )
    assert result.exit_code == 17
    data = json.loads(result.stdout)
    assert data["counts"]["same"] == 1 and data["counts"]["failed"] == 1
    (failed,) = data["calls"]
    assert failed["error"]["kind"] == "call_timeout" and failed["error"]["exit_code"] == 8


def test_ten_thousand_calls_are_replayed_and_told_apart(make: Write, invoke: Invoke) -> None:
    path = make()
    with Catalog(path) as catalog:
        for index in range(5000):
            for tenant in ("a", "b"):
                catalog.run("quote", customer=tenant, price=1.0 + index % 7, quantity=index % 12)
    recording = path.parent / "recording.jsonl"
    assert len(lines(recording)) == 10_000
    other = make("next", rate=0.2, fail_at_seven=True)
    result = invoke("replay", str(recording), "--workers", "2", "--json", catalog=other)
    data = json.loads(result.stdout)
    # a's quantities 5, 6 and 8 to 11 differ; its 7 fail; b's are all the same
    per_a = {q: sum(1 for i in range(5000) if i % 12 == q) for q in range(12)}
    different = sum(per_a[q] for q in (5, 6, 8, 9, 10, 11))
    assert data["counts"] == {
        "same": 10_000 - different - per_a[7],
        "different": different,
        "failed": per_a[7],
        "skipped": 0,
        "malformed": 0,
    }
    assert result.exit_code == 17


def test_replay_on_a_local_dask_cluster(make: Write, invoke: Invoke) -> None:
    pytest.importorskip("distributed")
    path, recording = recorded(make, range(1, 9))
    result = invoke(
        "replay", str(recording), "--dask", "local", "--workers", "1", "--json", catalog=path
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ran"] == "a local Dask cluster"
    assert data["counts"]["same"] == 16
    assert len(lines(recording)) == 16


class _Tty(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "as_json", "shown"), [(True, False, True), (True, True, False), (False, False, False)]
)
def test_a_progress_bar_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, tty: bool, as_json: bool, shown: bool
) -> None:
    monkeypatch.setattr(sys, "stderr", _Tty(tty))
    assert replay_cli._wants_progress_bar(as_json) is shown


def test_the_progress_bar_counts_the_calls_that_run(make: Write) -> None:
    from rich.console import Console

    from catalog_cli.cli._batch_cli import _progress_bar
    from catalog_cli.cli._session import Session

    path = make()
    with Catalog(path) as catalog:
        catalog.run("quote", customer="b", price=1.0)
        catalog.run("quote", customer="b", price=1.0, password="pw")  # skipped: never runs
        catalog.run("quote", customer="a", price=1.0)
    calls, malformed = select(read_recording(path.parent / "recording.jsonl"))
    current = Session(path, False)
    screen = io.StringIO()
    current._err = Console(file=screen, force_terminal=True, width=100)
    with Catalog(path) as catalog, _progress_bar(current, "replaying", 2) as progress:
        report = run_calls(catalog, calls, malformed, progress=progress)
    assert report.counts["skipped"] == 1
    assert "replaying" in screen.getvalue() and "2/2" in screen.getvalue()
