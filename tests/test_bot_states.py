"""What a user sees of a bot's state (issue 18, item 1): one model (services/botstate.py)
for the API, the live stream, the list, the page and the events.

The stubborn stand-in image ignores SIGTERM, so a stop takes the whole stop timeout
and ends in a SIGKILL (exit 137), the case that used to show as a red crash: the
page shows ``stopping…`` at once, then a grey ``stopped``; the events say who stopped
it. A kill by hand is a ``crashed (137)``; an edit's recreate says ``edit by admin:
model`` on the events it causes. Bots without an OpenClaw gateway say their health is
unknown, and why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any, cast

import docker
import httpx
import pytest
from playwright.sync_api import Browser, expect

from botmaker.api.app import create_app
from botmaker.config import Settings
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import logged_in
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.waiting import wait_for
from tests.test_dashboard import DESKTOP, Session

#: Long enough to see ``stopping…`` in the page, short enough for the suite.
STOP_TIMEOUT = 4


@pytest.fixture
def stubborn(
    settings: Settings, make_services: MakeServices, stubborn_image: str
) -> Iterator[tuple[str, httpx.Client, Services]]:
    svc: Services = make_services(settings, bot_image=stubborn_image, stop_timeout=STOP_TIMEOUT)
    with ServerThread(create_app(svc.settings, svc)) as url, logged_in(url, ADMIN_PASSWORD) as c:
        yield url, c, svc


def _events(client: httpx.Client, bot_id: str) -> list[dict[str, Any]]:
    return list(client.get(f"/api/bots/{bot_id}/events").json()["events"])


def _event(client: httpx.Client, bot_id: str, kind: str, cause: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        found[:] = [e for e in _events(client, bot_id) if e["kind"] == kind and e["cause"] == cause]
        return bool(found)

    wait_for(seen, timeout=15)
    return found[0]


def test_a_stop_shows_stopping_then_stopped_never_a_crash(
    stubborn: tuple[str, httpx.Client, Services],
    browser: Browser,
    docker_api: docker.APIClient,
) -> None:
    url, client, _ = stubborn
    created = client.post("/api/bots", json=bot_body("stubby"))
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]
    name = f"botmaker-{bot_id}"

    # Running without an OpenClaw gateway: its health is unknown, and it says why.
    status = client.get(f"/api/bots/{bot_id}").json()["status"]
    assert status["summary"] == "health_unknown", status
    assert "does not probe it" in status["reason"]

    session = Session(browser, url, DESKTOP)
    try:
        page = session.page()
        session.login(page, f"/bots/{bot_id}")
        badge, reason = page.locator("#bot-badge"), page.locator("#bot-reason")
        expect(badge).to_have_text("health unknown")
        expect(badge).to_have_class(re.compile(r"badge-idle"))
        expect(reason).to_contain_text("does not probe it")

        # Stop: ``stopping…`` at once (the stubborn bot ignores SIGTERM for the whole
        # stop timeout), on the page and in the list's API; then a grey ``stopped``
        # although the engine had to SIGKILL it (exit 137).
        list_page = session.page()
        list_page.goto("/")
        card = list_page.locator(f'li.bot-card[data-bot-id="{bot_id}"]')
        expect(card.locator(".badge")).to_have_text("health unknown")
        clicked = time.monotonic()
        page.locator('#bot-actions [data-action="stop"]').click()
        expect(badge).to_have_text("stopping…", timeout=2_000)
        expect(badge).to_have_class(re.compile(r"badge-warn"))
        expect(card.locator(".badge")).to_have_text("stopping…", timeout=2_000)
        (listed,) = client.get("/api/bots").json()["bots"]
        assert listed["status"]["summary"] == "stopping", listed["status"]
        assert listed["status"]["reason"] == "stop by admin"
        expect(badge).to_have_text("stopped", timeout=(STOP_TIMEOUT + 10) * 1000)
        assert time.monotonic() - clicked >= STOP_TIMEOUT - 1  # it did wait for the bot
        expect(badge).to_have_class(re.compile(r"badge-idle"))
        expect(reason).to_contain_text("exit code 137")
        expect(card.locator(".badge")).to_have_text("stopped")
        state = docker_api.inspect_container(name)["State"]
        assert state["ExitCode"] == 137
        detail = client.get(f"/api/bots/{bot_id}").json()["status"]
        assert (detail["summary"], detail["exit_code"]) == ("stopped", 137)

        # The events say it was a stop, by whom: no ``died``.
        stopped = _event(client, bot_id, "stopped", "stop by admin")
        assert stopped["actor"] == "admin"
        assert stopped["exit_code"] == 137
        assert "killed after the 4 s stop timeout" in stopped["detail"]
        assert not [e for e in _events(client, bot_id) if e["kind"] == "died"]
        expect(page.locator("#events")).to_contain_text("stop by admin")

        # Started again, then killed by hand (not asked through BotMaker): a crash.
        assert client.post(f"/api/bots/{bot_id}/start").status_code == 200
        expect(badge).to_have_text("health unknown", timeout=10_000)
        started = _event(client, bot_id, "started", "start by admin")
        assert started["actor"] == "admin"
        # No restart by policy: the crash stays on screen.
        docker_api.update_container(name, restart_policy=cast(Any, {"Name": "no"}))
        docker_api.kill(name)
        expect(badge).to_have_text("crashed (137)", timeout=10_000)
        expect(badge).to_have_class(re.compile(r"badge-bad"))
        expect(card.locator(".badge")).to_have_text("crashed (137)")
        died = [e for e in _events(client, bot_id) if e["kind"] == "died"]
        assert died
        assert died[0]["cause"] == ""
        assert died[0]["actor"] is None
    finally:
        session.close()  # asserts no script error or CSP violation


def test_an_edit_names_its_cause_and_actor_on_the_events_it_causes(
    client: httpx.Client, services: Services
) -> None:
    created = client.post("/api/bots", json=bot_body("edited"))
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]
    edited = client.patch(f"/api/bots/{bot_id}", json={"model": "gpt-5.1-mini"})
    assert edited.status_code == 200, edited.text

    cause = "edit by admin: model"
    # The old container's end is the edit's, not a crash; so is the new one's start.
    stopped = _event(client, bot_id, "stopped", cause)
    assert stopped["actor"] == "admin"
    assert _event(client, bot_id, "started", cause)["actor"] == "admin"
    changed = _event(client, bot_id, "config_changed", "edit by admin")
    assert changed["actor"] == "admin"
    assert not [e for e in _events(client, bot_id) if e["kind"] == "died"]

    # A secret's rotation is named, never its value.
    rotated = client.patch(
        f"/api/bots/{bot_id}", json={"secrets": {"channel_token": "456:rotated-token"}}
    )
    assert rotated.status_code == 200, rotated.text
    event = _event(client, bot_id, "started", "edit by admin: channel_token (rotated)")
    assert "456:rotated-token" not in str(_events(client, bot_id))
    assert event["actor"] == "admin"

    # The fleet's event list carries them too.
    fleet = client.get("/api/events").json()["events"]
    assert any(e["cause"] == cause and e["actor"] == "admin" for e in fleet)
