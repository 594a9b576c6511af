"""A bot's own Control UI through BotMaker, in a real browser, on the real OpenClaw image."""

from __future__ import annotations

import re
from collections.abc import Iterator

import docker
import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from botmaker.config import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.support.fake_openai import REPLY
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import OpenClawImage, build
from tests.support.openclaw_lab import Lab, openclaw_lab, telegram_bot, wait_reported_healthy


@pytest.fixture
def official(docker_api: docker.APIClient) -> OpenClawImage:
    return build(docker_api)


@pytest.fixture
def lab(
    settings: Settings,
    make_services: MakeServices,
    official: OpenClawImage,
    docker_api: docker.APIClient,
) -> Iterator[Lab]:
    with openclaw_lab(settings, make_services, official.reference, docker_api) as lab:
        yield lab


def sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def ui_url(lab: Lab, bot_id: str, path: str = "/") -> str:
    """The bot's Control UI origin as the browser sees it (``<id>.localhost``)."""
    port = lab.client.base_url.port
    return f"http://{bot_id}.localhost:{port}/bots/{bot_id}/ui{path}"


def test_control_ui_behind_botmaker_login_with_pairing_approved_in_botmaker(
    lab: Lab, browser: Browser
) -> None:
    created = lab.client.post("/api/bots", json=telegram_bot(lab, "ui-bot"))
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]
    wait_reported_healthy(lab.client, bot_id, timeout=120)
    base = str(lab.client.base_url).rstrip("/")
    host = f"{bot_id}.localhost:{lab.client.base_url.port}"

    # Without a BotMaker session: refused, and a browser is sent to sign in.
    with httpx.Client(base_url=base, timeout=30) as anon:
        forged = {"host": host, "x-botmaker-user": "user:admin", "x-forwarded-for": "10.1.1.1"}
        refused = anon.get(f"/bots/{bot_id}/ui/control-ui-config.json", headers=forged)
        assert refused.status_code == 401
        assert "basePath" not in refused.text  # nothing of the gateway
        # Outside the UI's path nothing is forwarded (the gateway's admin RPC stays BotMaker's).
        assert anon.post("/api/v1/admin/rpc", headers={"host": host}).status_code == 404
        dotted = anon.get(f"/bots/{bot_id}/ui/%2e%2e/%2e%2e/readyz", headers={"host": host})
        assert dotted.status_code == 400
    stranger = browser.new_context()
    try:
        page = stranger.new_page()
        page.goto(ui_url(lab, bot_id))
        expect(page).to_have_url(re.compile(r"/login\?next="))
    finally:
        stranger.close()

    context = browser.new_context(base_url=base)
    try:
        admin = context.new_page()
        sign_in(admin)
        ui = context.new_page()
        ui.goto(f"/bots/{bot_id}/ui/")
        expect(ui).to_have_url(re.compile(rf"^http://{re.escape(host)}/bots/{bot_id}/ui/"))
        # Device pairing stays on: the new browser asks, and BotMaker's bot page approves.
        expect(ui.get_by_text("Approve this browser")).to_be_visible(timeout=30_000)
        admin.goto(f"/bots/{bot_id}")
        request = admin.locator("#devices-pending li").first
        expect(request).to_contain_text("openclaw-control-ui", timeout=15_000)
        expect(request).to_contain_text("192.0.2.1")  # BotMaker's attribution, not a forged one
        request.get_by_role("button", name="Approve").click()
        expect(admin.locator("#devices-paired-count")).to_have_text("1", timeout=15_000)
        # The UI connects on its own, as the signed-in BotMaker user, and its chat works.
        expect(ui.get_by_text("user:admin").first).to_be_visible(timeout=30_000)
        before = len([r for r in lab.upstream.requests if r.path.endswith("/chat/completions")])
        box = ui.get_by_placeholder(re.compile("^Message"))
        box.fill("Say hello")
        box.press("Enter")
        expect(ui.get_by_text(REPLY).first).to_be_visible(timeout=90_000)
        chats = [r for r in lab.upstream.requests if r.path.endswith("/chat/completions")]
        assert len(chats) > before

        # A second browser is asked to pair too; approved through the API, it connects.
        other = browser.new_context(base_url=base)
        try:
            second = other.new_page()
            sign_in(second)
            second.goto(f"/bots/{bot_id}/ui/")
            expect(second.get_by_text("Approve this browser")).to_be_visible(timeout=30_000)
            pending = lab.client.get(f"/api/bots/{bot_id}/devices").json()["pending"]
            assert len(pending) == 1
            request_id = pending[0]["request_id"]
            approved = lab.client.post(f"/api/bots/{bot_id}/devices/{request_id}/approve")
            assert approved.status_code == 204, approved.text
            expect(second.get_by_text("user:admin").first).to_be_visible(timeout=30_000)
        finally:
            other.close()
        audit = lab.client.get("/api/audit").json()["entries"]
        assert {"bot.device_approve"} <= {e["action"] for e in audit}

        # Signing out of BotMaker ends the UI's pass: its requests are refused.
        admin.goto("/")
        admin.get_by_role("button", name=re.compile("Log out")).click()
        admin.wait_for_url("**/login")
        status = ui.evaluate(
            "async () => (await fetch('control-ui-config.json', {cache: 'no-store'})).status"
        )
        assert status == 401
    finally:
        context.close()
