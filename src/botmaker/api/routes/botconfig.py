"""One bot's configuration beyond the edit itself: a preview of an edit, and the
rendered ``openclaw.json`` (SecretRefs, never a secret)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field

from botmaker.api.deps import allow, services
from botmaker.api.responses import Exact, answers
from botmaker.policy import Action
from botmaker.services.botedit import preview, rendered_config
from botmaker.services.schemas import BotUpdate

router = APIRouter(prefix="/api/bots", tags=["bots"])


class SettingChange(Exact):
    field: str = Field(
        description="dotted name, e.g. model, limits.memory_bytes, budget.daily_tokens"
    )
    before: Any
    after: Any


class EditPreview(Exact):
    id: str
    name: str
    changes: list[SettingChange]
    secrets: list[str] = Field(description="the secret files the edit replaces, by name only")
    config_diff: str | None = Field(description="unified diff of openclaw.json; null: unchanged")
    config_summary: str | None
    recreate: bool = Field(description="applying it recreates the container (the bot restarts)")
    effect: str


class SecretRefAt(Exact):
    path: str = Field(description="JSON pointer of the SecretRef in openclaw.json")
    ref: dict[str, Any]


class RenderedConfig(Exact):
    id: str
    name: str
    path: str = Field(description="where the bot reads it")
    config: Any = Field(description="openclaw.json, parsed; null if it is no JSON")
    text: str = Field(description="the file as it is (the bot's secret values redacted)")
    secret_refs: list[SecretRefAt]


@answers(
    router,
    "POST",
    "/{bot}/preview",
    EditPreview,
    "What an edit (a PATCH body) would change, checked as the edit is; changes nothing",
    dependencies=[allow(Action.BOT_EDIT)],
)
def preview_edit(bot: str, body: BotUpdate, request: Request) -> EditPreview:
    return EditPreview.model_validate(preview(services(request).deploy, bot, body))


@answers(
    router,
    "GET",
    "/{bot}/openclaw-config",
    RenderedConfig,
    "The bot's rendered openclaw.json: credentials as SecretRefs, never a secret value",
    dependencies=[allow(Action.BOT_READ)],
)
def openclaw_config(bot: str, request: Request, response: Response) -> RenderedConfig:
    response.headers["Cache-Control"] = "no-store"
    return RenderedConfig.model_validate(rendered_config(services(request).deploy, bot))
