"""A bot's egress policy: where it may connect through the egress proxy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from botmaker.api.deps import allow, services
from botmaker.policy import Action
from botmaker.services.schemas import EgressIn

router = APIRouter(prefix="/api", tags=["egress"])


class Refusal(BaseModel):
    at: float
    detail: str
    host: str | None = Field(description="what one click on 'allow this host' would add")


class EgressOut(BaseModel):
    mode: str
    allow: list[str]
    enforced: bool = Field(description="false when BOTMAKER_EGRESS=off: bots connect directly")
    refusals: list[Refusal] = Field(description="the latest refusals, newest first")


class AllowHost(BaseModel):
    host: str = Field(min_length=1, max_length=260, description="example.com, *.example.com[:port]")


def _out(body: dict[str, Any]) -> EgressOut:
    return EgressOut.model_validate(body)


@router.get(
    "/bots/{bot}/egress",
    response_model=EgressOut,
    summary="The bot's egress policy and its latest refusals",
    dependencies=[allow(Action.BOT_READ)],
)
def get_egress(bot: str, request: Request) -> EgressOut:
    return _out(services(request).egress.policy(bot))


@router.put(
    "/bots/{bot}/egress",
    response_model=EgressOut,
    summary="Replace the bot's egress policy (in force within a second; no restart)",
    dependencies=[allow(Action.BOT_EDIT)],
)
def put_egress(bot: str, body: EgressIn, request: Request) -> EgressOut:
    svc = services(request)
    result = svc.egress.set_policy(bot, body.mode, body.allow)
    svc.audit.record("bot.egress", bot, mode=body.mode, hosts=len(result["allow"]))
    return _out(result)


@router.post(
    "/bots/{bot}/egress/allow",
    response_model=EgressOut,
    summary="Add one host to the bot's allowlist (a refused one, say)",
    dependencies=[allow(Action.BOT_EDIT)],
)
def allow_host(bot: str, body: AllowHost, request: Request) -> EgressOut:
    svc = services(request)
    result = svc.egress.allow_host(bot, body.host)
    svc.audit.record("bot.egress_allow", bot, host=body.host)
    return _out(result)
