"""DM pairing: senders waiting for a bot's approval, approved or denied here."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from botmaker.api.deps import allow, reach, services
from botmaker.api.responses import BotPairingOut, PairingDecisionOut, PairingInbox, answers
from botmaker.policy import Action

router = APIRouter(prefix="/api", tags=["pairing"])


@answers(
    router,
    "GET",
    "/pairing",
    PairingInbox,
    "Pending DM pairing requests of every running OpenClaw bot (read in parallel)",
    dependencies=[allow(Action.FLEET_READ)],
)
def inbox(request: Request) -> PairingInbox:
    may = reach(request, Action.BOT_ACCESS)
    bots = [item.to_dict() for item in services(request).pairing.pending(only=may)]
    return PairingInbox.model_validate({"bots": bots})


@answers(
    router,
    "GET",
    "/bots/{bot}/pairing",
    BotPairingOut,
    "One bot's pending DM requests",
    dependencies=[allow(Action.BOT_ACCESS)],
)
def bot_requests(bot: str, request: Request) -> BotPairingOut:
    return BotPairingOut.model_validate(services(request).pairing.bot(bot).to_dict())


@answers(
    router,
    "POST",
    "/bots/{bot}/pairing/{channel}/{code}/approve",
    PairingDecisionOut,
    "Let the sender of a pairing code message the bot",
    dependencies=[allow(Action.BOT_ACCESS)],
)
def approve(
    bot: str,
    channel: str,
    code: str,
    request: Request,
    notify: bool = Query(False, description="tell the sender on the channel"),
) -> PairingDecisionOut:
    decision = services(request).pairing.approve(bot, channel, code, notify=notify)
    return PairingDecisionOut.model_validate(decision.to_dict())


@answers(
    router,
    "POST",
    "/bots/{bot}/pairing/{channel}/{code}/deny",
    PairingDecisionOut,
    "Dismiss a pairing request (the sender may ask again later)",
    dependencies=[allow(Action.BOT_ACCESS)],
)
def deny(bot: str, channel: str, code: str, request: Request) -> PairingDecisionOut:
    decision = services(request).pairing.deny(bot, channel, code)
    return PairingDecisionOut.model_validate(decision.to_dict())
