"""The keyring proxy end to end: a real ``botmaker keyring serve`` process, a real fake
provider upstream (aiohttp, in a thread), real HTTP in between, no mocks.

One keyring process and one fake upstream serve most tests (module scope); each test
uses its own bot ids, and tests that depend on which keys exist use a provider no
other test touches. Tests that need their own environment (body limit, a locked
keyring, rotation) start their own process.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmaker.errors import BotMakerError, InvalidInput
from botmaker.keyring.model import Budget, KeyInfo, KeyringLocked
from botmaker.keyring.netpolicy import blocked_reason
from tests.support.fake_upstream import REPLY, FakeUpstream
from tests.support.httpfake import JsonHandler
from tests.support.httpfake import ServerThread as HTTPServerThread
from tests.support.keyring import KeyringProcess
from tests.support.waiting import wait_for

#: The real provider keys of the shared keyring, one per provider of the auth-style tests.
REAL = {
    "openai": "sk-proj-REALopenai-0001aaaaaaaa",
    "xai": "xai-REALxai-0002bbbbbbbbbbbb",
    "anthropic": "sk-ant-api03-REALanthropic-0003cccc",
    "google": "AIzaSyREALgoogle-0004dddddddddd",
    "ollama": "ollama-REALollama-0005eeeeeeee",
}
#: Where each provider's requests go on the fake (its routes match the path's end).
PREFIX = {
    "openai": "/v1",
    "xai": "/v1",
    "anthropic": "",
    "google": "/v1beta",
    "ollama": "",
}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
KNOBS: dict[str, Callable[[], object]] = {
    "accept_keys": set,
    "fail_with": dict,
    "chunks": lambda: 3,
    "chunk_delay": lambda: 0.0,
    "delay": lambda: 0.0,
    "reply": lambda: REPLY,
    "input_tokens": lambda: 12,
    "output_tokens": lambda: 7,
    "redirect_to": lambda: None,
    "extra_headers": dict,
    "require_anthropic_version": lambda: False,
}


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _fresh_fake(fake: FakeUpstream) -> None:
    """Every test starts with the fake's default knobs and no recorded requests."""
    for name, default in KNOBS.items():
        setattr(fake, name, default())
    fake.clear()


@pytest.fixture(scope="module")
def kr(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyringProcess]:
    with KeyringProcess(tmp_path_factory.mktemp("keyring")) as process:
        for provider, prefix in PREFIX.items():
            process.admin.set_upstream(provider, fake.url + prefix, allow_private=True)
        yield process


@pytest.fixture(scope="module")
def keys(kr: KeyringProcess) -> dict[str, KeyInfo]:
    return {p: kr.admin.add_key(p, secret, label=f"{p} main") for p, secret in REAL.items()}


def new_bot(kr: KeyringProcess, *providers: str, **grant: Any) -> tuple[str, str]:
    bot_id = str(uuid.uuid4())
    token = kr.admin.put_bot(bot_id, providers=list(providers), **grant)
    assert token is not None
    return bot_id, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def use_fake(kr: KeyringProcess, fake: FakeUpstream, *providers: str) -> None:
    """Point OpenAI-compatible providers at the fake (chat completions under /v1)."""
    for provider in providers:
        kr.admin.set_upstream(provider, fake.url + "/v1", allow_private=True)


def usage(kr: KeyringProcess) -> dict[str, Any]:
    return kr.admin.usage(days=1)


def bot_today(kr: KeyringProcess, bot_id: str) -> dict[str, int]:
    today: dict[str, int] = usage(kr)["bots"][bot_id]["today"]
    return today


def key_today(kr: KeyringProcess, key_id: str) -> dict[str, int]:
    today: dict[str, int] = usage(kr)["keys"][key_id]["today"]
    return today


def wait_bot_usage(kr: KeyringProcess, bot_id: str, **expected: int) -> dict[str, int]:
    """The bot's usage today once it has the expected counters (usage is recorded async)."""

    def check() -> dict[str, int] | None:
        today = bot_today(kr, bot_id)
        return today if all(today[k] == v for k, v in expected.items()) else None

    try:
        return wait_for(check, timeout=5)
    except AssertionError:
        raise AssertionError(f"usage {bot_today(kr, bot_id)} is not {expected}") from None


def presented_keys(fake: FakeUpstream) -> list[str | None]:
    return [seen.key for seen in fake.requests]


def everything_seen(fake: FakeUpstream) -> str:
    """All the upstream saw of every request: method, path, query, headers and body."""
    parts = []
    for seen in fake.requests:
        parts += [seen.method, seen.path, seen.query, json.dumps(seen.headers)]
        parts.append(seen.body.decode("latin-1"))
    return "\n".join(parts)


def assert_token_hidden(fake: FakeUpstream, token: str) -> None:
    seen = everything_seen(fake)
    assert fake.requests
    assert token not in seen
    prefix, _, secret = token.split("_", 2)  # bk1_<id>_<secret>
    assert prefix == "bk1"
    assert len(secret) >= 20
    assert secret not in seen  # not even its secret part


