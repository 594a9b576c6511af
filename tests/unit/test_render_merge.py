"""A render keeps what OpenClaw wrote into a bot's ``openclaw.json`` (``merge_config``).

OpenClaw writes into the file BotMaker renders: ``openclaw pairing approve`` records
the first command owner (``commands.ownerAllowFrom``), the gateway stamps ``meta``,
``doctor --fix`` and plugin installs add ``plugins`` entries, an operator may add a
channel BotMaker does not know. A re-render (an edit, an upgrade) keeps those and
overwrites only what BotMaker owns: gateway access, models, secrets, credentials, DM
policy, persona paths. The current file is the bot's, so hostile: anything but a
bounded JSON object is ignored and the render alone is written.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from botmaker.openclaw.render import (
    MERGE_LIMIT,
    GatewayAccess,
    merge_config,
    render_config,
    render_files,
)
from tests.support.botconfigs import bot

ACCESS = GatewayAccess(("172.20.0.1",), ("http://127.0.0.1:7100",), "/bots/b1/ui")


def rendered(channels: tuple[str, ...] = ("telegram",)) -> dict[str, Any]:
    config = dataclasses.replace(bot("openai", list(channels)), access=ACCESS)
    return render_config(config)


def as_file(document: object) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()


def openclaw_wrote(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as OpenClaw leaves it after a pairing approval, a gateway start, a
    plugin install and an operator's own channel."""
    current = copy.deepcopy(document)
    current["commands"] = {"ownerAllowFrom": ["telegram:424242"], "native": "auto"}
    current["meta"] = {"lastTouchedVersion": "2026.9.6", "lastTouchedAt": "2026-12-05T12:00:00Z"}
    current["wizard"] = {"lastRunAt": "2026-12-05T11:00:00Z"}
    current["plugins"]["entries"]["voice-call"] = {"enabled": True, "config": {"x": 1}}
    current["plugins"]["installs"] = {"voice-call": {"source": "npm"}}
    current["channels"]["my-ext"] = {"enabled": True, "token": "the operator's own"}
    current["channels"]["telegram"]["streaming"] = "partial"
    current["gateway"]["reload"] = {"mode": "hybrid"}
    current["agents"]["defaults"]["compaction"] = {"mode": "safeguard"}
    current["agents"]["list"] = [{"id": "main"}]
    return current


def test_openclaw_owned_keys_survive_a_render() -> None:
    render = rendered()
    merged = merge_config(render, as_file(openclaw_wrote(render)))
    assert merged["commands"]["ownerAllowFrom"] == ["telegram:424242"]
    assert merged["commands"]["native"] == "auto"
    assert merged["meta"]["lastTouchedVersion"] == "2026.9.6"
    assert merged["wizard"] == {"lastRunAt": "2026-12-05T11:00:00Z"}
    assert merged["plugins"]["entries"]["voice-call"] == {"enabled": True, "config": {"x": 1}}
    assert merged["plugins"]["entries"]["admin-http-rpc"] == {"enabled": True}
    assert merged["plugins"]["installs"] == {"voice-call": {"source": "npm"}}
    assert merged["channels"]["my-ext"] == {"enabled": True, "token": "the operator's own"}
    assert merged["channels"]["telegram"]["streaming"] == "partial"
    assert merged["gateway"]["reload"] == {"mode": "hybrid"}
    assert merged["agents"]["defaults"]["compaction"] == {"mode": "safeguard"}
    assert merged["agents"]["list"] == [{"id": "main"}]
    # Everything BotMaker renders is there as rendered.
    for key in ("models", "secrets", "update"):
        assert merged[key] == render[key]
    for key, value in render["gateway"].items():
        assert merged["gateway"][key] == value
    for key, value in render["channels"]["telegram"].items():
        assert merged["channels"]["telegram"][key] == value


