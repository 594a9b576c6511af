"""A bot's typed definition: stored JSON of every version, and edits mapped onto it.

Pure: no engine, no store file. An edit is checked as a create is, judged by which
secret files the bot has, never by secret values.
"""

from __future__ import annotations

import json

import pytest

from botmaker.definition import BotDefinition, BotState, Desired, upgrade
from botmaker.errors import InvalidInput
from botmaker.services.definitions import apply_update, bot_config, build_definition
from botmaker.services.schemas import BotCreate, BotUpdate
from botmaker.store import BotRecord

COLUMNS = {"provider": "openai", "model": "gpt-5.1", "image": "img:1", "channel": "telegram"}


def record(stored: dict[str, object], **columns: str) -> BotRecord:
    values = COLUMNS | columns
    return BotRecord(
        id="b1",
        seq=1,
        name="alpha",
        provider=values["provider"],
        model=values["model"],
        channel=values["channel"],
        image=values["image"],
        uid=1000,
        container_id=None,
        state=BotState.READY,
        created_at="t",
        updated_at="t",
        stored=json.dumps(stored),
        desired=Desired.RUNNING,
    )


def created(**fields: object) -> BotRecord:
    body = {
        "name": "alpha",
        "provider": "openai",
        "model": "gpt-5.1",
        "channel": "telegram",
        "secrets": {"api_key": "sk-1", "channel_token": "1:a"},
        **fields,
    }
    definition = build_definition(BotCreate.model_validate(body), keyring=False, image="img:1")
    return record(definition.stored(), channel=definition.channel)


TELEGRAM_FILES = frozenset({"api_key", "channel_token", "gateway_token"})


def test_json_without_a_version_gets_the_defaults_its_readers_used() -> None:
    body = upgrade({"heartbeat": True, "old_key": 1}, name="alpha", channel="slack")
    assert body["persona"] == {"name": "alpha"}
    assert body["channels"] == [{"type": "slack"}]
    assert "old_key" not in body
    definition = BotDefinition.load(json.dumps(body | {"version": 1}), name="x", columns=COLUMNS)
    assert definition.heartbeat
    assert definition.channel == "slack"


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version 7"):
        upgrade({"version": 7}, name="alpha", channel="slack")


def test_the_stored_json_round_trips() -> None:
    bot = created(fallbacks=["gpt-4o"], heartbeat=True)
    assert BotDefinition.load(bot.definition.to_json(), name="alpha", columns=COLUMNS) == (
        bot.definition
    )
    assert bot.definition.stored()["version"] == 1


def test_an_edit_changes_only_what_it_sets() -> None:
    bot = created(fallbacks=["gpt-4o"], heartbeat=True, allow_from=["42"], dm_policy="allowlist")
    edited = apply_update(bot, BotUpdate(model="gpt-4o-mini"), TELEGRAM_FILES)
    assert edited.model == "gpt-4o-mini"
    assert edited.fallbacks == ("gpt-4o",)
    assert edited.heartbeat
    assert edited.channels == bot.definition.channels
    assert edited.persona == bot.definition.persona


def test_an_edit_with_a_template_takes_its_persona() -> None:
    edited = apply_update(created(), BotUpdate(template="coder"), TELEGRAM_FILES)
    assert edited.template == "coder"
    assert edited.persona.name != "alpha"


def test_an_edit_is_checked_by_the_secret_files_the_bot_has() -> None:
    with pytest.raises(InvalidInput) as caught:
        apply_update(created(), BotUpdate(model="gpt-4o"), frozenset({"gateway_token"}))
    assert caught.value.field == "secrets.api_key"
    with pytest.raises(InvalidInput) as caught:
        apply_update(created(), BotUpdate(model="gpt-4o"), frozenset({"api_key"}))
    assert caught.value.field == "secrets.channel_token"
    given = BotUpdate.model_validate({"secrets": {"channel_token": "2:b"}})
    assert apply_update(created(), given, frozenset({"api_key"})).channel == "telegram"


def test_budgets_need_the_keyring_and_several_channels_are_not_edited() -> None:
    with pytest.raises(InvalidInput) as caught:
        apply_update(created(), BotUpdate.model_validate({"budget": {}}), TELEGRAM_FILES)
    assert caught.value.field == "budget"
    two = created(
        channel=None,
        secrets={"api_key": "sk-1"},
        channels=[
            {"type": "telegram", "credentials": {"bot_token": "1:a"}},
            {"type": "discord", "credentials": {"bot_token": "d"}},
        ],
    )
    with pytest.raises(InvalidInput) as caught:
        apply_update(two, BotUpdate(dm_policy="open"), TELEGRAM_FILES)
    assert caught.value.field == "dm_policy"


def test_the_renderer_sees_the_channel_defaults() -> None:
    config = bot_config(created(), frozenset(TELEGRAM_FILES))
    assert config.channels[0].dm_policy == "pairing"
    assert config.persona.name == "alpha"
