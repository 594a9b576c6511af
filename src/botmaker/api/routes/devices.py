"""Browsers asking to pair with a bot's gateway (its Control UI), approved in BotMaker."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from botmaker.api.deps import allow, services
from botmaker.api.responses import Devices, answers
from botmaker.policy import Action

router = APIRouter(prefix="/api", tags=["control ui"])


@answers(
    router,
    "GET",
    "/bots/{bot}/devices",
    Devices,
    "The bot gateway's pending browser pairing requests and paired devices",
    dependencies=[allow(Action.BOT_ACCESS)],
)
def devices(bot: str, request: Request) -> Devices:
    return Devices.model_validate(services(request).gateway.devices(bot))


@router.post(
    "/bots/{bot}/devices/{request_id}/approve",
    status_code=204,
    summary="Approve a browser's pairing request (its Control UI then connects)",
    dependencies=[allow(Action.BOT_ACCESS)],
)
def approve_device(bot: str, request_id: str, request: Request) -> Response:
    services(request).gateway.decide_device(bot, request_id, approve=True)
    return Response(status_code=204)


@router.post(
    "/bots/{bot}/devices/{request_id}/deny",
    status_code=204,
    summary="Deny a browser's pairing request",
    dependencies=[allow(Action.BOT_ACCESS)],
)
def deny_device(bot: str, request_id: str, request: Request) -> Response:
    services(request).gateway.decide_device(bot, request_id, approve=False)
    return Response(status_code=204)
