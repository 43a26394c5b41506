"""``catalog check --jobs N``: the tenants checked in worker processes, the same report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog_cli import Catalog
from catalog_cli.execution._check import MAX_JOBS, TENANTS_PER_WORKER, workers
from tests.conftest import Invoke, WriteCatalog

EXIT_PROBLEMS = 10

GOOD = """\
    from catalog_cli import hookimpl


    @hookimpl
    def interface_a_v2_extra_lines(ctx, name, vip):
        return "fine"
    """

STARTUP_FAILS = """\
    from catalog_cli import hookimpl


    @hookimpl
    def catalog_startup(tenant, settings):
        if settings.get("fail"):
            raise RuntimeError(f"cannot start for {tenant}")


    @hookimpl
    def interface_a_v2_extra_lines(ctx, name, vip):
        return "started"
    """

#: A plugin that ends the process it starts in, for the tenants that ask it to.
ENDS_ITS_PROCESS = """\
    import os

    from catalog_cli import hookimpl


    @hookimpl
    def catalog_startup(tenant, settings):
        if settings.get("exit"):
            os._exit(3)


    @hookimpl
    def interface_a_v2_extra_lines(ctx, name, vip):
        return "alive"
    """

FILES = {
    "plugins/acme/good.py": GOOD,
    "plugins/acme/boom.py": 'raise RuntimeError("kaboom while importing")\n',
    "plugins/acme/badsig.py": """\
        from catalog_cli import hookimpl


        @hookimpl
        def interface_a_v1_signature(ctx, name, extra):
            return "never called"
        """,
    "plugins/acme/starting.py": STARTUP_FAILS,
    "plugins/acme/unused.py": "raise ImportError('broken, and nobody selects it')\n",
}


def _broken_toml(copies: int) -> str:
    """Tenants of every kind of problem, ``copies`` times over, and good ones between."""
    parts = ['[catalog]\nplugin_dirs = ["plugins"]\n']
    for i in range(copies):
        parts.append(
            f"""
            [tenants.good{i}]
            plugins = ["acme.good"]

            [tenants.importfail{i}]
            plugins = ["acme.boom"]

            [tenants.invalid{i}]
            plugins = ["acme.badsig"]

            [tenants.misconfigured{i}]
            plugins = ["acme.nosuch"]

            [tenants.nostart{i}]
            plugins = ["acme.starting"]
            settings = {{ "acme.starting" = {{ fail = true }} }}

            [tenants.starts{i}]
            plugins = ["acme.starting", "acme.good"]

            [tenants.plain{i}]
            """
        )
    return "\n".join(part.replace("\n            ", "\n") for part in parts)


@pytest.fixture
def broken(write_catalog: WriteCatalog) -> Path:
    return write_catalog(_broken_toml(3), FILES)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_the_same_report_from_workers(invoke: Invoke, broken: Path, as_json: bool) -> None:
    options = ["--json"] if as_json else []
    alone = invoke("check", *options, "--jobs", "1", catalog=broken)
    shared = invoke("check", *options, "--jobs", "2", catalog=broken)
    assert alone.exit_code == shared.exit_code == EXIT_PROBLEMS, (alone.stderr, shared.stderr)
    assert shared.stdout == alone.stdout
    assert shared.stderr == alone.stderr
    if as_json:
        report = json.loads(shared.stdout)
        statuses = {t["id"]: t["status"] for t in report["tenants"]}
        assert [t["id"] for t in report["tenants"]][:7] == [
            "good0",
            "importfail0",
            "invalid0",
            "misconfigured0",
            "nostart0",
            "starts0",
            "plain0",
        ]
        assert statuses["starts2"] == statuses["good1"] == statuses["plain0"] == "ok"
        assert statuses["nostart1"] == statuses["misconfigured2"] == "failed"
        problems = [(p["kind"], p["tenant"], p["plugin"]) for p in report["problems"]]
        assert ("plugin", "nostart2", "acme.starting") in problems
        assert ("plugin", None, "acme.unused") in problems  # broken, and selected by nobody
        # Each tenant's problem once, in the tenants' order.
        tenants = [tenant for _kind, tenant, _plugin in problems if tenant is not None]
        assert tenants == sorted(set(tenants), key=tenants.index)
        assert len(tenants) == 3 * 4


def test_more_jobs_than_chunks_and_the_api(broken: Path) -> None:
    catalog = Catalog(broken)
    alone = catalog.check(jobs=1)
    shared = Catalog(broken).check(jobs=64)
    assert shared == alone
    assert shared.to_dict() == alone.to_dict()


def test_a_clean_catalog_exits_0(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        """\
        [catalog]
        plugin_dirs = ["plugins"]

        [tenants.a]
        plugins = ["acme.good"]

        [tenants.b]

        [tenants.c]
        plugins = ["acme.good"]
        """,
        {"plugins/acme/good.py": GOOD},
    )
    result = invoke("check", "--jobs", "2", catalog=path)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "OK: no problems found." in result.stdout


def test_a_catalog_that_cannot_load_keeps_its_exit_code(
    invoke: Invoke, write_catalog: WriteCatalog
) -> None:
    path = write_catalog('[catalog]\nplugin_dirs = ["nowhere"]\n')
    alone = invoke("check", "--json", "--jobs", "1", catalog=path)
    shared = invoke("check", "--json", "--jobs", "2", catalog=path)
    assert alone.exit_code == shared.exit_code != 0
    assert alone.exit_code not in (0, EXIT_PROBLEMS)
    assert shared.stdout == alone.stdout


def test_jobs_goes_with_tenants_not_a_plugin(invoke: Invoke) -> None:
    result = invoke("check", "--plugin", "customer_1.interface_a", "--jobs", "2")
    assert result.exit_code == 2
    assert "--jobs" in result.stderr


def test_how_many_workers() -> None:
    assert workers(1, 100_000) == 1
    assert workers(4, 3) == 3  # never more workers than tenants
    assert workers(2, 0) == 1
    assert workers(None, 3) == 1  # a few tenants are checked faster in this process
    assert workers(None, TENANTS_PER_WORKER * 2) == min(os.cpu_count() or 1, 2)
    assert workers(None, 10**7) == min(os.cpu_count() or 1, MAX_JOBS)


def test_a_worker_that_dies_is_reported_not_awaited(write_catalog: WriteCatalog) -> None:
    ends = '{ "acme.ends" = { exit = true } }'
    tenants = "\n".join(
        f'[tenants.t{i}]\nplugins = ["acme.ends"]\nsettings = {ends if i == 5 else "{}"}\n'
        for i in range(12)
    )
    path = write_catalog(
        f'[catalog]\nplugin_dirs = ["plugins"]\n{tenants}',
        {"plugins/acme/ends.py": ENDS_ITS_PROCESS},
    )
    command = [sys.executable, "-m", "catalog_cli", "--catalog", str(path), "check", "--json"]
    done = subprocess.run(
        [*command, "--jobs", "2"], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == EXIT_PROBLEMS, done.stderr
    report = json.loads(done.stdout)
    statuses = {t["id"]: t["status"] for t in report["tenants"]}
    assert statuses == {f"t{i}": "failed" if i == 5 else "ok" for i in range(12)}
    (ends,) = [p for p in report["plugins"] if p["name"] == "acme.ends"]
    assert ends["status"] == "loaded"
    (problem,) = report["problems"]
    assert problem["kind"] == "crash"
    assert problem["tenant"] == "t5"
    assert "the process checking it died while building and starting it" in problem["message"]


def test_a_worker_writes_as_it_goes_and_keeps_no_tenant(
    write_catalog: WriteCatalog, tmp_path: Path
) -> None:
    import gc

    from catalog_cli.execution import _check

    path = str(write_catalog(_broken_toml(1), FILES))
    progress = tmp_path / "progress.jsonl"
    statuses = _check.check_chunk(path, ["good0", "misconfigured0", "starts0"], str(progress))
    runtimes = _check._LOADED.pop(path)
    assert [(s.id, s.status) for s in statuses] == [
        ("good0", "ok"),
        ("misconfigured0", "failed"),
        ("starts0", "ok"),
    ]
    lines = progress.read_text(encoding="utf-8").splitlines()
    assert [line[:2] for line in lines] == ["> ", "= "] * 3
    assert json.loads(lines[0][2:]) == "good0"
    assert json.loads(lines[3][2:])[:2] == ["misconfigured0", "failed"]
    # Shut down and forgotten: a worker that goes through many chunks does not grow.
    assert runtimes.known("good0") is None
    assert not runtimes.registry._selections
    assert not runtimes.registry.config.tenants._built  # type: ignore[attr-defined]
    assert gc.isenabled()
