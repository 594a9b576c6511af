"""A bot's chat completion stream is hostile input: the reader bounds lines, events and
the whole stream, reads ``data`` only, keeps only the fields it relays, and the chat
service turns every broken or refused stream into one ``error`` event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from botmaker.definition import BotState
from botmaker.services.gateway.chat import ChatRequest, ChatService, ChatTurn, session_user
from botmaker.services.gateway.stream import (
    MAX_TOOL_ARGUMENTS,
    ChatEvent,
    CompletionStream,
    SseReader,
    StreamError,
)
from botmaker.store import BotRecord


def _chunk(delta: dict[str, Any] | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"id": "chatcmpl_1", "object": "chat.completion.chunk", **extra}
    if delta is not None:
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
    return f"data: {json.dumps(body)}\n\n".encode()


def _finish(reason: str) -> bytes:
    body = {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
    return f"data: {json.dumps(body)}\n\n".encode()


USAGE = {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16}
GOOD = [
    b": a comment\n\n",
    _chunk({"role": "assistant"}),
    _chunk({"content": "Hello"}),
    _chunk({"content": " there."}),
    _finish("stop"),
    _chunk(choices=[], usage=USAGE),
    b"data: [DONE]\n\n",
]


def _relay(chunks: list[bytes]) -> list[ChatEvent]:
    reader, completion = SseReader(), CompletionStream()
    events: list[ChatEvent] = []
    for chunk in chunks:
        for data in reader.feed(chunk):
            events += completion.event(data)
    for data in reader.close():
        events += completion.event(data)
    return events + completion.end()


def test_a_well_formed_stream_becomes_deltas_and_done_with_usage() -> None:
    events = _relay(GOOD)
    assert events == [
        ChatEvent("delta", {"text": "Hello"}),
        ChatEvent("delta", {"text": " there."}),
        ChatEvent("done", {"finish_reason": "stop", "usage": USAGE}),
    ]


def test_any_split_of_the_bytes_and_any_line_ending_reads_the_same() -> None:
    whole = b"".join(GOOD)
    expected = _relay(GOOD)
    for ending in (b"\n", b"\r\n", b"\r"):
        data = whole.replace(b"\n", ending)
        for size in (1, 2, 3, 7, 64):
            pieces = [data[i : i + size] for i in range(0, len(data), size)]
            assert _relay(pieces) == expected, (ending, size)


def test_multi_line_data_is_joined_and_other_fields_are_ignored() -> None:
    body = json.dumps({"choices": [{"delta": {"content": "two\nlines"}}]}, indent=1)
    event = "".join(f"data:{line}\n" for line in body.split("\n"))
    chunks = [
        b"event: delta\nid: 7\nretry: 1\nnonsense\n" + event.encode() + b"\n",
        b"data: [DONE]\n\n",
    ]
    events = _relay(chunks)
    assert events[0] == ChatEvent("delta", {"text": "two\nlines"})
    assert events[-1].kind == "done"


def test_only_expected_fields_of_expected_types_are_kept() -> None:
    hostile = [
        _chunk({"content": 42}),
        _chunk({"content": ["not", "text"]}),
        _chunk({"content": "ok\x1b[31m\x00\x07 \ud800done\tand\nmore"}),
        f"data: {json.dumps({'choices': 'x'})}\n\n".encode(),
        f"data: {json.dumps({'choices': [None, {'delta': {'content': 'x'}}]})}\n\n".encode(),
        f"data: {json.dumps({'choices': [{'delta': 'x', 'finish_reason': 'nope'}]})}\n\n".encode(),
        _chunk(
            {"content": "", "role": "system", "extra": {"a": 1}},
            usage={"prompt_tokens": -1, "completion_tokens": True, "total_tokens": 2**60},
        ),
        b"data: [DONE]\n\n",
    ]
    events = _relay(hostile)
    assert events == [
        ChatEvent("delta", {"text": "ok[31m done\tand\nmore"}),
        ChatEvent("done", {"finish_reason": None, "usage": None}),
    ]


def test_tool_calls_are_assembled_from_fragments_and_bounded() -> None:
    chunks = [
        _chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "get_time"}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"zone":'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"UTC"}'}}]}),
        _chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "big"}}]}),
        _chunk({"tool_calls": [{"index": 1, "function": {"arguments": "x" * 20_000}}]}),
        _chunk({"tool_calls": [{"index": True, "function": {"name": "bool-index"}}]}),
        _chunk({"tool_calls": [{"index": 2, "function": "not an object"}]}),
        _chunk({"tool_calls": "nope"}),
        _finish("tool_calls"),
        b"data: [DONE]\n\n",
    ]
    events = _relay(chunks)
    assert events[0] == ChatEvent(
        "tool",
        {"id": "call_1", "name": "get_time", "arguments": '{"zone":"UTC"}', "truncated": False},
    )
    assert events[1].data["name"] == "big"
    assert events[1].data["truncated"] is True
    assert len(events[1].data["arguments"]) == MAX_TOOL_ARGUMENTS
    assert events[2] == ChatEvent("done", {"finish_reason": "tool_calls", "usage": None})
    assert len(events) == 3


def test_an_error_object_ends_the_turn_with_its_words() -> None:
    events = _relay(
        [
            _chunk({"content": "partial"}),
            b'data: {"error": {"message": "Agent run failed\\u0000: timeout", "type": "x"}}\n\n',
            _chunk({"content": "after the error"}),
            b"data: [DONE]\n\n",
        ]
    )
    assert events == [
        ChatEvent("delta", {"text": "partial"}),
        ChatEvent("error", {"message": "Agent run failed: timeout"}),
    ]
    assert _relay([b'data: {"error": "just a string"}\n\n'])[-1] == ChatEvent(
        "error", {"message": "the bot's agent run failed"}
    )


def test_a_stream_that_stops_without_done_is_an_error() -> None:
    events = _relay([_chunk({"content": "Hel"})])
    assert events[-1] == ChatEvent(
        "error", {"message": "the bot's answer ended before it was complete"}
    )


@pytest.mark.parametrize(
    ("chunks", "words"),
    [
        ([b"data: " + b"x" * 70_000], "line is longer"),
        ([b"data: " + b"x" * 40_000 + b"\n", b"data: " + b"y" * 40_000 + b"\n"], "event is larger"),
        ([b": " + b"c" * 70_000 + b"\n"], "line is longer"),
        ([b"data: {not json}\n\n"], "not JSON"),
        ([b"data: [1, 2]\n\n"], "not a JSON object"),
        ([b"data: " + b"[" * 50_000 + b"\n\n"], "not JSON"),
        ([b'data: "\xff\xfe"\n\n'], "not UTF-8"),
    ],
)
def test_hostile_streams_are_refused(chunks: list[bytes], words: str) -> None:
    with pytest.raises(StreamError, match=words):
        _relay(chunks)


def test_the_whole_stream_and_the_answer_are_bounded() -> None:
    reader = SseReader(max_stream=1000)
    for _ in range(71):
        reader.feed(b": keep-alive\n\n")  # 14 bytes each: 994 in all
    with pytest.raises(StreamError, match="larger than 1000 bytes"):
        reader.feed(b": keep-alive\n\n")
    completion = CompletionStream(max_reply=10)
    completion.event(json.dumps({"choices": [{"delta": {"content": "0123456789"}}]}))
    with pytest.raises(StreamError, match="longer than 10 characters"):
        completion.event(json.dumps({"choices": [{"delta": {"content": "!"}}]}))


# -- the service against a gateway at the transport ----------------------------------------


def _turn() -> ChatTurn:
    record = BotRecord(
        id="b1",
        seq=1,
        name="helper",
        provider="custom",
        model="m",
        channel="telegram",
        image="i",
        uid=1,
        container_id=None,
        state=BotState.READY,
        created_at="",
        updated_at="",
    )
    session = session_user("admin", record.id)
    return ChatTurn(record, "http://gateway:18789/v1/chat/completions", session, {}, {})


def _run(handler: Any) -> list[ChatEvent]:
    service = ChatService(None, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]

    async def collect() -> list[ChatEvent]:
        return [event async for event in service.stream(_turn())]

    return asyncio.run(collect())


def _sse(parts: list[bytes], **headers: str) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream", **headers},
        stream=_Stream(parts),
    )


def _answer(status: int, body: bytes) -> httpx.Response:
    """A streamed answer, as a gateway's arrives (in 8 KiB pieces)."""
    pieces = [body[i : i + 8192] for i in range(0, len(body), 8192)]
    return httpx.Response(status, stream=_Stream(pieces))


