"""The HTTP API through the ASGI test client: every endpoint, every error status, and the
ways a tenant's key might be used to act as, or look at, another tenant."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.exceptions import StarletteDeprecationWarning

from catalog_cli import Catalog
from catalog_cli.config._config import read_config
from catalog_cli.config._keys import ADMIN as ADMIN_ID
from catalog_cli.config._keys import Identity, KeyRing, hash_key, new_key
from catalog_cli.errors import (
    CallTimeoutError,
    CatalogError,
    CircuitOpenError,
    ConfigError,
    RateLimitedError,
)
from catalog_cli.execution._jobs import Job
from catalog_cli.http import ServeSettings, create_app
from catalog_cli.http._jobviews import job_view
from catalog_cli.http._models import (
    HealthReport,
    InterfaceDetail,
    InterfaceList,
    JobList,
    JobModel,
    PluginList,
    PluginModel,
    Problem,
    ReloadReport,
    RunResponse,
)
from catalog_cli.http._problems import from_catalog_error

from .conftest import WriteCatalog

with warnings.catch_warnings():
    # starlette 1.x asks for httpx2 in its test client; the test extra has httpx, which works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

KEYS = {tenant: f"key-of-{tenant}-0123456789" for tenant in ("c1", "c3", "c4", "c5", "c6")}
KEYS |= {tenant: f"key-of-{tenant}-0123456789" for tenant in ("c7", "c8", "gone")}
C2_KEY = "c2-key-from-the-environment"
ADMIN_KEY = "the-admin-key-0123456789"
ADMIN_ENV_KEY = "admin-key-from-the-environment"

PLUGINS = {
    "plugins/acme/greet.py": """
        from catalog_cli import Health, hookimpl

        @hookimpl
        def interface_a_v2_greeting(ctx, name):
            return f"{ctx.settings['greeting']} {name}"

        @hookimpl
        def catalog_health(settings):
            return Health("healthy", "greeting " + settings["greeting"])
        """,
    "plugins/globex/secret.py": """
        from catalog_cli import hookimpl

        @hookimpl
        def interface_a_v2_greeting(ctx, name):
            return "Globex welcomes " + name
        """,
    "plugins/broken/bad_import.py": """
        raise ImportError("cannot reach /srv/internal/credentials.db")
        """,
    "plugins/flaky/raises.py": """
        from catalog_cli import hookimpl

        @hookimpl
        def price_quote_v1_tax_rate(country):
            raise RuntimeError("db password=hunter2 at /srv/internal")

        @hookimpl
        def catalog_health():
            raise RuntimeError("cannot reach postgres://app:hunter2@db.internal/prices")
        """,
    "plugins/slow/hang.py": """
        import time

        from catalog_cli import hookimpl

        @hookimpl
        def interface_a_v2_greeting(name):
            time.sleep(1.0)
            return None
        """,
}


def catalog_toml(*, extra: str = "", drop: str = "") -> str:
    tenants = {
        "c1": 'plugins = ["acme.greet"]\n'
        f'api_keys = ["{hash_key(KEYS["c1"])}"]\n'
        '[tenants.c1.settings."acme.greet"]\ngreeting = "Hello"\n',
        "c2": 'plugins = ["globex.secret"]\napi_keys = ["${env:C2_KEY}"]\n'
        '[tenants.c2.settings."globex.secret"]\ntoken = "globex-secret-setting"\n',
        "c3": f'plugins = ["broken.bad_import"]\napi_keys = ["{hash_key(KEYS["c3"])}"]\n',
        "c4": f'plugins = ["flaky.raises"]\napi_keys = ["{hash_key(KEYS["c4"])}"]\n',
        "c5": f'plugins = ["slow.hang"]\napi_keys = ["{hash_key(KEYS["c5"])}"]\n',
        "c6": f'api_keys = ["{hash_key(KEYS["c6"])}"]\n',
        "c7": f'plugins = ["flaky.raises"]\napi_keys = ["{hash_key(KEYS["c7"])}"]\n',
        "c8": f'plugins = ["slow.hang"]\napi_keys = ["{hash_key(KEYS["c8"])}"]\n',
        "gone": f'api_keys = ["{hash_key(KEYS["gone"])}", "${{env:UNSET_KEY_VARIABLE}}"]\n',
    }
    sections = "\n".join(
        f"[tenants.{tenant}]\n{body}" for tenant, body in tenants.items() if tenant != drop
    )
    return f"""
[catalog]
plugin_dirs = ["plugins"]

[serve]
admin_keys = ["{hash_key(ADMIN_KEY)}", "${{env:ADMIN_KEY}}"]

# A job refused by a limit is a dead letter at once (not run again after a backoff).
[jobs.retry]
attempts = 1

[interceptors.metrics]
include = {{ tenants = ["c1", "c2"] }}

[interceptors.rate_limit]
include = {{ tenants = ["c6"] }}
settings = {{ rate = 0.01, burst = 1 }}

[interceptors.circuit_breaker]
include = {{ tenants = ["c7"] }}
settings = {{ failures = 1, reset_seconds = 60 }}

[interceptors.timeout]
include = {{ tenants = ["c8"] }}
settings = {{ seconds = 0.05 }}

{sections}
{extra}
"""


def bearer(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


C2 = {"X-API-Key": C2_KEY}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}  # headers


def valid(model: type[BaseModel], response: Any) -> Any:
    """The response's JSON, checked against the model the OpenAPI document names for it."""
    data = response.json()
    model.model_validate(data)
    return data


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    data = valid(Problem, response)
    assert data["status"] == status
    assert data["type"].startswith("urn:task-catalog:problem:")
    return data  # type: ignore[no-any-return]


