"""Channel health: parsing a gateway's ``channels.status`` (hostile input) and the
down-episode bookkeeping, with times passed in.

The payloads are shaped like OpenClaw 2026.9.6's answers measured with a Telegram
channel on the fake Bot API (connected; the Bot API answering 502; refusing the token).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from botmaker.services.channels import (
    CHANNEL_DOWN,
    CHANNEL_UP,
    ERROR_WIDTH,
    MAX_ACCOUNTS,
    Account,
    ChannelBook,
    clean_error,
    parse_status,
)

TOKEN = "987654:E2E-telegram-token-abcdefghijklmnop"


def _telegram(**account: Any) -> dict[str, Any]:
    entry = {
        "accountId": "default",
        "enabled": True,
        "lastStartAt": 1796473614623,
        "lifecycle": "ready",
        "tokenSource": "config",
        "mode": "polling",
        "configured": True,
        "running": True,
        "connected": True,
        "lastConnectedAt": 1796473686581,
        "lastError": None,
        **account,
    }
    return {
        "ts": 1796473617021,
        "channelOrder": ["telegram"],
        "channelLabels": {"telegram": "Telegram"},
        "channels": {"telegram": {"configured": True, "running": True, "lastError": None}},
        "channelAccounts": {"telegram": [entry]},
        "channelDefaultAccountId": {"telegram": "default"},
        "statusIssues": [],
    }


def test_a_connected_account() -> None:
    (account,) = parse_status(_telegram())
    assert account == Account(
        channel="telegram",
        account="default",
        label="Telegram",
        configured=True,
        enabled=True,
        running=True,
        connected=True,
        lifecycle="ready",
        last_connected_at=1796473686.581,
    )
    assert account.state == "connected"
    assert account.name == "telegram"


def test_states_from_what_openclaw_reports() -> None:
    def state(**entry: Any) -> str:
        (account,) = parse_status(_telegram(**entry))
        return account.state

    # Starting, the first getUpdates not answered yet: still trying.
    assert state(lifecycle="starting", connected=False) == "connecting"
    # The live check failed (the Bot API answered 502): connected stays true in
    # OpenClaw's snapshot until its stale threshold, but the probe says otherwise.
    assert state(lastError="Bad Gateway", probe={"ok": False, "error": "Bad Gateway"}) == (
        "disconnected"
    )
    # The token refused: OpenClaw stops the account for good.
    refused = {
        "lifecycle": "blocked",
        "running": False,
        "connected": False,
        "lastError": "Unauthorized | Telegram ingress worker exited with code 1",
        "healthState": "terminal-disconnect",
        "terminalDisconnect": True,
    }
    assert state(**refused) == "disconnected"
    assert state(lifecycle="starting", connected=False, lastError="ETIMEDOUT") == "disconnected"
    assert state(running=False, lifecycle=None) == "disconnected"
    assert state(lifecycle="stopped") == "disconnected"
    # A channel that reports no transport state: running, unless it reports an error.
    assert state(connected=None) == "running"
    assert state(connected=None, lastError="boom") == "disconnected"
    assert state(configured=False, connected=False) == "off"
    assert state(enabled=False, connected=False) == "off"


def test_the_error_prefers_the_live_check_then_the_last_error_then_an_issue() -> None:
    (probe,) = parse_status(
        _telegram(lastError="old", probe={"ok": False, "status": 502, "error": "Bad Gateway"})
    )
    assert probe.error == "Bad Gateway"
    assert probe.probe_ok is False
    (last,) = parse_status(_telegram(lastError="Unauthorized", probe={"ok": True}))
    assert last.error == "Unauthorized"
    payload = _telegram(connected=False, lifecycle="blocked")
    payload["statusIssues"] = [
        {"channel": "telegram", "accountId": "default", "kind": "runtime", "message": "no token"},
        {"channel": "telegram", "accountId": "other", "message": "not this one"},
        "not an object",
    ]
    (issue,) = parse_status(payload)
    assert issue.error == "no token"


def test_a_summary_alone_is_the_channel_default_account() -> None:
    payload = {
        "channelLabels": {"discord": "Discord"},
        "channels": {"discord": {"configured": True, "running": True, "connected": False}},
        "channelDefaultAccountId": {"discord": "main"},
    }
    (account,) = parse_status(payload)
    assert (account.channel, account.account, account.label) == ("discord", "main", "Discord")
    assert account.state == "disconnected"
    assert account.name == "discord (main)"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "channels",
        42,
        {"channelAccounts": []},
        {"channelAccounts": {"telegram": "not a list"}},
        {"channelAccounts": {"telegram": [1, "two", None, []]}},
        {"channels": {"telegram": "up"}},
    ],
)
def test_anything_else_is_no_account(payload: object) -> None:
    assert parse_status(payload) == []


def test_hostile_fields_are_dropped_or_bounded() -> None:
    payload = _telegram(
        connected="yes",  # not a bool: unknown
        running=1,
        configured=None,
        lifecycle="<script>",
        healthState="x" * 500,
        lastConnectedAt=True,
        lastError="\x1b[31mred\x1b[0m\x00 " + "e" * 5000,
        extra={"nested": ["ignored"]},
    )
    payload["channelLabels"] = {"telegram": "T" * 500}
    payload["channelAccounts"]["../etc"] = [{"accountId": "default", "connected": True}]
    payload["channelAccounts"]["telegram"] += [
        {"accountId": "a b", "connected": True},  # not an identifier
        {"accountId": 7, "connected": True},
        {"accountId": "x" * 65, "connected": True},
        {"accountId": "default", "connected": False},  # a duplicate
    ]
    (account,) = parse_status(payload)
    assert (account.channel, account.account) == ("telegram", "default")
    assert account.connected is None
    assert account.running is None
    assert account.configured is None
    assert account.lifecycle is None
    assert account.health is None
    assert account.last_connected_at is None
    assert len(account.label) == 40
    assert len(account.error) <= 1000
    assert "\x00" not in account.error
    assert "\x1b" not in account.error
    assert account.state == "disconnected"  # running unknown, an error reported


def test_at_most_max_accounts_are_kept() -> None:
    many = [{"accountId": f"a{i}", "connected": True} for i in range(200)]
    payload = {"channelAccounts": {"telegram": many, "slack": many}}
    assert len(parse_status(payload)) == MAX_ACCOUNTS


def test_deep_json_is_no_trouble() -> None:
    deep: Any = "x"
    for _ in range(50):
        deep = {"a": [deep]}
    payload = _telegram(lastError=deep, probe=deep)
    payload["channelLabels"] = deep
    (account,) = parse_status(json.loads(json.dumps(payload)))
    assert account.error == ""
    assert account.label == ""


def test_errors_are_cleaned_and_secrets_redacted() -> None:
    text = f"409 Conflict: bot{TOKEN}/getUpdates\nsecond line\x07 with bell"
    cleaned = clean_error(text, [TOKEN])
    assert TOKEN not in cleaned
    assert "[redacted]" in cleaned
    assert "\x07" not in cleaned
    assert "\n" not in cleaned
    assert cleaned.endswith("second line with bell")
    # Credential-looking text is redacted even when it is not one of the bot's.
    assert "sk-live" not in clean_error("Authorization: Bearer sk-live-1234567890abcdef", [])
    assert len(clean_error("e" * 5000, [])) <= ERROR_WIDTH
    assert clean_error("", [TOKEN]) == ""


# -- the bookkeeping ----------------------------------------------------------------------


def _account(state: str, error: str = "") -> Account:
    if state == "connected":
        return Account("telegram", "default", "Telegram", True, True, True, True, "ready")
    if state == "connecting":
        return Account("telegram", "default", "Telegram", True, True, True, False, "starting")
    return Account(
        "telegram", "default", "Telegram", True, True, False, False, "blocked", error=error
    )


def test_a_down_episode_is_raised_once_after_the_threshold_and_ended_by_a_reconnect() -> None:
    book = ChannelBook()
    assert book.observe("b1", [_account("connected")], 1000.0, 60) == ([], True)
    assert book.observe("b1", [_account("connected")], 1010.0, 60) == ([], False)
    # Down at 1020: nothing yet, but what is shown changed.
    changes, shown = book.observe("b1", [_account("down", "Unauthorized")], 1020.0, 60)
    assert (changes, shown) == ([], True)
    assert book.observe("b1", [_account("down", "Unauthorized")], 1079.0, 60) == ([], False)
    # 60 s after it went down: one channel_down.
    (change,), shown = book.observe("b1", [_account("down", "Unauthorized")], 1080.0, 60)
    assert change.kind == CHANNEL_DOWN
    assert change.bot_id == "b1"
    assert change.down_since == 1020.0
    assert change.detail == "telegram disconnected for 60 s: Unauthorized"
    assert not shown
    # Still down: no second one.
    assert book.observe("b1", [_account("down", "Unauthorized")], 2000.0, 60) == ([], False)
    # Reconnecting does not end it; connected does.
    assert book.observe("b1", [_account("connecting")], 2010.0, 60)[0] == []
    (up,), shown = book.observe("b1", [_account("connected")], 2020.0, 60)
    assert up.kind == CHANNEL_UP
    assert up.down_since == 1020.0
    assert up.detail == "telegram connected again after 16 min"
    assert shown
    # A new episode starts from scratch.
    assert book.observe("b1", [_account("down")], 3000.0, 60)[0] == []
    assert [c.kind for c in book.observe("b1", [_account("down")], 3060.0, 60)[0]] == [CHANNEL_DOWN]


def test_a_short_outage_raises_nothing() -> None:
    book = ChannelBook()
    book.observe("b1", [_account("connected")], 0.0, 300)
    assert book.observe("b1", [_account("down")], 10.0, 300)[0] == []
    assert book.observe("b1", [_account("connected")], 200.0, 300)[0] == []
    assert book.observe("b1", [_account("down")], 250.0, 300)[0] == []  # a new count
    assert book.observe("b1", [_account("down")], 500.0, 300)[0] == []
    assert len(book.observe("b1", [_account("down")], 550.0, 300)[0]) == 1


def test_a_threshold_of_zero_raises_at_the_first_sight() -> None:
    book = ChannelBook()
    (change,), _ = book.observe("b1", [_account("connecting")], 5.0, 0)
    assert change.kind == CHANNEL_DOWN
    assert change.detail == "telegram connecting for 0 s"


def test_an_unanswered_round_keeps_the_episode_and_a_removed_account_ends_it() -> None:
    book = ChannelBook()
    book.observe("b1", [_account("down")], 0.0, 10)
    assert book.unanswered("b1", "bot b1's gateway did not answer", 5.0) is True
    assert book.unanswered("b1", "bot b1's gateway did not answer", 6.0) is False
    report = book.report("b1")
    assert report is not None
    assert report["error"] == "bot b1's gateway did not answer"
    assert [a["state"] for a in report["accounts"]] == ["disconnected"]
    # The episode counted on through the silence.
    assert [c.kind for c in book.observe("b1", [_account("down")], 10.0, 10)[0]] == [CHANNEL_DOWN]
    (up,), shown = book.observe("b1", [], 20.0, 10)
    assert up.kind == CHANNEL_UP
    assert up.account.state == "off"
    assert shown


def test_the_report_and_forgetting() -> None:
    book = ChannelBook()
    assert book.report("b1") is None
    book.observe("b1", [_account("down", "Unauthorized")], 1796473700.0, 60)
    book.observe("b1", [_account("down", "Unauthorized")], 1796473760.0, 60)
    assert book.report("b1") == {
        "checked_at": "2026-12-05T12:29:20Z",
        "error": None,
        "accounts": [
            {
                "channel": "telegram",
                "account": "default",
                "label": "Telegram",
                "state": "disconnected",
                "connected": False,
                "running": False,
                "configured": True,
                "error": "Unauthorized",
                "since": "2026-12-05T12:28:20Z",
                "last_connected_at": None,
            }
        ],
    }
    assert book.known() == {"b1"}
    assert book.forget("b1") is True
    assert book.forget("b1") is False
    assert book.report("b1") is None
    # After forgetting (the bot stopped), an episode starts over: no stale alert.
    assert book.observe("b1", [_account("down")], 1796473800.0, 60)[0] == []


def test_accounts_are_tracked_separately() -> None:
    book = ChannelBook()
    work = Account("slack", "work", "Slack", True, True, False, False, "blocked")
    book.observe("b1", [_account("connected"), work], 0.0, 30)
    (change,), _ = book.observe("b1", [_account("connected"), work], 30.0, 30)
    assert change.account.key == ("slack", "work")
    assert change.detail == "slack (work) disconnected for 30 s"
