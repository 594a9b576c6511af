"""Channel logins by QR code, end to end on the real OpenClaw gateway (issue 15, item 4).

One real OpenClaw bot on the pinned image plus the stand-in WhatsApp plugin
(tests/support/standin_channel.py: WhatsApp itself is an npm plugin here and its
servers are out of reach). BotMaker starts the login through the gateway's admin RPC
(``web.login.start``), follows ``web.login.wait``, serves the plugin's QR code as an
image, and the bot page shows it in a real browser; the test plays the phone and scans
it; the page shows the account linked; the session is in the bot's state folder and
survives a restart; a second login is cancelled; channels without such a login are
refused on their field (Signal's link: tests/test_signal_link.py); the code never
reaches BotMaker's logs or audit log.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from playwright.sync_api import Browser, expect

from botmaker.config import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.support.checks import error_of
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import OpenClawImage
from tests.support.openclaw_lab import API_KEY, Lab, openclaw_lab, wait_healthy
from tests.support.standin_channel import standin_whatsapp_image

PNG = b"\x89PNG\r\n\x1a\n"
SCREENSHOTS = Path(__file__).resolve().parent.parent / ".ci" / "work" / "screenshots"


@pytest.fixture
def image(docker_api: docker.APIClient) -> OpenClawImage:
    return standin_whatsapp_image(docker_api)


@pytest.fixture
def lab(
    settings: Settings,
    make_services: MakeServices,
    image: OpenClawImage,
    docker_api: docker.APIClient,
) -> Iterator[Lab]:
    with openclaw_lab(settings, make_services, image.reference, docker_api) as made:
        yield made


def login_state(
    client: httpx.Client, path: str, want: set[str], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(path)
        assert response.status_code == 200, response.text
        view = response.json()
        if view["state"] in want:
            return view
        time.sleep(0.3)
    raise AssertionError(f"login never reached {want}: {view}")


def scan(auth: Path) -> str:
    """Play the phone: scan the code the stand-in shows (its link reference)."""
    ref = (auth / "standin-pending").read_text().strip()
    scanned = auth / "standin-scanned"
    scanned.write_text(ref)
    scanned.chmod(0o644)
    return ref


def test_a_whatsapp_login_shows_its_qr_in_the_page_links_and_persists(
    lab: Lab,
    settings: Settings,
    docker_api: docker.APIClient,
    browser: Browser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = lab.client
    created = client.post(
        "/api/bots",
        json={
            "name": "wa-bot",
            "provider": "custom",
            "model": "fake-model",
            "base_url": lab.upstream.base_url,
            "channel": "whatsapp",
            "dm_policy": "pairing",
            "secrets": {"api_key": API_KEY},
        },
    )
    assert created.status_code == 201, created.text
    bot = created.json()
    wait_healthy(docker_api, f"botmaker-{bot['id']}", settings.network)
    path = f"/api/bots/{bot['id']}/channels/whatsapp/login"
    auth = settings.data_dir / "bots" / bot["id"] / "state" / "credentials" / "whatsapp" / "default"

    # Channels without a login are refused on their field; a login BotMaker has, for a
    # channel the bot lacks (Signal: tests/test_signal_link.py), is not found.
    refused = client.post(f"/api/bots/{bot['id']}/channels/telegram/login")
    assert refused.status_code == 409, refused.text
    assert error_of(refused)["field"] == "channel"
    assert "no login" in error_of(refused)["message"]
    for channel in ("no-such", "signal"):
        missing = client.post(f"/api/bots/{bot['id']}/channels/{channel}/login")
        assert missing.status_code == 404
        assert error_of(missing)["field"] == "channel"
    assert client.post(path, json={"force": "yes"}).status_code == 422

    idle = client.get(path).json()
    assert idle["state"] == "idle"
    assert idle["linked"] is False
    assert idle["qr"] is None

    # The page shows the code the bot's plugin made, then the success.
    context = browser.new_context(base_url=str(client.base_url))
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto("/login")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.goto(f"/bots/{bot['id']}")
    card = page.locator("#login-card")
    expect(card).to_be_visible(timeout=15_000)
    card.get_by_role("button", name="Link account").click()
    qr = card.get_by_role("img", name="QR code to scan with WhatsApp")
    expect(qr).to_be_visible(timeout=60_000)
    assert qr.evaluate("img => img.complete && img.naturalWidth") >= 100
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "bot-login-desktop.png"))

    waiting = login_state(client, path, {"waiting"})
    assert waiting["qr"]
    assert waiting["qr"].startswith(path + "/qr")
    assert waiting["message"].startswith("Scan this QR in WhatsApp")
    assert waiting["expires_at"] > time.time()
    assert qr.get_attribute("src") == waiting["qr"]
    image = client.get(waiting["qr"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "no-store"
    assert image.content.startswith(PNG)
    assert len(image.content) > 500
    # Starting again while it waits is the same login.
    again = client.post(path)
    assert again.status_code == 202
    assert again.json()["started_at"] == waiting["started_at"]

    ref = scan(auth)
    linked = login_state(client, path, {"linked", "failed", "expired"})
    assert linked["state"] == "linked", linked
    assert "Linked" in linked["message"]
    assert linked["qr"] is None
    expect(card.get_by_role("status")).to_have_text(re.compile("Linked"), timeout=15_000)
    expect(qr).to_be_hidden()
    assert client.get(waiting["qr"]).status_code == 404
    context.close()
    assert problems == []

    # The session is OpenClaw's, in the bot's state folder, and survives a restart.
    assert json.loads((auth / "creds.json").read_text())["me"]["id"]
    assert client.get(path).json()["linked"] is True
    assert client.post(f"/api/bots/{bot['id']}/restart").status_code == 200
    wait_healthy(docker_api, f"botmaker-{bot['id']}", settings.network)
    assert client.get(path).json()["linked"] is True

    # A second login (replacing the account) is cancelled while it waits.
    assert client.post(path, json={"force": True}).status_code == 202
    second = login_state(client, path, {"waiting"})
    cancelled = client.delete(path)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["qr"] is None
    assert client.get(second["qr"]).status_code == 404
    assert client.delete(path).status_code == 404
    assert client.get(path).json()["state"] == "cancelled"

    # Audited by name, never with the code; the code is in no log line.
    entries = lab.svc.audit.entries(limit=50)
    actions = [(e["action"], e["detail"].get("state")) for e in entries if "login" in e["action"]]
    assert ("channel.login_start", None) in actions
    assert ("channel.login_end", "linked") in actions
    assert ("channel.login_cancel", None) in actions
    assert ref not in json.dumps(entries)
    assert ref not in caplog.text
    assert "data:image" not in caplog.text
    assert "qrDataUrl" not in caplog.text

    # A stopped bot has no gateway to log in through.
    assert client.post(f"/api/bots/{bot['id']}/stop").status_code == 200
    stopped = client.post(path)
    assert stopped.status_code == 409
    assert "not running" in error_of(stopped)["message"]
