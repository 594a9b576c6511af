"""Alerts: a real webhook receiver and a real SMTP server (aiosmtpd) on loopback, real bots
killed on the real engine."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
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
from tests.support.checks import assert_error, logged_in
from tests.support.fake_upstream import FakeUpstream
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.smtp import SmtpReceiver
from tests.support.waiting import wait_for
from tests.support.webhook import WebhookReceiver
from tests.test_keyring_bots import _call_proxy_from

REAL_KEY = "sk-alerts-provider-key-0123456789abcdef"


def _fast(svc: Services) -> Services:
    svc.alerts.backoff = 0.05
    svc.alerts.timeout = 2.0
    svc.alerts.keyring_poll = 0.2
    return svc


@pytest.fixture
def app(settings: Settings, make_services: MakeServices) -> Iterator[tuple[httpx.Client, Services]]:
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
    # Its first lines are out (a died alert carries the last ones), even on a busy machine.
    wait_for(lambda: b"standin: uid=" in docker_api.logs(bot["container_name"]))
    return bot


def _crash(docker_api: docker.APIClient, name: str) -> None:
    """Kill the bot's process from the host: an exit, not a stop, so Docker restarts it."""
    pid = wait_for(lambda: _pid(docker_api, name), timeout=15)
    os.kill(pid, signal.SIGKILL)


def _crash_loop(client: httpx.Client, docker_api: docker.APIClient, bot: dict[str, Any]) -> None:
    """Three crashes in a row, each seen as a ``died`` event; the restart policy
    (unless-stopped) brings the bot back after each."""
    name = bot["container_name"]
    for kill in range(3):
        _crash(docker_api, name)
        wait_for(partial(_died_times, client, bot["id"], kill + 1), timeout=15)
        wait_for(lambda: _pid(docker_api, name), timeout=15)


def _pid(docker_api: docker.APIClient, name: str) -> int:
    """The container's main process on the host while it runs (0 while restarting)."""
    state = docker_api.inspect_container(name)["State"]
    return int(state["Pid"]) if state["Running"] and not state["Restarting"] else 0


def _kinds(client: httpx.Client, bot_id: str) -> list[str]:
    return [e["kind"] for e in client.get(f"/api/bots/{bot_id}/events").json()["events"]]


def _died_times(client: httpx.Client, bot_id: str, times: int) -> bool:
    return _kinds(client, bot_id).count("died") == times


def test_settings_are_validated_and_the_test_send_arrives(
    app: tuple[httpx.Client, Services], receiver: WebhookReceiver
) -> None:
    client, _ = app
    defaults = client.get("/api/alerts").json()
    assert defaults == {
        "webhook_url": None,
        "email": None,
        "events": [
            "died",
            "oom",
            "unhealthy",
            "crash_loop",
            "channel_down",
            "channel_up",
            "budget_exceeded",
        ],
        "min_interval_seconds": 300,
        "channel_down_after_seconds": 300,
    }
    for bad in (
        {"webhook_url": "ftp://example.org/hook"},
        {"webhook_url": "not a url"},
        {"events": ["died", "exploded"]},
        {"min_interval_seconds": -1},
        {"channel_down_after_seconds": 86_401},
    ):
        refused = client.put("/api/alerts", json=bad)
        assert refused.status_code == 422, (bad, refused.text)
    assert client.get("/api/alerts").json() == defaults  # nothing changed

    # Without a webhook or email, a test-send says so.
    nowhere = client.post("/api/alerts/test").json()
    assert nowhere["delivered"] is False
    assert nowhere["channels"] == {}
    assert "no webhook URL or email" in nowhere["error"]
    saved = _configure(client, receiver.url, events=["died"], min_interval_seconds=10)
    assert saved == {
        "webhook_url": receiver.url,
        "email": None,
        "events": ["died"],
        "min_interval_seconds": 10,
        "channel_down_after_seconds": 300,
    }
    assert client.get("/api/alerts").json() == saved
    sent = client.post("/api/alerts/test")
    assert sent.status_code == 200
    assert sent.json() == {
        "delivered": True,
        "channels": {"webhook": {"delivered": True, "status": 200}},
    }
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
    _crash_loop(client, docker_api, bot)

    wait_for(lambda: receiver.of_kind("crash_loop"), timeout=10)
    time.sleep(1.0)  # anything else would have arrived by now
    assert sorted(receiver.kinds()) == ["crash_loop", "died"]  # died: once per 300 s
    (loop,) = receiver.of_kind("crash_loop")
    assert loop["bot"] == {"id": bot["id"], "name": "loopy"}
    assert loop["exit_code"] == 137
    assert loop["restarts"] == 3
    assert loop["detail"] == "crash loop: exited 3 times within 60 s; last exit code 137"
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
    assert failed.json()["channels"]["webhook"]["delivered"] is False
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
    make_services: MakeServices,
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


