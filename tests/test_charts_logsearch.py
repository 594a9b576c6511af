"""The bot page's resource charts by range and its log search (issue 18, item 4), in
Debian's chromium against a real BotMaker with a stand-in bot (it prints
``standin: tick N`` every second).

Charts: stored per-minute rows are written through the store (as the sampler writes
them) for a bot with a few minutes of history and one older row; each range's x axis
starts at the range's start or at the first sample in it, and the memory line spans
the chart's width. Logs: a regular expression filters and marks lines, a bad one is a
message, timestamps and wrapping toggle, and a time range is read again from the engine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from botmaker.config import Settings
from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from tests.conftest import bot_body
from tests.test_dashboard import Session

expect.set_options(timeout=15_000)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Live resource samples every second (the charts' newest points)."""
    return replace(settings, stats_interval=1.0)


@pytest.fixture
def desktop(browser: Browser, server: str) -> Iterator[Session]:
    session = Session(browser, server, ViewportSize(width=1280, height=900))
    yield session
    session.close()


def _row(bot_id: str, minute: float, memory: int) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "minute": int(minute // 60 * 60),
        "cpu_percent": 1.5,
        "memory_bytes": memory,
        "net_rx_bytes": 1200,
        "net_tx_bytes": 800,
        "restarts": 0,
    }


def _domain(page: Page) -> tuple[float, float, float]:
    """(start s, end s, how much of the chart's width the memory line spans)."""
    svg = page.locator("#chart-mem svg")
    start = float(svg.get_attribute("data-start") or 0) / 1000
    end = float(svg.get_attribute("data-end") or 0) / 1000
    chart = svg.bounding_box()
    line = page.locator("#chart-mem svg polyline").bounding_box()
    assert chart
    assert line
    return start, end, line["width"] / chart["width"]


def _wait_domain(page: Page, start: float, slack: float = 90) -> tuple[float, float, float]:
    deadline = time.monotonic() + 15
    while True:
        got = _domain(page)
        if abs(got[0] - start) <= slack or time.monotonic() > deadline:
            return got
        page.wait_for_timeout(200)


def test_a_chart_range_spans_its_data_across_the_width(
    desktop: Session, services: Services
) -> None:
    bot = services.bots.create(BotCreate.model_validate(bot_body("charty"))).record
    now = time.time()
    rows = [_row(bot.id, now - 3 * 3600, 30_000_000)]
    rows += [_row(bot.id, now - m * 60, 20_000_000 + m * 100_000) for m in range(20, 0, -1)]
    services.store.add_bot_stats(rows, prune_before=0)

    page = desktop.page()
    desktop.login(page, f"/bots/{bot.id}?range=15m")
    expect(page.locator("#bot-root[data-ready]")).to_be_attached(timeout=45_000)
    expect(page.locator("#stats-range input[data-range='15m']")).to_be_checked()
    # 15 min: the data covers the range (a row a minute), so the axis starts within a
    # minute of the range's start.
    start, end, spread = _wait_domain(page, time.time() - 15 * 60)
    assert end - 15 * 60 <= start < end - 14 * 60, (start, end)
    assert spread > 0.9, spread

    # 1 h: twenty minutes of data fill the width (not the last third of an hour).
    page.locator("#stats-range label", has_text="1 h").click()
    expect(page).to_have_url(re.compile(r"[?&]range=1h"))
    first = rows[1]["minute"]
    start, end, spread = _wait_domain(page, first)
    assert abs(start - first) < 5, (start, first)
    assert spread > 0.9, spread

    # 6 h with the keyboard (the control is a radio group): from the old row, 3 h ago.
    page.locator("#stats-range input[data-range='1h']").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#stats-range input[data-range='6h']")).to_be_checked()
    oldest = rows[0]["minute"]
    start, end, spread = _wait_domain(page, oldest)
    assert abs(start - oldest) < 5, (start, oldest)
    assert spread > 0.9, spread
    expect(page.locator("#stats-range-words")).to_contain_text("6 hours")

    # The choice is remembered: the page without ?range= opens on 6 h.
    page.goto(f"/bots/{bot.id}")
    expect(page.locator("#stats-range input[data-range='6h']")).to_be_checked()


