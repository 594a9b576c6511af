"""Channel health on the real OpenClaw gateway (issue 15, item 5), official layout.

One Telegram bot on the fake Bot API. BotMaker's channel watch reads the gateway's
``channels.status`` in the background: the bot's view (list and detail) and its card
and page show the account connected; the fake Bot API then answers every call with
502 (Telegram unreachable): the view, the card and the page say disconnected with
the error in words, and after the alert threshold a ``channel_down`` bot event and
webhook alert arrive; the Bot API restored, the account reconnects by itself and a
``channel_up`` ends the episode. The list route answers from what the watch
gathered: no call reaches the gateway (or the Bot API) while it is read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import docker
import httpx
from playwright.sync_api import Browser, Page, expect

from botmaker.config import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import build
from tests.support.openclaw_lab import TG_TOKEN, Lab, openclaw_lab, telegram_bot, wait_healthy
from tests.support.webhook import WebhookReceiver

#: Seconds the account must stay disconnected before channel_down (the setting).
THRESHOLD = 4


def _account(client: httpx.Client, bot_id: str) -> dict[str, Any] | None:
    status = client.get(f"/api/bots/{bot_id}").json()["channel_status"]
    if not status or not status["accounts"]:
        return None
    (account,) = status["accounts"]
    return dict(account)


def _wait_for(what: str, check: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"never {what}; last: {last}")


def _state(client: httpx.Client, bot_id: str, state: str) -> Callable[[], Any]:
    def check() -> Any:
        account = _account(client, bot_id)
        return account if account is not None and account["state"] == state else None

    return check


def _log_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_a_channel_is_shown_connected_then_down_with_an_alert_then_back(
    settings: Settings,
    make_services: MakeServices,
    docker_api: docker.APIClient,
    receiver: WebhookReceiver,
    browser: Browser,
) -> None:
    image = build(docker_api)
    with openclaw_lab(settings, make_services, image.reference, docker_api) as lab:
        _run(lab, settings, docker_api, receiver, browser)


def _run(
    lab: Lab,
    settings: Settings,
    docker_api: docker.APIClient,
    receiver: WebhookReceiver,
    browser: Browser,
) -> None:
    client, telegram, watch = lab.client, lab.telegram, lab.svc.channels
    watch.interval = 1.0  # the default is 30 s; the test cannot wait that long
    watch.loop.wake()
    created = client.post("/api/bots", json=telegram_bot(lab, "chan-bot"))
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]
    wait_healthy(docker_api, f"botmaker-{bot_id}", settings.network)

    # 1. Connected, in the detail and the list.
    account = _wait_for("connected", _state(client, bot_id, "connected"))
    # The short threshold from now on: the gateway's first connect counts as down too
    # ("connecting"), and takes longer than it on a busy machine.
    saved = client.put(
        "/api/alerts",
        json={
            "webhook_url": receiver.url,
            "events": ["channel_down", "channel_up"],
            "min_interval_seconds": 0,
            "channel_down_after_seconds": THRESHOLD,
        },
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["channel_down_after_seconds"] == THRESHOLD
    assert account["channel"] == "telegram"
    assert account["account"] == "default"
    assert account["label"] == "Telegram"
    assert account["connected"] is True
    assert account["running"] is True
    assert account["configured"] is True
    assert account["error"] is None
    assert account["last_connected_at"] is not None
    (listed,) = client.get("/api/bots").json()["bots"]
    assert listed["channel_status"]["accounts"][0]["state"] == "connected"
    assert listed["channel_status"]["error"] is None

    # The list answers from what the watch gathered: with the watch stopped, reading
    # it reaches neither the gateway nor, through it, the Bot API (the live check
    # is a getMe), and it still shows the last state.
    watch.stop()
    time.sleep(1.5)  # a getMe of a check the gateway was already running lands
    probes = sum(1 for method, _ in telegram.calls if method == "getMe")
    for _ in range(5):
        (listed,) = client.get("/api/bots").json()["bots"]
        assert listed["channel_status"]["accounts"][0]["state"] == "connected"
    assert sum(1 for method, _ in telegram.calls if method == "getMe") == probes
    watch.start()

    # The card and the page say so.
    context = browser.new_context(base_url=str(client.base_url))
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    _log_in(page)
    card = page.locator(f'li.bot-card[data-bot-id="{bot_id}"]')
    card_item = card.locator('.channel-health-item[data-channel="telegram"]')
    expect(card_item).to_have_text("Telegram: connected", timeout=15_000)
    bot_page = context.new_page()
    bot_page.on("pageerror", lambda error: problems.append(str(error)))
    bot_page.goto(f"/bots/{bot_id}")
    page_item = bot_page.locator("#bot-channel-health .channel-health-item")
    expect(page_item).to_have_text("Telegram: connected", timeout=15_000)

    # 2. The Bot API fails: disconnected, with Telegram's words, on the view and,
    # live, on the card and the page; after the threshold, channel_down.
    telegram.fail(502)
    down = _wait_for("disconnected", _state(client, bot_id, "disconnected"))
    assert down["error"] == "Bad Gateway"
    expect(card_item).to_have_attribute("data-state", "disconnected", timeout=15_000)
    expect(card_item).to_contain_text("Telegram: disconnected — Bad Gateway")
    expect(page_item).to_contain_text("Telegram: disconnected — Bad Gateway", timeout=15_000)
    (alert,) = _wait_for("alerted", lambda: receiver.of_kind("channel_down"), timeout=60)
    assert alert["bot"] == {"id": bot_id, "name": "chan-bot"}
    assert alert["channel"]["type"] == "telegram"
    assert alert["channel"]["account"] == "default"
    # Between its retries the gateway reports the account "connecting": both are down.
    assert alert["channel"]["state"] in {"disconnected", "connecting"}
    assert alert["detail"].startswith(("telegram disconnected for ", "telegram connecting for "))
    # The episode's last error, even when the gateway has cleared it between retries.
    assert alert["detail"].endswith(": Bad Gateway")
    events = client.get(f"/api/bots/{bot_id}/events").json()["events"]
    (event,) = [e for e in events if e["kind"] == "channel_down"]
    assert event["detail"] == alert["detail"]
    # Once per episode. The gateway stays live and ready while Telegram is only
    # unreachable: the bot is degraded (not healthy, not unhealthy), saying which
    # channel, in the API and, live, on the card and the page.
    time.sleep(THRESHOLD + 2)
    assert len(receiver.of_kind("channel_down")) == 1
    status = client.get(f"/api/bots/{bot_id}").json()["status"]
    assert status["health"] == "healthy"
    assert status["summary"] == "degraded", status
    assert status["reason"].startswith(("Telegram: disconnected", "Telegram: connecting")), status
    expect(card.locator(".badge")).to_have_text("degraded")
    expect(card.locator(".state-reason")).to_contain_text("Telegram: ")
    expect(bot_page.locator("#bot-badge")).to_have_text("degraded")
    expect(bot_page.locator("#bot-badge")).to_have_class(re.compile(r"badge-warn"))
    expect(bot_page.locator("#bot-reason")).to_contain_text("Telegram: ")

    # 3. Restored: it reconnects by itself; channel_up ends the episode.
    telegram.recover()
    back = _wait_for("reconnected", _state(client, bot_id, "connected"))
    assert back["error"] is None
    expect(card_item).to_have_text("Telegram: connected", timeout=15_000)
    expect(page_item).to_have_text("Telegram: connected", timeout=15_000)
    expect(card.locator(".badge")).to_have_text("healthy")
    expect(bot_page.locator("#bot-badge")).to_have_text("healthy")
    assert client.get(f"/api/bots/{bot_id}").json()["status"]["summary"] == "healthy"
    (up,) = _wait_for("told it is back", lambda: receiver.of_kind("channel_up"), timeout=30)
    assert up["detail"].startswith("telegram connected again after ")
    kinds = [e["kind"] for e in client.get(f"/api/bots/{bot_id}/events").json()["events"]]
    assert kinds.count("channel_down") == 1
    assert kinds.count("channel_up") == 1
    assert problems == []
    context.close()

    # Nothing a gateway said carries the bot's token anywhere BotMaker shows it.
    shown = str(receiver.received) + str(client.get(f"/api/bots/{bot_id}/events").json())
    assert TG_TOKEN not in shown

    # 4. Stopped: no channel state is shown for a bot that is not running.
    assert client.post(f"/api/bots/{bot_id}/stop").status_code == 200
    assert client.get(f"/api/bots/{bot_id}").json()["channel_status"] is None
