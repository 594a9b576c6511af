"""Pools: budgets shared by a group of bots (BotMaker: a team), end to end.

A real ``botmaker keyring serve`` process, the fake OpenAI-compatible upstream and
real HTTP in between, no mocks; the admin API's validation is tested in-process
against a real store. Each test uses its own bots and its own pool.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer

from botmaker.errors import InvalidInput
from botmaker.keyring.admin import admin_api
from botmaker.keyring.model import Budget
from botmaker.keyring.service import Keyring
from botmaker.keyring.store import KEYRING_MIGRATIONS, KeyringStore
from botmaker.store.database import Database
from tests.support.fake_upstream import FakeUpstream
from tests.support.keyring import KeyringProcess
from tests.support.waiting import wait_for

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
URL = "/v1/openai/chat/completions"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _fresh_fake(fake: FakeUpstream) -> None:
    fake.delay = 0.0
    fake.clear()


def _prepare(kr: KeyringProcess, fake: FakeUpstream) -> None:
    kr.admin.set_upstream("openai", fake.url + "/v1", allow_private=True)
    kr.admin.add_key("openai", "sk-pools-test-key-0001", label="openai main")


@pytest.fixture(scope="module")
def kr(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyringProcess]:
    with KeyringProcess(tmp_path_factory.mktemp("keyring")) as process:
        _prepare(process, fake)
        yield process


def new_bot(kr: KeyringProcess, pool: str | None = None, **grant: Any) -> tuple[str, str]:
    bot_id = str(uuid.uuid4())
    token = kr.admin.put_bot(bot_id, providers=["openai"], pool=pool, **grant)
    assert token is not None
    return bot_id, token


def ask(kr: KeyringProcess, token: str) -> httpx.Response:
    with kr.proxy() as client:
        return client.post(URL, json=CHAT, headers={"Authorization": f"Bearer {token}"})


def statuses(kr: KeyringProcess, *tokens: str) -> list[int]:
    return [ask(kr, token).status_code for token in tokens]


def pool_usage(kr: KeyringProcess, pool: str, **expected: int) -> dict[str, Any]:
    """The pool's row of the usage report once today's counters are as expected."""

    def check() -> dict[str, Any] | None:
        row: dict[str, Any] = kr.admin.usage(days=1)["pools"][pool]
        return row if all(row["today"][k] == v for k, v in expected.items()) else None

    try:
        return wait_for(check, timeout=5)
    except AssertionError:
        row = kr.admin.usage(days=1)["pools"].get(pool)
        raise AssertionError(f"pool usage {row} is not {expected}") from None


def assert_team_refusal(response: httpx.Response, limit: int, used: int) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["type"] == "budget_exceeded"
    assert error["message"] == f"team daily request budget of {limit} used up ({used} so far)"
    assert int(response.headers["retry-after"]) >= 1


# -- the shared budget ----------------------------------------------------------------------


def test_two_bots_share_a_pool_budget_and_a_bot_outside_is_unaffected(
    kr: KeyringProcess, fake: FakeUpstream
) -> None:
    pool = kr.admin.put_pool("team-a", {"daily_requests": 3})
    assert pool == {
        "id": "team-a",
        "budget": {**Budget().to_dict(), "daily_requests": 3},
        "bots": [],
    }
    alice, alice_token = new_bot(kr, "team-a")
    bob, bob_token = new_bot(kr, "team-a")
    carol, carol_token = new_bot(kr)  # in no pool
    assert kr.admin.get_bot(alice)["pool"] == "team-a"
    assert kr.admin.get_bot(carol)["pool"] is None

    assert statuses(kr, alice_token, bob_token, alice_token) == [200, 200, 200]
    for token in (alice_token, bob_token):
        assert_team_refusal(ask(kr, token), limit=3, used=3)
    assert statuses(kr, carol_token, carol_token, carol_token, carol_token) == [200] * 4
    assert len(fake.requests) == 3 + 4

    # one event for the pool's budget, for the bot that hit it first
    assert [e["kind"] for e in kr.admin.events(bot_id=alice)] == ["budget_exceeded"]
    assert "team daily request budget of 3" in kr.admin.events(bot_id=alice)[0]["detail"]
    assert "team-a" in kr.admin.events(bot_id=alice)[0]["detail"]
    assert kr.admin.events(bot_id=bob) == []
    assert kr.admin.events(bot_id=carol) == []

    row = pool_usage(kr, "team-a", requests=3, rejected=2)
    assert row["month"]["requests"] == 3
    assert row["budget"]["daily_requests"] == 3
    assert row["bots"] == sorted([alice, bob])
    report = kr.admin.usage(days=1)
    assert report["bots"][alice]["today"]["requests"] == 2
    assert report["bots"][bob]["today"]["requests"] == 1
    assert carol not in {b for p in report["pools"].values() for b in p["bots"]}
    listed = {p["id"]: p for p in kr.admin.pools()}
    assert listed["team-a"]["bots"] == sorted([alice, bob])

    # bob leaves the pool: he is free, and his request no longer counts for alice's team
    kr.admin.put_bot(bob, providers=["openai"])
    assert kr.admin.get_bot(bob)["pool"] is None
    assert statuses(kr, bob_token, bob_token) == [200, 200]
    assert ask(kr, alice_token).status_code == 200  # the team had 2 of 3 left without bob
    assert_team_refusal(ask(kr, alice_token), limit=3, used=3)
    row = pool_usage(kr, "team-a", requests=3)
    assert row["bots"] == [alice]

    # bob comes back: the team is over its budget again, his earlier requests included
    kr.admin.put_bot(bob, providers=["openai"], pool="team-a")
    assert_team_refusal(ask(kr, bob_token), limit=3, used=6)


def test_moving_a_bot_to_another_pool(kr: KeyringProcess, fake: FakeUpstream) -> None:
    kr.admin.put_pool("team-move-1", {"daily_requests": 1})
    kr.admin.put_pool("team-move-2", {"daily_requests": 5})
    bot, token = new_bot(kr, "team-move-1")
    assert statuses(kr, token, token) == [200, 429]
    kr.admin.put_bot(bot, providers=["openai"], pool="team-move-2")
    assert statuses(kr, token, token, token, token, token) == [200, 200, 200, 200, 429]
    assert "team daily request budget of 5 used up (5 so far)" in ask(kr, token).text
    pool_usage(kr, "team-move-2", requests=5)
    pool_usage(kr, "team-move-1", requests=0)


def test_a_bots_own_budget_still_applies_and_refusals_leave_nothing_under_way(
    kr: KeyringProcess, fake: FakeUpstream
) -> None:
    kr.admin.put_pool("team-own", {"daily_requests": 3})
    _, small_token = new_bot(kr, "team-own", budget=Budget(daily_requests=1))
    _, big_token = new_bot(kr, "team-own")
    assert ask(kr, small_token).status_code == 200
    refused = ask(kr, small_token)  # its own budget: not counted for the team
    assert refused.status_code == 429
    assert refused.json()["error"]["message"] == "daily request budget of 1 used up (1 so far)"
    assert statuses(kr, big_token, big_token) == [200, 200]
    for _ in range(3):  # refused by the team: none of these may stay counted as under way
        assert_team_refusal(ask(kr, big_token), limit=3, used=3)
    kr.admin.put_pool("team-own", {"daily_requests": 4})
    assert statuses(kr, big_token, big_token) == [200, 429]
    assert len(fake.requests) == 4


def test_the_pool_rate_limit_is_one_bucket_for_its_bots(
    kr: KeyringProcess, fake: FakeUpstream
) -> None:
    kr.admin.put_pool("team-rpm", {"requests_per_minute": 2})
    first, first_token = new_bot(kr, "team-rpm")
    _, second_token = new_bot(kr, "team-rpm")
    assert statuses(kr, first_token, second_token) == [200, 200]
    limited = ask(kr, first_token)
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limited"
    assert limited.json()["error"]["message"] == "team rate limit of 2 requests per minute reached"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert kr.admin.events(bot_id=first) == []  # a rate limit is no budget event


def test_deleting_a_pool_frees_its_bots_and_a_new_budget_counts_again(
    kr: KeyringProcess, fake: FakeUpstream
) -> None:
    kr.admin.put_pool("team-gone", {"daily_requests": 2})
    bot, token = new_bot(kr, "team-gone")
    assert statuses(kr, token, token, token) == [200, 200, 429]
    assert kr.admin.delete_pool("team-gone") is True
    assert kr.admin.delete_pool("team-gone") is False  # it had no budget any more
    assert "team-gone" not in {p["id"] for p in kr.admin.pools()}
    assert statuses(kr, token, token) == [200, 200]
    assert kr.admin.get_bot(bot)["pool"] == "team-gone"  # the grant still names it
    row = pool_usage(kr, "team-gone", requests=4)
    assert row["budget"] == Budget().to_dict()
    kr.admin.put_pool("team-gone", {"daily_requests": 5})
    assert statuses(kr, token, token) == [200, 429]


def test_parallel_requests_never_exceed_the_pool_budget(
    kr: KeyringProcess, fake: FakeUpstream
) -> None:
    kr.admin.put_pool("team-rush", {"daily_requests": 4})
    tokens = [new_bot(kr, "team-rush")[1] for _ in range(2)]
    fake.delay = 0.5  # all of them are under way at once

    with ThreadPoolExecutor(10) as pool:
        answered = sorted(pool.map(lambda i: ask(kr, tokens[i % 2]).status_code, range(10)))
    assert answered == [200] * 4 + [429] * 6
    assert len(fake.requests) == 4
    pool_usage(kr, "team-rush", requests=4, rejected=6)
    fake.delay = 0.0
    assert statuses(kr, *tokens) == [429, 429]  # nothing left under way, nothing freed


def test_the_pool_budget_survives_a_restart(fake: FakeUpstream, tmp_path: Path) -> None:
    kr = KeyringProcess(tmp_path)
    with kr:
        _prepare(kr, fake)
        kr.admin.put_pool("team-a", {"daily_requests": 3, "monthly_tokens": 1000})
        one, one_token = new_bot(kr, "team-a")
        two, two_token = new_bot(kr, "team-a")
        assert statuses(kr, one_token, two_token, two_token) == [200, 200, 200]
    with kr:  # SIGTERM flushed the counters; the new process reads them back
        assert kr.admin.pools() == [
            {
                "id": "team-a",
                "budget": {**Budget().to_dict(), "daily_requests": 3, "monthly_tokens": 1000},
                "bots": sorted([one, two]),
            }
        ]
        assert_team_refusal(ask(kr, one_token), limit=3, used=3)
        assert_team_refusal(ask(kr, two_token), limit=3, used=3)
        row = pool_usage(kr, "team-a", requests=3, rejected=2)
        assert row["today"]["tokens"] == 3 * (12 + 7)
    assert len(fake.requests) == 3


def test_a_pool_counts_usage_not_yet_flushed_when_it_starts(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    """Bots used before their pool got a budget: the new ledger sees unflushed counters."""
    kr = KeyringProcess(tmp_path, BOTMAKER_KEYRING_FLUSH="3600")
    with kr:
        _prepare(kr, fake)
        _, token = new_bot(kr, "team-late")
        assert statuses(kr, token, token) == [200, 200]
        kr.admin.put_pool("team-late", {"daily_requests": 3})
        assert statuses(kr, token, token) == [200, 429]


# -- the client and the admin API's checks -------------------------------------------------


def test_the_client_checks_pool_ids(kr: KeyringProcess) -> None:
    for bad in ("", "a/b", "x" * 65, "team a"):
        with pytest.raises(InvalidInput) as caught:
            kr.admin.put_pool(bad, {"daily_requests": 1})
        assert caught.value.field == "pool_id"
    with pytest.raises(InvalidInput) as caught:
        kr.admin.put_bot(str(uuid.uuid4()), providers=["openai"], pool="team a")
    assert caught.value.field == "pool"


async def _admin_calls(store: KeyringStore, bot_id: str) -> dict[str, tuple[int, Any]]:
    app = admin_api(Keyring(store), "admin-secret")
    headers = {"Authorization": "Bearer admin-secret"}
    calls: list[tuple[str, str, str, Any]] = [
        (
            "bad_grant_pool",
            "PUT",
            f"/admin/bots/{bot_id}",
            {"providers": ["openai"], "pool": "a b"},
        ),
        (
            "long_grant_pool",
            "PUT",
            f"/admin/bots/{bot_id}",
            {"providers": ["openai"], "pool": "x" * 65},
        ),
        ("number_grant_pool", "PUT", f"/admin/bots/{bot_id}", {"providers": ["openai"], "pool": 7}),
        ("grant", "PUT", f"/admin/bots/{bot_id}", {"providers": ["openai"], "pool": "team.A_1-b"}),
        ("bad_pool_id", "PUT", "/admin/pools/team%20a", {"budget": {"daily_requests": 1}}),
        ("long_pool_id", "PUT", "/admin/pools/" + "x" * 65, {"budget": {"daily_requests": 1}}),
        ("zero_limit", "PUT", "/admin/pools/team-a", {"budget": {"daily_requests": 0}}),
        ("unknown_limit", "PUT", "/admin/pools/team-a", {"budget": {"hourly_requests": 1}}),
        ("no_budget", "PUT", "/admin/pools/team-a", {}),
        ("pool", "PUT", "/admin/pools/team.A_1-b", {"budget": {"monthly_tokens": 500}}),
        ("list", "GET", "/admin/pools", None),
        ("delete_unknown", "DELETE", "/admin/pools/nobody", None),
        ("delete_bad", "DELETE", "/admin/pools/a%20b", None),
        ("delete", "DELETE", "/admin/pools/team.A_1-b", None),
        ("list_after", "GET", "/admin/pools", None),
    ]
    answers: dict[str, tuple[int, Any]] = {}
    async with TestClient(TestServer(app)) as client:
        for name, method, path, body in calls:
            response = await client.request(method, path, json=body, headers=headers)
            answers[name] = (
                response.status,
                await response.json() if response.status != 204 else None,
            )
    return answers


def test_admin_api_validates_pools(tmp_path: Path) -> None:
    store = KeyringStore(tmp_path / "keyring.db")
    bot_id = str(uuid.uuid4())
    try:
        answers = asyncio.run(_admin_calls(store, bot_id))
    finally:
        store.close()

    def refused(name: str, field: str) -> None:
        status, body = answers[name]
        assert status == 422, (name, body)
        assert body["error"]["field"] == field, (name, body)
        assert field.split("_")[0] in body["error"]["message"], (name, body)

    refused("bad_grant_pool", "pool")
    refused("long_grant_pool", "pool")
    refused("number_grant_pool", "pool")
    refused("bad_pool_id", "pool_id")
    refused("long_pool_id", "pool_id")
    refused("zero_limit", "budget.daily_requests")
    refused("unknown_limit", "budget.hourly_requests")
    refused("no_budget", "budget")
    status, body = answers["grant"]
    assert status == 201
    assert body["bot"]["pool"] == "team.A_1-b"
    status, body = answers["pool"]
    assert status == 200
    assert body["pool"]["id"] == "team.A_1-b"
    assert body["pool"]["budget"]["monthly_tokens"] == 500
    assert body["pool"]["bots"] == [bot_id]
    assert answers["list"][1]["pools"] == [body["pool"]]
    assert answers["delete_unknown"][0] == 404
    assert answers["delete_unknown"][1]["error"]["field"] == "pool_id"
    assert answers["delete_bad"][0] == 422
    assert answers["delete"][0] == 204
    assert answers["list_after"] == (200, {"pools": []})


def test_grants_from_before_pools_are_in_no_pool(tmp_path: Path) -> None:
    """The pools migration on a keyring file made by the first schema."""
    path = tmp_path / "keyring.db"
    old = Database(path, migrations=KEYRING_MIGRATIONS[:1])
    with old.write() as conn:
        conn.execute(
            "INSERT INTO grants (bot_id, token_id, token_hash, providers, created_at)"
            " VALUES ('bot-old', '0123456789ab', 'x', '[\"openai\"]', ?)",
            (time.time(),),
        )
    old.close()
    store = KeyringStore(path)
    try:
        assert store.get_grant("bot-old").pool is None
        store.put_pool("team-a", Budget(daily_requests=1))
        assert store.pools() == {"team-a": Budget(daily_requests=1)}
        tables = {row[0] for row in store.db.query("SELECT name FROM sqlite_master")}
        assert "pools" in tables
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == [1, 2]
