"""Linking a Signal account from the dashboard, end to end (issue 15, item 4).

Real API, real engine, real browser; the bot is the busybox stand-in with a stand-in
``signal-cli`` (tests/support/standin_signal.py: the real one is not obtainable here
and needs Signal's servers). BotMaker runs ``signal-cli --config /state/signal-cli
link`` in the bot's container, QR-encodes the device link it prints, the page shows
the code, the test plays the phone, the account lands in the bot's state folder on the
host; cancelling, expiry and hostile output end the process inside the container;
an image without signal-cli is a 409 naming it; the link is in no log or audit entry.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import segno
from playwright.sync_api import Browser, expect

from botmaker.config import Settings
from botmaker.runtime.policy import container_name
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD
from tests.support.checks import error_of
from tests.support.fixtures import MakeServices
from tests.support.standin_signal import standin_signal_image
from tests.support.waiting import wait_for

PNG = b"\x89PNG\r\n\x1a\n"
NUMBER = "+15550001111"


@pytest.fixture
def services(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> Services:
    return make_services(settings, bot_image=standin_signal_image(docker_api))


def make_bot(client: httpx.Client, services: Services, name: str) -> dict[str, Any]:
    created = client.post(
        "/api/bots",
        json={
            "name": name,
            "provider": "openai",
            "model": "gpt-5.1",
            "channel": "signal",
            "channel_settings": {"account": NUMBER},
            "secrets": {"api_key": "sk-test-key"},
        },
    )
    assert created.status_code == 201, created.text
    bot: dict[str, Any] = created.json()
    wait_for(lambda: services.runtime.status(container_name(bot["id"])).running or None, 30)
    return bot


def state_of(settings: Settings, bot: dict[str, Any]) -> Path:
    return Path(settings.data_dir) / "bots" / str(bot["id"]) / "state"


def login_state(client: httpx.Client, path: str, want: set[str]) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        view: dict[str, Any] = client.get(path).json()
        return view if view["state"] in want else None

    return wait_for(reached, timeout=30, interval=0.2)


def link_processes(docker_api: docker.APIClient, bot: dict[str, Any]) -> list[str]:
    """The bot's processes that are signal-cli or what it started (``docker top``)."""
    top: Any = docker_api.top(container_name(bot["id"]))
    index = top["Titles"].index("CMD")
    commands = [" ".join(p[index:]) if index == len(p) - 1 else p[index] for p in top["Processes"]]
    return [c for c in commands if "signal-cli" in c or c.startswith(("yes", "tr ", "head "))]