class _Stream(httpx.AsyncByteStream):
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part


def test_the_service_relays_a_stream_and_stops_at_done() -> None:
    events = _run(lambda request: _sse([*GOOD, _chunk({"content": "never read"})]))
    assert [e.kind for e in events] == ["delta", "delta", "done"]


def test_a_refusal_becomes_one_error_event_with_the_gateways_words() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        body = {"error": {"message": "missing scope: operator.write\x07", "type": "forbidden"}}
        return _answer(403, json.dumps(body).encode())

    assert _run(refuse) == [
        ChatEvent(
            "error",
            {
                "message": "bot helper's gateway refused the message (HTTP 403): "
                "missing scope: operator.write"
            },
        )
    ]
    assert "restart the bot" in _run(lambda r: _answer(404, b"x"))[0].data["message"]
    huge = _run(lambda r: _answer(500, b"{" * 200_000))
    assert huge == [
        ChatEvent("error", {"message": "bot helper's gateway refused the message (HTTP 500)"})
    ]


def test_broken_streams_and_dead_gateways_become_one_error_event() -> None:
    broken = _run(lambda r: _sse([_chunk({"content": "a"}), b"data: " + b"x" * 70_000]))
    assert broken[0] == ChatEvent("delta", {"text": "a"})
    assert broken[1].kind == "error"
    assert "invalid answer" in broken[1].data["message"]
    assert len(broken) == 2
    compressed = _run(lambda r: _sse(GOOD, **{"content-encoding": "gzip"}))
    assert compressed == [
        ChatEvent("error", {"message": "bot helper's gateway sent a compressed answer"})
    ]

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert _run(down) == [
        ChatEvent("error", {"message": "bot helper's gateway did not answer: ConnectError"})
    ]


def test_a_message_is_checked_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="blank"):
        ChatRequest(message="   ")
    with pytest.raises(ValueError, match="NUL"):
        ChatRequest(message="a\x00b")
    with pytest.raises(ValueError, match="pattern"):
        ChatRequest(message="hi", conversation="../../etc")
    with pytest.raises(ValueError, match="at most 16000 characters"):
        ChatRequest(message="x" * 16_001)
    assert ChatRequest(message="hi", conversation="c-1").conversation == "c-1"
    assert session_user("admin", "b1") == "botmaker:admin:b1"
    assert session_user("admin", "b1", "c-1") == "botmaker:admin:b1:c-1"
