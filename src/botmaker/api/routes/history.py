"""The fleet's event history: every bot event the caller may see, newest first (the
dashboard's notification centre reads it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from botmaker import policy
from botmaker.api.deps import allow, caller, reach_ids, services
from botmaker.api.responses import answers
from botmaker.policy import Action

router = APIRouter(prefix="/api", tags=["monitoring"])


class FleetEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    bot_id: str
    bot_name: str
    at: float
    kind: str
    detail: str
    exit_code: int | None
    cause: str = Field(default="", description="why it happened, when known")
    actor: str | None = Field(default=None, description="who did it, when a user did")


class FleetEvents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[FleetEvent]


@answers(
    router,
    "GET",
    "/events",
    FleetEvents,
    "The events of every bot in reach, newest first (without their log lines)",
    dependencies=[allow(Action.FLEET_READ)],
)
def fleet_events(
    request: Request,
    kind: Annotated[
        list[str] | None, Query(max_length=50, description="only these kinds (repeatable)")
    ] = None,
    limit: int = Query(50, ge=1, le=500),
    before: int | None = Query(None, ge=1, description="only events older than this event id"),
) -> FleetEvents:
    svc = services(request)
    only = None if policy.sees_all(caller(request)) else reach_ids(request)
    kinds = [k[:64] for k in kind] if kind else None
    rows = svc.store.fleet_events(bot_ids=only, kinds=kinds, limit=limit, before_id=before)
    return FleetEvents.model_validate({"events": rows})
