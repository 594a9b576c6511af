"""Image upgrades: one bot, or a canary rollout to many, each bot rolled back on failure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from botmaker.api.deps import allow, services
from botmaker.api.responses import FleetUpgradeResult, UpgradeResult, answers
from botmaker.policy import Action
from botmaker.services.rollout import MAX_BATCH, MAX_FAILURES

router = APIRouter(prefix="/api", tags=["upgrades"])

#: An image reference as Docker parses it (distribution/reference): an optional registry
#: host[:port], lowercase path components, an optional tag and digest.
IMAGE_REFERENCE = (
    r"^(?:(?:[a-zA-Z0-9-]+\.)+[a-zA-Z0-9-]+(?::[0-9]+)?/|localhost(?::[0-9]+)?/"
    r"|[a-zA-Z0-9-]+:[0-9]+/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_IMAGE = Field(min_length=1, max_length=255, pattern=IMAGE_REFERENCE)


class ImageChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str = _IMAGE


class FleetUpgrade(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: Annotated[str, _IMAGE] | None = Field(
        default=None, description="omitted: the image BOTMAKER_OPENCLAW_CHANNEL names"
    )
    bots: list[str] | None = Field(default=None, max_length=1000)
    batch: int = Field(
        default=1, ge=1, le=MAX_BATCH, description="bots upgraded at once after the canary"
    )
    max_failures: int = Field(
        default=0, ge=0, le=MAX_FAILURES, description="failures tolerated before it pauses"
    )


@answers(
    router,
    "POST",
    "/bots/{bot}/image",
    UpgradeResult,
    "Move a bot to another image; rolled back if it does not become healthy",
    dependencies=[allow(Action.BOT_EDIT)],
)
def upgrade_bot(bot: str, body: ImageChange, request: Request) -> UpgradeResult:
    return UpgradeResult.model_validate(services(request).upgrades.upgrade(bot, body.image))


@answers(
    router,
    "POST",
    "/image/upgrade",
    FleetUpgradeResult,
    "Roll an image out to some bots (or all): a canary, then batches, each bot with "
    "rollback; pauses once failures exceed max_failures",
    dependencies=[allow(Action.FLEET_UPGRADE)],
)
def upgrade_fleet(body: FleetUpgrade, request: Request) -> FleetUpgradeResult:
    result = services(request).rollouts.run(
        body.image, body.bots, batch=body.batch, max_failures=body.max_failures
    )
    return FleetUpgradeResult.model_validate(result)


class RolloutBot(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    state: str = Field(
        description="waiting, upgrading, then upgraded, current, rolled_back, refused, "
        "failed or pending"
    )
    detail: str


class RolloutCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total: int
    done: int
    failed: int
    upgrading: int
    waiting: int
    pending: int


class RolloutState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    running: bool
    image: str
    digest: str | None
    started_at: float
    finished_at: float | None
    paused_reason: str | None
    error: str | None
    counts: RolloutCounts
    bots: list[RolloutBot]


class RolloutProgressOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rollout: RolloutState | None


@answers(
    router,
    "GET",
    "/image/rollout",
    RolloutProgressOut,
    "The latest fleet rollout since BotMaker started: running or not, counts, each bot's state",
    dependencies=[allow(Action.FLEET_UPGRADE)],
)
def rollout_progress(request: Request) -> RolloutProgressOut:
    return RolloutProgressOut.model_validate(services(request).rollouts.progress.snapshot())
