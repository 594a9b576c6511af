"""Chat with a real OpenClaw bot from BotMaker (official layout, keyed by the keyring).

``POST /api/bots/{bot}/chat`` sends one message to the bot's gateway (its
OpenAI-compatible endpoint, the same agent run as ``openclaw agent``) as the signed-in
user and streams the answer back as Server-Sent Events. One bot serves every check:
the answer streams from the fake upstream through the keyring; a second message in the
same session reaches the upstream with the first exchange; the turns are metered by
the keyring; the audit log names the turn but never its text; the bot page's chat panel
shows a streamed answer, and a new conversation starts a new session; a stopped bot
refuses (409) and its panel is disabled.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import docker
import httpx
from playwright.sync_api import Browser, Page, expect

from botmaker.api import create_app
from botmaker.config import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.support.checks import log_in
from tests.support.fake_openai import REPLY, FakeOpenAI
from tests.support.fake_telegram import FakeTelegram
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import OpenClawImage, build
from tests.support.openclaw_lab import (
    API_KEY,
    TG_TOKEN,
    gateway_ip,
    wait_healthy,
    wait_reported_healthy,
)
from tests.support.server import ServerThread
from tests.support.sse import Event, parse_sse
from tests.test_openclaw_e2e import _keyed_services

FIRST = "Say hello, please."
SECOND = "And once more."


def _chat(client: httpx.Client, bot_id: str, body: dict[str, Any]) -> list[Event]:
    """The events of one chat turn (the stream ends after done or error)."""
    with client.stream("POST", f"/api/bots/{bot_id}/chat", json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [e for e in parse_sse(response.iter_lines()) if isinstance(e, Event)]


def _completions(upstream: FakeOpenAI) -> list[dict[str, Any]]:
    return [r.body for r in upstream.requests if r.path.endswith("/chat/completions")]


def _said(body: dict[str, Any]) -> str:
    """Everything the request's messages hold, as one text."""
    return json.dumps(body.get("messages", []), ensure_ascii=False)


