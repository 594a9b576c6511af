"""Provider keys in the keyring proxy, and what bots spend through it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from botmaker.api.deps import require_auth, services
from botmaker.api.responses import KeyAdded, KeyringStatus, Keys, Usage, answers
from botmaker.services.schemas import KeyCreate

router = APIRouter(prefix="/api", tags=["keyring"], dependencies=[Depends(require_auth)])


def _names(request: Request) -> dict[str, str]:
    return services(request).bots.names()


@answers(router, "GET", "/keyring", KeyringStatus, "Whether the keyring proxy runs and is unlocked")
def keyring_status(request: Request) -> KeyringStatus:
    return KeyringStatus.model_validate(services(request).keyring.status())


@answers(router, "GET", "/keys", Keys, "Provider keys in the keyring (last 4 characters only)")
def list_keys(request: Request) -> Keys:
    return Keys.model_validate({"keys": services(request).keyring.list_keys(_names(request))})


@answers(router, "POST", "/keys", KeyAdded, "Add a provider key to the keyring", status_code=201)
def add_key(body: KeyCreate, request: Request) -> KeyAdded:
    return KeyAdded.model_validate({"key": services(request).keyring.add_key(body)})


@router.delete("/keys/{key_id}", status_code=204, summary="Delete a shared provider key")
def delete_key(
    request: Request, key_id: str = Path(pattern=r"^key_[0-9a-f]{16}$", max_length=20)
) -> None:
    services(request).keyring.delete_key(key_id)


@answers(router, "GET", "/usage", Usage, "Requests, tokens, errors and budgets per bot and per key")
def usage(request: Request, days: int = Query(default=31, ge=1, le=366)) -> Usage:
    return Usage.model_validate(services(request).keyring.usage(_names(request), days=days))
