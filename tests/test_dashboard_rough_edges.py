"""Rough edges of the dashboard (issue 18, item 5): each one as a user met it.

Playwright drives Debian's chromium (tests/support/browser.py) against a real BotMaker
with the stand-in bot image; the rest goes through the API with httpx.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from tests.conftest import bot_body
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
