from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from botmaker import policy
from botmaker.api.deps import allow, caller, reach, services
from botmaker.api.responses import SSE, BotDetail, BotList, Validation, answers
from botmaker.api.revocable import revocable, still_allowed
from botmaker.api.sse import log_events
from botmaker.errors import InvalidInput
from botmaker.policy import Action
from botmaker.services import validation
from botmaker.services.schemas import BotCreate, BotUpdate

router = APIRouter(prefix="/api/bots", tags=["bots"])


@router.get(
    "",
    summary="All bots with live status (kept by the engine's event stream)",
    response_class=JSONResponse,
    response_model=BotList,
    dependencies=[allow(Action.FLEET_READ)],
)
def list_bots(request: Request) -> Response:
    # Plain dicts of str/int/bool: json.dumps directly (FastAPI's generic encoder
    # walks every value again and costs more than building the list).
    visible = reach(request)
    body = {"bots": [bot.to_dict() for bot in services(request).bots.list() if visible(bot.record)]}
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
    )


@answers(
    router,
    "POST",
    "",
    BotDetail,
    "Create a bot: secrets, row, container; start it",
    status_code=201,
    dependencies=[allow(Action.BOT_CREATE)],
)
def create_bot(body: BotCreate, request: Request) -> BotDetail:
    svc, principal = services(request), caller(request)
    if body.team is not None:
        team = svc.store.accounts.find_team(body.team)
        policy.check_team(principal, team.id, body.team)
    return BotDetail.model_validate(svc.bots.create(body, owner=principal.user_id).to_dict())


@answers(
    router,
    "POST",
    "/validate",
    Validation,
    "Check a (partial) create body: every problem in words, nothing created",
    dependencies=[allow(Action.BOT_CREATE)],
)
async def validate_bot(request: Request, body: Annotated[dict[str, Any], Body()]) -> Validation:
    found = await anyio.to_thread.run_sync(validation.check_bot, services(request), body)
    return Validation.model_validate(found.to_dict())


@answers(
    router,
    "GET",
    "/{bot}",
    BotDetail,
    "One bot by id or name",
    dependencies=[allow(Action.BOT_READ)],
)
def get_bot(bot: str, request: Request) -> BotDetail:
    return BotDetail.model_validate(services(request).bots.get(bot).to_dict())


@answers(
    router,
    "PATCH",
    "/{bot}",
    BotDetail,
    "Edit a bot: re-render, validate, restart; rolled back on failure",
    dependencies=[allow(Action.BOT_EDIT)],
)
def update_bot(bot: str, body: BotUpdate, request: Request) -> BotDetail:
    return BotDetail.model_validate(services(request).bots.update(bot, body).to_dict())


@router.delete(
    "/{bot}",
    status_code=204,
    summary="Kill and remove container, secrets and row",
    dependencies=[allow(Action.BOT_DELETE)],
)
def delete_bot(bot: str, request: Request) -> None:
    services(request).bots.delete(bot)


@answers(
    router,
    "POST",
    "/{bot}/start",
    BotDetail,
    "Start the bot (recreating a missing container)",
    dependencies=[allow(Action.BOT_OPERATE)],
)
def start_bot(bot: str, request: Request) -> BotDetail:
    return BotDetail.model_validate(services(request).bots.start(bot).to_dict())


@answers(
    router,
    "POST",
    "/{bot}/stop",
    BotDetail,
    "Stop the bot gracefully",
    dependencies=[allow(Action.BOT_OPERATE)],
)
def stop_bot(bot: str, request: Request) -> BotDetail:
    return BotDetail.model_validate(services(request).bots.stop(bot).to_dict())


@answers(
    router,
    "POST",
    "/{bot}/restart",
    BotDetail,
    "Restart the bot",
    dependencies=[allow(Action.BOT_OPERATE)],
)
def restart_bot(bot: str, request: Request) -> BotDetail:
    return BotDetail.model_validate(services(request).bots.restart(bot).to_dict())


_SINCE = Query(
    None, description="only lines logged from this time on (RFC 3339, or seconds since 1970)"
)
_UNTIL = Query(None, description="only lines logged before this time; the stream then ends there")


@router.get(
    "/{bot}/logs",
    summary="The container's stdout/stderr as Server-Sent Events (events: stdout, stderr, end)",
    response_class=EventSourceResponse,
    responses=SSE,
    dependencies=[allow(Action.BOT_LOGS)],
)
async def bot_logs(
    bot: str,
    request: Request,
    tail: int = Query(100, ge=0, le=100_000, description="lines of history first"),
    follow: bool = Query(True, description="keep streaming new lines"),
    since: datetime | None = _SINCE,
    until: datetime | None = _UNTIL,
    timestamps: bool = Query(
        False, description="start each line with the engine's RFC 3339 time and a space"
    ),
) -> EventSourceResponse:
    svc = services(request)
    start, end = log_window(since, until)
    stream = await anyio.to_thread.run_sync(
        lambda: svc.bots.logs(
            bot,
            tail=tail,
            follow=follow and end is None,
            since=start,
            until=end,
            timestamps=timestamps,
        )
    )
    return EventSourceResponse(
        revocable(log_events(stream), still_allowed(request)),
        ping=svc.settings.sse_ping_seconds,
        send_timeout=60,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def log_window(since: datetime | None, until: datetime | None) -> tuple[float | None, float | None]:
    """The logs' time bounds as seconds since the epoch (a time without a zone is UTC);
    ``until`` must come after ``since``."""
    start = _epoch(since)
    end = _epoch(until)
    if start is not None and end is not None and end <= start:
        raise InvalidInput("until must be later than since", field="until")
    return start, end


def _epoch(at: datetime | None) -> float | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
