"""What an edit changes, read from two definitions; limits as an edit gives them; the
SecretRefs of a rendered openclaw.json."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from botmaker.definition import BotDefinition, BudgetSpec, ChannelSpec, LimitsSpec, Persona
from botmaker.services.botedit import needs_recreate, secret_refs, settings_changes
from botmaker.services.schemas import BotUpdate

BASE = BotDefinition(
    provider="openai",
    model="gpt-5.1",
    image="img:1",
    persona=Persona(name="Ada"),
    channels=(ChannelSpec(type="telegram"),),
)


def test_changes_are_named_by_dotted_field_with_before_and_after() -> None:
    after = BASE.model_copy(
        update={
            "model": "gpt-5.1-mini",
            "limits": LimitsSpec(memory_bytes=128 * 1024**2),
            "channels": (ChannelSpec(type="telegram", settings={"api_root": "https://x.example"}),),
            "image": "img:2",  # BotMaker's own: not an edit
        }
    )
    assert settings_changes(BASE, after) == [
        {"field": "channels.0.settings.api_root", "before": None, "after": "https://x.example"},
        {"field": "limits.memory_bytes", "before": None, "after": 128 * 1024**2},
        {"field": "model", "before": "gpt-5.1", "after": "gpt-5.1-mini"},
    ]
    assert settings_changes(BASE, BASE) == []


def test_only_a_budget_alone_spares_the_restart() -> None:
    budget = settings_changes(BASE, BASE.model_copy(update={"budget": BudgetSpec(daily_tokens=5)}))
    assert [c["field"] for c in budget] == ["budget.daily_tokens"]
    assert needs_recreate(budget, []) is False
    assert needs_recreate(budget, ["channel_token"]) is True
    model = settings_changes(BASE, BASE.model_copy(update={"model": "other"}))
    assert needs_recreate(budget + model, []) is True


@pytest.mark.parametrize(
    ("memory", "expected"),
    [("512m", 512 * 1024**2), ("2g", 2 * 1024**3), ("65536k", 64 * 1024**2), (None, None)],
)
def test_memory_is_a_size(memory: str | None, expected: int | None) -> None:
    patch = BotUpdate.model_validate({"limits": {"memory": memory}})
    assert patch.limits is not None
    assert patch.limits.memory_bytes() == expected


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"memory": "lots"}, "memory"),
        ({"memory": "63m"}, "memory"),
        ({"memory": "65g"}, "memory"),
        ({"cpus": 0.01}, "cpus"),
        ({"pids": 70_000}, "pids"),
    ],
)
def test_a_limit_out_of_bounds_is_refused(limits: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BotUpdate.model_validate({"limits": limits})
    assert caught.value.errors()[0]["loc"] == ("limits", field)


def test_secret_refs_are_found_with_their_json_path() -> None:
    ref = {"source": "file", "provider": "bm_channel_token", "id": "value"}
    config = {"channels": {"telegram": {"botToken": ref}}, "list": [{"x": ref}], "other": 1}
    assert secret_refs(config) == [
        {"path": "/channels/telegram/botToken", "ref": ref},
        {"path": "/list/0/x", "ref": ref},
    ]
    assert secret_refs(None) == []
