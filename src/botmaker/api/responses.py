"""What the API answers, as typed models: the OpenAPI document describes every answer.

The bot views are exact (every key the dashboard and CLI read; ``budget`` and
``key_tags`` only for keyring bots, so their routes drop unset fields). The
other answers name the fields clients rely on and keep any further ones (``Open``),
so a service adding a field never loses it on the way out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from botmaker.definition import BotState, Desired

Route = TypeVar("Route", bound=Callable[..., Any])


def answers(
    router: APIRouter, method: str, path: str, model: type[BaseModel], summary: str, **more: Any
) -> Callable[[Route], Route]:
    """Declare a route that answers with ``model``: keys the service left out stay out."""
    return router.api_route(
        path,
        methods=[method],
        summary=summary,
        response_model=model,
        response_model_exclude_unset=True,
        **more,
    )


#: How a Server-Sent Events route declares its answer (a stream, not a JSON body).
SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


class Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """An answer whose further fields pass through as they are."""

    model_config = ConfigDict(extra="allow")


# -- bots ---------------------------------------------------------------------------------


class ContainerStatus(Exact):
    state: str = Field(description="created|running|restarting|paused|exited|dead|missing|…")
    summary: str = Field(
        description="the bot's state: starting|healthy|degraded|unhealthy|health_unknown|"
        "stopping|restarting|stopped|crashed|crash_loop|creating|missing|paused "
        "(services/botstate.py)"
    )
    reason: str = Field(
        description="why, in words: which channel is down (degraded), why health is "
        "unknown, the exit code of a stop or crash, who is stopping it"
    )
    running: bool
    container_id: str | None
    exit_code: int | None
    health: str | None
    started_at: str | None
    finished_at: str | None
    oom_killed: bool | None
    detail: str | None
    node: str | None


class PersonaSummary(Exact):
    name: str
    emoji: str


class Budget(Exact):
    daily_tokens: int | None
    monthly_tokens: int | None
    daily_requests: int | None
    monthly_requests: int | None
    requests_per_minute: int | None


class ChannelAccountOut(Exact):
    """One channel account as the bot's gateway reported it (``channels.status``)."""

    channel: str = Field(description="the channel id, e.g. telegram")
    account: str = Field(description="the account id within the channel, e.g. default")
    label: str
    state: Literal["connected", "connecting", "disconnected", "running", "off"] = Field(
        description="running: up, its channel reports no connection state; off: not "
        "configured or disabled"
    )
    connected: bool | None
    running: bool | None
    configured: bool | None
    error: str | None = Field(description="the last error, cleaned and redacted")
    since: str = Field(description="when BotMaker first saw it in this state")
    last_connected_at: str | None


class ChannelStatusOut(Exact):
    """A running gateway bot's channel accounts, read in the background."""

    checked_at: str
    error: str | None = Field(description="why the gateway did not answer the last check")
    accounts: list[ChannelAccountOut]


class BotPublic(Exact):
    """A bot as lists show it: stored configuration plus live status. No secrets."""

    id: str
    name: str
    persona: PersonaSummary
    provider: str
    model: str
    channel: str
    channels: list[str]
    image: str
    image_digest: str | None
    container_name: str
    container_id: str | None
    state: BotState
    desired: Desired
    status: ContainerStatus
    started_at: str | None
    uptime_seconds: int | None
    channel_status: ChannelStatusOut | None = Field(
        description="its channel accounts' health (running OpenClaw bots, once checked)"
    )
    keyring: bool
    owner: str | None = Field(description="the id of the user who made the bot")
    team: str | None = Field(description="the id of the bot's team (its members reach it)")
    created_at: str
    updated_at: str
    budget: Budget | None = Field(default=None, description="keyring bots only")
    key_tags: list[str] | None = Field(default=None, description="keyring bots only")


class PersonaOut(Exact):
    name: str
    emoji: str
    soul: str
    user_notes: str


class ChannelOut(Exact):
    type: str
    dm_policy: str | None
    allow_from: list[str]
    settings: dict[str, str]


class LimitsOut(Exact):
    """The bot's own container limits; null: the server's (BOTMAKER_BOT_*)."""

    memory_bytes: int | None
    cpus: float | None
    pids: int | None


class BotConfigOut(Exact):
    persona: PersonaOut
    template: str | None
    fallbacks: list[str]
    base_url: str | None
    base_url_private: bool = Field(
        description="the base URL may be on a private network (the keyring connects there)"
    )
    heartbeat: bool
    limits: LimitsOut
    channels: list[ChannelOut]


class OpenClawOut(Exact):
    """The OpenClaw in the bot's image, and how to run its CLI in the bot's container."""

    version: str | None
    cli: str = Field(description="e.g. `openclaw` or `node /app/openclaw.mjs`")
    exec: str = Field(description="the CLI in the running bot: `docker exec -it botmaker-<id> …`")


