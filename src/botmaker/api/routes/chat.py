"""Chat with a bot: a message in, its agent's answer out as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from botmaker.api.deps import allow, caller, client_address, services
from botmaker.api.responses import SSE
from botmaker.api.revocable import revocable, still_allowed
from botmaker.policy import Action
from botmaker.services.gateway.chat import ChatRequest, ChatService, ChatTurn

router = APIRouter(prefix="/api/bots", tags=["bots"])


@router.post(
    "/{bot}/chat",
    summary="Send the bot's agent a message; its answer as Server-Sent Events "
    "(events: delta, tool, done, error)",
    response_class=EventSourceResponse,
    responses=SSE,
    dependencies=[allow(Action.BOT_ACCESS)],
)
async def chat(bot: str, body: ChatRequest, request: Request) -> EventSourceResponse:
    svc = services(request)
    peer = client_address(request)
    user = caller(request).name  # the gateway keeps one chat session per user
    turn = await anyio.to_thread.run_sync(lambda: svc.chat.begin(bot, body, user=user, peer=peer))
    return EventSourceResponse(
        revocable(_messages(svc.chat, turn), still_allowed(request)),
        ping=svc.settings.sse_ping_seconds,
        send_timeout=60,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _messages(chat: ChatService, turn: ChatTurn) -> AsyncIterator[dict[str, str]]:
    async for event in chat.stream(turn):
        yield {"event": event.kind, "data": json.dumps(event.data, ensure_ascii=False)}