def assert_key_hidden(response: httpx.Response, secret: str) -> None:
    assert secret not in response.text
    for name, value in response.headers.items():
        assert secret not in value, name


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(url: str, head: bytes, body: bytes = b"") -> RawResponse:
    """Send bytes exactly as given (no client normalising them); read one response."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        data = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        response.close()
    return RawResponse(response.status, headers, data)


def sse_data(text: str) -> list[Any]:
    return [
        json.loads(line[5:])
        for line in text.splitlines()
        if line.startswith("data:") and line[5:].strip() != "[DONE]"
    ]


# -- 1. every auth style -----------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    provider: str
    header: str | None  # where the real key travels upstream (None: nowhere)
    token_header: str  # where the bot's SDK puts its token
    endpoint: str  # the fake's name for the route

    def path(self, stream: bool) -> str:
        if self.provider == "openai":
            return "/chat/completions"
        if self.provider == "xai":
            return "/responses"
        if self.provider == "anthropic":
            return "/v1/messages"
        if self.provider == "google":
            verb = "streamGenerateContent?alt=sse" if stream else "generateContent"
            return f"/models/gemini-3.5-flash:{verb}"
        return "/api/chat"

    def body(self, stream: bool) -> dict[str, Any]:
        if self.provider == "openai":
            extra = {"stream_options": {"include_usage": True}} if stream else {}
            return {**CHAT, "stream": stream, **extra}
        if self.provider == "xai":
            return {"model": "grok-4.7", "input": "hi", "stream": stream}
        if self.provider == "anthropic":
            return {**CHAT, "max_tokens": 64, "stream": stream}
        if self.provider == "google":
            return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        return {**CHAT, "stream": stream}

    def token_headers(self, token: str) -> dict[str, str]:
        if self.token_header == "authorization":
            return bearer(token)
        return {self.token_header: token}


STYLES = [
    Style("openai", "authorization", "authorization", "openai"),
    Style("xai", "authorization", "authorization", "responses"),
    Style("anthropic", "x-api-key", "x-api-key", "anthropic"),
    Style("google", "x-goog-api-key", "x-goog-api-key", "gemini"),
    Style("ollama", None, "authorization", "ollama"),
]
CREDENTIALS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("style", STYLES, ids=[s.provider for s in STYLES])
def test_each_auth_style_injects_the_real_key_and_hides_both_secrets(
    kr: KeyringProcess,
    fake: FakeUpstream,
    keys: dict[str, KeyInfo],
    style: Style,
    stream: bool,
) -> None:
    provider, secret = style.provider, REAL[style.provider]
    bot_id, token = new_bot(kr, provider)
    key_before = key_today(kr, keys[provider].id)
    # a provider that puts the key in its answer (body and a header): the bot must not see it
    fake.reply = f"Hello, your key is {secret}."
    fake.chunks = 1
    fake.extra_headers = {"x-debug-key": secret, "x-kept": "yes"}
    fake.require_anthropic_version = True
    headers = style.token_headers(token)
    if provider == "anthropic":
        headers |= {"anthropic-version": "2023-06-01", "anthropic-beta": "tools-2024-05-16"}

    with kr.proxy() as client:
        url = f"/v1/{provider}{style.path(stream)}"
        response = client.post(url, json=style.body(stream), headers=headers)

    assert response.status_code == 200, response.text
    assert response.headers["x-kept"] == "yes"
    assert "x-debug-key" not in response.headers
    assert_key_hidden(response, secret)
    assert "[redacted]" in response.text
    if stream:
        expected_type = "application/x-ndjson" if provider == "ollama" else "text/event-stream"
        assert response.headers["content-type"].startswith(expected_type)

    (seen,) = fake.requests
    assert seen.endpoint == style.endpoint
    present = {name for name in CREDENTIALS if name in seen.headers}
    if style.header is None:
        assert present == set()
    else:
        assert present == {style.header}
        expected = f"Bearer {secret}" if style.header == "authorization" else secret
        assert seen.headers[style.header] == expected
    assert_token_hidden(fake, token)
    if provider == "google":
        assert seen.query == ("alt=sse" if stream else "")
    if provider == "anthropic":
        assert seen.headers["anthropic-version"] == "2023-06-01"
        assert seen.headers["anthropic-beta"] == "tools-2024-05-16"

    wait_bot_usage(kr, bot_id, requests=1, input_tokens=12, output_tokens=7, errors=0)
    key_after = key_today(kr, keys[provider].id)
    for name, added in (("requests", 1), ("input_tokens", 12), ("output_tokens", 7)):
        assert key_after[name] - key_before[name] == added, (name, key_before, key_after)


# -- 2. where the bot's token may travel ---------------------------------------------------


@pytest.mark.parametrize(
    "where", ["authorization", "x-api-key", "x-goog-api-key", "api-key", "key", "k%65y"]
)
def test_the_token_is_accepted_wherever_sdks_put_it_and_never_forwarded(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo], where: str
) -> None:
    _, token = new_bot(kr, "openai")
    path = "/v1/openai/echo?x=1"
    headers: dict[str, str] = {}
    if where in ("key", "k%65y"):
        path += f"&{where}={token}&y=2"
    elif where == "authorization":
        headers = bearer(token)
    else:
        headers = {where: token}
    with kr.proxy() as client:
        response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    (seen,) = fake.requests
    assert seen.query == ("x=1&y=2" if where in ("key", "k%65y") else "x=1")
    assert seen.headers["authorization"] == f"Bearer {REAL['openai']}"
    assert not {"x-api-key", "x-goog-api-key", "api-key"} & set(seen.headers)
    assert_token_hidden(fake, token)
    # the echo shows the request as the upstream got it, real key included: scrubbed
    assert_key_hidden(response, REAL["openai"])
    assert ["Authorization", "Bearer [redacted]"] in response.json()["headers"]


def test_credentials_the_bot_sends_are_not_forwarded(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    _, token = new_bot(kr, "google")
    headers = {
        "x-api-key": token,
        "Authorization": "Basic Ym90OmJvdC1wYXNzd29yZA==",
        "api-key": "bot-own-api-key-value",
    }
    with kr.proxy() as client:
        response = client.post(f"/v1/google/echo?key={token}&alt=sse", headers=headers)
    assert response.status_code == 200, response.text
    (seen,) = fake.requests
    assert seen.query == "alt=sse"
    assert seen.headers["x-goog-api-key"] == REAL["google"]
    assert not {"authorization", "x-api-key", "api-key"} & set(seen.headers)
    assert "Ym90OmJvdC1wYXNzd29yZA" not in everything_seen(fake)
    assert "bot-own-api-key-value" not in everything_seen(fake)
    assert_token_hidden(fake, token)


# -- 3. an upstream error echoing the key ----------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("style", STYLES[:4], ids=[s.provider for s in STYLES[:4]])
def test_an_upstream_error_echoing_the_key_is_scrubbed(
    kr: KeyringProcess,
    fake: FakeUpstream,
    keys: dict[str, KeyInfo],
    style: Style,
    stream: bool,
) -> None:
    bot_id, token = new_bot(kr, style.provider)
    fake.accept_keys = {"some-other-key-entirely"}
    with kr.proxy() as client:
        response = client.post(
            f"/v1/{style.provider}{style.path(stream)}",
            json=style.body(stream),
            headers=style.token_headers(token),
        )
    assert response.status_code == 401
    (seen,) = fake.requests
    assert seen.key == REAL[style.provider]  # the fake did echo this key back
    assert_key_hidden(response, REAL[style.provider])
    assert "[redacted]" in response.text
    assert_token_hidden(fake, token)
    wait_bot_usage(kr, bot_id, requests=1, errors=1)


# -- 4. failover and key choice ----------------------------------------------------------------


@pytest.mark.parametrize(("provider", "status"), [("mistral", 429), ("groq", 503)])
def test_failover_to_the_next_key(
    kr: KeyringProcess, fake: FakeUpstream, provider: str, status: int
) -> None:
    use_fake(kr, fake, provider)
    first = kr.admin.add_key(provider, f"{provider}-first-key-0001", label="first")
    second = kr.admin.add_key(provider, f"{provider}-second-key-0002", label="second")
    bot_id, token = new_bot(kr, provider)
    fake.fail_with = {f"{provider}-first-key-0001": status}

    with kr.proxy() as client:
        response = client.post(f"/v1/{provider}/chat/completions", json=CHAT, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == REPLY
    assert presented_keys(fake) == [f"{provider}-first-key-0001", f"{provider}-second-key-0002"]
    wait_bot_usage(kr, bot_id, requests=1, errors=1, input_tokens=12, output_tokens=7)
    assert key_today(kr, first.id) | {"tokens": 0} == {
        "requests": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "errors": 1,
        "rejected": 0,
        "tokens": 0,
    }
    assert key_today(kr, second.id)["requests"] == 1
    assert key_today(kr, second.id)["errors"] == 0

    # every key failing: the last key's answer goes back to the bot, scrubbed
    fake.clear()
    fake.fail_with = {"*": status}
    with kr.proxy() as client:
        response = client.post(f"/v1/{provider}/chat/completions", json=CHAT, headers=bearer(token))
    assert response.status_code == status
    assert len(fake.requests) == 2
    if status == 429:
        assert response.headers["retry-after"] == "1"


def test_tagged_keys_first_and_keys_tagged_otherwise_never(
    kr: KeyringProcess, fake: FakeUpstream
) -> None:
    use_fake(kr, fake, "deepseek")
    untagged = "deepseek-untagged-key-0001"
    tagged = "deepseek-team-a-key-0002"
    other = "deepseek-team-b-key-0003"
    kr.admin.add_key("deepseek", untagged, label="old, untagged")
    kr.admin.add_key("deepseek", tagged, label="team a", tags=["team-a"])
    kr.admin.add_key("deepseek", other, label="team b", tags=["team-b"])
    _, token = new_bot(kr, "deepseek", tags=["team-a"])
    _, plain = new_bot(kr, "deepseek")

    def ask(who: str) -> int:
        with kr.proxy() as client:
            url = "/v1/deepseek/chat/completions"
            return client.post(url, json=CHAT, headers=bearer(who)).status_code

    assert ask(token) == 200
    assert presented_keys(fake) == [tagged]  # tagged before the older untagged key
    fake.clear()
    fake.fail_with = {tagged: 429}
    assert ask(token) == 200
    assert presented_keys(fake) == [tagged, untagged]
    fake.clear()
    fake.fail_with = {tagged: 503, untagged: 503}
    assert ask(token) == 503
    assert presented_keys(fake) == [tagged, untagged]  # never the team-b key
    fake.clear()
    fake.fail_with = {}
    assert ask(plain) == 200  # a bot without tags: untagged keys only
    fake.fail_with = {untagged: 503}
    assert ask(plain) == 503
    assert presented_keys(fake) == [untagged, untagged]


def test_a_bots_own_key_comes_first_and_is_never_used_by_another_bot(
    kr: KeyringProcess, fake: FakeUpstream
) -> None:
    use_fake(kr, fake, "together")
    shared = "together-shared-key-0001"
    own = "together-bot-own-key-0002"
    kr.admin.add_key("together", shared, label="shared")
    owner, owner_token = new_bot(kr, "together")
    _, other_token = new_bot(kr, "together")
    info = kr.admin.add_key("together", own, label="own", bot_id=owner)
    assert info.bot_id == owner

    def ask(who: str) -> int:
        with kr.proxy() as client:
            url = "/v1/together/chat/completions"
            return client.post(url, json=CHAT, headers=bearer(who)).status_code

    assert ask(owner_token) == 200
    assert presented_keys(fake) == [own]
    fake.clear()
    assert ask(other_token) == 200
    assert presented_keys(fake) == [shared]
    fake.fail_with = {shared: 503}
    assert ask(other_token) == 503
    assert presented_keys(fake) == [shared, shared]  # no fallback to another bot's key
    fake.clear()
    fake.fail_with = {own: 429}
    assert ask(owner_token) == 200
    assert presented_keys(fake) == [own, shared]


# -- 5. streaming --------------------------------------------------------------------------------


def test_stream_deltas_arrive_as_the_upstream_sends_them(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    _, token = new_bot(kr, "openai")
    fake.chunk_delay = 1.0
    fake.chunks = 3
    arrivals: list[float] = []
    text = []
    with kr.proxy() as client:
        start = time.monotonic()
        body = {**CHAT, "stream": True}
        with client.stream(
            "POST", "/v1/openai/chat/completions", json=body, headers=bearer(token)
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                choices = json.loads(line[6:])["choices"]
                if choices and choices[0]["delta"].get("content"):
                    arrivals.append(time.monotonic() - start)
                    text.append(choices[0]["delta"]["content"])
    assert "".join(text) == REPLY
    assert len(arrivals) == 3
    assert arrivals[0] < 1.5, arrivals  # not held back until the end
    assert arrivals[-1] - arrivals[0] >= 1.5, arrivals


def test_a_bot_that_hangs_up_closes_the_upstream_stream(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    bot_id, token = new_bot(kr, "openai")
    fake.chunk_delay = 0.5
    fake.chunks = 40
    with kr.proxy() as client:  # one request first: pooled connections exist already
        url = "/v1/openai/chat/completions"
        assert client.post(url, json=CHAT, headers=bearer(token)).status_code == 200
    fake.clear()
    baseline = kr.open_fds()
    with kr.proxy() as client:
        body = {**CHAT, "stream": True}
        with client.stream(
            "POST", "/v1/openai/chat/completions", json=body, headers=bearer(token)
        ) as response:
            assert response.status_code == 200
            assert next(response.iter_raw())
            assert fake.open_streams == 1
    wait_for(lambda: fake.closed_early == 1 and fake.open_streams == 0, timeout=5)
    assert fake.completed_streams == 0
    wait_for(lambda: kr.open_fds() <= baseline, timeout=5)
    wait_bot_usage(kr, bot_id, requests=2, errors=1)


# -- 6. what is forwarded, and how -------------------------------------------------------------


def test_forwarding_method_raw_path_query_and_headers(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    _, token = new_bot(kr, "openai")
    body = b'{"hello": "world"}'
    head = (
        f"PATCH /v1/openai/echo/a%20b/c%3F/%C3%A9?x=1&key={token}&y=%20z%26&empty= HTTP/1.1\r\n"
        f"Host: {kr.url.removeprefix('http://')}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Connection: close, X-Hop-Secret\r\n"
        "Keep-Alive: timeout=5\r\n"
        "TE: trailers\r\n"
        "Upgrade: h2c\r\n"
        "Proxy-Authorization: Basic cHJveHk6c2VjcmV0\r\n"
        "Proxy-Connection: keep-alive\r\n"
        "X-Hop-Secret: hop-by-hop-value\r\n"
        "Cookie: session=bot-cookie\r\n"
        "X-Forwarded-For: 10.1.2.3\r\n"
        "X-Custom: kept\r\n"
        "OpenAI-Beta: assistants=v2\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode()
    response = raw_request(kr.url, head, body)
    assert response.status == 200, response.body
    (seen,) = fake.requests
    echoed = response.json()
    assert seen.method == echoed["method"] == "PATCH"
    assert seen.path == echoed["path"] == "/v1/echo/a%20b/c%3F/%C3%A9"
    assert seen.query == "x=1&y=%20z%26&empty="
    names = [name.lower() for name, _ in echoed["headers"]]
    for gone in (
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "x-hop-secret",
        "cookie",
        "x-forwarded-for",
    ):
        assert gone not in names, gone
    assert "hop-by-hop-value" not in everything_seen(fake)
    assert seen.headers["host"] == f"127.0.0.1:{fake.port}"
    assert names.count("host") == 1
    assert seen.headers["x-custom"] == "kept"
    assert seen.headers["openai-beta"] == "assistants=v2"
    assert seen.headers["content-type"] == "application/json"
    assert seen.body == body
    assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert_token_hidden(fake, token)


def test_a_20_mb_body_arrives_intact(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    _, token = new_bot(kr, "openai")
    body = os.urandom(20 * 1024 * 1024)
    with kr.proxy() as client:
        response = client.post("/v1/openai/echo", content=body, headers=bearer(token))
    assert response.status_code == 200, response.text[:500]
    assert response.json()["body_length"] == len(body)
    assert response.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert fake.last is not None
    assert fake.last.body_length == len(body)


def test_a_body_over_the_limit_is_refused_before_the_upstream(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    with KeyringProcess(tmp_path, BOTMAKER_KEYRING_MAX_BODY="1m") as kr:
        kr.admin.set_upstream("openai", fake.url + "/v1", allow_private=True)
        kr.admin.add_key("openai", REAL["openai"])
        _, token = new_bot(kr, "openai")
        limit = 1024 * 1024

        def chunked(size: int) -> Iterator[bytes]:
            for start in range(0, size, 64 * 1024):
                yield b"x" * min(64 * 1024, size - start)

        with kr.proxy() as client:
            url = "/v1/openai/echo"
            at_limit = client.post(url, content=b"x" * limit, headers=bearer(token))
            assert at_limit.status_code == 200
            assert at_limit.json()["body_length"] == limit
            fake.clear()
            for content in (b"x" * (limit + 1), chunked(limit + 1), chunked(3 * limit)):
                with kr.proxy() as fresh:  # a 413 may leave the connection unusable
                    response = fresh.post(url, content=content, headers=bearer(token))
                assert response.status_code == 413
                assert response.json()["error"]["type"] == "payload_too_large"
        assert fake.requests == []


def test_hop_by_hop_response_headers_are_dropped(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    _, token = new_bot(kr, "openai")
    fake.extra_headers = {
        "Connection": "keep-alive, X-Upstream-Hop",
        "X-Upstream-Hop": "hop",
        "Keep-Alive": "timeout=3",
        "X-Kept": "yes",
    }
    with kr.proxy() as client:
        response = client.post("/v1/openai/chat/completions", json=CHAT, headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["x-kept"] == "yes"
    assert "x-upstream-hop" not in response.headers
    assert "keep-alive" not in response.headers


def test_an_unreachable_upstream_is_a_502(kr: KeyringProcess) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kr.admin.set_upstream("fireworks", f"http://127.0.0.1:{port}/v1", allow_private=True)
    kr.admin.add_key("fireworks", "fireworks-key-0001")
    bot_id, token = new_bot(kr, "fireworks")
    with kr.proxy() as client:
        url = "/v1/fireworks/chat/completions"
        response = client.post(url, json=CHAT, headers=bearer(token))
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_unreachable"
    assert "fireworks-key-0001" not in response.text
    wait_bot_usage(kr, bot_id, requests=0, errors=1)


def test_a_redirect_is_passed_back_not_followed(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    _, token = new_bot(kr, "openai")
    fake.redirect_to = fake.url + "/v1/echo/redirect-target"
    with kr.proxy() as client:
        response = client.post("/v1/openai/redirect", json=CHAT, headers=bearer(token))
    assert response.status_code == 302
    assert response.headers["location"] == fake.redirect_to
    assert [seen.endpoint for seen in fake.requests] == ["redirect"]


@pytest.mark.parametrize(
    "path",
    ["/v1/openai/a/../echo", "/v1/openai/./echo", "/v1/openai/%2e%2e/echo", "/v1/openai/.%2E"],
)
def test_dot_segments_are_refused(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo], path: str
) -> None:
    _, token = new_bot(kr, "openai")
    host = kr.url.removeprefix("http://")
    head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
    response = raw_request(kr.url, head.encode())
    assert response.status == 400
    assert response.json()["error"]["type"] == "bad_path"
    assert fake.requests == []


# -- 7. header injection ---------------------------------------------------------------------


@pytest.mark.parametrize("evil", [b"X-Evil: a\rb", b"X-Evil: a\x00b", b"X-Evil: a\rInjected: 1"])
def test_a_header_with_a_bare_cr_is_refused(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo], evil: bytes
) -> None:
    _, token = new_bot(kr, "openai")
    head = (
        f"GET /v1/openai/echo HTTP/1.1\r\nHost: {kr.url.removeprefix('http://')}\r\n".encode()
        + evil
        + b"\r\nAuthorization: Bearer "
        + token.encode()
        + b"\r\nConnection: close\r\n\r\n"
    )
    response = raw_request(kr.url, head)
    assert response.status == 400
    assert fake.requests == []
    with kr.proxy() as client:  # and the proxy goes on serving
        assert client.get("/v1/openai/echo", headers=bearer(token)).status_code == 200


# -- 8. authentication -----------------------------------------------------------------------


def test_tokens_unknown_rotated_and_deleted(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    bot_id, token = new_bot(kr, "openai")
    own = kr.admin.add_key("openai", "sk-bot-own-openai-key-0009", bot_id=bot_id)
    url = "/v1/openai/chat/completions"
    with kr.proxy() as client:

        def status(headers: dict[str, str], path: str = url) -> tuple[int, str]:
            response = client.post(path, json=CHAT, headers=headers)
            return response.status_code, response.json()["error"]["type"]

        assert status({}) == (401, "invalid_token")
        assert status({"Authorization": "Bearer"}) == (401, "invalid_token")
        assert status({"Authorization": f"Basic {token}"}) == (401, "invalid_token")
        assert status(bearer("garbage")) == (401, "invalid_token")
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert status(bearer(forged)) == (401, "invalid_token")
        assert status(bearer(f"bk1_{uuid.uuid4().hex[:12]}_{'x' * 43}")) == (401, "invalid_token")
        assert status(bearer(token), "/v1/anthropic/v1/messages") == (403, "provider_not_allowed")
        assert fake.requests == []
        assert client.post(url, json=CHAT, headers=bearer(token)).status_code == 200

        fresh = kr.admin.rotate_token(bot_id)
        assert fresh != token
        assert status(bearer(token)) == (401, "invalid_token")
        assert client.post(url, json=CHAT, headers=bearer(fresh)).status_code == 200

        kr.admin.delete_bot(bot_id)
        assert status(bearer(fresh)) == (401, "invalid_token")
    assert kr.admin.list_keys(bot_id=bot_id) == []
    assert own.id not in {k.id for k in kr.admin.list_keys(provider="openai")}
    assert presented_keys(fake) == ["sk-bot-own-openai-key-0009"] * 2


# -- 9. upstream address policy -----------------------------------------------------------------


def _name_resolving_to_a_blocked_address() -> str | None:
    for name in (socket.gethostname(), socket.getfqdn()):
        if not name or name == "localhost" or name.endswith(".localhost"):
            continue  # refused by name already, at set time
        try:
            infos = socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)
        except OSError:
            continue
        addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
        if addresses and all(blocked_reason(a) not in (None, "cloud metadata") for a in addresses):
            return name
    return None


def test_private_upstreams_need_allow_private(kr: KeyringProcess, fake: FakeUpstream) -> None:
    with pytest.raises(InvalidInput) as caught:
        kr.admin.put_bot(
            str(uuid.uuid4()), providers=["custom"], base_urls={"custom": "http://127.0.0.1:9/v1"}
        )
    assert caught.value.status == 422
    assert caught.value.field == "base_urls.custom"
    for allow_private in (False, True):  # metadata addresses: never
        with pytest.raises(InvalidInput) as caught:
            kr.admin.set_upstream(
                "perplexity", "http://169.254.169.254/v1", allow_private=allow_private
            )
        assert caught.value.status == 422
    with pytest.raises(InvalidInput):
        kr.admin.set_upstream("perplexity", f"{fake.url}/v1")
    assert "perplexity" not in kr.admin.status()["upstreams"]

    # allowed explicitly, the fake on 127.0.0.1 works (a bot's own base URL here)
    kr.admin.add_key("custom", "custom-server-key-0001")
    _, token = new_bot(kr, "custom", base_urls={"custom": f"{fake.url}/v1"}, allow_private=True)
    with kr.proxy() as client:
        response = client.post("/v1/custom/chat/completions", json=CHAT, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert presented_keys(fake) == ["custom-server-key-0001"]


def test_a_host_name_resolving_to_a_private_address_is_refused_at_connect_time(
    kr: KeyringProcess, fake: FakeUpstream
) -> None:
    name = _name_resolving_to_a_blocked_address()
    if name is None:
        pytest.skip("no host name of this machine resolves to a loopback or private address")
    kr.admin.add_key("cerebras", "cerebras-key-0001")
    _, token = new_bot(kr, "cerebras")
    kr.admin.set_upstream("cerebras", f"http://{name}:{fake.port}/v1")  # accepted: not resolved
    with kr.proxy() as client:
        response = client.post("/v1/cerebras/chat/completions", json=CHAT, headers=bearer(token))
        assert response.status_code == 502, response.text
        assert response.json()["error"]["type"] == "upstream_unreachable"
        assert "refusing to connect" in response.json()["error"]["message"]
        assert fake.requests == []
        # the very same name, allowed: it was the policy, not the name, that failed
        kr.admin.set_upstream("cerebras", f"http://{name}:{fake.port}/v1", allow_private=True)
        response = client.post("/v1/cerebras/chat/completions", json=CHAT, headers=bearer(token))
        assert response.status_code == 200, response.text
    assert presented_keys(fake) == ["cerebras-key-0001"]


# -- 10. budgets and rate limits ----------------------------------------------------------------


def _refusals(kr: KeyringProcess, token: str, count: int) -> list[httpx.Response]:
    with kr.proxy() as client:
        return [
            client.post("/v1/openai/chat/completions", json=CHAT, headers=bearer(token))
            for _ in range(count)
        ]


def test_daily_request_budget(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    bot_id, token = new_bot(kr, "openai", budget=Budget(daily_requests=2))
    responses = _refusals(kr, token, 5)
    assert [r.status_code for r in responses] == [200, 200, 429, 429, 429]
    for refused in responses[2:]:
        assert refused.json()["error"]["type"] == "budget_exceeded"
        assert int(refused.headers["retry-after"]) >= 1
    assert len(fake.requests) == 2
    wait_bot_usage(kr, bot_id, requests=2, rejected=3)
    events = kr.admin.events(bot_id=bot_id)
    assert [e["kind"] for e in events] == ["budget_exceeded"]
    assert "daily request budget" in events[0]["detail"]


def test_daily_token_budget(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    bot_id, token = new_bot(kr, "openai", budget=Budget(daily_tokens=5))
    responses = _refusals(kr, token, 3)
    assert [r.status_code for r in responses] == [200, 429, 429]
    assert responses[1].json()["error"]["type"] == "budget_exceeded"
    assert "token budget" in responses[1].json()["error"]["message"]
    assert len(fake.requests) == 1
    wait_bot_usage(kr, bot_id, requests=1, rejected=2, input_tokens=12, output_tokens=7)
    assert [e["kind"] for e in kr.admin.events(bot_id=bot_id)] == ["budget_exceeded"]


def test_requests_per_minute(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    bot_id, token = new_bot(kr, "openai", budget=Budget(requests_per_minute=2))
    responses = _refusals(kr, token, 3)
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].json()["error"]["type"] == "rate_limited"
    assert 1 <= int(responses[2].headers["retry-after"]) <= 60
    assert len(fake.requests) == 2
    wait_bot_usage(kr, bot_id, requests=2, rejected=1)
    assert kr.admin.events(bot_id=bot_id) == []  # a rate limit is no budget event


def test_parallel_requests_do_not_overrun_a_request_budget(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    bot_id, token = new_bot(kr, "openai", budget=Budget(daily_requests=2))
    fake.delay = 0.5  # all of them are under way at once

    def one(_: int) -> int:
        with kr.proxy() as client:
            url = "/v1/openai/chat/completions"
            return client.post(url, json=CHAT, headers=bearer(token)).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(one, range(6)))
    assert statuses == [200, 200, 429, 429, 429, 429]
    assert len(fake.requests) == 2
    wait_bot_usage(kr, bot_id, requests=2, rejected=4)
    assert [e["kind"] for e in kr.admin.events(bot_id=bot_id)] == ["budget_exceeded"]


def test_a_request_that_never_reached_a_key_gives_its_budget_slot_back(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo]
) -> None:
    bot_id, token = new_bot(kr, "openai", "venice", budget=Budget(daily_requests=1))
    with kr.proxy() as client:
        no_key = client.post("/v1/venice/chat/completions", json=CHAT, headers=bearer(token))
        assert no_key.status_code == 503
        assert no_key.json()["error"]["type"] == "no_key"
        url = "/v1/openai/chat/completions"
        assert client.post(url, json=CHAT, headers=bearer(token)).status_code == 200
        assert client.post(url, json=CHAT, headers=bearer(token)).status_code == 429
    assert len(fake.requests) == 1
    wait_bot_usage(kr, bot_id, requests=1, rejected=1, errors=1)


# -- 11. a locked keyring --------------------------------------------------------------------------


def test_a_keyring_without_its_master_key_is_locked_but_serves(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    secret = "sk-locked-test-key-0001"
    fake.accept_keys = {secret}
    kr = KeyringProcess(tmp_path)
    with kr:
        kr.admin.set_upstream("openai", fake.url + "/v1", allow_private=True)
        kr.admin.add_key("openai", secret)
        _, token = new_bot(kr, "openai")
        assert kr.admin.status()["locked"] is False
    aside = tmp_path / "master.key.aside"
    kr.master_key.rename(aside)

    with kr:
        assert kr.ready["locked"] is True
        status = kr.admin.status()
        assert status["locked"] is True
        assert status["keys"] == 1
        with kr.proxy() as client:
            for _ in range(2):
                response = client.post(
                    "/v1/openai/chat/completions", json=CHAT, headers=bearer(token)
                )
                assert response.status_code == 503
                assert response.json()["error"]["type"] == "keyring_locked"
            assert client.get("/healthz").json() == {"ok": True, "locked": True}
        with pytest.raises(KeyringLocked) as caught:
            kr.admin.add_key("openai", "sk-another-key-0002")
        assert isinstance(caught.value, BotMakerError)
        assert caught.value.code == "keyring_locked"
        assert kr.process is not None
        assert kr.process.poll() is None
        assert kr.admin.status()["keys"] == 1
        assert not kr.master_key.exists()  # a locked keyring makes no new master key
    assert fake.requests == []

    aside.rename(kr.master_key)
    with kr:
        assert kr.admin.status()["locked"] is False
        with kr.proxy() as client:
            response = client.post("/v1/openai/chat/completions", json=CHAT, headers=bearer(token))
        assert response.status_code == 200, response.text
    assert presented_keys(fake) == [secret]


# -- 12. rotation from the command line ----------------------------------------------------------


def _rotate_cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "botmaker", "keyring", "rotate", *extra]


def _rotate(kr: KeyringProcess, *extra: str) -> str:
    done = subprocess.run(
        _rotate_cmd(*extra),
        env={**kr.env, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _setup_keys(kr: KeyringProcess, fake: FakeUpstream, count: int) -> tuple[str, list[str]]:
    """``count`` mistral keys and a bot that may use them; returns its token and the keys."""
    kr.admin.set_upstream("mistral", fake.url + "/v1", allow_private=True)
    secrets = [f"mistral-rotation-key-{i:04d}" for i in range(count)]
    for secret in secrets:
        kr.admin.add_key("mistral", secret)
    _, token = new_bot(kr, "mistral")
    return token, secrets


def _all_keys_work(kr: KeyringProcess, fake: FakeUpstream, token: str, secrets: list[str]) -> None:
    """Every key decrypts: all but the last answer 429, so one request presents them all."""
    fake.clear()
    fake.fail_with = dict.fromkeys(secrets[:-1], 429)
    with kr.proxy() as client:
        response = client.post("/v1/mistral/chat/completions", json=CHAT, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert presented_keys(fake) == secrets


def test_rotate_cli_rewraps_and_keys_still_work(fake: FakeUpstream, tmp_path: Path) -> None:
    kr = KeyringProcess(tmp_path)
    with kr:
        token, secrets = _setup_keys(kr, fake, 2)
        kek_before = {k.kek_version for k in kr.admin.list_keys()}
    out = _rotate(kr)
    assert "re-wrapped 2/2" in out
    assert "rotation finished: 2 keys" in out
    with kr:
        assert kr.admin.status()["locked"] is False
        kek_after = {k.kek_version for k in kr.admin.list_keys()}
        assert len(kek_after) == 1
        assert kek_after.isdisjoint(kek_before)
        _all_keys_work(kr, fake, token, secrets)


def test_rotate_cli_killed_half_way_resumes(fake: FakeUpstream, tmp_path: Path) -> None:
    kr = KeyringProcess(tmp_path)
    with kr:
        token, secrets = _setup_keys(kr, fake, 10)
    env = {**kr.env, "PYTHONUNBUFFERED": "1", "BOTMAKER_TEST_ROTATE_DELAY": "0.3"}
    child = subprocess.Popen(
        _rotate_cmd(), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            seen.append(line)
            if line.startswith("re-wrapped 3/"):
                child.send_signal(signal.SIGKILL)
                break
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=15)
    assert child.returncode == -signal.SIGKILL, seen
    assert seen[-1].startswith("re-wrapped 3/10"), seen

    out = _rotate(kr)
    assert "resumed" in out, out
    with kr:
        assert kr.admin.status()["locked"] is False
        assert len({k.kek_version for k in kr.admin.list_keys()}) == 1
        _all_keys_work(kr, fake, token, secrets)


def test_rotate_cli_new_master_key(fake: FakeUpstream, tmp_path: Path) -> None:
    kr = KeyringProcess(tmp_path)
    with kr:
        token, secrets = _setup_keys(kr, fake, 2)
    before = kr.master_key.read_bytes()
    _rotate(kr, "--new-master-key")
    after = kr.master_key.read_bytes()
    assert after != before
    assert kr.master_key.stat().st_mode & 0o777 == 0o600
    assert not kr.master_key.with_name(kr.master_key.name + ".new").exists()
    with kr:
        assert kr.admin.status()["locked"] is False
        _all_keys_work(kr, fake, token, secrets)
    # the old master key no longer opens it
    kr.master_key.write_bytes(before)
    with kr:
        assert kr.admin.status()["locked"] is True


class _CompressingHandler(JsonHandler):
    """A provider that compresses its answers although the proxy asked for identity."""

    encoding = "gzip"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        key = (self.headers.get("authorization") or "").removeprefix("Bearer ")
        body = json.dumps(
            {
                "choices": [{"message": {"role": "assistant", "content": f"your key is {key}"}}],
                "usage": {"prompt_tokens": 21, "completion_tokens": 4},
            }
        ).encode()
        if self.encoding == "gzip":
            data = gzip.compress(body)
        elif self.encoding == "deflate":
            data = zlib.compress(body)
        else:
            data = body  # claims an encoding the proxy cannot read
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-encoding", self.encoding)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_a_compressed_answer_is_decoded_scrubbed_and_metered(
    kr: KeyringProcess, encoding: str
) -> None:
    handler = type("Handler", (_CompressingHandler,), {"encoding": encoding})
    server = HTTPServerThread("127.0.0.1", 0, handler)
    server.start()
    try:
        secret = f"perplexity-real-key-{encoding}-0123456789"
        kr.admin.set_upstream("perplexity", f"http://127.0.0.1:{server.port}", allow_private=True)
        key = kr.admin.add_key("perplexity", secret)
        bot_id, token = new_bot(kr, "perplexity")
        with kr.proxy() as client:
            response = client.post(
                "/v1/perplexity/chat/completions", json=CHAT, headers=bearer(token)
            )
        assert secret not in response.text
        if encoding == "br":  # unreadable, so unscrubbable: refused
            assert response.status_code == 502
            assert response.json()["error"]["type"] == "unsupported_encoding"
        else:
            assert response.status_code == 200, response.text
            assert "content-encoding" not in response.headers
            assert "[redacted]" in response.json()["choices"][0]["message"]["content"]
            wait_bot_usage(kr, bot_id, requests=1, input_tokens=21, output_tokens=4)
        kr.admin.delete_key(key.id)
    finally:
        server.stop()


BOMB_SIZE = 200 * 1024 * 1024  # what the bomb decodes to: zeros


@functools.cache
def _gzip_bomb() -> bytes:
    """200 MB of zeros, gzipped (under 1 MB), built without holding 200 MB."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(BOMB_SIZE // len(block))) + (
        packer.flush()
    )


