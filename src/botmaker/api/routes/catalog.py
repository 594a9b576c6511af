from __future__ import annotations

from fastapi import APIRouter, Request

from botmaker.api.deps import allow, services
from botmaker.api.responses import (
    Channels,
    ImageStatus,
    Providers,
    PullProgress,
    Templates,
    answers,
)
from botmaker.openclaw.catalog import CHANNELS, PROVIDERS
from botmaker.openclaw.templates import TEMPLATES
from botmaker.policy import Action

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get(
    "/providers",
    summary="Model providers a bot can use",
    response_model=Providers,
    dependencies=[allow(Action.CATALOG_READ)],
)
def providers() -> Providers:
    return Providers.model_validate({"providers": [p.to_dict() for p in PROVIDERS.values()]})


@router.get(
    "/channels",
    summary="Chat channels a bot can join",
    response_model=Channels,
    dependencies=[allow(Action.CATALOG_READ)],
)
def channels() -> Channels:
    return Channels.model_validate({"channels": [c.to_dict() for c in CHANNELS.values()]})


@answers(
    router,
    "GET",
    "/templates",
    Templates,
    "Persona templates (name, emoji, SOUL.md) for new bots",
    dependencies=[allow(Action.CATALOG_READ)],
)
def templates() -> Templates:
    return Templates.model_validate({"templates": [t.to_dict() for t in TEMPLATES.values()]})


@answers(
    router,
    "GET",
    "/image",
    ImageStatus,
    "The bot image: present locally, and pull progress",
    dependencies=[allow(Action.CATALOG_READ)],
)
def image_status(request: Request) -> ImageStatus:
    svc = services(request)
    return ImageStatus.model_validate(svc.images.status(svc.settings.bot_image))


@answers(
    router,
    "POST",
    "/image/pull",
    PullProgress,
    "Pull the bot image in the background",
    status_code=202,
    dependencies=[allow(Action.IMAGE_PULL)],
)
def pull_image(request: Request) -> PullProgress:
    svc = services(request)
    return PullProgress.model_validate(svc.images.start_pull(svc.settings.bot_image).to_dict())
