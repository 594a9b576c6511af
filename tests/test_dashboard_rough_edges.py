"""Rough edges of the dashboard (issue 18, item 5): each one as a user met it.

Playwright drives Debian's chromium (tests/support/browser.py) against a real BotMaker
with the stand-in bot image; the rest goes through the API with httpx.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from tests.conftest import bot_body
from tests.support.webhook import WebhookReceiver
from tests.test_dashboard import Session, card

expect.set_options(timeout=15_000)

WIDE = ViewportSize(width=1440, height=900)
PAGE_ACCEPT = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def wide(browser: Browser, server: str) -> Iterator[Session]:
    session = Session(browser, server, WIDE)
    yield session
    session.close()


# -- the bot cards line up ---------------------------------------------------------------


def test_the_bot_cards_of_a_row_share_their_top(wide: Session, services: Services) -> None:
    names = ["one", "two", "three"]
    for name in names:
        services.bots.create(BotCreate.model_validate(bot_body(name)))
    page = wide.page()
    wide.login(page, "/")
    for name in names:
        expect(card(page, name)).to_be_visible()
    boxes = [b for b in (c.bounding_box() for c in page.locator("li.bot-card").all()) if b]
    assert len(boxes) == 3
    first = boxes[0]
    # At 1440 px the grid has room for more than one card a row.
    row = [b for b in boxes if b["y"] < first["y"] + first["height"]]
    assert len(row) >= 2, boxes
    assert {b["y"] for b in row} == {first["y"]}, boxes
    assert len({b["x"] for b in row}) == len(row)


# -- the alerts form: an old test result goes once the settings are saved ---------------


def test_saving_the_alert_settings_clears_an_older_test_failure(
    wide: Session, receiver: WebhookReceiver
) -> None:
    page = wide.page()
    wide.login(page, "/diagnostics")
    expect(page.locator("#alerts-form")).to_have_attribute("data-state", "ready")
    result = page.locator("#alerts-test-result")
    # Nothing to send to yet: the test alert fails, and says so.
    page.get_by_role("button", name="Send a test alert").click()
    expect(result).to_be_visible()
    expect(result).to_contain_text("no webhook URL or email")
    expect(result).to_have_class(re.compile(r"notice-error"))

    page.get_by_label("Webhook URL").fill(receiver.url)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast-ok")).to_contain_text("Alert settings saved.")
    expect(result).to_be_hidden()
    expect(page.locator(".notice-error:visible")).to_have_count(0)

    # The next test speaks about the saved settings.
    page.get_by_role("button", name="Send a test alert").click()
    expect(result).to_contain_text("webhook: delivered")
    expect(result).to_have_class(re.compile(r"notice-ok"))


# -- diagnostics: the nodes' and the fleet's counts agree; no leader on one engine -------


def test_the_nodes_count_running_bots_and_a_standalone_engine_has_no_leader(
    wide: Session, services: Services, client: httpx.Client
) -> None:
    services.bots.create(BotCreate.model_validate(bot_body("kept")))
    halted = services.bots.create(BotCreate.model_validate(bot_body("halted"))).record.id
    assert client.post(f"/api/bots/{halted}/stop").status_code == 200

    nodes = client.get("/api/nodes").json()
    assert nodes["runtime"] == "docker"
    (node,) = nodes["nodes"]
    assert node["role"] == "standalone"
    assert node["leader"] is False
    assert node["bots"] == 1  # running on it
    assert client.get("/api/diagnostics").json()["fleet"]["bots"] == 2

    page = wide.page()
    wide.login(page, "/diagnostics")
    row = page.locator(f'#nodes-body tr[data-node="{node["hostname"]}"]')
    expect(row.locator("td[data-bots]")).to_have_text("1")
    expect(page.locator("#nodes-table th").last).to_have_text("Running bots")
    expect(page.locator("#nodes-count")).to_have_text(
        "1 of 2 bots running on this node; a stopped bot runs on none."
    )
    expect(page.locator("#diag-fleet")).to_contain_text("2")
    expect(row).not_to_contain_text("leader")
    expect(row.locator(".tag")).to_have_count(0)
