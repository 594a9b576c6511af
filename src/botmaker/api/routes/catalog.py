from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from botmaker.api.deps import require_auth, services
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

router = APIRouter(prefix="/api", tags=["catalog"], dependencies=[Depends(require_auth)])


@router.get("/providers", summary="Model providers a bot can use", response_model=Providers)
def providers() -> Providers:
    return Providers.model_validate({"providers": [p.to_dict() for p in PROVIDERS.values()]})


@router.get("/channels", summary="Chat channels a bot can join", response_model=Channels)
def channels() -> Channels:
    return Channels.model_validate({"channels": [c.to_dict() for c in CHANNELS.values()]})


@answers(
    router, "GET", "/templates", Templates, "Persona templates (name, emoji, SOUL.md) for new bots"
)
def templates() -> Templates:
    return Templates.model_validate({"templates": [t.to_dict() for t in TEMPLATES.values()]})


@answers(router, "GET", "/image", ImageStatus, "The bot image: present locally, and pull progress")
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
)
def pull_image(request: Request) -> PullProgress:
    svc = services(request)
    return PullProgress.model_validate(svc.images.start_pull(svc.settings.bot_image).to_dict())
