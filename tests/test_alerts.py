"""Alerts: a real webhook receiver on loopback, real bots killed on the real engine."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.runtime.policy import container_name
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.bots import RunningBot, wait_serving
from tests.support.checks import logged_in
from tests.support.fake_upstream import FakeUpstream
from tests.support.server import ServerThread
from tests.support.waiting import wait_for
from tests.support.webhook import WebhookReceiver
from tests.test_keyring_bots import _call_proxy_from

REAL_KEY = "sk-alerts-provider-key-0123456789abcdef"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


def _fast(svc: Services) -> Services:
    svc.alerts.backoff = 0.05
    svc.alerts.timeout = 2.0
    svc.alerts.keyring_poll = 0.2
    return svc


@pytest.fixture
def app(settings: Settings, make_services: Any) -> Iterator[tuple[httpx.Client, Services]]:
    svc = _fast(make_services(settings))
    with ServerThread(create_app(svc.settings, svc)) as url, logged_in(url, ADMIN_PASSWORD) as c:
        yield c, svc


def _configure(client: httpx.Client, url: str, **extra: Any) -> dict[str, Any]:
    response = client.put("/api/alerts", json={"webhook_url": url, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _running(client: httpx.Client, docker_api: docker.APIClient, name: str) -> dict[str, Any]:
    response = client.post("/api/bots", json=bot_body(name))
    assert response.status_code == 201, response.text
    bot: dict[str, Any] = response.json()
    wait_for(lambda: docker_api.inspect_container(bot["container_name"])["State"]["Running"])
    return bot


def _crash(docker_api: docker.APIClient, name: str) -> None:
    """Kill the bot's process from the host: an exit, not a stop, so Docker restarts it."""
    pid = wait_for(lambda: _pid(docker_api, name), timeout=15)
    os.kill(pid, signal.SIGKILL)


def _pid(docker_api: docker.APIClient, name: str) -> int:
    """The container's main process on the host while it runs (0 while restarting)."""
    state = docker_api.inspect_container(name)["State"]
    return int(state["Pid"]) if state["Running"] and not state["Restarting"] else 0


def _kinds(client: httpx.Client, bot_id: str) -> list[str]:
    return [e["kind"] for e in client.get(f"/api/bots/{bot_id}/events").json()["events"]]


def test_settings_are_validated_and_the_test_send_arrives(
    app: tuple[httpx.Client, Services], receiver: WebhookReceiver
) -> None:
    client, _ = app
    defaults = client.get("/api/alerts").json()
    assert defaults == {
        "webhook_url": None,
        "events": ["died", "oom", "unhealthy", "crash_loop", "budget_exceeded"],
        "min_interval_seconds": 300,
    }
    for bad in (
        {"webhook_url": "ftp://example.org/hook"},
        {"webhook_url": "not a url"},
        {"events": ["died", "exploded"]},
        {"min_interval_seconds": -1},
    ):
        refused = client.put("/api/alerts", json=bad)
        assert refused.status_code == 422, (bad, refused.text)
    assert client.get("/api/alerts").json() == defaults  # nothing changed

    # Without a webhook, a test-send says so.
    assert client.post("/api/alerts/test").json()["delivered"] is False
    saved = _configure(client, receiver.url, events=["died"], min_interval_seconds=10)
    assert saved == {"webhook_url": receiver.url, "events": ["died"], "min_interval_seconds": 10}
    assert client.get("/api/alerts").json() == saved
    sent = client.post("/api/alerts/test")
    assert sent.status_code == 200
    assert sent.json() == {"delivered": True, "status": 200}
    (test,) = receiver.received
    assert test["kind"] == "test"
    assert set(test) >= {"kind", "bot", "at", "detail"}