# -- email ----------------------------------------------------------------------------

SMTP_LOGIN = "alerts@example.org"
SMTP_PASSWORD = "smtp-Secret-pa55word-4f9a1c"


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver(login=SMTP_LOGIN, password=SMTP_PASSWORD) as server:
        yield server


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "smtp.password"
    path.write_text(SMTP_PASSWORD + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def mail_app(
    settings: Settings, make_services: MakeServices, password_file: Path
) -> Iterator[tuple[httpx.Client, Services]]:
    svc = _fast(make_services(settings, smtp_password_file=password_file))
    with ServerThread(create_app(svc.settings, svc)) as url, logged_in(url, ADMIN_PASSWORD) as c:
        yield c, svc


def _email(smtp: SmtpReceiver, **overrides: Any) -> dict[str, Any]:
    email: dict[str, Any] = {
        "host": smtp.host,
        "port": smtp.port,
        "security": "none",
        "from_address": "botmaker@example.org",
        "to": ["ops@example.org", "oncall@example.org"],
        "username": SMTP_LOGIN,
    }
    email.update(overrides)
    return email


def test_email_settings_are_validated_naming_the_field(
    app: tuple[httpx.Client, Services],
) -> None:
    client, _ = app
    good = {
        "host": "smtp.example.org",
        "port": 587,
        "security": "starttls",
        "from_address": "botmaker@example.org",
        "to": ["ops@example.org"],
    }
    for change, field in (
        ({"host": "not a host"}, "email.host"),
        ({"host": ""}, "email.host"),
        ({"port": 0}, "email.port"),
        ({"port": 70000}, "email.port"),
        ({"security": "tls"}, "email.security"),
        ({"from_address": "nobody"}, "email.from_address"),
        ({"from_address": "a@b.org\r\nBcc: x@evil.example"}, "email.from_address"),
        ({"to": []}, "email.to"),
        ({"to": ["ops@example.org", "not an address"]}, "email.to"),
        ({"to": ["ops@example.org\nBcc: x@evil.example"]}, "email.to"),
        ({"password": "inline"}, "email.password"),  # never taken from the API
        # A username without BOTMAKER_SMTP_PASSWORD_FILE could never log in.
        ({"username": "someone"}, "email.username"),
    ):
        refused = client.put("/api/alerts", json={"email": {**good, **change}})
        assert_error(refused, 422, "invalid", field)
    missing = {k: v for k, v in good.items() if k != "host"}
    assert_error(client.put("/api/alerts", json={"email": missing}), 422, "invalid", "email.host")
    assert client.get("/api/alerts").json()["email"] is None  # nothing was saved

    saved = client.put("/api/alerts", json={"email": {**good, "to": [" ops@example.org "] * 2}})
    assert saved.status_code == 200, saved.text
    assert saved.json()["email"] == {**good, "to": ["ops@example.org"], "username": None}


def test_email_test_send_and_one_email_per_crash_loop_with_smtp_auth(
    mail_app: tuple[httpx.Client, Services],
    smtp: SmtpReceiver,
    receiver: WebhookReceiver,
    docker_api: docker.APIClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client, svc = mail_app
    answers: list[str] = []

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = client.request(method, path, **kwargs)
        answers.append(response.text)
        return response

    put = call(
        "PUT",
        "/api/alerts",
        json={"webhook_url": receiver.url, "email": _email(smtp), "events": ["crash_loop"]},
    )
    assert put.status_code == 200, put.text
    assert put.json()["email"] == _email(smtp)

    # The test-send: both channels, each reported.
    tested = call("POST", "/api/alerts/test")
    assert tested.status_code == 200
    assert tested.json() == {
        "delivered": True,
        "channels": {"webhook": {"delivered": True, "status": 200}, "email": {"delivered": True}},
    }
    (test,) = smtp.received()
    assert test["Subject"] == "[BotMaker] test alert"
    assert test["From"] == "botmaker@example.org"
    assert test["To"] == "ops@example.org, oncall@example.org"
    assert "a test alert from BotMaker" in test.get_content()
    assert smtp.envelopes == [("botmaker@example.org", ["ops@example.org", "oncall@example.org"])]
    assert smtp.auth_attempts == [(SMTP_LOGIN, True)]
    assert receiver.kinds() == ["test"]

    # A crash loop: one email (and one webhook call), from the background sender.
    bot = _running(client, docker_api, "loopy")
    _crash_loop(client, docker_api, bot)
    wait_for(lambda: len(smtp.received()) == 2, timeout=15)
    time.sleep(1.0)  # anything else would have arrived by now
    assert smtp.subjects() == ["[BotMaker] test alert", "[BotMaker] crash loop: loopy"]
    loop = smtp.received()[1]
    body = loop.get_content()
    assert loop.get_content_type() == "text/plain"
    assert "Event:  crash loop" in body
    assert f"Bot:    loopy (id {bot['id']})" in body
    assert "crash loop: exited 3 times within 60 s" in body
    assert "Exit code: 137" in body
    assert "Restarts: 3" in body
    assert "Last log lines:" in body
    assert "standin" in body  # the stand-in bot's own output
    assert receiver.kinds() == ["test", "crash_loop"]
    assert svc.alerts.sent == 1  # the crash loop: one alert, delivered on both channels
    assert len(smtp.auth_attempts) == 2

    # The password is nowhere but its file: not in the store, API answers or logs.
    answers.append(call("GET", "/api/alerts").text)
    answers.append(call("GET", "/api/audit").text)
    answers.append(call("GET", "/api/diagnostics").text)
    assert all(SMTP_PASSWORD not in text for text in answers)
    for path in svc.settings.data_dir.rglob("*"):
        if path.is_file():
            assert SMTP_PASSWORD.encode() not in path.read_bytes(), path
    # Every log record of this process at DEBUG, but the test SMTP server's own ("mail.log",
    # which logs the client's AUTH line as it arrives).
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert any(r.name.startswith("botmaker") for r in ours), "the log check would prove nothing"
    assert all(SMTP_PASSWORD not in r.getMessage() for r in ours)


def test_email_failures_are_reported_per_channel(
    mail_app: tuple[httpx.Client, Services],
    smtp: SmtpReceiver,
    receiver: WebhookReceiver,
    password_file: Path,
) -> None:
    client, _ = mail_app

    def test_send(**email: Any) -> dict[str, Any]:
        _configure(client, receiver.url, email=_email(smtp, **email))
        response = client.post("/api/alerts/test")
        assert response.status_code == 200
        result: dict[str, Any] = response.json()
        assert result["channels"]["webhook"] == {"delivered": True, "status": 200}
        return result

    wrong = "not-the-Secret-at-all-9z"
    password_file.write_text(wrong)  # read at every send: no restart needed
    refused = test_send()
    assert refused["delivered"] is False
    assert refused["channels"]["email"]["delivered"] is False
    assert "535" in refused["channels"]["email"]["error"]  # authentication failed
    assert wrong not in str(refused)
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN): all refused.
    assert set(smtp.auth_attempts) == {(SMTP_LOGIN, False)}

    password_file.write_text(SMTP_PASSWORD)
    assert test_send()["delivered"] is True

    # STARTTLS asked of a server that offers none: refused, not sent in the clear.
    starttls = test_send(security="starttls")["channels"]["email"]
    assert starttls["delivered"] is False
    assert "STARTTLS" in starttls["error"]
    # Nobody listening.
    closed = test_send(port=_closed_port())["channels"]["email"]
    assert closed["delivered"] is False
    assert "cannot reach 127.0.0.1" in closed["error"]
    assert len(smtp.received()) == 1
    assert receiver.kinds() == ["test"] * 4


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
