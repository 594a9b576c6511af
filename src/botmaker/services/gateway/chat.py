"""Chat with a bot: one user message to its gateway, the answer streamed back.

The message goes to the gateway's OpenAI-compatible ``POST /v1/chat/completions``
(enabled by BotMaker's render), which runs the same agent run as ``openclaw agent``.
The request names the default agent (``openclaw/default``), asks for a stream with the
turn's usage, and sets OpenAI's ``user`` field to ``botmaker:<user>:<bot id>`` (plus
``:<conversation>`` when the caller started a new conversation): OpenClaw derives a
stable session from it, so a person's conversation with a bot continues across
messages and stays apart from other people's. It carries BotMaker's identity headers
for that person (``user:<name>``, their address), so OpenClaw sees who chats.

The answer is read by :mod:`~botmaker.services.gateway.stream` (bounded, strict) and
relayed as ``delta``, ``tool``, ``done`` and ``error`` events. A bot's failure during
the turn is an ``error`` event, never an exception: the browser's stream has started.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from botmaker.errors import InvalidInput
from botmaker.services.gateway.access import identity_headers, user_identity
from botmaker.services.gateway.client import GatewayService
from botmaker.services.gateway.stream import ChatEvent, CompletionStream, SseReader, StreamError
from botmaker.store import BotRecord

CHAT_PATH = "/v1/chat/completions"
AGENT_MODEL = "openclaw/default"
MAX_MESSAGE = 16_000
#: A refusal's body read before the stream (an OpenAI-style error object).
MAX_REFUSAL = 64 * 1024
CONVERSATION_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_USER = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class ChatRequest(BaseModel):
    """``POST /api/bots/{bot}/chat``: one message of the caller's conversation with a bot."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_MESSAGE, description="the user's text")
    conversation: str | None = Field(
        default=None,
        pattern=CONVERSATION_PATTERN,
        description="a conversation id of the caller's choosing (a new one starts a new "
        "session with the bot); omitted: the caller's main conversation with the bot",
    )

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if not value.strip():
            raise ValueError("must not be blank")
        return value


@dataclass(frozen=True)
class ChatTurn:
    """A checked message, ready to send: where, as whom, in which session."""

    record: BotRecord
    url: str
    session: str
    headers: dict[str, str]
    body: dict[str, Any]


class ChatService:
    def __init__(
        self,
        gateway: GatewayService,
        *,
        connect_timeout: float = 10.0,
        idle_timeout: float = 300.0,
        turn_timeout: float = 1800.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.gateway = gateway
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.turn_timeout = turn_timeout
        self.transport = transport

    def begin(self, ref: str, request: ChatRequest, *, user: str, peer: str | None) -> ChatTurn:
        """Check the bot can chat now (NotFound, Conflict) and prepare the turn."""
        if not _USER.fullmatch(user):
            raise InvalidInput(f"user {user!r} cannot chat", field="user")
        record = self.gateway.store.find_bot(ref)
        url = self.gateway.base_url(record) + CHAT_PATH
        session = session_user(user, record.id, request.conversation)
        body = {
            "model": AGENT_MODEL,
            "stream": True,
            "stream_options": {"include_usage": True},
            "user": session,
            "messages": [{"role": "user", "content": request.message}],
        }
        headers = {
            **identity_headers(user_identity(user), peer),
            "accept": "text/event-stream",
            "accept-encoding": "identity",  # read as sent: no decompression of a bot's bytes
        }
        return ChatTurn(record, url, session, headers, body)

    async def stream(self, turn: ChatTurn) -> AsyncIterator[ChatEvent]:
        """The turn's events; ends after ``done`` or ``error``."""
        timeout = httpx.Timeout(self.idle_timeout, connect=self.connect_timeout)
        deadline = time.monotonic() + self.turn_timeout
        name = turn.record.name
        try:
            async with (
                httpx.AsyncClient(timeout=timeout, transport=self.transport) as client,
                client.stream("POST", turn.url, json=turn.body, headers=turn.headers) as answer,
            ):
                if answer.status_code != 200:
                    yield ChatEvent("error", {"message": await _refusal(name, answer)})
                    return
                if answer.headers.get("content-encoding", "identity") != "identity":
                    yield _error(f"bot {name}'s gateway sent a compressed answer")
                    return
                reader, completion = SseReader(), CompletionStream()
                async for chunk in answer.aiter_raw():
                    for data in reader.feed(chunk):
                        for event in completion.event(data):
                            yield event
                    if completion.finished:
                        return
                    if time.monotonic() > deadline:
                        yield _error(f"bot {name} did not finish its answer in time")
                        return
                for data in reader.close():
                    for event in completion.event(data):
                        yield event
                for event in completion.end():
                    yield event
        except StreamError as exc:
            yield _error(f"bot {name}'s gateway sent an invalid answer: {exc}")
        except httpx.TimeoutException:
            yield _error(f"bot {name}'s gateway did not answer in time")
        except httpx.HTTPError as exc:
            yield _error(f"bot {name}'s gateway did not answer: {type(exc).__name__}")


def session_user(user: str, bot_id: str, conversation: str | None = None) -> str:
    """The OpenAI ``user`` OpenClaw keys the session by: one per person, bot and
    conversation."""
    base = f"botmaker:{user}:{bot_id}"
    return f"{base}:{conversation}" if conversation else base


def _error(message: str) -> ChatEvent:
    return ChatEvent("error", {"message": message})


async def _refusal(name: str, answer: httpx.Response) -> str:
    """The words of a gateway's refusal (its OpenAI-style ``error.message``), bounded."""
    data = b""
    async for chunk in answer.aiter_raw():
        data += chunk
        if len(data) > MAX_REFUSAL:
            break
    message = ""
    try:
        parsed = json.loads(data[:MAX_REFUSAL])
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        text = parsed["error"].get("message")
        if isinstance(text, str):
            message = "".join(ch for ch in text[:300] if ch.isprintable())
    status = answer.status_code
    if status == 404 and not message:
        return (
            f"bot {name}'s gateway has no chat endpoint yet: restart the bot so it runs "
            "BotMaker's current configuration"
        )
    return f"bot {name}'s gateway refused the message (HTTP {status})" + (
        f": {message}" if message else ""
    )