class _BombHandler(JsonHandler):
    """A provider whose answer is a gzip bomb."""

    status = 200

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        data = _gzip_bomb()
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _rss(pid: int) -> int:
    """The resident memory of process ``pid``, in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class _PeakRss:
    """The highest resident memory of a process while the ``with`` block runs (sampled)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = self.before = _rss(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.002):
            self.peak = max(self.peak, _rss(self.pid))

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss(self.pid))

    @property
    def growth(self) -> int:
        return self.peak - self.before


@pytest.mark.parametrize("status", [400, 200])
def test_a_gzip_bomb_is_decoded_in_bounded_memory(
    kr: KeyringProcess, fake: FakeUpstream, keys: dict[str, KeyInfo], status: int
) -> None:
    handler = type("Handler", (_BombHandler,), {"status": status})
    server = HTTPServerThread("127.0.0.1", 0, handler)
    server.start()
    try:
        kr.admin.set_upstream("fireworks", f"http://127.0.0.1:{server.port}", allow_private=True)
        key = kr.admin.add_key("fireworks", "fireworks-real-key-0123456789")
        bot_id, token = new_bot(kr, "fireworks")
        _gzip_bomb()  # built before measuring
        with (
            kr.proxy() as client,
            _PeakRss(kr.pid) as rss,
            client.stream(
                "POST", "/v1/fireworks/chat/completions", json=CHAT, headers=bearer(token)
            ) as response,
        ):
            received, head = 0, b""
            for piece in response.iter_raw():
                received += len(piece)
                head += piece[: 65536 - len(head)]
        assert rss.growth < 100 * 1024 * 1024, f"RSS grew by {rss.growth / 2**20:.0f} MiB"
        if status == 200:  # streamed on, decoded, piece by piece
            assert response.status_code == 200
            assert received == BOMB_SIZE
            wait_bot_usage(kr, bot_id, requests=1, errors=0)
        else:  # an error answer is read whole to be scrubbed: refused beyond a few MiB
            assert response.status_code == 502
            error = json.loads(head)["error"]
            assert error["type"] == "upstream_error_too_large"
            assert "fireworks answered 400" in error["message"]
            wait_bot_usage(kr, bot_id, requests=1, errors=1)
        kr.admin.delete_key(key.id)
    finally:
        server.stop()
    # and the keyring keeps serving
    _, other = new_bot(kr, "openai")
    with kr.proxy() as client:
        answer = client.post("/v1/openai/chat/completions", json=CHAT, headers=bearer(other))
    assert answer.status_code == 200, answer.text
