"""Crash loops on the real engine (both runtimes): a stand-in bot whose config makes it
exit at once (tests/standin: model ``standin-crash``) is detected within 60 s, shown
as ``crash_loop`` in the API and on its page, alerted once to a real webhook on
loopback, audited, diagnosed (the config diff that caused it and the log tail), and
cleared once it runs stable again; a healthy bot next to it is never flagged."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from botmaker.services import Services
from botmaker.services.crashloop import Rules
from botmaker.services.schemas import BotUpdate
from tests.conftest import bot_body
from tests.support.bots import create_bot
from tests.support.waiting import wait_for
from tests.support.webhook import WebhookReceiver
from tests.test_dashboard import DESKTOP, Session

FATAL = "standin: fatal: model standin-crash cannot load"


@pytest.fixture
def services(services: Services) -> Services:
    """Alerts retried fast; an episode ends after 8 s of stable running (60 s in use)."""
    services.alerts.backoff = 0.05
    services.monitor.crashloops.loops.rules = Rules(stable=8.0)
    return services


def _bot(client: httpx.Client, bot_id: str) -> dict[str, Any]:
    response = client.get(f"/api/bots/{bot_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _summary(client: httpx.Client, bot_id: str) -> str:
    return str(_bot(client, bot_id)["status"]["summary"])


def _events(client: httpx.Client, bot_id: str, kind: str) -> list[dict[str, Any]]:
    events = client.get(f"/api/bots/{bot_id}/events").json()["events"]
    return [e for e in events if e["kind"] == kind]


def _create(client: httpx.Client, name: str) -> str:
    response = client.post("/api/bots", json=bot_body(name))
    assert response.status_code == 201, response.text
    bot_id = str(response.json()["id"])
    wait_for(lambda: _bot(client, bot_id)["status"]["running"], timeout=30)
    return bot_id


def test_a_crash_loop_is_detected_alerted_diagnosed_and_cleared(
    services: Services,
    server: str,
    client: httpx.Client,
    browser: Browser,
    receiver: WebhookReceiver,
) -> None:
    assert client.put("/api/alerts", json={"webhook_url": receiver.url}).status_code == 200
    steady = _create(client, "steady")
    loopy = _create(client, "loopy")
    created = _events(client, loopy, "config_changed")
    assert [e["detail"] for e in created] == [
        "openclaw.json changed (create): " + created[0]["detail"].split(": ", 1)[1]
    ]

    # An edit whose config the bot cannot load: it exits 1 s after each start.
    edited = client.patch(f"/api/bots/{loopy}", json={"model": "standin-crash"})
    assert edited.status_code == 200, edited.text
    began = time.monotonic()
    wait_for(lambda: _summary(client, loopy) == "crash_loop", timeout=60, interval=0.2)
    detected = time.monotonic() - began
    assert detected < 60
    print(f"\ncrash loop detected {detected:.1f} s after the edit ({services.settings.runtime})")

    status = _bot(client, loopy)["status"]
    assert status["health"] == "crash_loop"
    assert re.fullmatch(
        r"crash loop: exited 3 times within 60 s( \(\d+ restarts in all\))?; last exit code 3",
        status["detail"],
    ), status["detail"]
    listed = {b["id"]: b["status"]["summary"] for b in client.get("/api/bots").json()["bots"]}
    assert listed[loopy] == "crash_loop"
    assert listed[steady] != "crash_loop"

    # One alert, with the bot, its restarts, last exit code and cleaned reason.
    (alert,) = wait_for(lambda: receiver.of_kind("crash_loop"), timeout=15)
    assert alert["bot"] == {"id": loopy, "name": "loopy"}
    assert alert["restarts"] >= 3
    assert alert["exit_code"] == 3
    # Its colour codes removed. Docker copies stdout and stderr apart and stamps a line
    # when it reads it, so the stand-in's stdout lines may sort after its last (stderr)
    # line: the fatal line is in the tail, not always last.
    assert FATAL in alert["logs_tail"].splitlines(), alert["logs_tail"]
    assert "\x1b" not in alert["logs_tail"]
    assert "sk-loopy" not in alert["logs_tail"]
    (event,) = _events(client, loopy, "crash_loop")
    assert event["exit_code"] == 3
    assert FATAL in event["logs"]
    audit = client.get("/api/audit").json()["entries"]
    (entry,) = [e for e in audit if e["action"] == "bot.crash_loop"]
    assert entry["target"] == "loopy"
    assert entry["detail"]["exit_code"] == 3
    assert entry["detail"]["alerted"] is True

    # The diagnosis: the loop, the config diff that caused it, where the log tail is.
    diagnosis = client.get(f"/api/bots/{loopy}/diagnosis").json()
    assert diagnosis["crash_loop"]["rule"] == "restarts"
    assert diagnosis["crash_loop"]["exit_code"] == 3
    change = diagnosis["config_change"]
    assert change["detail"].startswith("openclaw.json changed (edit): +")
    assert '-        "primary": "openai/gpt-5.1",' in change["diff"]
    assert '+        "primary": "openai/standin-crash",' in change["diff"]
    assert diagnosis["logs"] == f"/api/bots/{loopy}/logs?tail=50&follow=false"

    # The page shows it by itself: the loop, the diff and the log tail, as text.
    session = Session(browser, server, DESKTOP)
    try:
        page = session.page()
        session.login(page, f"/bots/{loopy}")
        expect(page.locator("#bot-badge")).to_have_text("crash loop")
        body = page.locator("#diag-body")
        expect(body.locator('[data-diagnosis="crash-loop"]')).to_contain_text("exited 3 times")
        diff = body.locator('[data-diagnosis="diff"]')
        expect(diff.locator(".diff-add")).to_contain_text(['"openai/standin-crash"'])
        expect(diff.locator(".diff-del")).to_contain_text(['"openai/gpt-5.1"'])
        expect(body.locator('[data-diagnosis="logs"] .log-view')).to_contain_text(FATAL)
        session.shot(page, "bot-crash-loop")
        # Any bot, on demand: the healthy one has no loop, and its create diff.
        page.goto(f"/bots/{steady}")
        expect(page.locator("#bot-root[data-ready]")).to_be_attached()
        expect(page.locator("#diag-body")).to_be_empty()
        page.locator("#diag-load").click()
        expect(page.locator('#diag-body [data-diagnosis="diff"]')).to_contain_text("/dev/null")
        expect(page.locator('#diag-body [data-diagnosis="crash-loop"]')).to_have_count(0)
    finally:
        session.close()

    # Fixed by another edit: it runs stable again and the episode ends; one alert only.
    fixed = client.patch(f"/api/bots/{loopy}", json={"model": "gpt-5.1"})
    assert fixed.status_code == 200, fixed.text
    wait_for(lambda: _events(client, loopy, "crash_loop_ended"), timeout=30, interval=0.2)
    assert _summary(client, loopy) != "crash_loop"
    assert len(receiver.of_kind("crash_loop")) == 1
    assert _events(client, steady, "crash_loop") == []
    assert _summary(client, steady) != "crash_loop"
    assert all(a["bot"]["id"] == loopy for a in receiver.received)


def test_config_diffs_never_hold_a_secret(services: Services) -> None:
    """openclaw.json holds only references to /run/secrets, so its diffs cannot hold a
    secret; a writer that inlined one (a migration tool) is redacted all the same."""
    canary = {"api_key": "sk-canary-api-3b9f1c", "channel_token": "424242:canary-telegram-8d2e"}
    bot = create_bot(services, "canary", secrets=canary)
    rotated = {"api_key": "sk-canary-rotated-77aa", "channel_token": "515151:canary-rotated-9c"}
    services.bots.update(bot.id, BotUpdate.model_validate({"model": "gpt-5.2", "secrets": rotated}))
    values = [*canary.values(), *rotated.values()]
    config = services.deploy.state.read(bot.id, "openclaw.json") or b""
    assert b"/run/secrets/api_key" in config
    assert not [v for v in values if v.encode() in config]
    changes = [e for e in services.store.bot_events(bot.id) if e["kind"] == "config_changed"]
    assert [e["detail"].split(":")[0] for e in changes] == [
        "openclaw.json changed (edit)",
        "openclaw.json changed (create)",
    ]
    assert '+        "primary": "openai/gpt-5.2",' in changes[0]["logs"]
    stored = json.dumps(changes)
    assert not [v for v in values if v in stored]

    # A writer that inlined the key (as a tool's migration might): redacted in the diff.
    record = services.store.get_bot(bot.id)
    inlined = config.replace(
        b'"apiKey": {', f'"apiKeyInline": "{rotated["api_key"]}", "x": {{'.encode()
    )
    event = services.deploy.record_config_diff(record, config, inlined, "doctor --fix")
    assert event is not None
    assert event["detail"].startswith("openclaw.json changed (doctor --fix): +1 -1 lines")
    assert rotated["api_key"] not in json.dumps(event)
    assert '"apiKeyInline": "[redacted]"' in event["logs"]
    assert services.deploy.record_config_diff(record, config, config, "doctor --fix") is None
