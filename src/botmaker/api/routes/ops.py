"""Operations: the audit log and alert settings."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from botmaker.api.deps import allow, services
from botmaker.api.responses import AlertTest, AuditLog, answers
from botmaker.policy import Action
from botmaker.services.alerts import AlertSettings

router = APIRouter(prefix="/api", tags=["operations"])


@answers(
    router,
    "GET",
    "/audit",
    AuditLog,
    "Who did what when, newest first (never secrets)",
    dependencies=[allow(Action.AUDIT_READ)],
)
def audit(
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    before: int | None = Query(None, ge=1, description="only entries older than this entry id"),
    user: str | None = Query(None, max_length=320, description="only this user's (id or name)"),
) -> AuditLog:
    svc = services(request)
    user_id = svc.store.accounts.find_user(user).id if user else None
    entries = svc.audit.entries(limit=limit, before=before, user=user_id)
    return AuditLog.model_validate({"entries": entries})


@answers(
    router,
    "GET",
    "/alerts",
    AlertSettings,
    "Where alerts go (webhook, email), which events, how often at most",
    dependencies=[allow(Action.ALERTS_READ)],
)
def get_alerts(request: Request) -> AlertSettings:
    return AlertSettings.model_validate(services(request).alerts.settings().model_dump())


@answers(
    router,
    "PUT",
    "/alerts",
    AlertSettings,
    "Set the alert webhook and email (no password: BOTMAKER_SMTP_PASSWORD_FILE), "
    "events and minimum interval",
    dependencies=[allow(Action.ALERTS_WRITE)],
)
def put_alerts(body: AlertSettings, request: Request) -> AlertSettings:
    return AlertSettings.model_validate(services(request).alerts.update(body).model_dump())


@answers(
    router,
    "POST",
    "/alerts/test",
    AlertTest,
    "Send a test alert on every channel now; results per channel",
    dependencies=[allow(Action.ALERTS_WRITE)],
)
def test_alert(request: Request) -> AlertTest:
    return AlertTest.model_validate(services(request).alerts.send_test())
