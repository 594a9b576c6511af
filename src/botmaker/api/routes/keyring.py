"""Provider keys in the keyring proxy, and what bots spend through it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request

from botmaker.api.deps import require_auth, services
from botmaker.services.schemas import KeyCreate

router = APIRouter(prefix="/api", tags=["keyring"], dependencies=[Depends(require_auth)])


def _names(request: Request) -> dict[str, str]:
    return services(request).bots.names()


@router.get("/keyring", summary="Whether the keyring proxy runs and is unlocked")
def keyring_status(request: Request) -> dict[str, Any]:
    return services(request).keyring.status()


@router.get("/keys", summary="Provider keys in the keyring (last 4 characters only)")
def list_keys(request: Request) -> dict[str, Any]:
    return {"keys": services(request).keyring.list_keys(_names(request))}


@router.post("/keys", status_code=201, summary="Add a provider key to the keyring")
def add_key(body: KeyCreate, request: Request) -> dict[str, Any]:
    return {"key": services(request).keyring.add_key(body)}


@router.delete("/keys/{key_id}", status_code=204, summary="Delete a shared provider key")
def delete_key(
    request: Request, key_id: str = Path(pattern=r"^key_[0-9a-f]{16}$", max_length=20)
) -> None:
    services(request).keyring.delete_key(key_id)


@router.get("/usage", summary="Requests, tokens, errors and budgets per bot and per key")
def usage(request: Request, days: int = Query(default=31, ge=1, le=366)) -> dict[str, Any]:
    return services(request).keyring.usage(_names(request), days=days)
