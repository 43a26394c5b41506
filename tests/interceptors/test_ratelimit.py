"""The rate limit: a token bucket per tenant (or tenant and interface), on a fake clock."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.cli._exits import exit_code
from catalog_cli.errors import CallRefusedError, ConfigError, RateLimitedError
from catalog_cli.interceptors import ratelimit
from tests.conftest import MakeCatalog
from tests.interceptors.conftest import Clock


@pytest.fixture
def clock(fake_clock: Callable[[ModuleType], Clock]) -> Clock:
    return fake_clock(ratelimit)


TOML = """
[catalog]
plugin_dirs = ["plugins"]
[interceptors.rate_limit]
{scope}
settings = {{ {settings} }}
[tenants.a]
plugins = ["counting"]
[tenants.b]
plugins = ["counting"]
{extra}
"""

COUNTING = """
from catalog_cli import hookimpl

#: the tenant of each run of this plugin (list.append is atomic: threads call it)
CALLS = []


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    CALLS.append(ctx.tenant)
    return 0.0
"""

Make = Callable[..., Catalog]


@pytest.fixture
def make(make_catalog: MakeCatalog) -> Make:
    def build(settings: str = "", scope: str = "", extra: str = "") -> Catalog:
        toml = TOML.format(settings=settings, scope=scope, extra=extra)
        return make_catalog(toml, {"plugins/counting.py": COUNTING})

    return build


def quote(catalog: Catalog, tenant: str = "a") -> dict[str, Any]:
    result: dict[str, Any] = catalog.run(
        "price_quote", customer=tenant, unit_price=10.0, quantity=2
    )
    return result


def greet(catalog: Catalog, tenant: str = "a") -> str:
    result: str = catalog.run("interface_a", customer=tenant, name="Ada")
    return result


def refused(call: Callable[[], Any]) -> RateLimitedError:
    with pytest.raises(RateLimitedError) as info:
        call()
    return info.value


def plugin(catalog: Catalog, tenant: str, name: str) -> Any:
    """The module of a tenant's plugin, as the tenant's manager has it now."""
    module = catalog.plugin_manager(tenant).get_plugin(name)
    assert module is not None
    return module


def runs(catalog: Catalog, tenant: str = "a") -> int:
    calls: list[str] = plugin(catalog, tenant, "counting").CALLS
    return calls.count(tenant)


def test_a_burst_is_allowed_then_calls_are_refused_before_anything_runs(
    make: Make, clock: Clock
) -> None:
    catalog = make(settings="rate = 1, burst = 3")
    for _ in range(3):
        quote(catalog)
    error = refused(lambda: quote(catalog))
    assert isinstance(error, CallRefusedError)
    assert exit_code(error) == 12
    assert runs(catalog) == 3  # the refused call never reached the plugin


def test_tokens_come_back_at_the_rate(make: Make, clock: Clock) -> None:
    catalog = make(settings="rate = 4, burst = 2")
    quote(catalog)
    quote(catalog)
    refused(lambda: quote(catalog))
    clock.now += 0.2  # 0.8 of a token
    refused(lambda: quote(catalog))
    clock.now += 0.05  # 1 token
    quote(catalog)
    refused(lambda: quote(catalog))
    clock.now += 100  # the bucket holds no more than the burst
    quote(catalog)
    quote(catalog)
    refused(lambda: quote(catalog))
    assert runs(catalog) == 5


def test_retry_after_is_the_time_until_a_token_is_there(make: Make, clock: Clock) -> None:
    catalog = make(settings="rate = 2, burst = 1")
    quote(catalog)
    assert refused(lambda: quote(catalog)).retry_after == pytest.approx(0.5)
    clock.now += 0.2
    error = refused(lambda: quote(catalog))
    assert error.retry_after == pytest.approx(0.3)
    # a refused call takes no token: waiting retry_after is enough
    clock.now += error.retry_after  # type: ignore[operator]
    quote(catalog)


def test_the_refusal_says_who_what_and_when(make: Make, clock: Clock) -> None:
    catalog = make(settings="rate = 0.5, burst = 1")
    quote(catalog)
    clock.now += 0.5
    error = refused(lambda: quote(catalog))
    assert (error.interceptor, error.tenant, error.interface, error.version) == (
        "rate_limit",
        "a",
        "price_quote",
        1,
    )
    assert error.retry_after == pytest.approx(1.5)
    message = str(error)
    assert message.startswith("tenant 'a' is over its rate limit of 0.5 calls/s ")
    assert "(bursts of 1)" in message
    assert "price_quote v1 refused" in message
    assert message.endswith("retry in 1.5 s")
    assert "on interface" not in message  # the tenant's one bucket, for every interface


def test_one_bucket_for_all_interfaces_by_default(make: Make, clock: Clock) -> None:
    catalog = make(settings="burst = 1")
    quote(catalog)
    error = refused(lambda: greet(catalog))
    assert error.interface == "interface_a"


def test_per_interface_gives_each_interface_its_bucket(make: Make, clock: Clock) -> None:
    catalog = make(settings="rate = 1, burst = 1, per_interface = true")
    quote(catalog)
    greet(catalog)
    error = refused(lambda: quote(catalog))
    assert "tenant 'a' is over its rate limit on interface 'price_quote' of 1 calls/s" in str(error)
    refused(lambda: greet(catalog))
    clock.now += 1
    quote(catalog)
    greet(catalog)


def test_tenants_never_share_a_bucket(make: Make, clock: Clock) -> None:
    catalog = make(settings="rate = 1, burst = 2")
    quote(catalog, "a")
    quote(catalog, "a")
    refused(lambda: quote(catalog, "a"))
    quote(catalog, "b")
    quote(catalog, "b")
    error = refused(lambda: quote(catalog, "b"))
    assert error.tenant == "b"
    assert (runs(catalog, "a"), runs(catalog, "b")) == (2, 2)


def test_a_tenant_override_sets_its_own_limit(make: Make, clock: Clock) -> None:
    catalog = make(
        settings="rate = 10, burst = 1",
        extra="[tenants.a.interceptors.rate_limit]\nrate = 2\nburst = 2",
    )
    quote(catalog, "a")
    quote(catalog, "a")
    assert refused(lambda: quote(catalog, "a")).retry_after == pytest.approx(0.5)
    quote(catalog, "b")
    assert refused(lambda: quote(catalog, "b")).retry_after == pytest.approx(0.1)


def test_the_scope_decides_what_is_limited(make: Make, clock: Clock) -> None:
    catalog = make(
        settings="burst = 1",
        scope='include = { interfaces = ["price_quote"] }\nexclude = { tenants = ["b"] }',
    )
    quote(catalog, "a")
    refused(lambda: quote(catalog, "a"))
    for _ in range(5):
        greet(catalog, "a")
        quote(catalog, "b")


def test_a_reload_keeps_the_buckets(make: Make, clock: Clock) -> None:
    # Reloading must not hand out a fresh burst.
    catalog = make(settings="burst = 1")
    quote(catalog)
    catalog.reload()
    refused(lambda: quote(catalog))


@pytest.fixture
def switching() -> Iterator[None]:
    """Threads switch as often as they can: they meet wherever nothing keeps them apart."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_threads_never_get_more_than_the_burst(make: Make, clock: Clock, switching: None) -> None:
    # The clock stands still: exactly `burst` of all the threads' calls get through.
    catalog = make(settings="rate = 1, burst = 200")
    barrier = threading.Barrier(12)
    passed: list[int] = []
    refusals: list[RateLimitedError] = []
    errors: list[BaseException] = []

    def caller() -> None:
        barrier.wait()
        for _ in range(40):
            try:
                quote(catalog)
                passed.append(1)
            except RateLimitedError as exc:
                refusals.append(exc)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert (len(passed), len(refusals)) == (200, 280)
    assert runs(catalog) == 200


