"""The bodies the HTTP API takes and returns, as pydantic models (for validation and OpenAPI).

Response models forbid extra fields, so a test that validates every response against its
declared model notices when the documented schema and the answers drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

VersionNumber = Annotated[int, Field(ge=1, strict=True, description="a version number")]
VersionSourceName = Literal["requested", "canary", "tenant", "catalog", "latest"]
JobStatusName = Literal["queued", "running", "succeeded", "failed", "dead"]
RerunnableStatusName = Literal["failed", "dead"]
FinishedStatusName = Literal["succeeded", "failed", "dead"]
HealthStatusName = Literal["healthy", "degraded", "unhealthy"]


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRequest(BaseModel):
    """A call: the version (null: the tenant's) and the method's arguments."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"arguments": {"unit_price": 9.99, "quantity": 12}}]},
    )

    version: VersionNumber | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    tenant: str | None = Field(
        None, description="optional; if given it must be the tenant of the API key (else 403)"
    )
    customer: str | None = Field(None, description="the same as `tenant`")


class RunResponse(_Response):
    result: Any
    interface: str
    version: int
    version_source: VersionSourceName
    tenant: str
    call_id: str
    seconds: float


class Problem(_Response):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field(description="a URN naming the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = Field(None, description="the request path")
    call_id: str | None = Field(
        None, description="the call (or request) id, which the server log records"
    )
    tenant: str | None = None
    errors: dict[str, str] | None = Field(
        None, description="for invalid arguments or request bodies: each field and its problem"
    )
    retry_after: float | None = Field(None, description="seconds until a retry may succeed")


class VersionUse(_Response):
    """Which version a tenant runs (without asking for one), and which rule chose it."""

    version: int
    source: VersionSourceName
    canary: dict[str, Any] | None = Field(
        None, description="the tenant's canary share of another version: {version, share, key}"
    )


class InterfaceSummary(_Response):
    name: str
    summary: str
    versions: list[int]
    latest: int
    default: int
    deprecated: list[int]
    runs: VersionUse | None = Field(None, description="for a tenant key: what the tenant runs")


class InterfaceList(_Response):
    interfaces: list[InterfaceSummary]


class ParameterModel(_Response):
    name: str
    type: str
    required: bool
    default: Any = None


class PluginPointModel(_Response):
    name: str
    hook: str
    policy: str
    errors: str
    parameters: list[ParameterModel]
    returns: str
    doc: str


class VersionUser(_Response):
    tenant: str
    source: VersionSourceName


class ServedByModel(_Response):
    change: str = Field(description="the version change (its class name)")
    version: int = Field(description="the newer version whose code serves this one")
    description: str
    points: dict[str, str] = Field(
        description="this version's plugin point -> the newer version's that serves it"
    )


class VersionModel(_Response):
    interface: str
    version: int
    hook: str
    module: str
    doc: str
    parameters: list[ParameterModel]
    returns: str
    plugin_points: list[PluginPointModel]
    deprecated: dict[str, str | None] | None
    served_by: ServedByModel | None = Field(
        None, description="set when a newer version's code serves this one"
    )
    idempotent: bool = Field(
        False, description="a call may run again without harm: failed jobs are retried"
    )
    tenants: list[VersionUser] | None = Field(
        None, description="admin key only: the tenants that run this version"
    )


class InterfaceDetail(_Response):
    name: str
    doc: str
    latest: int
    versions: list[VersionModel]
    runs: VersionUse | None = None


class HookUseModel(_Response):
    hook: str
    interface: str
    version: int
    plugin_point: str | None
    wrapper: bool
    tryfirst: bool
    trylast: bool


class DisablingModel(_Response):
    plugin: str
    tenant: str | None = Field(description="null: every tenant")
    by: str | None = Field(description="who disabled it (admin key only)")
    reason: str | None = Field(description="why (admin key only)")
    at: str = Field(description="when, ISO 8601 in UTC")


class PluginModel(_Response):
    name: str
    kind: str
    location: str | None = Field(None, description="admin key only")
    distribution: str
    status: Literal["loaded", "failed", "not selected", "disabled"]
    error: str | None
    tenants: list[str] = Field(description="for a tenant key: only that tenant")
    hooks: list[HookUseModel]
    disabled: list[DisablingModel] = Field(
        description="its disablings at run time that apply (for a tenant key: to its tenant)"
    )
    disabled_for: list[str] = Field(
        description="the tenants whose section selects it but that do not run it, as it is "
        "disabled (for a tenant key: only that tenant)"
    )
    version: str
    description: str
    author: str
    requires_api: str
    interfaces: dict[str, list[int]]
    depends: list[str]
    settings: list[dict[str, Any]] | None = Field(description="the plugin's settings schema")


class PluginList(_Response):
    plugins: list[PluginModel]


class HealthCheck(_Response):
    tenant: str
    plugin: str
    status: HealthStatusName
    details: str
    seconds: float
    checked: bool


class HealthReport(_Response):
    ok: bool = Field(description="false when any check is unhealthy")
    generation: int = Field(
        description="the catalog generation that answered (the same number in every worker "
        "process of a server once a reload has reached them)"
    )
    checks: list[HealthCheck]


class TenantChanges(_Response):
    added: list[str]
    removed: list[str]
    changed: list[str]


class ReloadReport(_Response):
    generation: int = Field(description="how many reloads the catalog has had")
    tenants: TenantChanges
    key_problems: list[str] = Field(description="configured keys that cannot authenticate")
    notes: list[str] = Field(
        description="changes the reload does not apply (restart the server for them)"
    )


class JobError(_Response):
    kind: str = Field(description="what went wrong (invalid_arguments, plugin_call, ...)")
    type: str
    status: int = Field(description="the HTTP status the error would have as a direct call")
    detail: str


class JobRun(_Response):
    attempt: int = Field(description="1, 2, ... over the job's whole life")
    started_at: float | None
    finished_at: float | None
    outcome: Literal["succeeded", "failed", "interrupted"]
    error: JobError | None
    retry_at: float | None = Field(description="when the job was to run again (null: not)")
    worker: str | None = Field(description="admin key only: the worker (host:pid:thread)")


class JobModel(_Response):
    id: str
    tenant: str
    interface: str
    version: int | None = Field(description="the version asked for (null: the tenant's)")
    arguments: dict[str, Any]
    status: JobStatusName
    attempts: int
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    result: Any
    error: JobError | None
    ran_version: int | None
    version_source: str | None
    call_id: str | None
    run_after: float | None = Field(
        description="queued again after a failure: when its backoff ends (seconds since the epoch)"
    )
    history: list[JobRun] = Field(description="every run that ended, oldest first")


class JobList(_Response):
    jobs: list[JobModel]


class JobRequeue(_Response):
    requeued: int = Field(description="how many jobs were queued again")
    jobs: list[str] = Field(description="their ids, oldest first")


class JobPurge(_Response):
    purged: int = Field(description="how many jobs were deleted (0 for a dry run)")
    matched: int = Field(description="how many jobs matched")
    dry_run: bool
