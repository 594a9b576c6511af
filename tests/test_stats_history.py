"""Stats kept 24 h: one aggregated row per running bot per minute, in SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import logged_in
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.waiting import wait_for

HISTORY_INTERVAL = 1.0  # a "minute" of one second, set through the settings


@pytest.fixture
def app(settings: Settings, make_services: MakeServices) -> Iterator[tuple[httpx.Client, Services]]:
    svc: Services = make_services(
        settings, stats_interval=60.0, stats_history_interval=HISTORY_INTERVAL
    )
    with ServerThread(create_app(svc.settings, svc)) as url, logged_in(url, ADMIN_PASSWORD) as c:
        yield c, svc


def _sample_a_minute(svc: Services) -> None:
    """Sample (by hand: the background interval is long) until a row has been written."""
    before = svc.stats.rows_written

    def written() -> bool:
        svc.stats.sample_once()
        return svc.stats.rows_written > before

    wait_for(written, timeout=15, interval=0.3)


def test_a_row_per_running_bot_is_written_and_read_back(
    app: tuple[httpx.Client, Services],
) -> None:
    client, svc = app
    bot = svc.bots.create(BotCreate.model_validate(bot_body("alpha"))).record
    assert svc.stats.history_interval == HISTORY_INTERVAL
    _sample_a_minute(svc)
    _sample_a_minute(svc)

    rows = svc.store.bot_stats(bot.id, since=time.time() - 3600)
    assert rows, "no stored row"
    row = rows[-1]
    assert set(row) == {
        "minute",
        "cpu_percent",
        "memory_bytes",
        "net_rx_bytes",
        "net_tx_bytes",
        "restarts",
    }
    assert row["memory_bytes"] > 0
    assert row["restarts"] == 0
    assert row["minute"] == int(row["minute"] // HISTORY_INTERVAL * HISTORY_INTERVAL)

    default = client.get("/api/bots/alpha/stats").json()
    assert set(default) == {"id", "interval", "points"}  # the default shape is unchanged
    body = client.get("/api/bots/alpha/stats", params={"hours": 24}).json()
    assert body["id"] == bot.id
    assert body["history_interval"] == HISTORY_INTERVAL
    assert [r["minute"] for r in body["history"]] == [r["minute"] for r in rows]

    fleet = client.get("/api/stats", params={"hours": 24}).json()
    assert {"at", "interval", "bots", "totals"} <= set(fleet)
    assert fleet["history"], fleet
    last = fleet["history"][-1]
    assert last["bots"] == 1
    assert last["memory_bytes"] == rows[-1]["memory_bytes"]
    assert "history" not in client.get("/api/stats").json()
    assert client.get("/api/stats", params={"hours": 25}).status_code == 422

    svc.bots.delete(bot.id)  # the rows go with the bot
    assert svc.store.bot_stats(bot.id, since=0) == []


def test_rows_older_than_a_day_are_pruned(app: tuple[httpx.Client, Services]) -> None:
    _, svc = app
    bot = svc.bots.create(BotCreate.model_validate(bot_body("alpha"))).record
    now = time.time()
    old = {
        "bot_id": bot.id,
        "cpu_percent": 1.0,
        "memory_bytes": 1,
        "net_rx_bytes": 0,
        "net_tx_bytes": 0,
        "restarts": 0,
    }
    svc.store.add_bot_stats(
        [{**old, "minute": int(now - 25 * 3600)}, {**old, "minute": int(now - 23 * 3600)}],
        prune_before=0,
    )
    assert len(svc.store.bot_stats(bot.id, since=0)) == 2
    _sample_a_minute(svc)
    minutes = [r["minute"] for r in svc.store.bot_stats(bot.id, since=0)]
    assert int(now - 25 * 3600) not in minutes  # older than 24 h: pruned
    assert int(now - 23 * 3600) in minutes  # within the day: kept
    assert len(minutes) >= 2