@pytest.mark.parametrize(
    ("setting", "key", "message"),
    [
        ("rate = 0", "rate", "must be above 0, got 0"),
        ("rate = -1.5", "rate", "must be above 0, got -1.5"),
        ("rate = nan", "rate", "expected a number, got nan"),
        ("burst = 0", "burst", "must be at least 1, got 0"),
        ("burst = 2.5", "burst", "expected an integer, got 2.5"),
        ('per_interface = "yes"', "per_interface", "expected a boolean, got 'yes'"),
        ("limit = 5", "limit", "unknown setting (allowed: rate, burst, per_interface, shared)"),
    ],
)
def test_bad_settings_fail_closed_naming_the_key(
    make: Make, setting: str, key: str, message: str
) -> None:
    catalog = make(settings=setting)
    for tenant in ("a", "b"):
        with pytest.raises(ConfigError) as info:
            quote(catalog, tenant)
        assert info.value.key == f"interceptors.rate_limit.settings.{key}"
        assert f"interceptors.rate_limit.settings.{key}: {message}" in str(info.value)
        assert f"tenant {tenant!r} is unusable" in str(info.value)


def test_a_bad_tenant_override_fails_only_that_tenant(make: Make, clock: Clock) -> None:
    catalog = make(extra="[tenants.a.interceptors.rate_limit]\nrate = 0")
    with pytest.raises(ConfigError) as info:
        quote(catalog, "a")
    assert info.value.key == "tenants.a.interceptors.rate_limit.rate"
    assert "must be above 0" in str(info.value)
    quote(catalog, "b")