def wait_for(check: Callable[[], Any], seconds: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy, up to a deadline."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


@pytest.fixture
def catalog_file(write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("C2_KEY", C2_KEY)
    monkeypatch.setenv("ADMIN_KEY", ADMIN_ENV_KEY)
    monkeypatch.delenv("UNSET_KEY_VARIABLE", raising=False)
    monkeypatch.delenv("CATALOG_JOBS_DB", raising=False)
    return write_catalog(catalog_toml(), PLUGINS)


@pytest.fixture
def client(catalog_file: Path) -> Iterator[TestClient]:
    app = create_app(catalog_file, settings=ServeSettings(max_timeout=5.0, job_threads=2))
    with TestClient(app) as test_client:
        yield test_client


# -- keys ------------------------------------------------------------------------------------


def test_a_new_key_is_random_and_its_hash_is_what_catalog_toml_takes() -> None:
    key, hashed = new_key()
    other, _ = new_key()
    assert key != other and len(key) >= 43
    assert hashed == hash_key(key)
    assert hashed.startswith("sha256:") and len(hashed) == len("sha256:") + 64
    ring = KeyRing([(hashed, Identity("c1"))])
    assert ring.identify(key) == Identity("c1")
    assert ring.identify(other) is None


def test_the_key_ring_reads_config_and_environment(
    catalog_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = KeyRing.from_config(read_config(catalog_file))
    assert ring.identify(KEYS["c1"]) == Identity("c1")
    assert ring.identify(C2_KEY) == Identity("c2")
    assert ring.identify(ADMIN_KEY) == ADMIN_ID
    assert ring.identify(ADMIN_ENV_KEY) == ADMIN_ID
    assert ring.identify("") is None
    assert ring.identify(hash_key(KEYS["c1"])) is None  # the hash is not a key
    [unset] = ring.problems
    assert "UNSET_KEY_VARIABLE" in unset and "tenant 'gone'" in unset
    monkeypatch.delenv("C2_KEY")
    without = KeyRing.from_config(read_config(catalog_file))
    assert without.identify(C2_KEY) is None
    assert any("C2_KEY" in p for p in without.problems)


def test_one_key_for_two_identities_authenticates_neither() -> None:
    shared = hash_key("shared")
    ring = KeyRing([(shared, Identity("c1")), (shared, Identity("c2")), (shared, ADMIN_ID)])
    assert ring.identify("shared") is None
    assert ring.problems and "neither" in ring.problems[0]


def test_a_key_is_found_by_its_hash_and_compared_once_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    ring = KeyRing([(hash_key(f"key{n}"), Identity(f"t{n}")) for n in range(1000)])
    assert ring.identify("key999") == Identity("t999")
    assert len(calls) == 1  # one compare, however many keys are stored
    assert calls[0][0] == calls[0][1] == bytes.fromhex(hash_key("key999").split(":")[1])
    calls.clear()
    assert ring.identify("nobody") is None
    assert ring.identify("key999 ") is None
    assert calls == []  # no stored hash to compare with


# -- running ---------------------------------------------------------------------------------


def test_run_with_a_bearer_key_runs_as_the_keys_tenant(client: TestClient) -> None:
    response = client.post(
        "/v1/interfaces/interface_a/run", json={"arguments": {"name": "Ada"}}, headers=bearer("c1")
    )
    assert response.status_code == 200, response.text
    data = valid(RunResponse, response)
    assert data["result"].startswith("Hello Ada")
    assert (data["interface"], data["version"], data["version_source"]) == (
        "interface_a",
        2,
        "latest",
    )
    assert data["tenant"] == "c1" and data["call_id"]


def test_run_with_an_x_api_key_from_the_environment(client: TestClient) -> None:
    response = client.post(
        "/v1/interfaces/interface_a/run",
        json={"version": 1, "arguments": {"name": "Ada"}},
        headers=C2,
    )
    data = valid(RunResponse, response)
    assert data["tenant"] == "c2"
    assert (data["version"], data["version_source"]) == (1, "requested")


def test_run_without_a_body_uses_the_defaults(client: TestClient) -> None:
    response = client.post("/v1/interfaces/interface_a/run", headers=C2)
    assert valid(RunResponse, response)["result"].startswith("Globex welcomes there")


def test_invalid_arguments_are_422_naming_each_parameter(client: TestClient) -> None:
    response = client.post(
        "/v1/interfaces/price_quote/run",
        json={"arguments": {"unit_price": "cheap", "colour": "red"}},
        headers=bearer("c1"),
    )
    data = problem(response, 422)
    assert set(data["errors"]) == {"unit_price", "quantity", "colour"}
    assert data["tenant"] == "c1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "two"}, "version"),
        ({"version": 0}, "version"),
        ({"version": True}, "version"),
        ({"arguments": [1, 2]}, "arguments"),
        ({"argumnets": {}}, "argumnets"),
    ],
)
def test_a_body_that_does_not_fit_the_api_is_422(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    data = problem(client.post("/v1/interfaces/price_quote/run", json=body, headers=C2), 422)
    assert field in data["errors"]


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/interfaces/price_quote/run",
        content=b'{"arguments": {',
        headers={**C2, "Content-Type": "application/json"},
    )
    assert "not valid JSON" in problem(response, 400)["detail"]


def test_a_body_that_is_not_json_is_415(client: TestClient) -> None:
    response = client.post(
        "/v1/interfaces/price_quote/run",
        content=b"unit_price=1",
        headers={**C2, "Content-Type": "application/x-www-form-urlencoded"},
    )
    problem(response, 415)


def test_unknown_interface_and_version_are_404(client: TestClient) -> None:
    data = problem(client.post("/v1/interfaces/nope/run", json={}, headers=C2), 404)
    assert "interface_a" in data["detail"]  # the known ones are listed
    data = problem(
        client.post("/v1/interfaces/interface_a/run", json={"version": 9}, headers=C2), 404
    )
    assert "version 9" in data["detail"]


def test_a_plugin_that_raises_is_500_without_internals(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="catalog.serve"):
        response = client.post(
            "/v1/interfaces/price_quote/run",
            json={"arguments": {"unit_price": 1.0, "quantity": 1}},
            headers=bearer("c4"),
        )
    data = problem(response, 500)
    call_id = data["call_id"]
    assert call_id and call_id in data["detail"]
    for secret in ("flaky", "raises", "hunter2", "RuntimeError", "/srv", "Traceback"):
        assert secret not in response.text
    # The server log has the whole story under the same call id.
    logged = [r for r in caplog.records if call_id in r.getMessage()]
    assert logged and "hunter2" in logged[0].getMessage()
    assert logged[0].exc_info is not None


def test_a_tenant_that_fails_closed_is_503_without_internals(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="catalog.serve"):
        response = client.post("/v1/interfaces/interface_a/run", headers=bearer("c3"))
    data = problem(response, 503)
    assert data["type"].endswith("tenant-unavailable")
    assert "bad_import" not in response.text and "/srv" not in response.text
    assert any("bad_import" in r.getMessage() for r in caplog.records)


def test_x_timeout_gives_504(client: TestClient) -> None:
    response = client.post(
        "/v1/interfaces/interface_a/run", headers={**bearer("c5"), "X-Timeout": "0.05"}
    )
    data = problem(response, 504)
    assert data["call_id"] and "0.05 s" in data["detail"]


def test_x_timeout_is_bounded_by_the_server_maximum(catalog_file: Path) -> None:
    app = create_app(catalog_file, settings=ServeSettings(max_timeout=0.05, job_threads=0))
    with TestClient(app) as client:
        response = client.post(
            "/v1/interfaces/interface_a/run", headers={**bearer("c5"), "X-Timeout": "3600"}
        )
    assert "0.05 s" in problem(response, 504)["detail"]


def test_an_invalid_x_timeout_is_422(client: TestClient) -> None:
    for value in ("soon", "0", "-1"):
        response = client.post(
            "/v1/interfaces/interface_a/run", headers={**bearer("c5"), "X-Timeout": value}
        )
        problem(response, 422)


def test_the_timeout_interceptor_gives_504(client: TestClient) -> None:
    problem(client.post("/v1/interfaces/interface_a/run", headers=bearer("c8")), 504)


def test_rate_limited_is_429_with_retry_after(client: TestClient) -> None:
    url = "/v1/interfaces/interface_a/run"
    assert client.post(url, headers=bearer("c6")).status_code == 200  # the one token
    response = client.post(url, headers=bearer("c6"))
    data = problem(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    assert data["retry_after"] > 0


def test_open_circuit_is_503_with_retry_after(client: TestClient) -> None:
    url = "/v1/interfaces/price_quote/run"
    body = {"arguments": {"unit_price": 1.0, "quantity": 1}}
    problem(client.post(url, json=body, headers=bearer("c7")), 500)  # opens the circuit
    response = client.post(url, json=body, headers=bearer("c7"))
    data = problem(response, 503)
    assert data["type"].endswith("circuit-open")
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_an_unexpected_error_is_500_with_a_call_id(
    catalog_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = Catalog(catalog_file)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("internal state at 0x1234")

    monkeypatch.setattr(catalog, "call", broken)
    app = create_app(catalog, settings=ServeSettings(job_threads=0))
    with (
        caplog.at_level(logging.ERROR, logger="catalog.serve"),
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        response = client.post("/v1/interfaces/interface_a/run", headers=C2)
    data = problem(response, 500)
    assert "0x1234" not in response.text and "ZeroDivisionError" not in response.text
    assert any(data["call_id"] in r.getMessage() for r in caplog.records)
    catalog.close()


# -- authentication and tenant spoofing ------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"X-API-Key": "wrong-key"},
        {"Authorization": f"Basic {KEYS['c1']}"},
        {"Authorization": f"Bearer {hash_key(KEYS['c1'])}"},
        {"Authorization": "Bearer key-of-gone"},
    ],
)
def test_missing_or_wrong_keys_are_401_with_a_challenge(
    client: TestClient, headers: dict[str, str]
) -> None:
    for method, url in (
        ("POST", "/v1/interfaces/interface_a/run"),
        ("GET", "/v1/interfaces"),
        ("GET", "/v1/jobs"),
        ("POST", "/v1/admin/reload"),
    ):
        response = client.request(method, url, headers=headers)
        problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_two_different_keys_in_one_request_are_401(client: TestClient) -> None:
    problem(client.get("/v1/interfaces", headers={**bearer("c1"), **C2}), 401)


def test_a_key_whose_environment_variable_is_unset_authenticates_nobody(
    catalog_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="catalog.serve"):
        app = create_app(catalog_file, settings=ServeSettings(job_threads=0))
        with TestClient(app) as client:
            problem(client.get("/v1/interfaces", headers={"X-API-Key": ""}), 401)
    assert any("UNSET_KEY_VARIABLE" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("url", "headers", "body"),
    [
        ("/v1/interfaces/interface_a/run?tenant=c2", {}, {}),
        ("/v1/interfaces/interface_a/run?customer=c2", {}, {}),
        ("/v1/interfaces/interface_a/run?tenant=c1&customer=c2", {}, {}),
        ("/v1/interfaces/interface_a/run", {"X-Tenant": "c2"}, {}),
        ("/v1/interfaces/interface_a/run", {"X-Customer": "c2"}, {}),
        ("/v1/interfaces/interface_a/run", {}, {"tenant": "c2"}),
        ("/v1/interfaces/interface_a/run", {}, {"customer": "c2"}),
        ("/v1/interfaces/interface_a/run", {}, {"tenant": "c1", "customer": "c2"}),
        ("/v1/interfaces/interface_a/jobs", {}, {"tenant": "c2"}),
        ("/v1/interfaces/interface_a/jobs?tenant=c2", {}, {}),
    ],
)
def test_a_key_of_c1_can_never_run_as_c2(
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
) -> None:
    with caplog.at_level(logging.WARNING, logger="catalog.serve"):
        response = client.post(url, json=body, headers={**bearer("c1"), **headers})
    data = problem(response, 403)
    assert data["tenant"] == "c1"
    assert "Globex" not in response.text
    assert any("spoofing" in r.getMessage() and "'c2'" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "url",
    [
        "/v1/interfaces?tenant=c2",
        "/v1/plugins?customer=c2",
        "/v1/health?tenant=c2",
        "/v1/jobs?tenant=c2",
    ],
)
def test_a_key_of_c1_cannot_look_at_c2(client: TestClient, url: str) -> None:
    problem(client.get(url, headers=bearer("c1")), 403)


def test_naming_the_keys_own_tenant_is_fine(client: TestClient) -> None:
    response = client.post(
        "/v1/interfaces/interface_a/run?tenant=c1",
        json={"tenant": "c1", "customer": "c1"},
        headers={**bearer("c1"), "X-Tenant": "c1"},
    )
    assert valid(RunResponse, response)["tenant"] == "c1"


def test_admin_keys_run_no_methods(client: TestClient) -> None:
    for headers in (ADMIN, {"X-API-Key": ADMIN_ENV_KEY}):
        for url in ("/v1/interfaces/interface_a/run", "/v1/interfaces/interface_a/jobs"):
            problem(client.post(url, headers=headers), 403)
            problem(client.post(url + "?tenant=c1", headers=headers), 403)


def test_tenant_keys_cannot_reload(client: TestClient) -> None:
    problem(client.post("/v1/admin/reload", headers=bearer("c1")), 403)


# -- describing ------------------------------------------------------------------------------


def test_interfaces_say_which_version_the_tenant_runs(client: TestClient) -> None:
    data = valid(InterfaceList, client.get("/v1/interfaces", headers=bearer("c1")))
    rows = {row["name"]: row for row in data["interfaces"]}
    assert rows["interface_a"]["runs"] == {"version": 2, "source": "latest", "canary": None}
    detail = valid(InterfaceDetail, client.get("/v1/interfaces/interface_a", headers=C2))
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert detail["runs"]["version"] == 2
    assert all(v["tenants"] is None for v in detail["versions"])  # nobody else's business
    assert '"c1"' not in client.get("/v1/interfaces/interface_a", headers=C2).text


def test_the_admin_sees_who_runs_each_version(client: TestClient) -> None:
    data = valid(InterfaceDetail, client.get("/v1/interfaces/interface_a", headers=ADMIN))
    assert data["runs"] is None
    users = {u["tenant"] for u in data["versions"][1]["tenants"]}
    assert {"c1", "c2"} <= users
    listing = valid(InterfaceList, client.get("/v1/interfaces", headers=ADMIN))
    assert all(row["runs"] is None for row in listing["interfaces"])
    scoped = valid(InterfaceList, client.get("/v1/interfaces?tenant=c2", headers=ADMIN))
    assert all(row["runs"] is not None for row in scoped["interfaces"])


def test_unknown_interface_is_404(client: TestClient) -> None:
    problem(client.get("/v1/interfaces/nope", headers=C2), 404)


def test_a_tenant_sees_only_its_plugins_and_the_builtins(client: TestClient) -> None:
    response = client.get("/v1/plugins", headers=bearer("c1"))
    data = valid(PluginList, response)
    names = {p["name"] for p in data["plugins"]}
    assert "acme.greet" in names
    assert {p["kind"] for p in data["plugins"] if p["name"] != "acme.greet"} == {"builtin"}
    for other in ("globex", "flaky", "broken", "slow", "c2", "c3", "token"):
        assert other not in response.text
    assert all(p["tenants"] == ["c1"] and p["location"] is None for p in data["plugins"])
    shown = valid(PluginModel, client.get("/v1/plugins/acme.greet", headers=bearer("c1")))
    assert shown["status"] == "loaded"


def test_another_tenants_plugin_is_unknown_like_a_missing_one(client: TestClient) -> None:
    other = problem(client.get("/v1/plugins/globex.secret", headers=bearer("c1")), 404)
    missing = problem(client.get("/v1/plugins/no.such", headers=bearer("c1")), 404)
    assert other["detail"].replace("globex.secret", "X") == missing["detail"].replace(
        "no.such", "X"
    )


def test_a_failed_plugin_is_reported_without_internals_to_its_tenant(
    client: TestClient,
) -> None:
    response = client.get("/v1/plugins/broken.bad_import", headers=bearer("c3"))
    data = valid(PluginModel, response)
    assert data["status"] == "failed"
    assert "/srv" not in response.text and "credentials" not in response.text


def test_the_admin_sees_every_plugin_with_its_location(client: TestClient) -> None:
    data = valid(PluginList, client.get("/v1/plugins", headers=ADMIN))
    names = {p["name"] for p in data["plugins"]}
    assert {"acme.greet", "globex.secret", "broken.bad_import"} <= names
    shown = valid(PluginModel, client.get("/v1/plugins/globex.secret", headers=ADMIN))
    assert shown["tenants"] == ["c2"] and shown["location"]


# -- operating -------------------------------------------------------------------------------


def test_health_of_the_callers_tenant(client: TestClient) -> None:
    data = valid(HealthReport, client.get("/v1/health", headers=bearer("c1")))
    assert data["ok"] is True
    assert {c["tenant"] for c in data["checks"]} == {"c1"}
    greet = valid(HealthReport, client.get("/v1/health/acme.greet", headers=bearer("c1")))
    [check] = greet["checks"]
    assert (check["status"], check["details"], check["checked"]) == (
        "healthy",
        "greeting Hello",
        True,
    )
    problem(client.get("/v1/health/globex.secret", headers=bearer("c1")), 404)


def test_health_of_a_tenant_that_fails_closed_hides_the_reason(client: TestClient) -> None:
    response = client.get("/v1/health", headers=bearer("c3"))
    data = valid(HealthReport, response)
    assert data["ok"] is False
    assert "/srv" not in response.text


def test_the_admin_sees_every_tenants_health(client: TestClient) -> None:
    data = valid(HealthReport, client.get("/v1/health", headers=ADMIN))
    assert data["ok"] is False  # c3 fails closed
    assert {"c1", "c2", "c3"} <= {c["tenant"] for c in data["checks"]}
    assert any("credentials" in c["details"] for c in data["checks"])
    one = valid(HealthReport, client.get("/v1/health?tenant=c1", headers=ADMIN))
    assert {c["tenant"] for c in one["checks"]} == {"c1"}
    problem(client.get("/v1/health?tenant=nobody", headers=ADMIN), 404)
    problem(client.get("/v1/health?tenant=c1&customer=c2", headers=ADMIN), 400)


def test_metrics_of_the_callers_tenant_only(client: TestClient) -> None:
    client.post("/v1/interfaces/interface_a/run", headers=bearer("c1"))
    client.post("/v1/interfaces/interface_a/run", headers=C2)
    own = client.get("/v1/metrics", headers=bearer("c1"))
    assert own.status_code == 200 and own.headers["content-type"].startswith("text/plain")
    assert 'tenant="c1"' in own.text and 'tenant="c2"' not in own.text
    every = client.get("/v1/metrics", headers=ADMIN).text
    assert 'tenant="c1"' in every and 'tenant="c2"' in every


def test_reload_reports_what_changed(
    client: TestClient, catalog_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_key_of_c9 = "key-of-c9-added-by-reload"
    catalog_file.write_text(
        catalog_toml(drop="gone", extra=f'[tenants.c9]\napi_keys = ["{hash_key(new_key_of_c9)}"]'),
        encoding="utf-8",
    )
    problem(client.get("/v1/interfaces", headers={"X-API-Key": new_key_of_c9}), 401)
    data = valid(ReloadReport, client.post("/v1/admin/reload", headers=ADMIN))
    assert data["generation"] == 1
    assert data["tenants"] == {"added": ["c9"], "removed": ["gone"], "changed": []}
    assert data["key_problems"] == []  # the unset variable was gone's
    assert client.get("/v1/interfaces", headers={"X-API-Key": new_key_of_c9}).status_code == 200
    # The key of a tenant the reload removed authenticates nobody any more.
    problem(client.get("/v1/interfaces", headers=bearer("gone")), 401)


def test_a_refused_reload_is_409_and_changes_nothing(
    client: TestClient, catalog_file: Path
) -> None:
    good = catalog_file.read_text(encoding="utf-8")
    catalog_file.write_text(good.replace('plugins = ["acme.greet"]', 'plugins = ["acme.nope"]'))
    data = problem(client.post("/v1/admin/reload", headers=ADMIN), 409)
    assert "acme.nope" in data["detail"]  # for the operator
    response = client.post("/v1/interfaces/interface_a/run", headers=bearer("c1"))
    assert valid(RunResponse, response)["result"].startswith("Hello")


# -- jobs ------------------------------------------------------------------------------------


def _finished(client: TestClient, job_id: str, headers: dict[str, str]) -> Any:
    def done() -> Any:
        data = valid(JobModel, client.get(f"/v1/jobs/{job_id}", headers=headers))
        return data if data["status"] in ("succeeded", "failed", "dead") else None

    return wait_for(done)


def test_a_job_is_accepted_at_once_and_polled_until_done(client: TestClient) -> None:
    response = client.post(
        "/v1/interfaces/price_quote/jobs",
        json={"arguments": {"unit_price": 2.0, "quantity": 3}},
        headers=C2,
    )
    assert response.status_code == 202, response.text
    job = valid(JobModel, response)
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert (job["tenant"], job["status"]) == ("c2", "queued")
    done = _finished(client, job["id"], C2)
    assert done["status"] == "succeeded" and done["result"]["subtotal"] == 6.0
    assert done["ran_version"] == 1 and done["call_id"]
    listed = valid(JobList, client.get("/v1/jobs", headers=C2))
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]


def test_another_tenants_job_is_404(client: TestClient) -> None:
    job = valid(JobModel, client.post("/v1/interfaces/interface_a/jobs", headers=C2))
    missing = problem(client.get("/v1/jobs/no-such-job", headers=bearer("c1")), 404)
    other = problem(client.get(f"/v1/jobs/{job['id']}", headers=bearer("c1")), 404)
    assert other["detail"].replace(job["id"], "X") == missing["detail"].replace("no-such-job", "X")
    assert valid(JobList, client.get("/v1/jobs", headers=bearer("c1")))["jobs"] == []
    admin = valid(JobList, client.get("/v1/jobs", headers=ADMIN))
    assert job["id"] in {j["id"] for j in admin["jobs"]}
    assert valid(JobModel, client.get(f"/v1/jobs/{job['id']}", headers=ADMIN))["tenant"] == "c2"


def test_a_job_is_checked_before_it_is_accepted(client: TestClient) -> None:
    problem(client.post("/v1/interfaces/nope/jobs", headers=C2), 404)
    problem(client.post("/v1/interfaces/interface_a/jobs", json={"version": 7}, headers=C2), 404)
    problem(
        client.post(
            "/v1/interfaces/price_quote/jobs", json={"arguments": {"quantity": "x"}}, headers=C2
        ),
        422,
    )
    assert valid(JobList, client.get("/v1/jobs", headers=C2))["jobs"] == []


def test_a_failed_job_tells_its_tenant_no_internals(client: TestClient) -> None:
    response = client.post(
        "/v1/interfaces/price_quote/jobs",
        json={"arguments": {"unit_price": 1.0, "quantity": 1}},
        headers=bearer("c4"),
    )
    job = valid(JobModel, response)
    done = _finished(client, job["id"], bearer("c4"))
    assert done["status"] == "failed"
    assert done["error"]["status"] == 500 and done["error"]["kind"] == "plugin_call"
    text = client.get(f"/v1/jobs/{job['id']}", headers=bearer("c4")).text
    assert "hunter2" not in text and "flaky" not in text
    admin = client.get(f"/v1/jobs/{job['id']}", headers=ADMIN).json()
    assert "hunter2" in admin["error"]["detail"]


def test_job_listing_filters(client: TestClient) -> None:
    problem(client.get("/v1/jobs?status=lost", headers=C2), 422)
    problem(client.get("/v1/jobs?limit=0", headers=C2), 422)
    assert valid(JobList, client.get("/v1/jobs?status=failed&limit=5", headers=C2))["jobs"] == []


# -- the API itself --------------------------------------------------------------------------


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    problem(client.get("/v2/nothing", headers=C2), 404)
    problem(client.get("/v1/interfaces/interface_a/run", headers=C2), 405)


ROUTES = {
    ("post", "/v1/interfaces/{interface}/run"),
    ("post", "/v1/interfaces/{interface}/jobs"),
    ("get", "/v1/interfaces"),
    ("get", "/v1/interfaces/{name}"),
    ("get", "/v1/plugins"),
    ("get", "/v1/plugins/{name}"),
    ("get", "/v1/health"),
    ("get", "/v1/health/{plugin}"),
    ("get", "/v1/metrics"),
    ("post", "/v1/admin/reload"),
    ("get", "/v1/admin/plugins/disabled"),
    ("put", "/v1/admin/plugins/{name}/disabled"),
    ("delete", "/v1/admin/plugins/{name}/disabled"),
    ("post", "/v1/admin/plugins/{name}/reload"),
    ("get", "/v1/tenants/{tenant}/hooks"),
    ("get", "/v1/jobs"),
    ("get", "/v1/jobs/{job_id}"),
    ("post", "/v1/jobs/{job_id}/retry"),
    ("post", "/v1/jobs/requeue"),
    ("delete", "/v1/jobs"),
}


def test_the_openapi_document_describes_every_route(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    found = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert found == ROUTES
    for method, path in ROUTES:
        operation = document["paths"][path][method]
        assert operation["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (path, status)
        assert "401" in operation["responses"] and "403" in operation["responses"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["HTTPBearer"]["description"],
    }
    assert schemes["APIKeyHeader"]["name"] == "X-API-Key"
    run = document["paths"]["/v1/interfaces/{interface}/run"]["post"]
    assert run["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunRequest"
    }
    ok = run["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/RunResponse"}
    for code in ("400", "404", "415", "422", "429", "500", "503", "504"):
        assert code in run["responses"]
    assert [p["name"] for p in run["parameters"] if p["in"] == "header"] == [
        "X-Timeout",
        "X-Tenant",
        "X-Customer",
    ]
    assert "ValidationError" not in json.dumps(document)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    jobs = document["paths"]["/v1/interfaces/{interface}/jobs"]["post"]["responses"]
    assert "202" in jobs and "200" not in jobs


def test_the_openapi_document_declares_tenant_parameters_statuses_and_headers(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    for method, path in ROUTES:
        operation = document["paths"][path][method]
        named = {(p["name"], p["in"]) for p in operation["parameters"]}
        assert {
            ("tenant", "query"),
            ("customer", "query"),
            ("X-Tenant", "header"),
            ("X-Customer", "header"),
        } <= named, path
        responses = operation["responses"]
        # the guard's (400: several tenants, 404: an unknown one, 413) and 500, everywhere
        for code in ("400", "401", "403", "404", "413", "500"):
            assert code in responses, (path, code)
        assert "WWW-Authenticate" in responses["401"]["headers"]
        for code in ("429", "503"):
            if code in responses:
                assert responses[code]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    run = document["paths"]["/v1/interfaces/{interface}/run"]["post"]["responses"]
    assert "Retry-After" in run["429"]["headers"] and "Retry-After" in run["503"]["headers"]
    jobs = document["paths"]["/v1/interfaces/{interface}/jobs"]["post"]["responses"]
    assert jobs["202"]["headers"]["Location"]["schema"] == {"type": "string"}
    assert "503" in jobs  # a tenant that fails closed


def test_a_job_store_that_cannot_open_stops_the_start(
    catalog_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CATALOG_JOBS_DB", str(tmp_path / "no" / "such" / "folder" / "jobs.db"))
    app = create_app(catalog_file, settings=ServeSettings(job_threads=0))
    with (
        caplog.at_level(logging.ERROR, logger="catalog.serve"),
        pytest.raises(ConfigError, match="job store"),
        TestClient(app),
    ):
        pass  # pragma: no cover - the start fails
    assert any("cannot start" in r.getMessage() for r in caplog.records)


def test_a_job_store_that_cannot_open_without_a_start_is_500(
    catalog_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CATALOG_JOBS_DB", str(tmp_path / "no" / "such" / "folder" / "jobs.db"))
    app = create_app(catalog_file, settings=ServeSettings(job_threads=0))
    client = TestClient(app)  # no lifespan: the store is opened at the first request
    response = client.post("/v1/interfaces/interface_a/jobs", headers=C2)
    data = problem(response, 500)
    assert "no/such" not in response.text and data["call_id"]
    app.state.catalog_server.catalog.close()


def test_serve_settings_come_from_the_environment() -> None:
    assert ServeSettings.from_env({}) == ServeSettings(
        max_timeout=60.0, job_threads=2, max_body=1 << 20
    )
    found = ServeSettings.from_env(
        {"CATALOG_MAX_TIMEOUT": "2.5", "CATALOG_JOB_THREADS": "0", "CATALOG_MAX_BODY": "4096"}
    )
    assert found == ServeSettings(max_timeout=2.5, job_threads=0, max_body=4096)
    with pytest.raises(ConfigError, match=r"\$CATALOG_MAX_BODY"):
        ServeSettings.from_env({"CATALOG_MAX_BODY": "0"})
    with pytest.raises(ConfigError, match=r"\$CATALOG_MAX_TIMEOUT"):
        ServeSettings.from_env({"CATALOG_MAX_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match=r"\$CATALOG_JOB_THREADS"):
        ServeSettings.from_env({"CATALOG_JOB_THREADS": "-1"})


# -- failed jobs say what a direct call would say ------------------------------------------


def _failed_job(exc: CatalogError, *, job_id: str = "job-1") -> Job:
    data = exc.record().to_dict()
    return Job(
        job_id,
        "c7",
        "price_quote",
        None,
        {},
        "failed",
        1,
        1.0,
        2.0,
        3.0,
        None,
        data,
        getattr(exc, "version", None),
        None,
        getattr(exc, "call_id", None),
    )


LEAK = "(last: RuntimeError: db password=hunter2 at /srv/internal)"


@pytest.mark.parametrize(
    "exc",
    [
        CircuitOpenError(
            f"price_quote v1 for tenant 'c7': circuit open {LEAK}",
            interceptor="circuit_breaker",
            tenant="c7",
            interface="price_quote",
            version=1,
        ),
        RateLimitedError(
            f"tenant 'c7' is over its rate limit {LEAK}",
            interceptor="rate_limit",
            tenant="c7",
            interface="price_quote",
            version=1,
        ),
        CallTimeoutError(
            tenant="c7", interface="price_quote", version=1, call_id="cid-1", seconds=0.05
        ),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_failed_jobs_error_reads_as_the_same_direct_calls_problem(exc: CatalogError) -> None:
    direct = from_catalog_error(exc, tenant="c7")
    shown = job_view(_failed_job(exc), admin=False)["error"]
    assert (shown["status"], shown["detail"]) == (direct.status, direct.detail)
    assert "hunter2" not in shown["detail"]
    assert job_view(_failed_job(exc), admin=True)["error"]["detail"] == str(exc)


def test_an_interrupted_job_does_not_name_the_workers_host() -> None:
    job = _failed_job(CircuitOpenError("x", interceptor="i", tenant="c7", interface="i", version=1))
    error = {
        "kind": "interrupted",
        "type": "JobInterrupted",
        "message": "interrupted (db7.internal, pid 4242)",
    }
    shown = job_view(job._replace(error=error), admin=False)["error"]
    assert shown["status"] == 500 and "db7" not in shown["detail"]


def test_a_job_refused_by_an_open_circuit_hides_the_plugins_exception(
    client: TestClient,
) -> None:
    body = {"arguments": {"unit_price": 1.0, "quantity": 1}}
    first = valid(
        JobModel, client.post("/v1/interfaces/price_quote/jobs", json=body, headers=bearer("c7"))
    )
    assert _finished(client, first["id"], bearer("c7"))["error"]["status"] == 500  # opens it
    second = valid(
        JobModel, client.post("/v1/interfaces/price_quote/jobs", json=body, headers=bearer("c7"))
    )
    done = _finished(client, second["id"], bearer("c7"))
    assert done["status"] == "dead"  # refused before it ran: retried, here with attempts = 1
    direct = problem(
        client.post("/v1/interfaces/price_quote/run", json=body, headers=bearer("c7")), 503
    )
    assert done["error"]["type"] == "CircuitOpenError"
    assert (done["error"]["status"], done["error"]["detail"]) == (503, direct["detail"])
    assert "hunter2" not in client.get(f"/v1/jobs/{second['id']}", headers=bearer("c7")).text
    admin = client.get(f"/v1/jobs/{second['id']}", headers=ADMIN).json()
    assert "hunter2" in admin["error"]["detail"]


# -- submitting a job checks the tenant as a run does --------------------------------------


def test_a_tenant_that_fails_closed_cannot_submit_a_job(client: TestClient) -> None:
    run = problem(client.post("/v1/interfaces/interface_a/run", headers=bearer("c3")), 503)
    job = problem(client.post("/v1/interfaces/interface_a/jobs", headers=bearer("c3")), 503)
    assert job["type"] == run["type"] and "bad_import" not in job["detail"]
    assert valid(JobList, client.get("/v1/jobs?tenant=c3", headers=ADMIN))["jobs"] == []


def test_a_rate_limited_tenants_job_is_accepted_and_fails_when_it_runs(
    client: TestClient,
) -> None:
    # Submitting does not pass the call interceptors: they apply when the job runs.
    ids = [
        valid(JobModel, client.post("/v1/interfaces/interface_a/jobs", headers=bearer("c6")))["id"]
        for _ in range(2)
    ]
    done = [_finished(client, job_id, bearer("c6")) for job_id in ids]
    assert sorted(d["status"] for d in done) == ["dead", "succeeded"]
    [failed] = [d for d in done if d["status"] == "dead"]
    assert failed["error"]["status"] == 429 and failed["error"]["type"] == "RateLimitedError"


# -- health checks tell a tenant the status, not the exception -----------------------------


def test_an_unhealthy_check_shows_its_tenant_no_exception_text(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="catalog.serve"):
        every = client.get("/v1/health", headers=bearer("c4"))
        one = client.get("/v1/health/flaky.raises", headers=bearer("c4"))
    for response in (every, one):
        data = valid(HealthReport, response)
        [check] = [c for c in data["checks"] if c["plugin"] == "flaky.raises"]
        assert check["status"] == "unhealthy" and data["ok"] is False
        assert "server log" in check["details"]
        assert "hunter2" not in response.text and "postgres" not in response.text
    logged = [r.getMessage() for r in caplog.records if "hunter2" in r.getMessage()]
    assert logged and "'flaky.raises'" in logged[0] and "'c4'" in logged[0]
    admin = client.get("/v1/health?tenant=c4", headers=ADMIN)
    assert "postgres://app:hunter2" in admin.text


# -- the key is checked before the body is read; bodies are capped -------------------------


def test_a_request_without_a_key_is_401_before_its_body_is_parsed(client: TestClient) -> None:
    response = client.post(
        "/v1/interfaces/price_quote/run",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    problem(response, 401)


def _asgi(
    app: Any,
    headers: list[tuple[str, str]],
    chunks: list[bytes],
    path: str = "/v1/interfaces/price_quote/run",
) -> tuple[int, bytes, int]:
    """Send one request straight to the ASGI app; (status, body, chunks the app pulled)."""

    async def call() -> tuple[int, bytes, int]:
        pending = list(chunks)
        pulled = 0
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal pulled
            if not pending:
                return {"type": "http.disconnect"}
            pulled += 1
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)
        [start] = [m for m in sent if m["type"] == "http.response.start"]
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return start["status"], body, pulled

    return asyncio.run(call())


@pytest.fixture
def small_app(catalog_file: Path) -> Iterator[Any]:
    app = create_app(catalog_file, settings=ServeSettings(job_threads=0, max_body=64))
    yield app
    app.state.catalog_server.catalog.close()


def test_a_huge_body_without_a_key_is_refused_unread(small_app: Any) -> None:
    headers = [("content-type", "application/json"), ("content-length", str(200 << 20))]
    status, body, pulled = _asgi(small_app, headers, [b"{" * 1024] * 8)
    assert status == 401 and pulled == 0
    assert json.loads(body)["type"].endswith("unauthenticated")


def test_a_declared_body_over_the_cap_is_413_unread(small_app: Any) -> None:
    headers = [
        ("x-api-key", C2_KEY),
        ("content-type", "application/json"),
        ("content-length", "65"),
    ]
    status, body, pulled = _asgi(small_app, headers, [b" " * 65])
    assert status == 413 and pulled == 0
    assert json.loads(body)["type"].endswith("too-large")


def test_a_streamed_body_over_the_cap_is_413_once_it_passes(small_app: Any) -> None:
    headers = [("x-api-key", C2_KEY), ("content-type", "application/json")]
    status, body, pulled = _asgi(small_app, headers, [b" " * 40] * 10)
    assert status == 413 and pulled == 2  # the rest is never read
    assert json.loads(body)["status"] == 413


def test_a_body_under_the_cap_is_served(small_app: Any) -> None:
    headers = [("x-api-key", C2_KEY), ("content-type", "application/json")]
    status, body, _pulled = _asgi(
        small_app, headers, [b'{"arguments": {"unit_price": 1.0,', b' "quantity": 2}}']
    )
    assert status == 200, body
    assert json.loads(body)["result"]["subtotal"] == 2.0


# -- repeated headers and parameters ---------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [("X-API-Key", KEYS["c1"]), ("X-API-Key", "bogus-key-0123456789")],
        [("Authorization", f"Bearer {KEYS['c1']}"), ("Authorization", "Bearer bogus")],
        [("Authorization", f"Bearer {KEYS['c1']}"), ("Authorization", "Basic Ym9ndXM=")],
    ],
)
def test_a_key_header_repeated_with_another_value_is_401(
    client: TestClient, headers: list[tuple[str, str]]
) -> None:
    problem(client.get("/v1/interfaces", headers=headers), 401)


def test_a_key_header_repeated_with_the_same_value_is_fine(client: TestClient) -> None:
    headers = [("X-API-Key", KEYS["c1"]), ("X-API-Key", KEYS["c1"])]
    assert client.get("/v1/interfaces", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/v1/interfaces", [("X-Tenant", "c1"), ("X-Tenant", "c2")]),
        ("/v1/interfaces", [("X-Customer", "c2"), ("X-Customer", "c1")]),
        ("/v1/interfaces?tenant=c2&tenant=c1", []),
        ("/v1/interfaces?customer=c1&customer=c2", []),
    ],
)
def test_a_tenant_repeated_with_another_value_is_refused_as_spoofing(
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
    url: str,
    headers: list[tuple[str, str]],
) -> None:
    with caplog.at_level(logging.WARNING, logger="catalog.serve"):
        response = client.get(url, headers=[("X-API-Key", KEYS["c1"]), *headers])
    problem(response, 403)
    assert any("spoofing" in r.getMessage() and "'c2'" in r.getMessage() for r in caplog.records)


def test_a_tenant_repeated_with_the_same_value_is_fine(client: TestClient) -> None:
    response = client.get(
        "/v1/interfaces?tenant=c1&tenant=c1",
        headers=[("X-API-Key", KEYS["c1"]), ("X-Tenant", "c1"), ("X-Tenant", "c1")],
    )
    assert response.status_code == 200


def test_the_admin_naming_two_tenants_in_one_parameter_is_400(client: TestClient) -> None:
    problem(client.get("/v1/health?tenant=c1&tenant=c2", headers=ADMIN), 400)


# -- keys from the environment ---------------------------------------------------------------


def test_a_key_from_the_environment_loses_surrounding_whitespace(
    write_catalog: WriteCatalog,
) -> None:
    path = write_catalog('[tenants.c1]\napi_keys = ["${env:FROM_A_FILE}"]\n')
    ring = KeyRing.from_config(read_config(path), {"FROM_A_FILE": "  a-key-read-from-a-file\n"})
    assert ring.identify("a-key-read-from-a-file") == Identity("c1")
    assert ring.problems == ()


def test_a_short_key_from_the_environment_is_refused_naming_its_entry(
    write_catalog: WriteCatalog,
) -> None:
    path = write_catalog(
        '[serve]\nadmin_keys = ["${env:SHORT}"]\n[tenants.c1]\napi_keys = ["${env:SHORT}"]\n'
    )
    ring = KeyRing.from_config(read_config(path), {"SHORT": "short-key\n"})
    assert ring.identify("short-key") is None and len(ring) == 0
    assert len(ring.problems) == 2
    assert 'serve.admin_keys entry "${env:SHORT}"' in ring.problems[0]
    assert 'tenants.c1.api_keys entry "${env:SHORT}"' in ring.problems[1]
    assert "fewer than 16" in ring.problems[1] and "short-key" not in ring.problems[1]


def test_an_unusable_key_is_named_by_its_entry_not_a_shifted_index(
    write_catalog: WriteCatalog,
) -> None:
    path = write_catalog('[tenants.c1]\napi_keys = ["plain", "${env:EMPTYVAR}"]\n')
    [problem_] = KeyRing.from_config(read_config(path), {"EMPTYVAR": ""}).problems
    assert 'tenants.c1.api_keys entry "${env:EMPTYVAR}"' in problem_
    assert "api_keys[0]" not in problem_


# -- the job store: read at start, closed at stop ----------------------------------------------


def test_a_reload_that_changes_jobs_says_it_needs_a_restart(
    client: TestClient, catalog_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    catalog_file.write_text(catalog_toml(extra='[jobs]\ninterrupted = "fail"\n'), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="catalog.serve"):
        data = valid(ReloadReport, client.post("/v1/admin/reload", headers=ADMIN))
    [note] = data["notes"]
    assert "[jobs]" in note and "restart" in note
    assert any("[jobs]" in r.getMessage() for r in caplog.records)
    again = valid(ReloadReport, client.post("/v1/admin/reload", headers=ADMIN))
    assert again["notes"] == data["notes"]  # still not applied
    catalog_file.write_text(catalog_toml(), encoding="utf-8")
    assert valid(ReloadReport, client.post("/v1/admin/reload", headers=ADMIN))["notes"] == []


def test_no_job_store_is_reopened_after_the_server_stopped(catalog_file: Path) -> None:
    app = create_app(catalog_file, settings=ServeSettings(job_threads=0))
    with TestClient(app) as client:
        assert client.get("/v1/jobs", headers=C2).status_code == 200
    server = app.state.catalog_server
    late = TestClient(app).get("/v1/jobs", headers=C2)  # no lifespan: the app stays stopped
    assert problem(late, 503)["type"].endswith("stopping")
    assert server._store is None


def test_an_overloaded_server_answers_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog_cli import _deadline
    from catalog_cli.errors import OverloadedError
    from catalog_cli.http._problems import public_problem

    monkeypatch.setattr(_deadline._abandoned, "total", 10**6)
    error = OverloadedError("busy", interceptor="deadline", tenant="c1", interface="i", version=1)
    problem = public_problem(error.record())
    assert problem is not None
    assert problem.kind == "overloaded" and problem.headers == {"Retry-After": "1"}
