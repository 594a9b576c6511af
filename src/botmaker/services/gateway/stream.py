"""A gateway's chat completion stream, read as hostile input.

OpenClaw answers ``POST /v1/chat/completions`` with ``stream: true`` as Server-Sent
Events: ``data: <chat.completion.chunk JSON>`` events, an ``error`` object when the run
fails, and ``data: [DONE]`` at the end. A bot can send anything, so the reader bounds
every line, every event and the whole stream, reads ``data`` fields only (comments,
``event``, ``id`` and ``retry`` are dropped), and keeps only the fields BotMaker relays,
of the types it expects:

- ``choices[0].delta.content`` (text) -> a ``delta`` event,
- ``choices[0].delta.tool_calls`` (client tool calls, in fragments) -> one ``tool``
  event per call once the turn finishes,
- ``choices[0].finish_reason`` and ``usage`` (token counts) -> the ``done`` event,
- ``error.message`` -> an ``error`` event.

Text is kept without control characters (newlines and tabs stay); everything else in
a chunk is ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

#: Longest line (and longest event) accepted; OpenClaw's chunks are well under 1 KiB.
MAX_LINE = 64 * 1024
#: Most bytes one turn's stream may carry.
MAX_STREAM = 8 * 1024 * 1024
#: Most characters of answer text relayed for one turn.
MAX_REPLY = 1024 * 1024
MAX_TOOL_CALLS = 32
MAX_TOOL_NAME = 128
MAX_TOOL_ARGUMENTS = 16 * 1024
MAX_ERROR = 500
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter"})
USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
_DROPPED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class StreamError(Exception):
    """The gateway's stream broke a rule: it is not relayed any further."""


@dataclass(frozen=True)
class ChatEvent:
    """One event BotMaker relays to the browser: ``delta``, ``tool``, ``done``, ``error``."""

    kind: str
    data: dict[str, Any]


class SseReader:
    """Bytes of a Server-Sent Event stream -> the ``data`` of each event (strings).

    Lines end in LF, CRLF or CR; an event ends at an empty line; several ``data`` lines
    of one event are joined with LF, as the SSE specification says.
    """

    def __init__(self, *, max_line: int = MAX_LINE, max_stream: int = MAX_STREAM) -> None:
        self.max_line = max_line
        self.max_stream = max_stream
        self._buffer = b""
        self._data: list[bytes] = []
        self._event_bytes = 0
        self._total = 0
        self._after_cr = False

    def feed(self, chunk: bytes) -> list[str]:
        self._total += len(chunk)
        if self._total > self.max_stream:
            raise StreamError(f"the stream is larger than {self.max_stream} bytes")
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across two chunks
        self._after_cr = chunk.endswith(b"\r")
        data = (self._buffer + chunk).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > self.max_line:
            raise StreamError(f"a line is longer than {self.max_line} bytes")
        events: list[str] = []
        for line in lines:
            if len(line) > self.max_line:
                raise StreamError(f"a line is longer than {self.max_line} bytes")
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[str]:
        """What an unterminated last event held (a stream may end without a blank line)."""
        events = self.feed(b"\n\n") if self._buffer or self._data else []
        self._buffer, self._data = b"", []
        return events

    def _line(self, line: bytes) -> str | None:
        if not line:
            if not self._data:
                return None
            data, self._data, self._event_bytes = self._data, [], 0
            return _decode(b"\n".join(data))
        name, colon, value = line.partition(b":")
        if not colon or name != b"data":
            return None  # a comment (": ping"), event, id, retry or unknown field
        if value.startswith(b" "):
            value = value[1:]
        self._event_bytes += len(value) + 1
        if self._event_bytes > self.max_line:
            raise StreamError(f"an event is larger than {self.max_line} bytes")
        self._data.append(value)
        return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StreamError("an event is not UTF-8") from None


@dataclass
class _ToolCall:
    id: str = ""
    name: str = ""
    arguments: str = ""
    truncated: bool = False