def _take_at_once(buckets: ratelimit._Buckets, threads: int, each: int) -> int:
    """How many of ``threads`` x ``each`` takes, all at once, found a token."""
    barrier = threading.Barrier(threads)
    taken: list[None] = []

    def taker() -> None:
        barrier.wait()
        for _ in range(each):
            if buckets.take("", 1.0, 1000) is None:
                taken.append(None)

    started = [threading.Thread(target=taker) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return len(taken)


def test_a_bucket_taken_from_by_many_threads_at_once_counts_every_token(
    clock: Clock, switching: None
) -> None:
    # The same, on a bucket alone, so that many more takes meet (the catalog's call is slow).
    for _ in range(3):
        assert _take_at_once(ratelimit._Buckets(), threads=8, each=2000) == 1000


#: Takes ``n`` tokens of tenant a in a process of its own; prints what each call did.
OTHER_PROCESS = """
import sys
from catalog_cli import Catalog
from catalog_cli.errors import RateLimitedError

catalog = Catalog(sys.argv[1])
for _ in range(int(sys.argv[2])):
    try:
        catalog.run("price_quote", customer="a", unit_price=10.0, quantity=2)
        print("ran")
    except RateLimitedError:
        print("refused")
"""


def test_shared_buckets_count_every_process_that_shares_the_folder(
    make: Make, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    monkeypatch.setenv(ratelimit.SHARED_DIR_ENV, str(tmp_path))
    catalog = make(settings="rate = 0.001, burst = 3, shared = true")
    quote(catalog)
    quote(catalog)  # two of the three tokens, here
    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, str(catalog.path), "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # The other process finds one token left, not a bucket of its own.
    assert other.stdout.split() == ["ran", "refused"], other.stderr
    refused(lambda: quote(catalog))
    quote(catalog, tenant="b")  # another tenant: its own row, full


def test_without_a_shared_folder_a_shared_bucket_is_the_process_own(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ratelimit.SHARED_DIR_ENV, raising=False)
    catalog = make(settings="rate = 0.001, burst = 1, shared = true")
    quote(catalog)
    refused(lambda: quote(catalog))
