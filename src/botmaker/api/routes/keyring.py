"""Provider keys in the keyring proxy, and what bots spend through it."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Body, Path, Query, Request

from botmaker import policy
from botmaker.api.deps import allow, caller, reach_ids, services
from botmaker.api.responses import (
    KeyAdded,
    KeyringStatus,
    Keys,
    KeyTested,
    Usage,
    Validation,
    answers,
)
from botmaker.policy import Action
from botmaker.services import validation
from botmaker.services.schemas import KeyCreate, KeyTest

KEY_ID = r"^key_[0-9a-f]{16}$"

router = APIRouter(prefix="/api", tags=["keyring"])


def _names(request: Request) -> dict[str, str]:
    return services(request).bots.names()


@answers(
    router,
    "GET",
    "/keyring",
    KeyringStatus,
    "Whether the keyring proxy runs and is unlocked",
    dependencies=[allow(Action.KEYS_READ)],
)
def keyring_status(request: Request) -> KeyringStatus:
    return KeyringStatus.model_validate(services(request).keyring.status())


@answers(
    router,
    "GET",
    "/keys",
    Keys,
    "Provider keys in the keyring (last 4 characters only)",
    dependencies=[allow(Action.KEYS_READ)],
)
def list_keys(request: Request) -> Keys:
    return Keys.model_validate({"keys": services(request).keyring.list_keys(_names(request))})


@answers(
    router,
    "POST",
    "/keys",
    KeyAdded,
    "Add a provider key to the keyring",
    status_code=201,
    dependencies=[allow(Action.KEYS_WRITE)],
)
def add_key(body: KeyCreate, request: Request) -> KeyAdded:
    return KeyAdded.model_validate({"key": services(request).keyring.add_key(body)})


@answers(
    router,
    "POST",
    "/keys/validate",
    Validation,
    "Check a (partial) key body as POST /api/keys would: problems in words, nothing kept",
    dependencies=[allow(Action.KEYS_TEST)],
)
def validate_key(body: Annotated[dict[str, Any], Body()]) -> Validation:
    return Validation.model_validate(validation.validate_key(body).to_dict())


@answers(
    router,
    "POST",
    "/keys/test",
    KeyTested,
    "Try a key once against its provider through the keyring (kept nowhere)",
    dependencies=[allow(Action.KEYS_TEST)],
)
async def try_key(body: KeyTest, request: Request) -> KeyTested:
    keyring = services(request).keyring
    result = await anyio.to_thread.run_sync(keyring.test_key, body)
    return KeyTested.model_validate(result)


@answers(
    router,
    "POST",
    "/keys/{key_id}/test",
    KeyTested,
    "Try a stored key once against its provider through the keyring",
    dependencies=[allow(Action.KEYS_TEST)],
)
async def try_stored_key(
    request: Request, key_id: str = Path(pattern=KEY_ID, max_length=20)
) -> KeyTested:
    keyring = services(request).keyring
    result = await anyio.to_thread.run_sync(keyring.test_stored_key, key_id)
    return KeyTested.model_validate(result)


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    summary="Delete a shared provider key",
    dependencies=[allow(Action.KEYS_WRITE)],
)
def delete_key(request: Request, key_id: str = Path(pattern=KEY_ID, max_length=20)) -> None:
    services(request).keyring.delete_key(key_id)


@answers(
    router,
    "GET",
    "/usage",
    Usage,
    "Requests, tokens, errors and budgets per bot and per key",
    dependencies=[allow(Action.FLEET_READ)],
)
def usage(request: Request, days: int = Query(default=31, ge=1, le=366)) -> Usage:
    report = services(request).keyring.usage(_names(request), days=days)
    principal = caller(request)
    if not policy.sees_all(principal):
        report = _within_reach(report, request)
    report["teams"] = _by_team(report, request)
    return Usage.model_validate(report)


def _by_team(report: dict[str, Any], request: Request) -> dict[str, Any]:
    """Today's and this month's usage per team: the sums over the team's bots in the
    report; an admin sees every team, anyone else the teams they belong to."""
    svc, principal = services(request), caller(request)
    teams = {t.id: t.name for t in svc.store.accounts.list_teams()}
    if principal.role is not policy.Role.ADMIN:
        teams = {k: v for k, v in teams.items() if k in principal.teams}
    team_of = {r.id: r.team_id for r in svc.store.list_bots() if r.team_id in teams}
    pools = report.get("pools") or {}
    out: dict[str, Any] = {
        team_id: {
            "name": name,
            "bots": 0,
            "today": {},
            "month": {},
            "budget": (pools.get(team_id) or {}).get("budget"),
        }
        for team_id, name in teams.items()
    }
    for bot_id, row in report.get("bots", {}).items():
        team_id = team_of.get(bot_id)
        if team_id is None:
            continue
        entry = out[team_id]
        entry["bots"] += 1
        for period in ("today", "month"):
            for name, value in (row.get(period) or {}).items():
                if isinstance(value, int):
                    entry[period][name] = entry[period].get(name, 0) + value
    return out


def _within_reach(report: dict[str, Any], request: Request) -> dict[str, Any]:
    """A usage report cut to the caller's bots: their rows, their own keys, their events;
    fleet-wide per-day totals are left out (they would count others' bots)."""
    mine = reach_ids(request)
    principal_teams = caller(request).teams
    return {
        **report,
        "bots": {k: v for k, v in report.get("bots", {}).items() if k in mine},
        "keys": {k: v for k, v in report.get("keys", {}).items() if v.get("bot_id") in mine},
        "events": [e for e in report.get("events", []) if e.get("bot_id") in mine],
        "pools": {k: v for k, v in report.get("pools", {}).items() if k in principal_teams},
        "days": [],
    }