class BotDetail(BotPublic):
    """One bot: also its secrets' names and its editable configuration."""

    secrets: list[str]
    config: BotConfigOut
    openclaw: OpenClawOut | None = Field(
        description="None when the image carries no OpenClaw (or was not asked yet)"
    )


class BotList(Exact):
    bots: list[BotPublic]


class BotEvent(Exact):
    id: int
    bot_id: str
    at: float
    kind: str
    detail: str
    exit_code: int | None
    logs: str | None
    cause: str = Field(
        description="why, in words: stop by admin, edit by admin: model, upgrade, reconcile, "
        "oom, restart policy, … (empty when not known)"
    )
    actor: str | None = Field(description="the user (or token) that caused it, if one did")


class BotEvents(Exact):
    events: list[BotEvent]


class CrashLoopOut(Exact):
    since: float = Field(description="when it was detected (seconds since the epoch)")
    rule: Literal["restarts", "never_live"] = Field(
        description="restarts: ended by itself 3 times within 60 s; never_live: an OpenClaw "
        "gateway restarted and has not answered /healthz for 45 s since"
    )
    restarts: int
    exit_code: int | None = Field(description="of the latest exit")
    detail: str
    reason: str = Field(description="the last log lines before the latest exit (cleaned)")


class ConfigChange(Exact):
    at: float
    detail: str = Field(description="which writer changed it (create, edit, migrate, …)")
    diff: str = Field(description="unified diff of openclaw.json, bounded; never a secret")


class Diagnosis(Exact):
    """Why a bot may be failing: its crash loop, its last config change, its log tail."""

    id: str
    name: str
    crash_loop: CrashLoopOut | None = Field(description="None unless it crash-loops now")
    config_change: ConfigChange | None = Field(
        description="the last change BotMaker (or an upgrade's doctor --fix) made to openclaw.json"
    )
    logs: str = Field(description="the log tail: the logs route (Server-Sent Events) to GET")


class GatewayToken(Exact):
    token: str


class Device(Open):
    device_id: str
    client: str
    platform: str
    role: str
    scopes: list[str]
    address: str


class PendingDevice(Device):
    request_id: str
    requested_at: float | None


class PairedDevice(Device):
    approved_at: float | None
    last_seen_at: float | None
    connected: bool


class Devices(Exact):
    pending: list[PendingDevice]
    paired: list[PairedDevice]


# -- DM pairing ---------------------------------------------------------------------------


class PairingRequestOut(Exact):
    channel: str
    code: str = Field(description="the code OpenClaw sent the sender")
    sender: str = Field(description="the sender's id on the channel")
    account: str = Field(description="the channel account the request came to")
    name: str = Field(description="the sender's name or @username as the channel told it")
    created_at: float | None
    last_seen_at: float | None
    expires_at: float | None


class BotPairingOut(Exact):
    id: str
    name: str
    channels: list[str] = Field(description="the bot's channels whose DM policy is pairing")
    requests: list[PairingRequestOut]
    error: str | None = Field(description="why the bot's requests could not be read")


class PairingInbox(Exact):
    bots: list[BotPairingOut]


class PairingDecisionOut(Exact):
    id: str
    name: str
    channel: str
    code: str
    decision: Literal["approved", "denied"]
    sender: str | None
    owner: str | None = Field(
        description="the command owner OpenClaw recorded with its first approval, if any"
    )


# -- catalog and image --------------------------------------------------------------------


class ProviderOut(Open):
    id: str
    label: str
    default_model: str | None = None
    models: list[str] = []


class ChannelTypeOut(Open):
    id: str
    label: str
    credentials: list[dict[str, JsonValue]] = []
    dm_policies: list[str] = []


class TemplateOut(Open):
    id: str
    label: str
    persona_name: str
    emoji: str
    soul: str


class Providers(Exact):
    providers: list[ProviderOut]


class Channels(Exact):
    channels: list[ChannelTypeOut]


class Templates(Exact):
    templates: list[TemplateOut]


class PullProgress(Open):
    image: str
    status: str = Field(description="pending|pulling|done|failed")
    message: str | None
    layers: int
    current_bytes: int
    total_bytes: int
    error: str | None


class ImageStatus(Open):
    image: str
    present: bool
    pull: PullProgress | None


# -- keyring ------------------------------------------------------------------------------


class KeyringStatus(Open):
    enabled: bool


class KeyOut(Open):
    """A provider key without its secret: only its last 4 characters."""

    id: str
    provider: str
    label: str
    tags: list[str]
    last4: str
    bot_id: str | None = Field(description="set: the key belongs to that bot only")
    created_at: float


class KeyListed(KeyOut):
    bot_name: str | None


class Keys(Exact):
    keys: list[KeyListed]


class KeyAdded(Exact):
    key: KeyOut


