"""Every page at 1440 px and at a 360 px phone (issue 18): nothing wider than the window,
no interactive element, card or table cell on top of another, every control within the
window's width (reachable without scrolling sideways), and a screenshot of each.

Bounding boxes, not pixels: the checks run in the page (tests/support/layout_probe.js) over the
boxes the browser laid out. Screenshots go to ``.ci/work/screenshots/`` (as in
tests/test_dashboard.py), named ``layout-<page>-<width>.png``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from botmaker.config import Settings
from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from tests.conftest import bot_body
from tests.test_dashboard import SCREENSHOTS, Session

expect.set_options(timeout=15_000)

WIDTHS = {1440: ViewportSize(width=1440, height=900), 360: ViewportSize(width=360, height=740)}

#: Run in the page: the problems of its layout, as text (empty: none).
LAYOUT_PROBLEMS = (Path(__file__).parent / "support" / "layout_probe.js").read_text()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """With the keyring (the Keys page's table), samples every second."""
    return replace(
        settings, keyring="auto", keyring_port=0, keyring_admin_port=0, stats_interval=1.0
    )


@pytest.fixture
def sessions(browser: Browser, server: str) -> Iterator[dict[int, Session]]:
    made = {width: Session(browser, server, viewport) for width, viewport in WIDTHS.items()}
    yield made
    for session in made.values():
        session.close()


def assert_laid_out(page: Page, name: str, width: int) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"layout-{name}-{width}.png"), full_page=True)
    problems = page.evaluate(LAYOUT_PROBLEMS)
    assert problems == [], f"{name} at {width} px:\n" + "\n".join(problems)


def wizard_steps(page: Page) -> Iterator[str]:
    """Walk the wizard's five steps; yield each step's name when it is shown."""
    expect(page.locator("#wizard[data-ready]")).to_be_attached()
    yield "wizard-1-template"
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Bot name").fill("layout")
    yield "wizard-2-persona"
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Provider")).to_have_value("openai")
    page.locator("#f-api-key").fill("sk-test-key-0123456789")
    yield "wizard-3-model"
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Chat channel")).to_have_value("telegram")
    page.locator('[data-field="secrets.channel_token"]').fill("123:telegram-token")
    yield "wizard-4-channel"
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Review")).to_be_visible()
    yield "wizard-5-review"


def test_every_page_fits_1440_and_360_px(sessions: dict[int, Session], services: Services) -> None:
    bot = services.bots.create(BotCreate.model_validate(bot_body("alpha"))).record
    services.keyring.client.add_key(
        "openai", "sk-layout-test-key-0123", label="a rather long label for a key"
    )
    pages: list[tuple[str, str, Callable[[Page], Any]]] = [
        (
            "bots",
            "/",
            lambda p: expect(
                p.locator('li.bot-card[data-name="alpha"] [data-fact="uptime"]')
            ).to_be_visible(),
        ),
        (
            "bot",
            f"/bots/{bot.id}",
            lambda p: expect(p.locator("#bot-root[data-ready]")).to_be_attached(),
        ),
        (
            "keys",
            "/keys",
            lambda p: expect(p.get_by_role("button", name=re.compile("Delete"))).to_be_visible(),
        ),
        ("pairing", "/pairing", lambda p: p.wait_for_load_state("load")),
        (
            "diagnostics",
            "/diagnostics",
            lambda p: expect(p.locator("#diag-engine .badge")).to_be_visible(),
        ),
        ("audit", "/audit", lambda p: p.wait_for_load_state("load")),
        ("users", "/settings/users", lambda p: p.wait_for_load_state("load")),
        ("account", "/account", lambda p: p.wait_for_load_state("load")),
        ("api-docs", "/api/docs", lambda p: expect(p.locator(".swagger-ui .info")).to_be_visible()),
        (
            "404",
            "/no/such/page",
            lambda p: expect(
                p.get_by_role("link", name=re.compile("home|bots", re.I)).first
            ).to_be_visible(),
        ),
    ]
    failures: list[str] = []

    def check(page: Page, name: str, width: int) -> None:
        page.wait_for_timeout(300)  # the last fetches drawn
        try:
            assert_laid_out(page, name, width)
        except AssertionError as exc:
            failures.append(str(exc))

    for width, session in sessions.items():
        page = session.page()
        page.goto("/login")
        expect(page.get_by_label("Password")).to_be_visible()
        check(page, "login", width)
        session.login(page, "/")
        for name, path, ready in pages:
            page.goto(path)
            ready(page)
            check(page, name, width)
        page.goto("/bots/new")
        for step in wizard_steps(page):
            check(page, step, width)
        page.close()
    assert failures == [], "\n\n".join(failures)
