"""Operations: the audit log and alert settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from botmaker.api.deps import require_auth, services
from botmaker.services.alerts import AlertSettings

router = APIRouter(prefix="/api", tags=["operations"], dependencies=[Depends(require_auth)])


@router.get("/audit", summary="Who did what when, newest first (never secrets)")
def audit(
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    before: int | None = Query(None, ge=1, description="only entries older than this entry id"),
) -> dict[str, Any]:
    return {"entries": services(request).audit.entries(limit=limit, before=before)}


@router.get("/alerts", summary="Where alerts go (webhook, email), which events, how often at most")
def get_alerts(request: Request) -> dict[str, Any]:
    return services(request).alerts.settings().model_dump()


@router.put(
    "/alerts",
    summary="Set the alert webhook and email (no password: BOTMAKER_SMTP_PASSWORD_FILE), "
    "events and minimum interval",
)
def put_alerts(body: AlertSettings, request: Request) -> dict[str, Any]:
    return services(request).alerts.update(body).model_dump()


@router.post("/alerts/test", summary="Send a test alert on every channel now; results per channel")
def test_alert(request: Request) -> dict[str, Any]:
    return services(request).alerts.send_test()