@dataclass
class CompletionStream:
    """The ``data`` of each event -> the events BotMaker relays, with bounds on the
    answer's text and its tool calls. ``finished`` once ``[DONE]`` or an error came."""

    max_reply: int = MAX_REPLY
    finished: bool = False
    failed: bool = False
    reply_chars: int = 0
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    _tools: dict[int, _ToolCall] = field(default_factory=dict)

    def event(self, data: str) -> list[ChatEvent]:
        if self.finished:
            return []  # nothing after [DONE] or an error counts
        if data.strip() == "[DONE]":
            self.finished = True
            return [*self._tool_events(), self._done()]
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            raise StreamError("an event is not JSON") from None
        if not isinstance(chunk, dict):
            raise StreamError("an event is not a JSON object")
        error = chunk.get("error")
        if error is not None:
            self.finished = self.failed = True
            message = _text(error.get("message"), MAX_ERROR) if isinstance(error, dict) else ""
            return [ChatEvent("error", {"message": message or "the bot's agent run failed"})]
        usage = _usage(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
        return self._choice(chunk.get("choices"))

    def end(self) -> list[ChatEvent]:
        """The upstream closed: an unfinished stream is an error."""
        if self.finished:
            return []
        self.finished = self.failed = True
        return [ChatEvent("error", {"message": "the bot's answer ended before it was complete"})]

    def _choice(self, choices: object) -> list[ChatEvent]:
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return []
        choice = choices[0]
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason in FINISH_REASONS:
            self.finish_reason = reason
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return []
        self._tool_fragments(delta.get("tool_calls"))
        content = delta.get("content")
        if not isinstance(content, str) or not content:
            return []
        text = _text(content, len(content))
        self.reply_chars += len(text)
        if self.reply_chars > self.max_reply:
            raise StreamError(f"the answer is longer than {self.max_reply} characters")
        return [ChatEvent("delta", {"text": text})] if text else []

    def _tool_fragments(self, calls: object) -> None:
        if not isinstance(calls, list):
            return
        for fragment in calls[:MAX_TOOL_CALLS]:
            if not isinstance(fragment, dict):
                continue
            index = fragment.get("index")
            if not isinstance(index, int) or isinstance(index, bool):
                continue
            call = self._tools.get(index)
            if call is None:
                if len(self._tools) >= MAX_TOOL_CALLS:
                    continue
                call = self._tools[index] = _ToolCall()
            if not call.id:
                call.id = _text(fragment.get("id"), MAX_TOOL_NAME)
            function = fragment.get("function")
            if not isinstance(function, dict):
                continue
            if not call.name:
                call.name = _text(function.get("name"), MAX_TOOL_NAME)
            arguments = function.get("arguments")
            if isinstance(arguments, str) and not call.truncated:
                room = MAX_TOOL_ARGUMENTS - len(call.arguments)
                call.arguments += _text(arguments, room)
                call.truncated = len(arguments) > room

    def _tool_events(self) -> list[ChatEvent]:
        events = [
            ChatEvent(
                "tool",
                {
                    "id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                    "truncated": call.truncated,
                },
            )
            for _, call in sorted(self._tools.items())
            if call.name
        ]
        self._tools.clear()
        return events

    def _done(self) -> ChatEvent:
        return ChatEvent("done", {"finish_reason": self.finish_reason, "usage": self.usage})


def _usage(value: object) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    counts = {}
    for name in USAGE_FIELDS:
        count = value.get(name)
        if isinstance(count, int) and not isinstance(count, bool) and 0 <= count < 2**53:
            counts[name] = count
    return counts or None


def _text(value: object, limit: int) -> str:
    """A string of the gateway's, bounded, without control characters (LF and tab stay)
    and without lone surrogates."""
    if not isinstance(value, str):
        return ""
    return _DROPPED.sub("", value[:limit])