def _local(at: float) -> str:
    """A ``datetime-local`` input's value for ``at`` (the browser's zone is this host's)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(at))


def test_log_search_regex_marks_bad_regex_timestamps_wrap_and_time_range(
    desktop: Session, services: Services, client: httpx.Client
) -> None:
    bot = services.bots.create(BotCreate.model_validate(bot_body("loggy"))).record
    # The API: since/until are times, until after since, each refusal names its field.
    base = f"/api/bots/{bot.id}/logs"
    bad = client.get(base, params={"since": "yesterday", "follow": "false"})
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["field"] == "since"
    backwards = client.get(base, params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01"})
    assert backwards.status_code == 422, backwards.text
    assert backwards.json()["error"]["field"] == "until"

    page = desktop.page()
    desktop.login(page, f"/bots/{bot.id}")
    view = page.locator("#bot-logs .log-view")
    # The page's first reads wait for the engine, which other tests share: a longer wait.
    expect(view.locator(".log-line", has_text="standin: tick 4")).to_be_visible(timeout=45_000)
    search = page.get_by_label("Search log lines")

    # Plain text: the pattern is taken literally (nothing matches).
    search.fill("tick [0-9]*[02468]$")
    expect(page.locator("#bot-logs .log-count")).to_have_text(re.compile(r"^0 of \d+ lines$"))
    # As a regex: the even ticks only, the matched text marked.
    page.get_by_label("Regex").check()
    expect(view.locator(".log-line").first).to_contain_text("tick")
    lines = view.locator(".log-line").all_text_contents()
    assert lines
    assert all(re.search(r"tick \d*[02468]$", line) for line in lines), lines
    marks = view.locator("mark.log-match").all_text_contents()
    assert marks
    assert all(re.fullmatch(r"tick \d*[02468]", m) for m in marks), marks

    # A bad regex: a message, the field marked, no error in the page, nothing filtered.
    search.fill("tick (")
    message = page.locator("#bot-logs .log-search-error")
    expect(message).to_be_visible()
    expect(message).to_contain_text("Not a valid regular expression")
    expect(search).to_have_attribute("aria-invalid", "true")
    expect(view.locator(".log-line", has_text="a line on stderr")).to_be_visible()
    search.fill("")
    expect(message).to_be_hidden()

    # Timestamps: hidden, then shown before each line (the engine's, local time).
    stamp = view.locator(".log-line.stdout .log-ts").first
    expect(stamp).to_be_hidden()
    page.get_by_label("Timestamps").check()
    expect(stamp).to_be_visible()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", stamp.text_content() or "")
    # Wrap: on by default; off, long lines keep to one line.
    page.get_by_label("Wrap").uncheck()
    assert view.locator(".log-line").first.evaluate("e => getComputedStyle(e).whiteSpace") == "pre"

    # A time range: read again from the engine, only what was logged in it.
    start = int(time.time()) + 1
    expect(view.locator(".log-line", has_text=re.compile(r"tick \d+$")).last).to_be_visible()
    time.sleep(start + 3.5 - time.time())
    page.get_by_label("Since").fill(_local(start))
    page.get_by_label("Until").fill(_local(start + 2))
    page.get_by_role("button", name="Show range").click()
    expect(view.locator(".log-line.meta", has_text="end of the time range")).to_be_visible()
    stamps = view.locator(".log-line.stdout .log-ts").all_text_contents()
    assert 1 <= len(stamps) <= 3, stamps
    seconds = [time.mktime(time.strptime(s.strip()[:19], "%Y-%m-%d %H:%M:%S")) for s in stamps]
    assert all(start <= s < start + 2 for s in seconds), (start, stamps)
    expect(view.locator(".log-line", has_text="secret")).to_have_count(0)  # startup: before
    page.get_by_role("button", name="Back to live").click()
    expect(page.locator("#bot-logs [data-log-state]")).to_have_text("live")
    expect(view.locator(".log-line", has_text="standin: secret").first).to_be_visible()
