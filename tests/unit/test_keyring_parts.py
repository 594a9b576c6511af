"""The keyring proxy's pure parts: usage metering, network policy, key scrubbing.

Bodies below are shaped like the real APIs' output (field order, nulls, extra
details, event names). The network tests use real DNS lookups of ``localhost`` and a
real aiohttp server on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import socket
import time
from collections.abc import Iterator
from itertools import pairwise

import aiohttp
import pytest
from aiohttp import web

from botmaker.errors import InvalidInput
from botmaker.keyring import scrub as scrub_module
from botmaker.keyring.metering import MAX_DOCUMENT, MAX_LINE, UsageMeter
from botmaker.keyring.netpolicy import (
    PinnedResolver,
    blocked_reason,
    check_base_url,
    make_session,
)
from botmaker.keyring.scrub import HOLD_FROM, REDACTED, Scrubber, scrub

# -- realistic bodies --------------------------------------------------------------------

TEXT = "Héllo — 日本語 🎉, usage of tools"  # multi-byte characters, and the word "usage"


def _sse(events: list[tuple[str | None, object]]) -> bytes:
    out = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {payload}\n\n")
    return "".join(out).encode()


def _chat_chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion.chunk",
        "created": 1727000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_f85bea6784",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }


OPENAI_CHAT_STREAM = _sse(
    [
        (None, _chat_chunk({"role": "assistant", "content": "", "refusal": None})),
        *[(None, _chat_chunk({"content": word})) for word in TEXT.split()],
        (None, _chat_chunk({}, "stop")),
        (
            None,
            {
                "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
                "object": "chat.completion.chunk",
                "created": 1727000000,
                "model": "gpt-4o-mini-2024-07-18",
                "system_fingerprint": "fp_f85bea6784",
                "choices": [],
                "usage": {
                    "prompt_tokens": 19,
                    "completion_tokens": 10,
                    "total_tokens": 29,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                    "completion_tokens_details": {
                        "reasoning_tokens": 0,
                        "audio_tokens": 0,
                        "accepted_prediction_tokens": 0,
                        "rejected_prediction_tokens": 0,
                    },
                },
            },
        ),
        (None, "[DONE]"),
    ]
)

OPENAI_CHAT_JSON = json.dumps(
    {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1677652288,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": TEXT, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 12,
            "total_tokens": 21,
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    },
    indent=2,
    ensure_ascii=False,
).encode()

GROQ_STREAM_TAIL = _sse(
    [
        (None, _chat_chunk({"content": "hi"})),
        (
            None,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "x_groq": {
                    "id": "req_01",
                    "usage": {
                        "queue_time": 0.02,
                        "prompt_tokens": 40,
                        "prompt_time": 0.003,
                        "completion_tokens": 7,
                        "completion_time": 0.01,
                        "total_tokens": 47,
                    },
                },
            },
        ),
        (None, "[DONE]"),
    ]
)


def _response(status: str, usage: object) -> dict[str, object]:
    return {
        "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
        "object": "response",
        "created_at": 1741476542,
        "status": status,
        "error": None,
        "model": "gpt-4.1-2025-04-14",
        "output": []
        if status != "completed"
        else [
            {
                "type": "message",
                "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e6",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": TEXT, "annotations": []}],
            }
        ],
        "usage": usage,
        "metadata": {},
    }


RESPONSES_USAGE = {
    "input_tokens": 36,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 87,
    "output_tokens_details": {"reasoning_tokens": 64},
    "total_tokens": 123,
}

OPENAI_RESPONSES_STREAM = _sse(
    [
        (
            "response.created",
            {
                "type": "response.created",
                "sequence_number": 0,
                "response": _response("in_progress", None),
            },
        ),
        *[
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "sequence_number": i + 1,
                    "item_id": "msg_67ccd2bf17f0819081ff3bb2cf6508e6",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": word,
                    "logprobs": [],
                },
            )
            for i, word in enumerate(TEXT.split())
        ],
        (
            "response.completed",
            {
                "type": "response.completed",
                "sequence_number": 20,
                "response": _response("completed", RESPONSES_USAGE),
            },
        ),
    ]
)

OPENAI_RESPONSES_JSON = json.dumps(_response("completed", RESPONSES_USAGE)).encode()

ANTHROPIC_STREAM = _sse(
    [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 472,
                        "cache_creation_input_tokens": 100,
                        "cache_read_input_tokens": 2048,
                        "output_tokens": 2,
                        "service_tier": "standard",
                    },
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        *[
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": word + " "},
                },
            )
            for word in TEXT.split()
        ],
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 15},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
)

ANTHROPIC_JSON = json.dumps(
    {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 2095,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 5,
            "output_tokens": 503,
        },
    }
).encode()


def _gemini_chunk(text: str, candidates: int, thoughts: int | None = None) -> dict[str, object]:
    usage: dict[str, object] = {
        "promptTokenCount": 9,
        "candidatesTokenCount": candidates,
        "totalTokenCount": 9 + candidates + (thoughts or 0),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
    }
    if thoughts is not None:
        usage["thoughtsTokenCount"] = thoughts
    return {
        "candidates": [
            {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0},
        ],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "Ud3QaLnsFq2nz7IPvcGn-Qs",
    }


GEMINI_CHUNKS = [
    _gemini_chunk("Héllo", 1),
    _gemini_chunk(" — 日本語", 5),
    _gemini_chunk(" 🎉", 42, thoughts=120),
]
# alt=sse: one event per chunk, CRLF line ends (as Google sends them)
GEMINI_SSE = b"".join(
    b"data: " + json.dumps(c, ensure_ascii=False).encode() + b"\r\n\r\n" for c in GEMINI_CHUNKS
)
GEMINI_JSON = json.dumps(GEMINI_CHUNKS[-1], indent=2, ensure_ascii=False).encode()
# streamGenerateContent without alt=sse: a JSON array of chunks
GEMINI_ARRAY = ("[" + ",\r\n".join(json.dumps(c, indent=2) for c in GEMINI_CHUNKS) + "]").encode()


def _ollama_line(content: str, done: bool = False) -> dict[str, object]:
    line: dict[str, object] = {
        "model": "llama3.2",
        "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        line.update(
            done_reason="stop",
            total_duration=4883583458,
            load_duration=1334875,
            prompt_eval_count=26,
            prompt_eval_duration=342546000,
            eval_count=282,
            eval_duration=4535599000,
        )
    return line


OLLAMA_NDJSON = b"".join(
    json.dumps(line, ensure_ascii=False).encode() + b"\n"
    for line in [*[_ollama_line(w) for w in TEXT.split()], _ollama_line("", done=True)]
)
OLLAMA_JSON = json.dumps(_ollama_line(TEXT, done=True)).encode()

SSE = "text/event-stream; charset=utf-8"
JSON = "application/json"
NDJSON = "application/x-ndjson"

BODIES = {
    "openai-chat-stream": (SSE, OPENAI_CHAT_STREAM, (19, 10)),
    "openai-chat-json": (JSON, OPENAI_CHAT_JSON, (9, 12)),
    "groq-x_groq-stream": (SSE, GROQ_STREAM_TAIL, (40, 7)),
    "openai-responses-stream": (SSE, OPENAI_RESPONSES_STREAM, (36, 87)),
    "openai-responses-json": (JSON, OPENAI_RESPONSES_JSON, (36, 87)),
    "anthropic-stream": (SSE, ANTHROPIC_STREAM, (472 + 100 + 2048, 15)),
    "anthropic-json": (JSON, ANTHROPIC_JSON, (2100, 503)),
    "gemini-sse": ("text/event-stream", GEMINI_SSE, (9, 42 + 120)),
    "gemini-json": ("application/json; charset=UTF-8", GEMINI_JSON, (9, 162)),
    "gemini-array": ("application/json; charset=UTF-8", GEMINI_ARRAY, (9, 162)),
    "ollama-ndjson": (NDJSON, OLLAMA_NDJSON, (26, 282)),
    "ollama-json": ("application/json; charset=utf-8", OLLAMA_JSON, (26, 282)),
}


def _meter(content_type: str, chunks: list[bytes]) -> tuple[int, int]:
    meter = UsageMeter(content_type)
    for chunk in chunks:
        meter.feed(chunk)
    return meter.finish()


def _random_chunks(body: bytes, seed: int, largest: int = 64) -> list[bytes]:
    rng = random.Random(seed)
    chunks, pos = [], 0
    while pos < len(body):
        size = rng.randint(1, largest)
        chunks.append(body[pos : pos + size])
        pos += size
    return chunks


def _crlf(body: bytes) -> bytes:
    return body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# -- metering ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BODIES))
def test_meter_reads_each_provider_shape_whatever_the_chunking(name: str) -> None:
    content_type, body, expected = BODIES[name]
    assert _meter(content_type, [body]) == expected
    assert _meter(content_type, [body[i : i + 1] for i in range(len(body))]) == expected
    for seed in range(20):
        assert _meter(content_type, _random_chunks(body, seed)) == expected, seed


@pytest.mark.parametrize("name", sorted(n for n in BODIES if BODIES[n][0] != JSON))
def test_meter_reads_streams_with_crlf_and_bare_cr_line_ends(name: str) -> None:
    content_type, body, expected = BODIES[name]
    crlf = _crlf(body)
    cr = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    for variant in (crlf, cr):
        assert _meter(content_type, [variant]) == expected
        assert _meter(content_type, [variant[i : i + 1] for i in range(len(variant))]) == expected
        for seed in range(10):
            assert _meter(content_type, _random_chunks(variant, seed, 16)) == expected


def test_meter_splits_inside_multibyte_characters_and_crlf() -> None:
    body = _crlf(ANTHROPIC_STREAM)
    emoji = body.index("🎉".encode())
    crlf = body.index(b"\r\n")
    usage = body.rindex(b"usage")
    for cut in (emoji + 1, emoji + 2, emoji + 3, crlf + 1, usage + 2):
        assert _meter(SSE, [body[:cut], body[cut:]]) == (2620, 15), cut


def test_meter_reads_the_last_event_without_a_final_blank_line() -> None:
    body = OPENAI_CHAT_STREAM.replace(b"\n\ndata: [DONE]\n\n", b"")
    assert body.endswith(b"}")
    assert _meter(SSE, [body]) == (19, 10)
    assert _meter(NDJSON, [OLLAMA_NDJSON.rstrip(b"\n")]) == (26, 282)


def test_meter_joins_multi_line_sse_data() -> None:
    usage = {"type": "message_delta", "usage": {"output_tokens": 33, "input_tokens": 4}}
    lines = json.dumps(usage, indent=1).split("\n")
    body = ("event: message_delta\n" + "".join(f"data: {ln}\n" for ln in lines) + "\n").encode()
    assert _meter(SSE, [body]) == (4, 33)
    assert _meter(SSE, [body[i : i + 1] for i in range(len(body))]) == (4, 33)


def test_meter_skips_garbage_done_and_non_json_and_keeps_going() -> None:
    garbage = (
        b": keep-alive comment\n\n"
        b"data: [DONE]\n\n"
        b"data: usage is not json {\n\n"
        b'data: {"usage": {"prompt_tokens": "many", "completion_tokens": -3}}\n\n'
        b'data: {"usage": {"prompt_tokens": true, "completion_tokens": null}}\n\n'
        b'data: ["usage"]\n\n'
        b"data: " + b"[" * 100_000 + b'"usage"\n\n'
        b"data: \xff\xfe usage \xc3\n\n"
        b"retry: 3000\nid: 7\n\n"
        b"\x00\x01\x02 binary usage noise\n\n"
    )
    body = garbage + OPENAI_CHAT_STREAM + garbage
    assert _meter(SSE, [body]) == (19, 10)
    assert _meter(SSE, _random_chunks(body, 1, 4096)) == (19, 10)
    assert _meter(NDJSON, [b"not json usage\n{]usage\n" + OLLAMA_NDJSON + b"\xff\n"]) == (26, 282)
    assert _meter(JSON, [b'{"usage": {"prompt_tokens": 5']) == (0, 0)
    assert _meter(JSON, [b""]) == (0, 0)


def test_meter_drops_oversized_lines_and_keeps_going() -> None:
    huge = {"usage": {"prompt_tokens": 10**9, "completion_tokens": 10**9}, "pad": "x" * MAX_LINE}
    oversized = b"data: " + json.dumps(huge).encode() + b"\n\n"
    body = oversized + OPENAI_CHAT_STREAM + oversized
    for chunks in ([body], _random_chunks(body, 2, 65536), _random_chunks(body, 3, 1024)):
        assert _meter(SSE, chunks) == (19, 10)
    line = json.dumps({"prompt_eval_count": 10**9, "eval_count": 1, "pad": "y" * MAX_LINE})
    ndjson = line.encode() + b"\n" + OLLAMA_NDJSON
    assert _meter(NDJSON, [ndjson]) == (26, 282)
    assert _meter(NDJSON, _random_chunks(ndjson, 4, 65536)) == (26, 282)
    # a line that never ends is dropped too, and memory stays bounded
    meter = UsageMeter(NDJSON)
    for _ in range(300):
        meter.feed(b"usage" * 2000)
    assert meter.finish() == (0, 0)


def test_meter_reads_the_tail_of_a_json_body_too_large_to_buffer() -> None:
    big = {
        "id": "chatcmpl-9",
        "choices": [{"message": {"content": 'say "usage": {} ' * (MAX_DOCUMENT // 12)}}],
        "usage": {"prompt_tokens": 1234, "completion_tokens": 5678},
    }
    body = json.dumps(big).encode()
    assert len(body) > MAX_DOCUMENT
    assert _meter(JSON, _random_chunks(body, 5, 65536)) == (1234, 5678)
    array = "[" + ",".join([json.dumps(GEMINI_CHUNKS[0])] * 40000) + ","
    gem = (array + json.dumps(GEMINI_CHUNKS[-1]) + "]").encode()
    assert len(gem) > MAX_DOCUMENT
    assert _meter(JSON, _random_chunks(gem, 6, 65536)) == (9, 162)


def test_meter_falls_back_to_lines_when_the_content_type_is_wrong() -> None:
    assert _meter(JSON, [OLLAMA_NDJSON]) == (26, 282)
    assert _meter("text/plain", [ANTHROPIC_STREAM]) == (2620, 15)
    assert _meter("", [OPENAI_CHAT_JSON]) == (9, 12)


def test_meter_ignores_binary_bodies_and_feeds_after_finish() -> None:
    meter = UsageMeter("audio/mpeg")
    meter.feed(OPENAI_CHAT_JSON)
    assert meter.finish() == (0, 0)
    meter = UsageMeter(SSE)
    meter.feed(OPENAI_CHAT_STREAM)
    assert meter.finish() == (19, 10)
    meter.feed(b'data: {"usage": {"prompt_tokens": 99}}\n\n')
    assert meter.finish() == (19, 10)


def test_meter_takes_the_largest_cumulative_count() -> None:
    events = [{"type": "message_delta", "usage": {"output_tokens": n}} for n in (5, 9, 7, 30, 12)]
    assert _meter(SSE, [_sse([("message_delta", e) for e in events])]) == (0, 30)


def test_meter_is_fast_on_long_streams() -> None:
    filler = _chat_chunk({"content": "lorem ipsum dolor sit amet " * 3})
    del filler["usage"]
    event = _sse([(None, filler)])
    body = event * (1_000_000 // len(event)) + OPENAI_CHAT_STREAM
    chunks = [body[i : i + 1024] for i in range(0, len(body), 1024)]
    best = min(_timed(SSE, chunks) for _ in range(5))
    assert best < 0.05, f"{best * 1000:.1f} ms for {len(body)} bytes"
    # with stream_options.include_usage every chunk says "usage": null: still skipped
    nulls = event.replace(b'"finish_reason": null}]', b'"finish_reason": null}], "usage": null')
    assert b'"usage": null' in nulls
    body = nulls * (1_000_000 // len(nulls)) + OPENAI_CHAT_STREAM
    chunks = [body[i : i + 1024] for i in range(0, len(body), 1024)]
    best = min(_timed(SSE, chunks) for _ in range(5))
    assert best < 0.05, f"{best * 1000:.1f} ms for {len(body)} bytes"


def _timed(content_type: str, chunks: list[bytes]) -> float:
    start = time.perf_counter()
    result = _meter(content_type, chunks)
    elapsed = time.perf_counter() - start
    assert result == (19, 10)
    return elapsed


def _filler(size: int) -> bytes:
    """``size`` bytes (or a little less) of usage-free chat-completion-chunk events."""
    chunk = _chat_chunk({"content": "lorem ipsum dolor sit amet " * 30})
    del chunk["usage"]
    event = _sse([(None, chunk)])
    return event * (size // len(event))


def test_meter_finds_usage_anywhere_in_a_big_chunk() -> None:
    filler = _filler(512 * 1024)
    half = filler[: len(filler) // 2]
    half = half[: half.rindex(b"\n\n") + 2]
    start = ANTHROPIC_STREAM.index(b"\n\n") + 2  # after message_start (input tokens)
    cases = {
        "usage at the end": (filler + OPENAI_CHAT_STREAM, (19, 10)),
        "usage at the start": (OPENAI_CHAT_STREAM + filler, (19, 10)),
        "usage in the middle": (half + GROQ_STREAM_TAIL + half, (40, 7)),
        "usage at both ends": (
            ANTHROPIC_STREAM[:start] + filler + ANTHROPIC_STREAM[start:],
            (2620, 15),
        ),
        "no usage": (filler, (0, 0)),
    }
    for name, (body, expected) in cases.items():
        assert len(body) > 500_000
        assert _meter(SSE, [body]) == expected, name
        assert _meter(SSE, [_crlf(body)]) == expected, name
        for seed in range(3):
            assert _meter(SSE, _random_chunks(body, seed, 256 * 1024)) == expected, (name, seed)


def test_meter_skips_null_usage_events_and_reads_the_real_ones() -> None:
    # OpenAI with stream_options.include_usage: "usage": null in every chunk but the last
    compact = json.dumps(_chat_chunk({"content": "word"}), separators=(",", ":"))
    spaced = json.dumps(_chat_chunk({"content": "usage of words"}))
    assert '"usage":null' in compact
    assert '"usage": null' in spaced
    nulls = _sse([(None, compact), (None, spaced)]) * 2000
    assert _meter(SSE, [nulls]) == (0, 0)
    for body in (nulls + OPENAI_CHAT_STREAM, OPENAI_CHAT_STREAM + nulls):
        assert _meter(SSE, [body]) == (19, 10)
        assert _meter(SSE, _random_chunks(body, 7, 100_000)) == (19, 10)
    # "usage": null next to a real usage in the same event (Groq's x_groq)
    both: dict[str, object] = {
        "choices": [],
        "usage": None,
        "x_groq": {"usage": {"prompt_tokens": 3}},
    }
    assert _meter(SSE, [nulls + _sse([(None, both)]) + nulls]) == (3, 0)
    # the Responses API: null usage while in progress, real usage when completed
    assert _meter(SSE, [nulls + OPENAI_RESPONSES_STREAM]) == (36, 87)


def test_meter_reads_eval_count_in_ndjson_only() -> None:
    line = json.dumps(_ollama_line("usage of words")).encode() + b"\n"
    body = line * 5000 + OLLAMA_NDJSON + line * 10
    assert _meter(NDJSON, [body]) == (26, 282)
    assert _meter(NDJSON, _random_chunks(body, 8, 200_000)) == (26, 282)
    # Ollama's counts come as NDJSON (or one JSON document); SSE carries "usage"
    event = _sse([(None, _ollama_line("", done=True))])
    assert _meter(SSE, [event]) == (0, 0)
    assert _meter(JSON, [OLLAMA_JSON]) == (26, 282)


def test_meter_costs_about_the_same_whether_a_big_chunk_holds_usage_or_not() -> None:
    filler = _filler(512 * 1024)
    plain = [filler] * 16
    with_usage = [filler + OPENAI_CHAT_STREAM] * 16  # every chunk ends with the usage event

    def cost(chunks: list[bytes]) -> float:
        start = time.process_time()  # CPU time: what other processes do costs nothing
        _meter(SSE, chunks)
        return time.process_time() - start

    assert _meter(SSE, with_usage) == (19, 10)
    runs = [(cost(plain), cost(with_usage)) for _ in range(9)]  # interleaved: same load
    without, with_ = min(r[0] for r in runs), min(r[1] for r in runs)
    assert with_ < 1.5 * without + 0.001, f"{with_ * 1000:.1f} ms vs {without * 1000:.1f} ms"


def _padded(body: bytes, size: int) -> bytes:
    """``body`` (a JSON document) grown past ``size`` bytes before its usage."""
    value = json.loads(body)
    if isinstance(value, list):  # Gemini's array of chunks: many earlier chunks
        first = json.dumps(value[0], ensure_ascii=False)
        count = size // len(first) + 1
        return ("[" + ",".join([first] * count + [json.dumps(v) for v in value]) + "]").encode()
    # text that quotes usage keys (escaped in JSON, so not keys) comes first
    pad = TEXT + ' say "usage": {"prompt_tokens": 999999} and "eval_count": 999999. '
    padded = {"padding": pad * (size // len(pad) + 1), **value}
    return json.dumps(padded, ensure_ascii=False, indent=1).encode()


@pytest.mark.parametrize("name", sorted(n for n in BODIES if BODIES[n][0].startswith(JSON)))
def test_meter_reads_large_json_answers_from_their_tail(name: str) -> None:
    content_type, body, expected = BODIES[name]
    for size in (MAX_DOCUMENT, 3 * 1024 * 1024):
        big = _padded(body, size)
        assert len(big) > size
        assert _meter(content_type, [big]) == expected, size
        assert _meter(content_type, _random_chunks(big, 9, 65536)) == expected, size


def test_meter_reads_large_streams_sent_as_json_from_their_tail() -> None:
    nulls = _sse([(None, _chat_chunk({"content": "word"}))]) * 2000
    assert len(nulls) > MAX_DOCUMENT
    assert _meter(JSON, [nulls + OPENAI_CHAT_STREAM]) == (19, 10)
    lines = json.dumps(_ollama_line("usage of words")).encode() + b"\n"
    assert _meter(JSON, [lines * 3000 + OLLAMA_NDJSON]) == (26, 282)


def test_meter_finishes_a_large_json_answer_quickly() -> None:
    # an embeddings answer of 6 MB: parsed whole, it held the event loop ~130 ms
    vector = [0.0123456789] * 1536
    vectors = [{"object": "embedding", "index": i, "embedding": vector} for i in range(300)]
    answer: dict[str, object] = {
        "object": "list",
        "data": vectors,
        "model": "text-embedding-3-small",
    }
    answer["usage"] = {"prompt_tokens": 1234, "total_tokens": 1234}
    body = json.dumps(answer).encode()
    assert len(body) > 6_000_000
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    times = []
    for _ in range(3):
        meter = UsageMeter(JSON)
        for chunk in chunks:
            meter.feed(chunk)
        start = time.perf_counter()
        assert meter.finish() == (1234, 0)
        times.append(time.perf_counter() - start)
    assert min(times) < 0.02, f"{min(times) * 1000:.1f} ms"


# -- network policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.255", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),
        ("198.18.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fd00:ec2::254", "cloud metadata"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::127.0.0.1", "loopback"),
        ("::ffff:0:192.168.0.1", "private"),
        ("64:ff9b::10.0.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::", "loopback"),
        ("2002:c0a8:101::1", "private"),
        ("2001:db8::1", "reserved"),
        ("100::1", "reserved"),
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::8.8.8.8", None),
        ("2002:808:808::1", None),
    ],
)
def test_blocked_reason(address: str, reason: str | None) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    ("url", "allow_private", "normalised"),
    [
        ("https://api.openai.com/v1", False, "https://api.openai.com/v1"),
        ("https://api.openai.com/v1/", False, "https://api.openai.com/v1"),
        ("  https://api.anthropic.com  ", False, "https://api.anthropic.com"),
        ("HTTPS://API.Example.COM:8443/v1//", False, "https://api.example.com:8443/v1"),
        ("http://8.8.8.8:11434", False, "http://8.8.8.8:11434"),
        ("http://[2606:4700::1111]/v1", False, "http://[2606:4700::1111]/v1"),
        ("https://bücher.example/v1", False, "https://xn--bcher-kva.example/v1"),
        ("http://127.0.0.1:11434/", True, "http://127.0.0.1:11434"),
        ("http://localhost:11434", True, "http://localhost:11434"),
        ("http://ollama.localhost:11434", True, "http://ollama.localhost:11434"),
        ("http://192.168.1.10:8080/v1", True, "http://192.168.1.10:8080/v1"),
        ("http://[::1]:8080", True, "http://[::1]:8080"),
        ("http://host.docker.internal:11434", False, "http://host.docker.internal:11434"),
    ],
)
def test_check_base_url_accepts(url: str, allow_private: bool, normalised: str) -> None:
    assert check_base_url(url, allow_private=allow_private) == normalised


@pytest.mark.parametrize(
    ("url", "allow_private", "message"),
    [
        ("", False, "is required"),
        ("ftp://files.example.com", False, "http:// or https://"),
        ("api.openai.com/v1", False, "http:// or https://"),
        ("javascript:alert(1)", False, "http:// or https://"),
        ("http://", False, "no host"),
        ("http:///v1", False, "no host"),
        ("https://user:pass@api.openai.com/v1", False, "user name or password"),
        ("https://@api.openai.com", False, "user name or password"),
        ("https://api.openai.com/v1#frag", False, "fragment"),
        ("https://api.openai.com/v1?key=1", False, "query"),
        ("https://api.openai.com:99999/v1", False, "valid URL"),
        ("https://api.openai.com:0/v1", False, "invalid port"),
        ("https://api.openai.com:abc/v1", False, "valid URL"),
        ("https://api.openai.com /v1", False, "spaces"),
        ("https://evil.example\\@api.openai.com", False, "backslashes"),
        ("http://127.0.0.1:11434", False, "private address (loopback); allow it explicitly"),
        ("http://10.0.0.5", False, "private address (private)"),
        ("http://[::1]:8080", False, "(loopback)"),
        ("http://[::ffff:127.0.0.1]/", False, "(loopback)"),
        ("http://[fd00::1]/", False, "(unique local)"),
        ("http://100.64.1.1/", False, "(carrier-grade NAT)"),
        ("http://localhost:11434", False, "private host (loopback)"),
        ("http://LOCALHOST.:11434", False, "private host (loopback)"),
        ("http://api.localhost/", False, "private host (loopback)"),
        ("http://metadata.google.internal/", False, "cloud metadata host"),
        ("http://metadata.google.internal/", True, "never allowed"),
        ("http://169.254.169.254/latest", False, "cloud metadata address"),
        ("http://169.254.169.254/latest", True, "never allowed"),
        ("http://[fd00:ec2::254]/", True, "never allowed"),
        ("http://2130706433/", True, "not a canonical IPv4 address"),
        ("http://127.1/", True, "not a canonical IPv4 address"),
        ("http://0x7f.0.0.1/", True, "not a canonical IPv4 address"),
        ("http://017700000001/", True, "not a canonical IPv4 address"),
        ("http://[fe80::1%25eth0]/", True, "IPv6 zone"),
        ("http://%6c%6fcalhost/", True, "percent-escapes"),
        ("http://①②⑦.0.0.1/", False, "host 127.0.0.1 is a private address (loopback)"),
    ],
)
def test_check_base_url_refuses(url: str, allow_private: bool, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_base_url(url, allow_private=allow_private, field="providers.ollama.base_url")
    assert caught.value.field == "providers.ollama.base_url"
    assert caught.value.message.startswith("providers.ollama.base_url ")
    assert message in caught.value.message


def test_check_base_url_default_field_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_base_url("http://127.0.0.1", allow_private=False)
    assert caught.value.field == "base_url"


def test_pinned_resolver_refuses_a_name_resolving_to_loopback() -> None:
    async def run() -> None:
        resolver = PinnedResolver(allow_private=False)
        for host in ("localhost", "127.0.0.1", "localhost."):
            with pytest.raises(OSError, match=rf"refusing to connect to {host}.*loopback"):
                await resolver.resolve(host, 80, socket.AF_UNSPEC)
        with pytest.raises(OSError, match="cloud metadata"):
            await PinnedResolver(allow_private=True).resolve(
                "169.254.169.254", 80, socket.AF_UNSPEC
            )
        allowed = PinnedResolver(allow_private=True)
        results = await allowed.resolve("localhost", 80, socket.AF_UNSPEC)
        assert results
        for result in results:
            assert ipaddress.ip_address(result["host"]).is_loopback
            assert result["port"] == 80
        await resolver.close()
        await allowed.close()

    asyncio.run(run())


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def _serve() -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_get("/", _hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


def test_session_refuses_loopback_unless_allowed() -> None:
    async def run() -> None:
        runner, port = await _serve()
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with make_session(allow_private=False, timeout=timeout) as session:
                for host in ("127.0.0.1", "localhost"):
                    with pytest.raises(aiohttp.ClientConnectorError) as caught:
                        await session.get(f"http://{host}:{port}/")
                    assert "loopback" in str(caught.value)
            async with make_session(allow_private=True, timeout=timeout) as session:
                for host in ("127.0.0.1", "localhost"):
                    async with session.get(f"http://{host}:{port}/") as response:
                        assert response.status == 200
                        assert await response.text() == "hello"
                # metadata is refused before any packet is sent, even when allowed
                with pytest.raises(aiohttp.ClientConnectorError, match="cloud metadata"):
                    await session.get("http://169.254.169.254/latest/meta-data/")
        finally:
            await runner.cleanup()

    asyncio.run(run())


# -- scrubbing ---------------------------------------------------------------------------

KEY = "sk-proj-Q7x2vLm9Rt4Kp0aB8cD3eF6gH1jN5sW_zY-UiOo"
GOOGLE_KEY = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"


def _stream(scrubber: Scrubber, chunks: list[bytes]) -> bytes:
    return b"".join(scrubber.feed(c) for c in chunks) + scrubber.flush()


def _cuts(size: int, rng: random.Random, count: int) -> list[int]:
    return sorted(rng.sample(range(1, size), min(count, size - 1)))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    return [data[a:b] for a, b in pairwise([0, *cuts, len(data)])]


def _expected(data: bytes, secrets: list[str], cuts: list[int]) -> bytes:
    """What the stream shows: like scrub(), but a key cut within its first HOLD_FROM - 1
    bytes keeps those public bytes (up to the last such cut) before the redaction."""
    out, pos = [], 0
    starts = sorted((i, len(s)) for s in secrets for i in _all(data, s.encode()))
    for start, size in starts:
        out.append(data[pos:start])
        early = [c for c in cuts if start < c < start + HOLD_FROM]
        if early:
            out.append(data[start : max(early)])
        out.append(REDACTED)
        pos = start + size
    out.append(data[pos:])
    return b"".join(out)


def _all(data: bytes, needle: bytes) -> Iterator[int]:
    i = data.find(needle)
    while i >= 0:
        yield i
        i = data.find(needle, i + len(needle))


def test_scrub_whole_body() -> None:
    body = f'{{"error": "bad key {KEY}", "again": "{KEY}{KEY}"}}'.encode()
    assert scrub(body, [KEY]) == b'{"error": "bad key [redacted]", "again": "[redacted][redacted]"}'
    assert scrub(body, []) is body
    assert scrub(b"short abc", ["abc"]) == b"short abc"  # under HOLD_FROM bytes: not a key


def test_scrubber_key_in_one_chunk() -> None:
    scrubber = Scrubber([KEY])
    assert scrubber.feed(f"before {KEY} after".encode()) == b"before [redacted] after"
    assert scrubber.flush() == b""


def test_scrubber_key_split_at_every_position() -> None:
    data = f'data: {{"error": "invalid key {KEY}"}}\n\n'.encode()
    start = data.index(KEY.encode())
    for cut in range(len(data) + 1):
        scrubber = Scrubber([KEY])
        out = _stream(scrubber, [data[:cut], data[cut:]])
        if start < cut < start + HOLD_FROM:
            assert out == data[:cut] + REDACTED + data[start + len(KEY) :], cut
        else:
            assert out == scrub(data, [KEY]), cut
        for i in range(len(KEY) - HOLD_FROM + 1):
            assert KEY[i : i + HOLD_FROM].encode() not in out, cut


def test_scrubber_holds_only_what_may_be_a_key_and_only_until_the_next_chunk() -> None:
    scrubber = Scrubber([KEY])
    assert scrubber.feed(b"a " + KEY[:20].encode()) == b"a "
    assert scrubber.feed(KEY[20:].encode()) == REDACTED  # the key completed: sent at once
    assert scrubber.flush() == b""
    # a prefix that does not complete is released unchanged with the next chunk
    scrubber = Scrubber([KEY])
    assert scrubber.feed(b"x " + KEY[:12].encode()) == b"x "
    assert scrubber.feed(b"Z and more") == KEY[:12].encode() + b"Z and more"
    assert scrubber.flush() == b""
    # ... or at the end of the stream
    scrubber = Scrubber([KEY])
    assert scrubber.feed(KEY[:30].encode()) == b""
    assert scrubber.flush() == KEY[:30].encode()


def test_scrubber_key_at_the_very_end_of_the_stream() -> None:
    scrubber = Scrubber([KEY])
    data = b"tail: " + KEY.encode()
    assert _stream(scrubber, [data[:3], data[3:20], data[20:]]) == b"tail: [redacted]"
    scrubber = Scrubber([KEY])
    assert scrubber.feed(data) == b"tail: [redacted]"
    assert scrubber.flush() == b""


def test_scrubber_passes_clean_chunks_and_short_prefixes_through_untouched() -> None:
    scrubber = Scrubber([KEY])
    chunk = b"data: hello\n\n"
    assert scrubber.feed(chunk) is chunk
    chunks = [b"the sk", b"-proj", b" prefix ", b"ends sk-proj"]
    assert [scrubber.feed(c) for c in chunks] == chunks
    assert scrubber.flush() == b""
    scrubber = Scrubber([KEY])
    chunk = b"ends with seven: " + KEY[: HOLD_FROM - 1].encode()
    assert scrubber.feed(chunk) is chunk
    # the rest of that key, when it comes, is still redacted
    assert scrubber.feed(KEY[HOLD_FROM - 1 :].encode() + b"!") == REDACTED + b"!"
    assert scrubber.flush() == b""
    # a byte-by-byte key shows at most its first HOLD_FROM - 1 bytes
    scrubber = Scrubber([KEY])
    out = _stream(scrubber, [bytes([b]) for b in b"k=" + KEY.encode() + b";"])
    assert out == b"k=" + KEY[: HOLD_FROM - 1].encode() + REDACTED + b";"


def test_scrubber_multiple_secrets() -> None:
    secrets = [KEY, GOOGLE_KEY, "x", ""]
    data = f"{GOOGLE_KEY} and {KEY}{GOOGLE_KEY}.".encode()
    assert scrub(data, secrets) == b"[redacted] and [redacted][redacted]."
    for cut in range(len(data) + 1):
        out = _stream(Scrubber(secrets), [data[:cut], data[cut:]])
        assert out == _expected(data, [KEY, GOOGLE_KEY], [cut]), cut
    # when one secret begins another, the longer one wins, streaming or not
    short, long = "abcdefgh12", "abcdefgh1234"
    data = b"<abcdefgh1234><abcdefgh12><abcdefgh123>"
    whole = scrub(data, [short, long])
    assert whole == b"<[redacted]><[redacted]><[redacted]3>"
    starts = list(_all(data, b"abcdefgh"))
    for cut in range(len(data) + 1):
        for a, b in ((cut, cut), (cut, min(cut + 9, len(data)))):
            chunks = [data[:a], data[a:b], data[b:]]
            out = _stream(Scrubber([short, long]), chunks)
            if not any(s < c < s + HOLD_FROM for s in starts for c in (a, b)):
                assert out == whole, (a, b)
            assert b"abcdefgh" not in out
    # held because it may grow into the longer secret, then redacted at the end
    scrubber = Scrubber([short, long])
    assert scrubber.feed(b"x abcdefgh12") == b"x "
    assert scrubber.flush() == REDACTED


def test_scrubber_json_escaped_slash() -> None:
    secret = "AKIAabcd/efgh+ijkl/mnop"
    body = b'{"k": "AKIAabcd\\/efgh+ijkl\\/mnop", "raw": "AKIAabcd/efgh+ijkl/mnop"}'
    assert scrub(body, [secret]) == b'{"k": "[redacted]", "raw": "[redacted]"}'
    assert _stream(Scrubber([secret]), _split(body, [4, 30])) == scrub(body, [secret])


def test_scrubber_random_splits_match_the_whole_body_rules() -> None:
    rng = random.Random(20240601)
    secrets = [KEY, GOOGLE_KEY]
    for _ in range(300):
        words = [
            rng.choice(
                [KEY, GOOGLE_KEY, "the", "sk", "s", "k", "AIza", "proj", "data:", "\n\n", " "]
            )
            for _ in range(rng.randint(1, 40))
        ]
        data = "".join(words).encode()
        if len(data) < 2:
            continue
        cuts = _cuts(len(data), rng, rng.randint(1, 30))
        out = _stream(Scrubber(secrets), _split(data, cuts))
        assert out == _expected(data, secrets, cuts), (data, cuts)
        early = any(
            s < c < s + HOLD_FROM for k in secrets for s in _all(data, k.encode()) for c in cuts
        )
        if not early:
            assert out == scrub(data, secrets)


def test_scrubber_without_secrets_is_a_no_op() -> None:
    scrubber = Scrubber([])
    chunk = b"anything"
    assert scrubber.feed(chunk) is chunk
    assert scrubber.flush() == b""


def test_scrubbers_for_the_same_key_share_what_they_build_and_forget_it() -> None:
    key = "sk-proj-" + "A1b2C3d4E5/" * 15  # a long key with a slash (two variants)
    # The baseline, measured in the same run (so a loaded machine slows both): scrubbers
    # of 40 different keys, each built from nothing.
    scrub_module.forget()
    start = time.perf_counter()
    for n in range(40):
        Scrubber([f"{key}{n:03d}"])
    unshared = time.perf_counter() - start
    start = time.perf_counter()
    scrubbers = [Scrubber([key]) for _ in range(1000)]  # one per response
    elapsed = time.perf_counter() - start
    assert elapsed < unshared, (
        f"{elapsed * 1000:.1f} ms for 1000 scrubbers of one key, "
        f"{unshared * 1000:.1f} ms for 40 of different keys"
    )
    body = b"key: " + key.replace("/", "\\/").encode() + b" and " + key.encode()
    assert _stream(scrubbers[0], [body]) == b"key: [redacted] and [redacted]"
    assert scrub(body, [key]) == b"key: [redacted] and [redacted]"
    assert scrubbers[0]._prefixes is scrubbers[-1]._prefixes
    scrub_module.forget()  # the keyring dropped its plaintext keys
    fresh = Scrubber([key])
    assert fresh._prefixes is not scrubbers[0]._prefixes
    assert _stream(fresh, [body]) == b"key: [redacted] and [redacted]"