def test_botmaker_owned_keys_win_over_what_the_file_says() -> None:
    render = rendered()
    current = openclaw_wrote(render)
    # What a bot (or a person in its container) may have changed to widen its access.
    current["gateway"]["auth"] = {"mode": "none"}
    current["gateway"]["bind"] = "0.0.0.0"
    current["gateway"]["trustedProxies"] = ["0.0.0.0/0"]
    current["gateway"]["controlUi"] = {
        "allowedOrigins": ["*"],
        "dangerouslyDisableDeviceAuth": True,
    }
    current["gateway"]["http"] = {"endpoints": {"responses": {"enabled": True}}}
    current["models"] = {"providers": {"evil": {"baseUrl": "https://evil.example"}}}
    current["secrets"] = {"providers": {"bm_api_key": {"source": "exec", "command": "sh"}}}
    current["update"] = {"checkOnStart": True}
    current["channels"]["telegram"].update(
        dmPolicy="open", allowFrom=["*"], botToken="plain-token", apiRoot="https://evil.example"
    )
    current["agents"]["defaults"].update(model={"primary": "evil/model"}, workspace="/")
    current["plugins"]["entries"]["admin-http-rpc"] = {"enabled": False}
    merged = merge_config(render, as_file(current))
    assert merged["gateway"]["auth"] == render["gateway"]["auth"]
    assert merged["gateway"]["bind"] == "lan"
    assert merged["gateway"]["trustedProxies"] == ["172.20.0.1"]
    assert merged["gateway"]["controlUi"] == render["gateway"]["controlUi"]
    assert merged["gateway"]["http"] == render["gateway"]["http"]
    assert merged["models"] == render["models"]
    assert merged["secrets"] == render["secrets"]
    assert merged["update"] == {"checkOnStart": False}
    telegram = merged["channels"]["telegram"]
    assert telegram["dmPolicy"] == "pairing"
    assert "allowFrom" not in telegram  # a pairing channel: no allow list rendered
    assert "apiRoot" not in telegram
    assert telegram["botToken"] == render["channels"]["telegram"]["botToken"]
    assert merged["agents"]["defaults"]["model"] == render["agents"]["defaults"]["model"]
    assert merged["agents"]["defaults"]["workspace"] == "/state/workspace"
    assert merged["plugins"]["entries"]["admin-http-rpc"] == {"enabled": True}


def test_a_catalog_channel_no_longer_rendered_is_removed() -> None:
    before = rendered(("telegram", "discord"))
    current = openclaw_wrote(before)
    merged = merge_config(rendered(("telegram",)), as_file(current))
    assert "discord" not in merged["channels"]
    assert set(merged["channels"]) == {"telegram", "my-ext"}  # the operator's own stays


def test_merging_again_changes_nothing() -> None:
    render = rendered()
    once = merge_config(render, as_file(openclaw_wrote(render)))
    assert merge_config(render, as_file(once)) == once


def test_render_files_keeps_the_command_owner() -> None:
    config = dataclasses.replace(bot("openai", ["telegram"]), access=ACCESS)
    first = render_files(config)["openclaw.json"]
    current = json.loads(first)
    current["commands"] = {"ownerAllowFrom": ["telegram:424242"]}
    again = json.loads(render_files(config, as_file(current))["openclaw.json"])
    assert again["commands"] == {"ownerAllowFrom": ["telegram:424242"]}
    assert json.loads(render_files(config)["openclaw.json"]).get("commands") is None


def _huge() -> bytes:
    document = openclaw_wrote(rendered())
    document["meta"]["padding"] = "x" * MERGE_LIMIT
    return as_file(document)


HOSTILE = {
    "empty": b"",
    "not JSON": b"{ this is not json",
    "binary": bytes(range(256)) * 4,
    "invalid UTF-8": b'{"commands": "\xff\xfe"}',
    "a list": as_file([{"commands": {"ownerAllowFrom": ["telegram:1"]}}]),
    "a string": b'"openclaw"',
    "null": b"null",
    "a number": b"42",
    "huge": _huge(),
    "deeply nested list": b"[" * 200_000 + b"]" * 200_000,
    "deeply nested object": b'{"commands": ' * 100_000 + b"1" + b"}" * 100_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_current_file_is_ignored(name: str) -> None:
    render = rendered()
    assert merge_config(render, HOSTILE[name]) == render


def test_sections_of_the_wrong_type_are_replaced_by_the_render() -> None:
    render = rendered()
    current = {
        "gateway": ["not", "an", "object"],
        "agents": "main",
        "channels": 7,
        "plugins": {"entries": ["admin-http-rpc"]},
        "commands": {"ownerAllowFrom": ["telegram:424242"]},
    }
    merged = merge_config(render, as_file(current))
    for key in ("gateway", "agents", "channels", "plugins"):
        assert merged[key] == render[key], key
    assert merged["commands"] == {"ownerAllowFrom": ["telegram:424242"]}