def qr_of(text: str) -> bytes:
    """The PNG BotMaker makes of a text code (login.qr_image)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=6, border=4)
    return out.getvalue()


def test_the_bot_page_links_a_signal_account_into_the_state_folder(
    client: httpx.Client,
    services: Services,
    settings: Settings,
    docker_api: docker.APIClient,
    browser: Browser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = make_bot(client, services, "sig")
    state = state_of(settings, bot)
    path = f"/api/bots/{bot['id']}/channels/signal/login"

    # BotMaker renders signal-cli's data folder into the state folder for OpenClaw.
    rendered = json.loads((state / "openclaw.json").read_text())["channels"]["signal"]
    assert rendered["transport"] == {"kind": "managed-native", "configPath": "/state/signal-cli"}
    idle = client.get(path).json()
    assert (idle["state"], idle["linked"], idle["qr"]) == ("idle", False, None)

    # The page starts the link; signal-cli's device link shows as a QR code.
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
    qr = card.get_by_role("img", name="QR code to scan with Signal")
    expect(qr).to_be_visible(timeout=20_000)
    assert qr.evaluate("img => img.complete && img.naturalWidth") >= 100

    waiting = login_state(client, path, {"waiting"})
    assert waiting["message"].startswith("Scan this code in Signal")
    assert qr.get_attribute("src") == waiting["qr"]
    uri = (state / "signal-cli" / "standin-link-uri").read_text().strip()
    assert uri.startswith("sgnl://linkdevice?uuid=")
    image = client.get(waiting["qr"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "no-store"
    assert image.content.startswith(PNG)
    assert image.content == qr_of(uri)  # exactly the link signal-cli printed
    assert link_processes(docker_api, bot), "signal-cli runs in the bot's container"
    again = client.post(path)  # starting again while it waits: the same link
    assert again.status_code == 202
    assert again.json()["started_at"] == waiting["started_at"]

    # The phone scans; signal-cli links and its account is in the state folder.
    (state / "standin-signal-scanned").write_text(NUMBER + "\n")
    linked = login_state(client, path, {"linked", "failed", "expired"})
    assert linked["state"] == "linked", linked
    assert linked["message"] == f"Linked as {NUMBER}."
    expect(card.get_by_role("status")).to_have_text(re.compile("Linked"), timeout=15_000)
    expect(qr).to_be_hidden()
    context.close()
    assert problems == []
    assert client.get(waiting["qr"]).status_code == 404
    accounts = json.loads((state / "signal-cli" / "data" / "accounts.json").read_text())
    assert [a["number"] for a in accounts["accounts"]] == [NUMBER]
    assert client.get(path).json()["linked"] is True
    assert link_processes(docker_api, bot) == []
    already = client.post(path)
    assert already.status_code == 202
    assert login_state(client, path, {"linked"})["message"] == f"Already linked as {NUMBER}."

    # A second link (force) is cancelled: its process ends before the answer.
    assert client.post(path, json={"force": True}).status_code == 202
    second = login_state(client, path, {"waiting"})
    assert link_processes(docker_api, bot)
    cancelled = client.delete(path)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert link_processes(docker_api, bot) == []
    assert client.get(second["qr"]).status_code == 404
    assert client.delete(path).status_code == 404

    # Audited by name; the link is in no log line and no audit entry.
    entries = services.audit.entries(limit=50)
    actions = [(e["action"], e["detail"].get("state")) for e in entries if "login" in e["action"]]
    assert ("channel.login_end", "linked") in actions
    assert ("channel.login_cancel", None) in actions
    for secret in (uri, uri.split("pub_key=")[1]):
        assert secret not in json.dumps(entries)
        assert secret not in caplog.text


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("link", "No scan in time; start again for a new code."),  # never scanned
        ("fail", "signal-cli: Link request error: Connection closed!"),
        ("huge-line", "signal-cli printed a line longer than 4096 bytes; stopped"),
        ("garbage", "signal-cli printed a device link BotMaker does not accept"),
        ("flood", "signal-cli printed a line longer than 4096 bytes; stopped"),
    ],
)
def test_a_failed_expired_or_hostile_link_ends_cleanly_with_its_process(
    client: httpx.Client,
    services: Services,
    settings: Settings,
    docker_api: docker.APIClient,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    words: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = make_bot(client, services, f"sig-{mode}")
    state = state_of(settings, bot)
    (state / "standin-signal-mode").write_text(mode)
    path = f"/api/bots/{bot['id']}/channels/signal/login"
    services.logins.login_seconds = 3  # a link nobody scans expires (3 minutes in use)
    started = time.monotonic()
    assert client.post(path).status_code == 202
    ended = login_state(client, path, {"failed", "linked", "expired"})
    assert ended["state"] == ("expired" if mode == "link" else "failed"), ended
    assert ended["message"].startswith(words)
    assert ended["qr"] is None
    assert time.monotonic() - started < 15
    assert link_processes(docker_api, bot) == []  # ended before the login showed failed
    assert client.get(path).json()["linked"] is False
    if mode == "fail":  # signal-cli's own log line held the link: never shown or logged
        uri = (state / "signal-cli" / "standin-link-uri").read_text().strip()
        assert "sgnl" not in ended["message"]
        assert uri not in caplog.text
    assert "<script>" not in caplog.text


def test_signal_cli_missing_or_elsewhere_is_a_409_naming_it(
    client: httpx.Client,
    services: Services,
    settings: Settings,
    standin_image: str,
) -> None:
    bot = make_bot(client, services, "nocli")
    state = state_of(settings, bot)
    path = f"/api/bots/{bot['id']}/channels/signal/login"
    config_file = state / "openclaw.json"
    original = config_file.read_text()

    def with_signal(**keys: Any) -> None:
        config = json.loads(original)
        config["channels"]["signal"].update(keys)
        config_file.write_text(json.dumps(config))

    # The channel's configured cliPath is the program run: missing there, refused.
    with_signal(
        transport={
            "kind": "managed-native",
            "configPath": "/state/signal-cli",
            "cliPath": "/opt/none/signal-cli",
        }
    )
    refused = client.post(path)
    assert refused.status_code == 409, refused.text
    assert error_of(refused)["field"] == "channel"
    assert (
        "signal-cli (/opt/none/signal-cli) is not in bot nocli's image"
        in error_of(refused)["message"]
    )
    # A signal-cli outside the bot (an external daemon) is linked there, not here.
    with_signal(transport={"kind": "external-native", "url": "http://signal:8080"})
    outside = client.post(path)
    assert outside.status_code == 409
    assert "'external-native'" in error_of(outside)["message"]
    config_file.write_text(original)
    assert client.get(path).json()["state"] == "idle"  # nothing started, nothing left

    # An image without signal-cli at all: refused, naming it and how to get it.
    moved = client.post(f"/api/bots/{bot['id']}/image", json={"image": standin_image}, timeout=120)
    assert moved.status_code in (200, 202), moved.text
    wait_for(
        lambda: (
            services.store.find_bot(bot["id"]).image == standin_image
            and services.runtime.status(container_name(bot["id"])).running
        ),
        timeout=60,
    )
    missing = client.post(path)
    assert missing.status_code == 409, missing.text
    message = error_of(missing)["message"]
    assert f"signal-cli (signal-cli) is not in bot nocli's image ({standin_image})" in message
    assert "github.com/AsamK/signal-cli" in message

    # A stopped bot: nothing to run it in.
    assert client.post(f"/api/bots/{bot['id']}/stop").status_code == 200
    stopped = client.post(path)
    assert stopped.status_code == 409
    assert "not running" in error_of(stopped)["message"]
