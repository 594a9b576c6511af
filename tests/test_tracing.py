"""OpenTelemetry traces: the real keyring process and BotMaker's API export spans over
OTLP/HTTP to a real receiver (tests/support/otlp.py), and one bot's model call is one
trace from the bot's request to the fake provider, which sees the keyring's own
``traceparent``. Off, nothing is exported and no trace header reaches the provider.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from botmaker.api import create_app
from botmaker.api.tracing import TraceRequests
from botmaker.config import ConfigError, Settings
from botmaker.keyring.settings import KeyringSettings
from tests.conftest import ADMIN_PASSWORD
from tests.support.checks import log_in
from tests.support.fake_upstream import FakeUpstream
from tests.support.keyring import KeyringProcess
from tests.support.otlp import CLIENT, SERVER, STATUS_ERROR, Exported, OtlpReceiver
from tests.support.server import ServerThread

SECRET = "sk-proj-TRACEDsecret-0001aaaaaaaaaaaa"
CHAT = {"model": "gpt-traced-1", "messages": [{"role": "user", "content": "hi there"}]}
#: Exported quickly, so a test does not wait the SDK's default five seconds.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "50"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as otlp:
        yield otlp


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


def traced_keyring(
    folder: Path, fake: FakeUpstream, **env: str
) -> tuple[KeyringProcess, dict[str, str]]:
    """A started keyring with ``env``, OpenAI pointed at the fake, one key, one bot."""
    process = KeyringProcess(folder, **env).start()
    process.admin.set_upstream("openai", fake.url + "/v1", allow_private=True)
    process.admin.add_key("openai", SECRET, label="traced")
    bot_id = str(uuid.uuid4())
    token = process.admin.put_bot(bot_id, providers=["openai"])
    assert token is not None
    return process, {"bot_id": bot_id, "token": token}


@pytest.fixture(scope="module")
def traced(
    receiver: OtlpReceiver, fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[KeyringProcess, dict[str, str]]]:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **FAST_EXPORT}
    process, bot = traced_keyring(tmp_path_factory.mktemp("traced"), fake, **env)
    yield process, bot
    log = process.stop()
    assert SECRET not in log
    assert bot["token"] not in log


def call(process: KeyringProcess, token: str, **headers: str) -> httpx.Response:
    with process.proxy() as client:
        return client.post(
            "/v1/openai/chat/completions",
            json=CHAT,
            headers={"Authorization": f"Bearer {token}", **headers},
        )


def spans_of(receiver: OtlpReceiver, trace_id: str, count: int) -> list[Exported]:
    def complete(spans: list[Exported]) -> bool:
        return len([s for s in spans if s.trace_id == trace_id]) >= count

    return [s for s in receiver.wait(complete) if s.trace_id == trace_id]


def one(spans: list[Exported], kind: int) -> Exported:
    found = [s for s in spans if s.kind == kind]
    assert len(found) == 1, found
    return found[0]


def upstream_traceparent(fake: FakeUpstream) -> tuple[str, str, str, str]:
    seen = fake.last
    assert seen is not None
    version, trace_id, parent_id, flags = seen.headers["traceparent"].split("-")
    return version, trace_id, parent_id, flags


def assert_nothing_secret(spans: list[Exported], *secrets: str) -> None:
    for span in spans:
        text = span.every_text()
        for secret in secrets:
            assert secret not in text, (secret, span)


def test_a_bots_traceparent_is_continued_to_the_provider(
    traced: tuple[KeyringProcess, dict[str, str]], receiver: OtlpReceiver, fake: FakeUpstream
) -> None:
    process, bot = traced
    trace_id, bot_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    fake.clear()
    response = call(
        process,
        bot["token"],
        traceparent=f"00-{trace_id}-{bot_span}-01",
        tracestate="botvendor=leak-me",
        baggage="user=leak-me-too",
    )
    assert response.status_code == 200, response.text

    spans = spans_of(receiver, trace_id, 2)
    server, client = one(spans, SERVER), one(spans, CLIENT)
    assert server.service == client.service == "botmaker-keyring"
    assert server.parent_span_id == bot_span  # the bot's span is the parent
    assert client.parent_span_id == server.span_id
    assert server.name == "POST /v1/{provider}{tail}"
    assert client.name == "POST"
    for span in (server, client):
        assert span.attributes["botmaker.bot.id"] == bot["bot_id"]
        assert span.attributes["botmaker.provider"] == "openai"
        assert span.attributes["gen_ai.request.model"] == "gpt-traced-1"
        assert span.attributes["http.response.status_code"] == 200
        assert span.attributes["gen_ai.usage.input_tokens"] == fake.input_tokens
        assert span.attributes["gen_ai.usage.output_tokens"] == fake.output_tokens
        assert span.trace_state == ""  # the bot's tracestate is not taken up
    assert server.attributes["http.route"] == "/v1/{provider}{tail}"
    assert client.attributes["server.address"] == "127.0.0.1"
    assert client.attributes["url.full"] == f"{fake.url}/v1/chat/completions"
    assert client.attributes["botmaker.key.id"].startswith("key_")

    # The provider saw the keyring's client span as its parent, in the bot's trace, and
    # none of the bot's own trace context.
    upstream = upstream_traceparent(fake)
    assert upstream == ("00", trace_id, client.span_id, "01")
    seen = fake.last
    assert seen is not None
    assert "tracestate" not in seen.headers
    assert "baggage" not in seen.headers
    assert "leak-me" not in str(seen.headers)
    assert_nothing_secret(spans, SECRET, bot["token"], "hi there", "leak-me")


def test_without_a_traceparent_a_new_trace_links_server_client_and_provider(
    traced: tuple[KeyringProcess, dict[str, str]], receiver: OtlpReceiver, fake: FakeUpstream
) -> None:
    process, bot = traced
    fake.clear()
    assert call(process, bot["token"]).status_code == 200
    _, trace_id, parent_id, flags = upstream_traceparent(fake)
    assert int(flags, 16) & 1  # sampled (the SDK may add level 2's "random" bit)

    spans = spans_of(receiver, trace_id, 2)
    server, client = one(spans, SERVER), one(spans, CLIENT)
    assert server.parent_span_id == ""  # a root: the trace starts at the keyring
    assert client.parent_span_id == server.span_id
    assert parent_id == client.span_id
    assert server.attributes["botmaker.bot.id"] == bot["bot_id"]
    assert_nothing_secret(spans, SECRET, bot["token"])


@pytest.mark.parametrize(
    "garbage",
    [
        "not-a-traceparent",
        "00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-00f067aa0ba902b7-01",  # not hex
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + "x" * 4000,
    ],
)
def test_a_garbage_traceparent_starts_a_new_trace(
    traced: tuple[KeyringProcess, dict[str, str]],
    receiver: OtlpReceiver,
    fake: FakeUpstream,
    garbage: str,
) -> None:
    process, bot = traced
    fake.clear()
    response = call(process, bot["token"], traceparent=garbage)
    assert response.status_code == 200, response.text
    _, trace_id, parent_id, _ = upstream_traceparent(fake)
    assert trace_id not in garbage
    assert trace_id != "0" * 32

    spans = spans_of(receiver, trace_id, 2)
    server, client = one(spans, SERVER), one(spans, CLIENT)
    assert server.parent_span_id == ""
    assert parent_id == client.span_id
    assert_nothing_secret(spans, garbage[:40])


def test_refused_requests_get_a_server_span_without_the_token(
    traced: tuple[KeyringProcess, dict[str, str]], receiver: OtlpReceiver, fake: FakeUpstream
) -> None:
    process, _ = traced
    trace_id = uuid.uuid4().hex
    parent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    wrong = "bk1_nobody_" + "x" * 40
    fake.clear()
    assert call(process, wrong, traceparent=parent).status_code == 401
    server = one(spans_of(receiver, trace_id, 1), SERVER)
    assert server.attributes["http.response.status_code"] == 401
    assert "botmaker.bot.id" not in server.attributes
    assert_nothing_secret([server], wrong)
    assert fake.requests == []


def test_an_upstream_error_is_an_error_span_and_the_next_key_its_own(
    traced: tuple[KeyringProcess, dict[str, str]], receiver: OtlpReceiver, fake: FakeUpstream
) -> None:
    """A 503 from the provider moves on to the next key: one client span per attempt,
    each the parent the provider saw for that attempt."""
    process, bot = traced
    second = process.admin.add_key("openai", "sk-proj-TRACEDsecond-0002bbbbbbbb", label="two")
    try:
        fake.clear()
        fake.fail_with = {"*": 503}
        first_seen: list[str] = []
        trace_id = uuid.uuid4().hex
        response = call(process, bot["token"], traceparent=f"00-{trace_id}-{'1' * 16}-01")
        assert response.status_code == 503
        first_seen = [seen.headers["traceparent"].split("-")[2] for seen in fake.requests]
        assert len(first_seen) == 2
        spans = spans_of(receiver, trace_id, 3)
        clients = [s for s in spans if s.kind == CLIENT]
        assert sorted(s.span_id for s in clients) == sorted(first_seen)
        assert {s.attributes["http.response.status_code"] for s in clients} == {503}
        assert all(s.status == STATUS_ERROR for s in clients)
        assert sorted(s.attributes.get("http.request.resend_count", 0) for s in clients) == [0, 1]
        server = one(spans, SERVER)
        assert server.status == STATUS_ERROR
        assert all(s.parent_span_id == server.span_id for s in clients)
    finally:
        fake.fail_with = {}
        process.admin.delete_key(second.id)


def test_a_collector_that_fails_never_breaks_a_request(
    traced: tuple[KeyringProcess, dict[str, str]], receiver: OtlpReceiver, fake: FakeUpstream
) -> None:
    process, bot = traced
    receiver.status = 503
    try:
        before = receiver.requests
        for _ in range(3):
            assert call(process, bot["token"]).status_code == 200
        deadline = time.monotonic() + 10
        while receiver.requests == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.requests > before  # the exporter did try, and failed
        assert call(process, bot["token"]).status_code == 200
    finally:
        receiver.status = 200


@pytest.mark.parametrize(
    "env",
    [
        {},  # no endpoint: off
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "<receiver>", "OTEL_SDK_DISABLED": "true"},
    ],
    ids=["no-endpoint", "sdk-disabled"],
)
def test_tracing_off_exports_nothing_and_forwards_no_trace_header(
    fake: FakeUpstream, tmp_path: Path, env: dict[str, str]
) -> None:
    with OtlpReceiver() as receiver:
        env = {k: v.replace("<receiver>", receiver.endpoint) for k, v in env.items()}
        _off(receiver, fake, tmp_path, env)


def _off(receiver: OtlpReceiver, fake: FakeUpstream, tmp_path: Path, env: dict[str, str]) -> None:
    process, bot = traced_keyring(tmp_path, fake, **env, **FAST_EXPORT)
    try:
        fake.clear()
        response = call(
            process,
            bot["token"],
            traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
            tracestate="botvendor=x",
            baggage="user=y",
        )
        assert response.status_code == 200
        seen = fake.last
        assert seen is not None
        assert not {"traceparent", "tracestate", "baggage"} & set(seen.headers)
    finally:
        process.stop()  # a flush on shutdown, if anything were queued
    time.sleep(0.3)
    assert receiver.requests == 0


# -- BotMaker's API --------------------------------------------------------------------------


def test_an_api_request_is_a_span_named_by_its_route_template(
    settings: Settings, receiver: OtlpReceiver
) -> None:
    traced_settings = dataclasses.replace(settings, otel_endpoint=receiver.endpoint)
    app = create_app(traced_settings)
    missing = "bot" + uuid.uuid4().hex[:12]
    trace_id = uuid.uuid4().hex
    with ServerThread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        token = log_in(client, ADMIN_PASSWORD)
        response = client.get(
            f"/api/bots/{missing}",
            params={"q": "query-secret-1234"},
            headers={
                "Cookie": "botmaker_session=cookie-secret-5678",
                "traceparent": f"00-{trace_id}-{'2' * 16}-01",
            },
        )
        assert response.status_code == 404
        assert client.get("/api/bots").status_code == 200
    # the server stopped: its last spans were flushed on shutdown
    spans = receiver.wait(
        lambda spans: (
            any(s.trace_id == trace_id for s in spans)
            and any(s.name == "GET /api/bots" for s in spans)
        )
    )
    ours = [s for s in spans if s.service == "botmaker"]
    named = {s.name for s in ours}
    assert {"POST /api/login", "GET /api/bots/{bot}", "GET /api/bots"} <= named
    span = next(s for s in ours if s.trace_id == trace_id)
    assert span.name == "GET /api/bots/{bot}"
    assert span.kind == SERVER
    assert span.parent_span_id == "2" * 16
    assert span.attributes["http.route"] == "/api/bots/{bot}"
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.response.status_code"] == 404
    assert_nothing_secret(
        ours, missing, token, ADMIN_PASSWORD, "query-secret", "cookie-secret", "Bearer"
    )


def installed(app: FastAPI) -> list[object]:
    return [middleware.cls for middleware in app.user_middleware]


def test_tracing_off_installs_no_middleware(settings: Settings) -> None:
    app = create_app(settings)
    try:
        assert TraceRequests not in installed(app)
    finally:
        app.state.services.close()
    on = create_app(dataclasses.replace(settings, otel_endpoint="http://127.0.0.1:9"))
    try:
        assert TraceRequests in installed(on)
    finally:
        on.state.services.close()


# -- settings ------------------------------------------------------------------------------


def test_the_standard_variables_turn_tracing_on_and_off() -> None:
    assert Settings.from_env({}).otel_traces_url is None
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert Settings.from_env(base).otel_traces_url == "http://collector:4318/v1/traces"
    both = base | {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c.example/otlp/traces"}
    assert Settings.from_env(both).otel_traces_url == "https://c.example/otlp/traces"
    assert Settings.from_env(base | {"OTEL_SDK_DISABLED": "true"}).otel_traces_url is None
    assert Settings.from_env({}).otel_service_name == "botmaker"
    assert KeyringSettings.from_env({}).otel_service_name == "botmaker-keyring"
    keyring = KeyringSettings.from_env(base | {"OTEL_SERVICE_NAME": "kr-eu"})
    assert (keyring.otel_traces_url, keyring.otel_service_name) == (
        "http://collector:4318/v1/traces",
        "kr-eu",
    )
    with pytest.raises(ConfigError) as bad:
        Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"})
    assert bad.value.field == "OTEL_EXPORTER_OTLP_ENDPOINT"
