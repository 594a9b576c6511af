"""Monitoring and operations: live events (SSE), bot events, stats, diagnostics, orphans."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Query, Request, Response
from sse_starlette import EventSourceResponse

from botmaker.api.deps import require_auth, services
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
from botmaker.services.monitor import Monitor

router = APIRouter(prefix="/api", tags=["monitoring"], dependencies=[Depends(require_auth)])


@router.get(
    "/events/stream",
    summary="Live bot status as Server-Sent Events (events: status, event, resync, engine)",
    response_class=EventSourceResponse,
    responses=SSE,
)
async def event_stream(request: Request) -> EventSourceResponse:
    svc = services(request)
    return EventSourceResponse(
        _messages(svc.monitor),
        ping=svc.settings.sse_ping_seconds,
        send_timeout=60,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _messages(monitor: Monitor) -> AsyncIterator[dict[str, str]]:
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
                yield {"event": message.event, "data": json.dumps(message.data)}
    finally:
        subscription.close()


@answers(router, "GET", "/bots/{bot}/events", BotEvents, "A bot's recorded events, newest first")
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
)
def fleet_stats(request: Request, hours: float | None = _HOURS) -> FleetStats:
    stats = services(request).stats
    body = stats.latest()
    if hours is not None:
        body["history_interval"] = stats.history_interval
        body["history"] = stats.fleet_history(hours)
    return FleetStats.model_validate(body)


@answers(router, "GET", "/bots/{bot}/stats", BotStats, "A bot's resource samples of the last hour")
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
)
def engine(request: Request) -> EngineState:
    return EngineState.model_validate(services(request).monitor.engine_state())


@answers(
    router,
    "GET",
    "/nodes",
    Nodes,
    "The engines bots run on: state, availability, resources, bots running there",
)
def nodes(request: Request) -> Nodes:
    svc = services(request)
    return Nodes.model_validate({"runtime": svc.settings.runtime, "nodes": svc.runtime.nodes()})


@answers(router, "GET", "/diagnostics", Diagnostics, "Engine, fleet and keyring at a glance")
def diagnostics(request: Request) -> Diagnostics:
    return Diagnostics.model_validate(services(request).diagnostics())


@answers(
    router,
    "GET",
    "/bots/{bot}/gateway-token",
    GatewayToken,
    "The bot's OpenClaw gateway token (to reveal or copy; never cached)",
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
)
def orphans(request: Request) -> OrphanReport:
    return OrphanReport.model_validate(services(request).orphans.report())


@answers(
    router,
    "POST",
    "/admin/reconcile",
    Reconciled,
    "Run one reconciliation pass now; returns its actions",
)
def reconcile(request: Request) -> Reconciled:
    return Reconciled.model_validate({"actions": services(request).reconciler.run_once()})


@answers(
    router, "POST", "/admin/cleanup", Cleanup, "Remove exactly what GET /api/admin/orphans reports"
)
def cleanup(request: Request) -> Cleanup:
    return Cleanup.model_validate(services(request).orphans.cleanup())
