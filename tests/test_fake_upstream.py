"""The fake provider upstream itself: each wire format, the knobs, the bookkeeping."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import BODY_KEEP, REPLY, FakeUpstream
from tests.support.sse import Event, parse_sse
from tests.support.waiting import wait_for


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def events(client: httpx.Client, url: str, body: dict[str, Any], **kw: Any) -> list[Event]:
    with client.stream("POST", url, json=body, **kw) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        return [e for e in parse_sse(resp.iter_lines()) if isinstance(e, Event)]


def test_openai_chat_json_and_stream(fake: FakeUpstream, client: httpx.Client) -> None:
    url = fake.url + "/v1/chat/completions"
    auth = {"authorization": "Bearer sk-one"}
    body = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}
    got = client.post(url, json=body, headers=auth).json()
    assert got["object"] == "chat.completion"
    assert got["model"] == "gpt-x"
    assert got["choices"][0]["message"]["content"] == REPLY
    assert got["usage"]["prompt_tokens"] == 12
    assert got["usage"]["total_tokens"] == 19

    evs = events(client, url, {**body, "stream": True, "stream_options": {"include_usage": True}})
    assert evs[-1].data == "[DONE]"
    chunks = [json.loads(e.data) for e in evs[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == REPLY
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 7
    assert all(c["usage"] is None for c in chunks[:-1])

    plain = events(client, url, {**body, "stream": True})
    assert all("usage" not in json.loads(e.data) for e in plain[:-1])
    assert [s.key for s in fake.requests] == ["sk-one", None, None]
    assert fake.requests[0].json()["model"] == "gpt-x"
    wait_for(lambda: fake.completed_streams == 2, timeout=3)  # counted just after the end


def test_responses_json_and_stream(fake: FakeUpstream, client: httpx.Client) -> None:
    url = fake.url + "/v1/responses"
    got = client.post(url, json={"model": "gpt-r", "input": "hi"}).json()
    assert got["object"] == "response"
    assert got["output"][0]["content"][0]["text"] == REPLY
    assert got["usage"]["input_tokens"] == 12
    assert got["usage"]["output_tokens"] == 7

    evs = events(client, url, {"model": "gpt-r", "input": "hi", "stream": True})
    kinds = [e.event for e in evs]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    datas = [json.loads(e.data) for e in evs]
    assert [d["type"] for d in datas] == kinds
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    assert "".join(d["delta"] for d in datas if d["type"] == "response.output_text.delta") == REPLY
    assert datas[-1]["response"]["usage"]["output_tokens"] == 7


def test_anthropic_json_and_stream(fake: FakeUpstream, client: httpx.Client) -> None:
    url = fake.url + "/v1/messages"
    body = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    got = client.post(url, json=body, headers={"x-api-key": "ant-1"}).json()
    assert got["type"] == "message"
    assert got["content"] == [{"type": "text", "text": REPLY}]
    assert got["usage"]["input_tokens"] == 12
    assert fake.last is not None
    assert fake.last.key == "ant-1"

    evs = events(client, url, {**body, "stream": True})
    kinds = [e.event for e in evs]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    datas = [json.loads(e.data) for e in evs]
    assert datas[0]["message"]["usage"]["input_tokens"] == 12
    assert datas[-2]["usage"]["output_tokens"] == 7
    deltas = [d["delta"]["text"] for d in datas if d["type"] == "content_block_delta"]
    assert "".join(deltas) == REPLY
    assert len(deltas) == fake.chunks


def test_gemini_json_sse_and_array(fake: FakeUpstream, client: httpx.Client) -> None:
    base = fake.url + "/v1beta/models/gemini-x"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    got = client.post(base + ":generateContent", json=body).json()
    assert got["candidates"][0]["content"]["parts"][0]["text"] == REPLY
    assert got["usageMetadata"]["totalTokenCount"] == 19
    assert got["modelVersion"] == "gemini-x"

    evs = events(client, base + ":streamGenerateContent", body, params={"alt": "sse"})
    chunks = [json.loads(e.data) for e in evs]
    assert len(chunks) == fake.chunks
    assert all("usageMetadata" in c for c in chunks)
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == REPLY
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 7
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"

    array = client.post(base + ":streamGenerateContent", json=body).json()
    assert isinstance(array, list)
    assert [c["candidates"] for c in array] == [c["candidates"] for c in chunks]
    assert array[-1]["usageMetadata"] == chunks[-1]["usageMetadata"]


def test_ollama_ndjson_and_json(fake: FakeUpstream, client: httpx.Client) -> None:
    url = fake.url + "/api/chat"
    body = {"model": "llama-x", "messages": [{"role": "user", "content": "hi"}]}
    with client.stream("POST", url, json=body) as resp:
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in resp.iter_lines() if line]
    assert [line["done"] for line in lines] == [False] * fake.chunks + [True]
    assert "".join(line["message"]["content"] for line in lines) == REPLY
    assert lines[-1]["prompt_eval_count"] == 12
    assert lines[-1]["eval_count"] == 7

    one = client.post(url, json={**body, "stream": False}).json()
    assert one["done"] is True
    assert one["message"]["content"] == REPLY
    assert one["eval_count"] == 7


def test_unknown_path_is_404(fake: FakeUpstream, client: httpx.Client) -> None:
    resp = client.get(fake.url + "/v1/nowhere")
    assert resp.status_code == 404
    assert "error" in resp.json()
    assert client.get(fake.url + "/v1/chat/completions").status_code == 405


@pytest.mark.parametrize(
    ("path", "header", "value"),
    [
        ("/v1/chat/completions", "authorization", "Bearer {}"),
        ("/v1/responses", "authorization", "Bearer {}"),
        ("/v1/messages", "x-api-key", "{}"),
        ("/v1beta/models/g:generateContent", "x-goog-api-key", "{}"),
        ("/api/chat", "authorization", "Bearer {}"),
    ],
)
def test_auth_checks_the_providers_header(
    fake: FakeUpstream, client: httpx.Client, path: str, header: str, value: str
) -> None:
    fake.accept_keys = {"good-key"}
    url = fake.url + path
    body = {"model": "m", "stream": False}
    assert client.post(url, json=body, headers={header: value.format("good-key")}).is_success

    bad = client.post(url, json=body, headers={header: value.format("sk-wrong-123")})
    assert bad.status_code == 401
    assert "sk-wrong-123" in bad.text  # echoed, like OpenAI does

    assert client.post(url, json=body).status_code == 401
    other = "x-api-key" if header != "x-api-key" else "authorization"
    assert client.post(url, json=body, headers={other: "good-key"}).status_code == 401
    assert [s.key for s in fake.requests] == ["good-key", "sk-wrong-123", None, None]


def test_forced_status_per_key(fake: FakeUpstream, client: httpx.Client) -> None:
    fake.fail_with["k1"] = 429
    fake.fail_with["k2"] = 503
    url = fake.url + "/v1/chat/completions"

    def post(key: str) -> httpx.Response:
        return client.post(url, json={"model": "m"}, headers={"authorization": f"Bearer {key}"})

    limited = post("k1")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert post("k2").status_code == 503
    assert post("k3").status_code == 200
    fake.fail_with.clear()
    assert post("k1").status_code == 200


def test_redirect_is_not_followed_here(fake: FakeUpstream, client: httpx.Client) -> None:
    resp = client.post(fake.url + "/v1/redirect", json={})
    assert resp.status_code == 302
    assert resp.headers["location"] == fake.url + "/redirected"
    fake.redirect_to = "http://elsewhere.invalid/x"
    assert client.get(fake.url + "/redirect").headers["location"] == "http://elsewhere.invalid/x"


def test_echo_reports_what_arrived(fake: FakeUpstream, client: httpx.Client) -> None:
    body = b"\x00\xff" * (10 * 1024 * 1024)  # 20 MiB
    resp = client.post(
        fake.url + "/v1/echo/a%2Fb?x=1&y=%20z&x=2",
        content=body,
        headers=[("X-Thing", "one"), ("x-thing", "two"), ("content-type", "application/x")],
    )
    got = resp.json()
    assert got["method"] == "POST"
    assert got["path"] == "/v1/echo/a%2Fb"
    assert got["query"] == "x=1&y=%20z&x=2"
    assert got["body_length"] == len(body)
    assert got["body_sha256"] == hashlib.sha256(body).hexdigest()
    pairs = [tuple(p) for p in got["headers"]]
    assert ("X-Thing", "one") in pairs
    assert ("x-thing", "two") in pairs

    seen = fake.requests[-1]
    assert seen.endpoint == "echo"
    assert seen.body_length == len(body)
    assert len(seen.body) == BODY_KEEP
    assert seen.headers["x-thing"] == "one, two"
    assert seen.query == "x=1&y=%20z&x=2"
    fake.clear()
    assert fake.requests == []


def test_chunk_delay_spaces_the_deltas(fake: FakeUpstream, client: httpx.Client) -> None:
    fake.chunk_delay = 0.3
    fake.chunks = 2
    arrivals: list[float] = []
    start = time.monotonic()
    body = {"model": "m", "stream": True}
    with client.stream("POST", fake.url + "/v1/chat/completions", json=body) as resp:
        for line in resp.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic() - start)
    assert len(arrivals) == 2 + 3  # role, 2 deltas, finish, [DONE]
    assert arrivals[0] < 0.25
    assert 0.25 < arrivals[1] < 0.55
    assert arrivals[2] > 0.55


def test_disconnect_is_noticed(fake: FakeUpstream, client: httpx.Client) -> None:
    fake.chunk_delay = 0.5
    fake.chunks = 20
    body = {"model": "m", "stream": True}
    with client.stream("POST", fake.url + "/v1/chat/completions", json=body) as resp:
        next(resp.iter_raw())
        assert fake.open_streams == 1
    wait_for(lambda: fake.closed_early == 1 and fake.open_streams == 0, timeout=3)
    assert fake.completed_streams == 0


def test_stop_with_a_stream_in_flight_is_clean(client: httpx.Client) -> None:
    fake = FakeUpstream(chunk_delay=5, chunks=10).start()
    try:
        with client.stream("POST", fake.url + "/api/chat", json={"model": "m"}) as resp:
            assert resp.status_code == 200
            began = time.monotonic()
            fake.stop()
            assert time.monotonic() - began < 5
            with pytest.raises(httpx.HTTPError):
                resp.read()
    finally:
        fake.stop()
    assert fake.open_streams == 0
    assert fake.closed_early == 1

    fake.start()  # same port again
    try:
        assert client.post(fake.url + "/api/chat", json={"stream": False}).is_success
    finally:
        fake.stop()
