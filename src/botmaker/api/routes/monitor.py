"""Monitoring and operations: live events (SSE), bot events, stats, diagnostics, orphans."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from sse_starlette import EventSourceResponse

from botmaker import policy
from botmaker.api.deps import allow, caller, owned, reach_ids, services
from botmaker.api.responses import (
    SSE,
    BotEvents,
    BotStats,
    Cleanup,
    Diagnosis,
    Diagnostics,
    EngineState,
    FleetStats,
    GatewayToken,
    Nodes,
    OrphanReport,
    Reconciled,
    answers,
)
from botmaker.api.revocable import revocable, still_allowed
from botmaker.errors import NotFound
from botmaker.policy import Action
from botmaker.services.monitor import Message, Monitor
from botmaker.store import Store

router = APIRouter(prefix="/api", tags=["monitoring"])


@router.get(
    "/events/stream",
    summary="Live bot status as Server-Sent Events (events: status, event, resync, engine)",
    response_class=EventSourceResponse,
    responses=SSE,
    dependencies=[allow(Action.FLEET_READ)],
)
async def event_stream(request: Request) -> EventSourceResponse:
    svc = services(request)
    messages = _messages(svc.monitor, _StreamReach(svc.store, caller(request)))
    return EventSourceResponse(
        revocable(messages, still_allowed(request)),
        ping=svc.settings.sse_ping_seconds,
        send_timeout=60,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class _StreamReach:
    """Which bots' messages an event stream's caller sees: the bots in their reach,
    looked up once per bot id (a bot first seen later, when created, is looked up
    then; a deleted bot's last message goes to those who saw it)."""

    def __init__(self, store: Store, principal: policy.Principal) -> None:
        self.store = store
        self.principal = principal
        self.everything = policy.sees_all(principal)
        self.known: dict[str, bool] = {}

    async def sees(self, message: Message) -> bool:
        if self.everything:
            return True
        data = message.data
        bot_id = data.get("bot_id") or (
            data.get("id") if message.event in ("status", "channels") else None
        )
        if not isinstance(bot_id, str):
            return message.event in ("resync", "engine")
        if bot_id not in self.known:
            self.known[bot_id] = await anyio.to_thread.run_sync(self._lookup, bot_id)
        seen = self.known[bot_id]
        if data.get("deleted"):
            self.known.pop(bot_id, None)
        return seen

    def _lookup(self, bot_id: str) -> bool:
        try:
            record = self.store.get_bot(bot_id)
        except NotFound:
            return False
        return policy.in_reach(self.principal, owned(record))


async def _messages(monitor: Monitor, reach: _StreamReach) -> AsyncIterator[dict[str, str]]:
    # Subscribed here, not in the endpoint: a stream that never starts holds no queue.
    subscription = monitor.subscribe(asyncio.get_running_loop())
    try:
        yield {"event": "resync", "data": json.dumps({"reason": "subscribed"})}
        yield {"event": "engine", "data": json.dumps(monitor.engine_state())}
        while True:
            batch = await subscription.next_batch()
            if not batch:
                return  # the monitor stopped
            for message in batch:
                if await reach.sees(message):
                    yield {"event": message.event, "data": json.dumps(message.data)}
    finally:
        subscription.close()


@answers(
    router,
    "GET",
    "/bots/{bot}/events",
    BotEvents,
    "A bot's recorded events, newest first",
    dependencies=[allow(Action.BOT_READ)],
)
def bot_events(
    bot: str,
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    before: int | None = Query(None, ge=1, description="only events older than this event id"),
) -> BotEvents:
    events = services(request).bots.events(bot, limit=limit, before=before)
    return BotEvents.model_validate({"events": events})


@answers(
    router,
    "GET",
    "/bots/{bot}/diagnosis",
    Diagnosis,
    "Why a bot may be failing: its crash loop, last openclaw.json change and log tail",
    dependencies=[allow(Action.BOT_READ)],
)
def bot_diagnosis(bot: str, request: Request) -> Diagnosis:
    return Diagnosis.model_validate(services(request).bots.diagnosis(bot))


_HOURS = Query(None, gt=0, le=24, description="also the stored per-minute rows of these hours")


@answers(
    router,
    "GET",
    "/stats",
    FleetStats,
    "Each running bot's latest resource sample, and fleet totals",
    dependencies=[allow(Action.FLEET_READ)],
)
def fleet_stats(request: Request, hours: float | None = _HOURS) -> FleetStats:
    svc = services(request)
    stats = svc.stats
    body = stats.latest()
    only: set[str] | None = None
    principal = caller(request)
    if not policy.sees_all(principal):
        only = reach_ids(request)
        bots = {bot_id: p for bot_id, p in body["bots"].items() if bot_id in only}
        body["bots"] = bots
        body["totals"] = {
            "cpu_percent": round(sum(p["cpu_percent"] or 0.0 for p in bots.values()), 2),
            "memory_bytes": sum(p["memory_bytes"] for p in bots.values()),
            "running": len(bots),
        }
    if hours is not None:
        body["history_interval"] = stats.history_interval
        body["history"] = stats.fleet_history(hours, only=only)
    return FleetStats.model_validate(body)


@answers(
    router,
    "GET",
    "/bots/{bot}/stats",
    BotStats,
    "A bot's resource samples of the last hour",
    dependencies=[allow(Action.BOT_READ)],
)
def bot_stats(bot: str, request: Request, hours: float | None = _HOURS) -> BotStats:
    svc = services(request)
    record = svc.bots.record(bot)
    body = BotStats.model_validate(
        {"id": record.id, "interval": svc.stats.interval, "points": svc.stats.points(record.id)}
    )
    if hours is not None:
        body.history_interval = svc.stats.history_interval
        body.history = list(svc.stats.history(record.id, hours))
    return body


@answers(
    router,
    "GET",
    "/engine",
    EngineState,
    "Whether the Docker engine answers, as the event monitor last saw it (no engine call)",
    dependencies=[allow(Action.FLEET_READ)],
)
def engine(request: Request) -> EngineState:
    return EngineState.model_validate(services(request).monitor.engine_state())


@answers(
    router,
    "GET",
    "/nodes",
    Nodes,
    "The engines bots run on: state, availability, resources, bots running there",
    dependencies=[allow(Action.ENGINE_READ)],
)
def nodes(request: Request) -> Nodes:
    svc = services(request)
    return Nodes.model_validate({"runtime": svc.settings.runtime, "nodes": svc.runtime.nodes()})


@answers(
    router,
    "GET",
    "/diagnostics",
    Diagnostics,
    "Engine, fleet and keyring at a glance",
    dependencies=[allow(Action.ENGINE_READ)],
)
def diagnostics(request: Request) -> Diagnostics:
    return Diagnostics.model_validate(services(request).diagnostics())


@answers(
    router,
    "GET",
    "/bots/{bot}/gateway-token",
    GatewayToken,
    "The bot's OpenClaw gateway token (to reveal or copy; never cached)",
    dependencies=[allow(Action.BOT_ACCESS)],
)
def gateway_token(bot: str, request: Request, response: Response) -> GatewayToken:
    response.headers["Cache-Control"] = "no-store"
    return GatewayToken(token=services(request).bots.gateway_token(bot))


@answers(
    router,
    "GET",
    "/admin/orphans",
    OrphanReport,
    "Dry run: this instance's containers and bot folders with no bot row",
    dependencies=[allow(Action.ADMIN_OPS)],
)
def orphans(request: Request) -> OrphanReport:
    return OrphanReport.model_validate(services(request).orphans.report())


@answers(
    router,
    "POST",
    "/admin/reconcile",
    Reconciled,
    "Run one reconciliation pass now; returns its actions",
    dependencies=[allow(Action.ADMIN_OPS)],
)
def reconcile(request: Request) -> Reconciled:
    return Reconciled.model_validate({"actions": services(request).reconciler.run_once()})


@answers(
    router,
    "POST",
    "/admin/cleanup",
    Cleanup,
    "Remove exactly what GET /api/admin/orphans reports",
    dependencies=[allow(Action.ADMIN_OPS)],
)
def cleanup(request: Request) -> Cleanup:
    return Cleanup.model_validate(services(request).orphans.cleanup())
