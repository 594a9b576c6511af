"""Interactive channel logins (WhatsApp, Zalo Personal, Signal): run in the bot, the QR
code shown here (services/gateway/login.py; Signal's signal-cli link:
services/gateway/signal_link.py)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from botmaker.api.deps import allow, services
from botmaker.api.responses import Exact, answers
from botmaker.policy import Action

router = APIRouter(prefix="/api", tags=["channel logins"])

PATH = "/bots/{bot}/channels/{channel}/login"


class LoginStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    force: StrictBool = Field(
        False, description="replace a linked account (OpenClaw clears it first) with a new one"
    )


class ChannelLogin(Exact):
    id: str
    name: str
    channel: str
    state: Literal["idle", "starting", "waiting", "linked", "failed", "cancelled", "expired"]
    message: str = Field(description="OpenClaw's words about the login, cleaned and bounded")
    qr: str | None = Field(description="the URL of the code to scan, while one is shown")
    started_at: float | None
    updated_at: float | None
    expires_at: float | None = Field(description="when BotMaker stops waiting for a scan")
    linked: bool | None = Field(
        description="the gateway reports the channel's account configured (null: unknown)"
    )


@answers(
    router,
    "POST",
    PATH,
    ChannelLogin,
    "Start a channel login in the bot (its QR code then shows at .../login/qr)",
    status_code=202,
    dependencies=[allow(Action.BOT_ACCESS)],
)
def start(bot: str, channel: str, request: Request, body: LoginStart | None = None) -> ChannelLogin:
    force = body.force if body is not None else False
    view = services(request).logins.start(bot, channel, force=force)
    return ChannelLogin.model_validate(view.to_dict())


@answers(
    router,
    "GET",
    PATH,
    ChannelLogin,
    "The channel login's state",
    dependencies=[allow(Action.BOT_ACCESS)],
)
def status(bot: str, channel: str, request: Request, response: Response) -> ChannelLogin:
    response.headers["Cache-Control"] = "no-store"
    return ChannelLogin.model_validate(services(request).logins.status(bot, channel).to_dict())


@router.get(
    PATH + "/qr",
    summary="The code to scan (an image), while the login shows one",
    responses={
        200: {
            "description": "the image (PNG, JPEG, GIF or WebP)",
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in ("image/png", "image/jpeg", "image/gif", "image/webp")
            },
        }
    },
    response_class=Response,
    dependencies=[allow(Action.BOT_ACCESS)],
)
def qr(bot: str, channel: str, request: Request) -> Response:
    image = services(request).logins.qr(bot, channel)
    return Response(
        image.data,
        media_type=image.media_type,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@answers(
    router,
    "DELETE",
    PATH,
    ChannelLogin,
    "Cancel the channel login under way",
    dependencies=[allow(Action.BOT_ACCESS)],
)
def cancel(bot: str, channel: str, request: Request) -> ChannelLogin:
    return ChannelLogin.model_validate(services(request).logins.cancel(bot, channel).to_dict())