class Problem(Exact):
    field: str = Field(description="the request field (dotted path), or body")
    message: str = Field(description="what is wrong, the field named in words")


class Validation(Exact):
    valid: bool = Field(description="no problem found")
    complete: bool = Field(description="a whole request that would be accepted as it is")
    problems: list[Problem] = Field(description="what the request would be refused for")
    warnings: list[Problem] = Field(description="what looks wrong but would be accepted")
    suggestions: dict[str, str] = Field(
        description="suggested values by field (name: from the persona's name)"
    )


class KeyTested(Exact):
    ok: bool = Field(description="the provider accepted the key")
    provider: str
    status: int | None = Field(description="the provider's HTTP status (none: not reached)")
    message: str = Field(description="the outcome in words (never the key)")


class Usage(Open):
    bots: dict[str, JsonValue] = {}
    events: list[JsonValue] = []
    teams: dict[str, JsonValue] = Field(
        default={}, description="per team: {name, bots, today, month} summed over its bots"
    )


# -- monitoring ---------------------------------------------------------------------------


class EngineState(Open):
    state: Literal["connecting", "up", "down"]
    since: float
    message: str | None = None


class FleetStats(Open):
    at: float | None
    interval: float
    bots: dict[str, JsonValue]
    totals: dict[str, JsonValue]
    history_interval: float | None = None
    history: list[JsonValue] | None = None


class BotStats(Open):
    id: str
    interval: float
    points: list[JsonValue]
    history_interval: float | None = None
    history: list[JsonValue] | None = None


class Nodes(Exact):
    runtime: str
    nodes: list[dict[str, JsonValue]]


class Diagnostics(Open):
    engine: dict[str, JsonValue]
    fleet: dict[str, JsonValue]
    monitor: dict[str, JsonValue]
    keyring: dict[str, JsonValue]


class OrphanReport(Open):
    containers: list[dict[str, JsonValue]] = []
    secrets: list[dict[str, JsonValue]] = []
    state: list[dict[str, JsonValue]] = []
    grants: list[dict[str, JsonValue]] = []


class Cleanup(Open):
    failed: list[dict[str, JsonValue]] = []


class ReconcileAction(Open):
    action: str
    message: str | None = None


class Reconciled(Exact):
    actions: list[ReconcileAction]


class HealthCheck(Open):
    ok: bool
    message: str | None = None


class Health(Open):
    status: Literal["ok", "degraded"]
    store: HealthCheck
    docker: HealthCheck


# -- operations ---------------------------------------------------------------------------


class AuditEntry(Open):
    id: int
    at: float
    actor: str
    action: str
    target: str
    detail: JsonValue


class AuditLog(Exact):
    entries: list[AuditEntry]


class AlertTest(Open):
    delivered: bool
    channels: dict[str, JsonValue]
    error: str | None = None


class UpgradeResult(Open):
    id: str
    name: str
    image: str
    previous_image: str
    previous_digest: str | None
    rolled_back: bool
    status: Literal["upgraded", "rolled_back", "refused", "failed"]
    digest: str | None
    detail: str


class RolloutBotResult(Open):
    """One bot of a rollout: its upgrade's result, or why it was not moved."""

    id: str
    name: str
    status: Literal["upgraded", "rolled_back", "refused", "failed", "current", "pending"] = Field(
        description="current: already on that image and digest (skipped); pending: not "
        "reached, the rollout paused; else the outcome of its upgrade"
    )
    image: str = Field(description="the rollout's image")
    previous_image: str
    previous_digest: str | None
    digest: str | None = Field(description="the digest of the image the bot runs now")
    detail: str
    rolled_back: bool | None = None
    batch: int | None = Field(
        default=None, description="0: the canary; 1, 2, …: the batches after it"
    )
    started_at: float | None = None
    finished_at: float | None = None


class FleetUpgradeResult(Open):
    image: str
    digest: str | None = Field(description="the image's digest, resolved once after the pull")
    channel: str | None = Field(
        description="BOTMAKER_OPENCLAW_CHANNEL when it chose the image (no image was given)"
    )
    canary: str | None = Field(description="id of the bot upgraded first, alone")
    batch: int
    max_failures: int
    batches: list[list[str]] = Field(description="bot ids: the canary's, then each batch's")
    summary: dict[str, int] = Field(description="bots per status")
    failures: int = Field(description="bots failed, rolled back or refused")
    paused: bool = Field(description="failures exceeded max_failures: the rest is pending")
    paused_reason: str | None
    seconds: float
    results: list[RolloutBotResult]


class PasskeyChallenge(Exact):
    """A WebAuthn challenge: answer it with the browser, send it back with ``handle``."""

    handle: str = Field(description="names this challenge; single-use, two minutes")
    options: dict[str, JsonValue] = Field(
        description="for PublicKeyCredential.parseCreationOptionsFromJSON / "
        "parseRequestOptionsFromJSON"
    )
