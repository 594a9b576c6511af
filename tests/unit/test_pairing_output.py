"""What OpenClaw's CLI prints about DM pairing, read as hostile input.

The CLI runs on the bot's own state, so its output is the bot's: only a JSON object of
the expected shape is read, only requests with a valid code and sender are kept, and
of those only the expected fields, bounded and without control characters. The
samples are what OpenClaw 2026.9.6 prints (``pairing list telegram --json``,
``pairing approve``, ``gateway call channels.pairing.list --json``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from botmaker.errors import RuntimeFailure
from botmaker.runtime.base import ExecResult
from botmaker.services.gateway.pairing import (
    MAX_REQUESTS,
    failure,
    match_request_id,
    parse_approval,
    parse_requests,
)

LISTED: dict[str, Any] = {
    "channel": "telegram",
    "requests": [
        {
            "id": "424242",
            "code": "4HAPY23X",
            "createdAt": "2026-12-05T12:24:36.916Z",
            "lastSeenAt": "2026-12-05T12:24:40.000Z",
            "meta": {"firstName": "Tess", "lastName": "Ng", "accountId": "default"},
        },
        {
            "id": "55555",
            "code": "KSE3TPPA",
            "createdAt": "2026-12-05T12:25:00.590Z",
            "lastSeenAt": "2026-12-05T12:25:00.590Z",
            "meta": {"username": "bob", "accountId": "work"},
        },
    ],
}


def printed(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"


def test_a_listing_is_read_to_the_fields_botmaker_shows() -> None:
    tess, bob = parse_requests(printed(LISTED), "telegram")
    assert tess.to_dict() == {
        "channel": "telegram",
        "code": "4HAPY23X",
        "sender": "424242",
        "account": "default",
        "name": "Tess Ng",
        "created_at": 1796473476.916,
        "last_seen_at": 1796473480.0,
        "expires_at": 1796473476.916 + 3600,
    }
    assert (bob.name, bob.account, bob.code) == ("@bob", "work", "KSE3TPPA")


def test_a_log_line_before_the_json_is_skipped() -> None:
    output = "[plugins] telegram ready\n" + printed(LISTED)
    assert [r.code for r in parse_requests(output, "telegram")] == ["4HAPY23X", "KSE3TPPA"]


@pytest.mark.parametrize(
    "output",
    [
        "",
        "No pending telegram pairing requests.",
        "{ not json",
        printed([LISTED]),
        printed({"channel": "discord", "requests": []}),  # another channel's answer
        printed({"channel": "telegram", "requests": {"a": 1}}),
        printed({"channel": "telegram"}),
        "[" * 100_000 + "]" * 100_000,
        '{"channel": "telegram", "requests": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
)
def test_output_of_another_shape_is_an_error(output: str) -> None:
    with pytest.raises(RuntimeFailure):
        parse_requests(output, "telegram")


def test_requests_of_the_wrong_shape_are_left_out_and_fields_are_bounded() -> None:
    good: dict[str, Any] = LISTED["requests"][0]
    hostile: list[Any] = [
        "not an object",
        {**good, "code": "--notify"},  # an option, not a code
        {**good, "code": "4hapy23x"},
        {**good, "code": "A" * 40},
        {**good, "code": 12345678},
        {**good, "id": ""},
        {**good, "id": "4\n2"},
        {**good, "id": "9" * 500},
        {**good, "id": ["424242"]},
        {
            **good,
            "createdAt": "yesterday",
            "lastSeenAt": "2026-12-05T12:24:36",  # no zone: not trusted either
            "meta": {
                "firstName": "\x1b[31mEvil\x1b[0m" + "x" * 500,
                "accountId": "../../etc",
                "senderId": "someone else",
                "role": "owner",
            },
        },
    ]
    listing = {"channel": "telegram", "requests": hostile}
    [kept] = parse_requests(printed(listing), "telegram")
    assert kept.created_at is None
    assert kept.last_seen_at is None
    assert kept.account == "default"  # an account id of another shape is not believed
    assert "\x1b" not in kept.name
    assert len(kept.name) <= 64
    assert kept.to_dict()["expires_at"] is None
    assert set(kept.to_dict()) == {
        "channel",
        "code",
        "sender",
        "account",
        "name",
        "created_at",
        "last_seen_at",
        "expires_at",
    }


def test_a_flood_of_requests_is_cut() -> None:
    many = {"channel": "telegram", "requests": [LISTED["requests"][0]] * (MAX_REQUESTS * 5)}
    assert len(parse_requests(printed(many), "telegram")) == MAX_REQUESTS


def test_an_approval_tells_the_sender_and_the_first_owner() -> None:
    output = (
        "Approved telegram sender 424242.\n"
        "Command owner configured telegram:424242 (commands.ownerAllowFrom was empty).\n"
    )
    assert parse_approval(output) == ("424242", "telegram:424242")
    coloured = "\x1b[32mApproved\x1b[39m \x1b[2mtelegram\x1b[22m sender \x1b[36m42\x1b[39m.\n"
    assert parse_approval(coloured) == ("42", None)
    assert parse_approval("something else entirely\n") == (None, None)


def test_a_failure_is_told_in_openclaws_words_bounded() -> None:
    stderr = (
        "[openclaw] The CLI command failed.\n"
        '[openclaw] Reason: No pending pairing request found for code "ZZZZZZZZ".\n'
        "[openclaw] Try: openclaw doctor\n"
    )
    assert (
        failure(ExecResult(1, "", stderr))
        == 'No pending pairing request found for code "ZZZZZZZZ".'
    )
    as_json = printed({"ok": False, "error": {"type": "cli_error", "message": "No channel."}})
    assert failure(ExecResult(1, as_json, "")) == "No channel."
    noisy = ExecResult(1, "", "\x1b[31m" + "boom " * 200 + "\x07\n")
    assert len(failure(noisy)) <= 300
    assert "\x1b" not in failure(noisy)
    assert failure(ExecResult(137, "", "")) == "exit code 137"


def test_the_gateways_request_id_is_found_by_sender_account_and_time() -> None:
    [tess, _] = parse_requests(printed(LISTED), "telegram")
    listed = {
        "requests": [
            {
                "requestId": "other-id",
                "channel": "telegram",
                "accountId": "default",
                "senderId": "424242",
                "createdAt": "2026-12-05T11:00:00.000Z",  # an older request of the sender
            },
            {
                "requestId": "LP-GytMQ2NZNnDv6OCPpbQkNbluMD2oH",
                "channel": "telegram",
                "accountId": "default",
                "senderId": "424242",
                "createdAt": "2026-12-05T12:24:36.916Z",
            },
            {"requestId": "--evil id--!", "channel": "telegram"},
        ]
    }
    assert match_request_id(listed, tess) == "LP-GytMQ2NZNnDv6OCPpbQkNbluMD2oH"
    assert match_request_id({"requests": []}, tess) is None
    with pytest.raises(RuntimeFailure):
        match_request_id({"requests": "none"}, tess)