def _log_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_chat_with_a_real_openclaw_bot_streams_keeps_the_session_and_is_metered(
    settings: Settings,
    make_services: MakeServices,
    docker_api: docker.APIClient,
    browser: Browser,
) -> None:
    official: OpenClawImage = build(docker_api)
    svc = _keyed_services(settings, make_services, official)
    svc.runtime.ensure_network()
    gateway = gateway_ip(docker_api, settings.network)
    with (
        FakeOpenAI(host="127.0.0.1") as upstream,  # only the keyring (on the host) reaches it
        FakeTelegram(token=TG_TOKEN, host=gateway) as telegram,
        ServerThread(create_app(svc.settings, svc)) as url,
        httpx.Client(base_url=url, timeout=180) as client,
    ):
        svc.runtime.allow_host_port(telegram.port)
        log_in(client, ADMIN_PASSWORD)
        response = client.post(
            "/api/bots",
            json={
                "name": "chat-bot",
                "provider": "custom",
                "model": "fake-model",
                "base_url": upstream.base_url,
                "base_url_private": True,
                "channel": "telegram",
                "channel_settings": {"api_root": telegram.api_root},
                "secrets": {"api_key": API_KEY, "channel_token": TG_TOKEN},
            },
        )
        assert response.status_code == 201, response.text
        bot = response.json()
        assert bot["keyring"] is True
        wait_healthy(docker_api, f"botmaker-{bot['id']}", settings.network)
        wait_reported_healthy(client, bot["id"])

        # Bad input is refused, naming the field, before anything reaches the bot.
        for body, field in (
            ({"message": "  "}, "message"),
            ({"message": "hi", "conversation": "../x"}, "conversation"),
            ({"message": "hi", "extra": 1}, "extra"),
        ):
            refused = client.post(f"/api/bots/{bot['id']}/chat", json=body)
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["field"] == field
        assert client.post("/api/bots/nobody/chat", json={"message": "hi"}).status_code == 404
        assert _completions(upstream) == []

        # 1. The answer streams back: deltas, then done with the turn's usage.
        events = _chat(client, bot["id"], {"message": FIRST})
        kinds = [e.event for e in events]
        assert kinds[-1] == "done", events
        assert "error" not in kinds, events
        text = "".join(json.loads(e.data)["text"] for e in events if e.event == "delta")
        assert text == REPLY
        done = json.loads(events[-1].data)
        assert done["finish_reason"] == "stop"
        assert done["usage"]["prompt_tokens"] >= 10, done
        assert done["usage"]["completion_tokens"] >= 6, done
        first = _completions(upstream)
        assert first, "the fake upstream saw no completion request"
        assert FIRST in _said(first[-1])

        # 2. The same session: the second turn reaches the model with the first exchange.
        events = _chat(client, bot["id"], {"message": SECOND})
        assert events[-1].event == "done", events
        second = _completions(upstream)[-1]
        said = _said(second)
        assert FIRST in said
        assert REPLY in said
        assert SECOND in said
        roles = [m.get("role") for m in second["messages"]]
        assert "assistant" in roles, roles

        # 3. The keyring metered both turns (and the upstream saw the real key only).
        usage = client.get("/api/usage").json()["bots"][bot["id"]]
        assert usage["today"]["requests"] >= 2, usage
        assert usage["today"]["input_tokens"] >= 20, usage
        assert usage["today"]["output_tokens"] >= 12, usage

        # 4. Audited as a write, without the message's text.
        entries = client.get("/api/audit").json()["entries"]
        chats = [e for e in entries if e["action"] == "bot.chat"]
        assert len(chats) == 2, chats
        assert chats[0]["target"] == "chat-bot"
        assert chats[0]["detail"] == {"id": bot["id"], "conversation": "main", "chars": len(SECOND)}
        assert FIRST not in json.dumps(entries)
        assert SECOND not in json.dumps(entries)

        # 5. The bot page: the chat panel streams an answer; a new conversation is a
        # new session (the model no longer sees the earlier exchanges).
        context = browser.new_context(base_url=url)
        problems: list[str] = []
        try:
            page = context.new_page()
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on(
                "console",
                lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
            )
            _log_in(page)
            page.goto(f"/bots/{bot['id']}")
            box = page.get_by_label("Message")
            expect(box).to_be_enabled(timeout=15_000)
            box.fill("Hello from the browser")
            page.get_by_role("button", name="Send").click()
            answer = page.locator('#chat-log li[data-role="bot"]').last
            expect(answer.locator(".chat-text")).to_have_text(REPLY, timeout=120_000)
            expect(answer.locator("[data-usage]")).to_contain_text("out tokens")
            expect(page.locator("#chat-error")).to_be_hidden()
            assert "Hello from the browser" in _said(_completions(upstream)[-1])
            assert FIRST in _said(_completions(upstream)[-1])  # still the main conversation

            page.get_by_role("button", name="New conversation").click()
            box.fill("A fresh start")
            box.press("Enter")
            expect(page.locator('#chat-log li[data-role="bot"] .chat-text').last).to_have_text(
                REPLY, timeout=120_000
            )
            fresh = _said(_completions(upstream)[-1])
            assert "A fresh start" in fresh
            assert FIRST not in fresh

            # 6. A stopped bot refuses to chat, in words, and its panel is disabled.
            assert client.post(f"/api/bots/{bot['id']}/stop").status_code == 200
            expect(box).to_be_disabled(timeout=30_000)
            expect(page.locator("#chat-status")).to_contain_text(re.compile("not running"))
        finally:
            context.close()
        assert problems == []
        stopped = client.post(f"/api/bots/{bot['id']}/chat", json={"message": "hi"})
        assert stopped.status_code == 409, stopped.text
        assert "not running" in stopped.json()["error"]["message"]

        entries = client.get("/api/audit").json()["entries"]
        assert len([e for e in entries if e["action"] == "bot.chat"]) == 4
        started = time.monotonic()
        assert client.delete(f"/api/bots/{bot['id']}").status_code == 204
        assert time.monotonic() - started < 10
