from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from botmaker.api.deps import require_auth, services
from botmaker.openclaw.catalog import CHANNELS, PROVIDERS
from botmaker.openclaw.templates import TEMPLATES

router = APIRouter(prefix="/api", tags=["catalog"], dependencies=[Depends(require_auth)])


@router.get("/providers", summary="Model providers a bot can use")
def providers() -> dict[str, Any]:
    return {"providers": [p.to_dict() for p in PROVIDERS.values()]}


@router.get("/channels", summary="Chat channels a bot can join")
def channels() -> dict[str, Any]:
    return {"channels": [c.to_dict() for c in CHANNELS.values()]}


@router.get("/templates", summary="Persona templates (name, emoji, SOUL.md) for new bots")
def templates() -> dict[str, Any]:
    return {"templates": [t.to_dict() for t in TEMPLATES.values()]}


@router.get("/image", summary="The bot image: present locally, and pull progress")
def image_status(request: Request) -> dict[str, Any]:
    svc = services(request)
    return svc.images.status(svc.settings.bot_image)


@router.post("/image/pull", status_code=202, summary="Pull the bot image in the background")
def pull_image(request: Request) -> dict[str, Any]:
    svc = services(request)
    return svc.images.start_pull(svc.settings.bot_image).to_dict()
