"""Chat with a bot: a message in, its agent's answer out as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse

from botmaker.api.deps import client_address, require_auth, services
from botmaker.api.responses import SSE
from botmaker.services.gateway.chat import ChatRequest, ChatService, ChatTurn

router = APIRouter(prefix="/api/bots", tags=["bots"], dependencies=[Depends(require_auth)])

#: Who chats: BotMaker has one account (the audit log's ``admin``).
USER = "admin"


@router.post(
    "/{bot}/chat",
    summary="Send the bot's agent a message; its answer as Server-Sent Events "
    "(events: delta, tool, done, error)",
    response_class=EventSourceResponse,
    responses=SSE,
)
async def chat(bot: str, body: ChatRequest, request: Request) -> EventSourceResponse:
    svc = services(request)
    peer = client_address(request)
    turn = await anyio.to_thread.run_sync(lambda: svc.chat.begin(bot, body, user=USER, peer=peer))
    return EventSourceResponse(
        _messages(svc.chat, turn),
        ping=svc.settings.sse_ping_seconds,
        send_timeout=60,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _messages(chat: ChatService, turn: ChatTurn) -> AsyncIterator[dict[str, str]]:
    async for event in chat.stream(turn):
        yield {"event": event.kind, "data": json.dumps(event.data, ensure_ascii=False)}
