"""The upgrade channel and a rollout's plan: pure functions, no engine."""

from __future__ import annotations

import pytest

from botmaker.config import DEFAULT_BOT_IMAGE, ConfigError, Settings
from botmaker.definition import BotState
from botmaker.services.rollout import (
    batches,
    channel_image,
    image_repository,
    image_tag,
    is_current,
    summarize,
)
from botmaker.store import BotRecord

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("reference", "repository", "tag"),
    [
        ("ghcr.io/openclaw/openclaw:2026.9.6", "ghcr.io/openclaw/openclaw", "2026.9.6"),
        ("localhost:5000/bots/openclaw:1.2", "localhost:5000/bots/openclaw", "1.2"),
        ("localhost:5000/bots/openclaw", "localhost:5000/bots/openclaw", "latest"),
        ("openclaw", "openclaw", "latest"),
        (f"openclaw:9@{DIGEST}", "openclaw", "9"),
        (f"registry:443/openclaw@{DIGEST}", "registry:443/openclaw", "latest"),
    ],
)
def test_repository_and_tag_of_a_reference(reference: str, repository: str, tag: str) -> None:
    assert image_repository(reference) == repository
    assert image_tag(reference) == tag


def test_the_channel_names_the_target_image() -> None:
    assert channel_image(Settings()) == DEFAULT_BOT_IMAGE  # pinned, the default
    assert Settings().openclaw_channel == "pinned"
    own = Settings(bot_image="registry.example:5000/team/openclaw:2026.8.2")
    assert channel_image(own) == "registry.example:5000/team/openclaw:2026.8.2"
    latest = Settings(bot_image=own.bot_image, openclaw_channel="latest")
    assert channel_image(latest) == "registry.example:5000/team/openclaw:latest"
    version = Settings(bot_image=f"openclaw:1@{DIGEST}", openclaw_channel="2026.9.6")
    assert channel_image(version) == "openclaw:2026.9.6"
    read = Settings.from_env({"BOTMAKER_OPENCLAW_CHANNEL": "2026.10.1-beta.2"})
    assert channel_image(read) == "ghcr.io/openclaw/openclaw:2026.10.1-beta.2"


@pytest.mark.parametrize("value", ["stable", "v2026.9.6", "2026", "latest:1", "../x"])
def test_a_channel_that_is_no_channel_is_refused_at_load(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"BOTMAKER_OPENCLAW_CHANNEL": value})
    assert raised.value.field == "BOTMAKER_OPENCLAW_CHANNEL"
    assert "BOTMAKER_OPENCLAW_CHANNEL" in raised.value.message
    assert "pinned, latest or an OpenClaw version" in raised.value.message


def _record(name: str, image: str = "bot:1", digest: str | None = None) -> BotRecord:
    return BotRecord(
        id=f"id-{name}",
        seq=1,
        name=name,
        provider="openai",
        model="gpt-5.1",
        channel="telegram",
        image=image,
        uid=1000,
        container_id=None,
        state=BotState.READY,
        created_at="",
        updated_at="",
        image_digest=digest,
    )


def test_the_canary_goes_alone_then_batches() -> None:
    bots = [_record(n) for n in "abcdefg"]
    plan = [[r.name for r in group] for group in batches(bots, 3)]
    assert plan == [["a"], ["b", "c", "d"], ["e", "f", "g"]]
    assert [[r.name for r in g] for g in batches(bots[:4], 2)] == [["a"], ["b", "c"], ["d"]]
    assert [[r.name for r in g] for g in batches(bots[:2], 1)] == [["a"], ["b"]]
    assert batches([], 5) == []


def test_current_means_the_same_reference_and_digest() -> None:
    assert is_current(_record("a", "bot:2", DIGEST), "bot:2", DIGEST)
    assert not is_current(_record("a", "bot:2", None), "bot:2", DIGEST)  # never recorded
    assert not is_current(_record("a", "bot:2", "sha256:" + "b" * 64), "bot:2", DIGEST)
    assert not is_current(_record("a", "bot:1", DIGEST), "bot:2", DIGEST)
    assert not is_current(_record("a", "bot:2", None), "bot:2", None)


def test_summary_counts_each_status() -> None:
    results = [{"status": s} for s in ("upgraded", "current", "upgraded", "pending")]
    assert summarize(results) == {"upgraded": 2, "current": 1, "pending": 1}