def test_a_crash_loop_raises_exactly_one_alert_and_died_is_rate_limited(
    app: tuple[httpx.Client, Services],
    receiver: WebhookReceiver,
    docker_api: docker.APIClient,
) -> None:
    client, _ = app
    _configure(client, receiver.url)
    bot = _running(client, docker_api, "loopy")
    name = bot["container_name"]
    for kill in range(3):
        # The restart policy (unless-stopped) brings it back after each crash.
        _crash(docker_api, name)
        wait_for(lambda k=kill: _kinds(client, bot["id"]).count("died") == k + 1, timeout=15)
        wait_for(lambda: _pid(docker_api, name), timeout=15)

    wait_for(lambda: receiver.of_kind("crash_loop"), timeout=10)
    time.sleep(1.0)  # anything else would have arrived by now
    assert sorted(receiver.kinds()) == ["crash_loop", "died"]  # died: once per 300 s
    (loop,) = receiver.of_kind("crash_loop")
    assert loop["bot"] == {"id": bot["id"], "name": "loopy"}
    assert loop["exit_code"] == 137
    assert "3 times within 60 s" in loop["detail"]
    (died,) = receiver.of_kind("died")
    assert died["bot"] == {"id": bot["id"], "name": "loopy"}
    assert died["exit_code"] == 137
    assert "standin" in died["logs_tail"]
    assert _kinds(client, bot["id"]).count("crash_loop") == 1


def test_an_unreachable_webhook_breaks_nothing(
    app: tuple[httpx.Client, Services], docker_api: docker.APIClient
) -> None:
    client, svc = app
    _configure(client, "http://127.0.0.1:9/nobody-listens", min_interval_seconds=0)
    failed = client.post("/api/alerts/test")
    assert failed.status_code == 200
    assert failed.json()["delivered"] is False
    bot = _running(client, docker_api, "lonely")
    _crash(docker_api, bot["container_name"])
    wait_for(lambda: "died" in _kinds(client, bot["id"]), timeout=15)
    wait_for(lambda: svc.alerts.failed >= 1, timeout=10)  # three tries, then given up
    assert svc.alerts.sent == 0
    # Everything else goes on: the API answers, the bot restarts and can be stopped.
    wait_for(lambda: docker_api.inspect_container(bot["container_name"])["State"]["Running"])
    assert client.post(f"/api/bots/{bot['id']}/stop").status_code == 200
    assert client.get("/api/bots").status_code == 200


def test_a_failing_webhook_is_retried(
    app: tuple[httpx.Client, Services], receiver: WebhookReceiver, docker_api: docker.APIClient
) -> None:
    client, svc = app
    _configure(client, receiver.url, events=["died"])
    receiver.status = 503
    bot = _running(client, docker_api, "retry")
    _crash(docker_api, bot["container_name"])
    wait_for(lambda: receiver.attempts >= 2, timeout=15)
    receiver.status = 200
    wait_for(lambda: receiver.of_kind("died"), timeout=10)
    assert svc.alerts.sent == 1


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


def test_budget_exceeded_in_the_keyring_is_forwarded(
    settings: Settings,
    make_services: Any,
    upstream: FakeUpstream,
    receiver: WebhookReceiver,
    docker_api: docker.APIClient,
) -> None:
    svc: Services = _fast(
        make_services(replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0))
    )
    svc.keyring.client.set_upstream("openai", upstream.url + "/v1", allow_private=True)
    with ServerThread(create_app(svc.settings, svc)) as url, logged_in(url, ADMIN_PASSWORD) as c:
        _configure(c, receiver.url, events=["budget_exceeded"])
        body = bot_body(
            "thrifty",
            secrets={"api_key": REAL_KEY, "channel_token": "123:tg"},
            budget={"daily_requests": 1},
        )
        created = c.post("/api/bots", json=body)
        assert created.status_code == 201, created.text
        bot_id = created.json()["id"]
        record = svc.store.get_bot(bot_id)
        bot = RunningBot(bot_id, "thrifty", record.uid, container_name(bot_id), {})
        wait_serving(docker_api, bot)
        proxy = svc.keyring.proxy_base("openai").removesuffix("/v1/openai")
        token = "/run/secrets/keyring_token"
        assert "Hello from the fake upstream" in _call_proxy_from(
            docker_api, bot.container, proxy, token
        )
        refused = _call_proxy_from(docker_api, bot.container, proxy, token)
        assert "budget" in refused
        (alert,) = wait_for(lambda: receiver.of_kind("budget_exceeded"), timeout=15)
        assert alert["bot"] == {"id": bot_id, "name": "thrifty"}
        assert "budget" in alert["detail"]
        assert REAL_KEY not in str(receiver.received)
