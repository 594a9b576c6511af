"""The Docker engine down, as the pages show it (issue 18): the wizard says so from its
first step and does not try to create, the list's "Live" is grey, and the error is said
once (the banner), not twice. Then the engine comes back and all of it clears.

BotMaker is pointed at a ``DockerRelay`` (tests/support/dockerproxy.py) started down, as
in tests/test_engine_down.py; the browser is Debian's chromium through Playwright.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from botmaker.api import create_app
from botmaker.config import Settings
from tests.support.dockerproxy import DockerRelay
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.sockets import IGNORE_UNCONNECTED, collect_unconnected_sockets
from tests.test_dashboard import Session

pytestmark = pytest.mark.filterwarnings(IGNORE_UNCONNECTED)
expect.set_options(timeout=15_000)


@pytest.fixture
def relay() -> Iterator[DockerRelay]:
    with tempfile.TemporaryDirectory(prefix="bm-relay-") as folder:
        proxy = DockerRelay(Path(folder) / "docker.sock")
        try:
            yield proxy
        finally:
            proxy.close()
            collect_unconnected_sockets()


@pytest.fixture
def session(
    browser: Browser, relay: DockerRelay, make_services: MakeServices, settings: Settings
) -> Iterator[Session]:
    relay.down()
    svc = make_services(settings, docker_host=relay.url, docker_timeout=2.0)
    with ServerThread(create_app(svc.settings, svc)) as url:
        made = Session(browser, url, ViewportSize(width=1280, height=900))
        yield made
        made.close()


def test_engine_down_the_wizard_says_so_at_step_one_and_the_list_is_not_live(
    session: Session, relay: DockerRelay
) -> None:
    page = session.page()
    session.login(page, "/")
    banner = page.locator("#engine-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("The Docker engine is down")
    live = page.locator("#live-state")
    expect(live).to_have_text(re.compile("Engine down"))
    expect(live).to_have_attribute("data-live", "off")
    # Said once: the banner, not also the list's own error box.
    expect(page.locator("#list-error")).to_be_hidden()
    shown = page.locator("text=Docker engine does not answer >> visible=true")
    expect(shown).to_have_count(1)

    page.goto("/bots/new")
    expect(page.locator("#wizard[data-ready]")).to_be_attached()
    notice = page.locator("#wizard-engine")
    expect(notice).to_be_visible()  # step 1, before anything is filled in
    expect(notice).to_contain_text("a bot cannot be created")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Bot name").fill("downbot")
    page.get_by_role("button", name="Next").click()
    page.locator("#f-api-key").fill("sk-test-key-0123456789")
    page.get_by_role("button", name="Next").click()
    page.locator('[data-field="secrets.channel_token"]').fill("123:telegram-token")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Review")).to_be_visible()
    page.get_by_role("button", name="Create bot").click()
    # Nothing tried: no progress, no step marked failed; the notice has the focus.
    expect(notice).to_be_focused()
    expect(page.locator("#progress")).to_be_hidden()
    expect(page.locator('#progress-steps [data-state="failed"]')).to_have_count(0)

    relay.up()  # the engine answers again: the notice goes by itself
    expect(notice).to_be_hidden()
    expect(banner).to_be_hidden()
    page.goto("/")
    expect(page.locator("#live-state")).to_have_text("Live")
    expect(page.locator("#live-state")).to_have_attribute("data-live", "on")
