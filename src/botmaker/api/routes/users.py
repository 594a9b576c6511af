"""Users, teams, a bot's access and API tokens; the caller's own account."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from botmaker import policy
from botmaker.api.deps import allow, caller, owned, services, web_origin
from botmaker.api.responses import Exact, Open, PasskeyChallenge, answers
from botmaker.errors import InvalidInput, NotFound, Unauthorized
from botmaker.keyring.model import BudgetIn
from botmaker.policy import Action, Principal, Role

router = APIRouter(prefix="/api", tags=["users"])

_USER = Field(min_length=1, max_length=320, description="a user's id, name or email")


class UserOut(Open):
    id: str
    name: str
    role: str


class UserList(Exact):
    users: list[UserOut]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    role: str = Field(description="admin | operator | viewer")
    email: str | None = Field(default=None, max_length=320)
    password: str | None = Field(
        default=None, max_length=1024, description="left out: one is generated and shown once"
    )


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = None
    disabled: bool | None = None
    email: str | None = Field(default=None, max_length=320, description="'' removes it")


class UserAdded(Exact):
    user: UserOut
    password: str | None = Field(description="the generated password, shown this once")


class Me(Open):
    id: str
    name: str
    role: str
    actions: list[str] = Field(description="what this session may do (bot actions: on its bots)")


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class TeamOut(Exact):
    id: str
    name: str
    members: list[str]


class TeamList(Exact):
    teams: list[TeamOut]


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    members: list[str] = Field(default_factory=list, max_length=1000)


class Members(BaseModel):
    model_config = ConfigDict(extra="forbid")
    members: list[str] = Field(max_length=1000)


class AccessOut(Exact):
    owner: str | None
    team: str | None
    users: list[str] = Field(description="users the bot is granted to (ids)")


class AccessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[str] | None = Field(default=None, max_length=1000)
    team: str | None = Field(default=None, max_length=64, description="'' takes it out of its team")


class TokenOut(Exact):
    id: str
    name: str
    user_id: str
    scopes: list[str]
    bots: list[str] | None
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked: bool


class TokenList(Exact):
    tokens: list[TokenOut]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=20)
    bots: list[str] | None = Field(
        default=None, max_length=1000, description="only these bots (ids or names)"
    )
    expires_in_days: int | None = Field(default=90, ge=1, le=3650)


class TokenMade(Exact):
    token: TokenOut
    secret: str = Field(description="'Authorization: Bearer <secret>'; shown this once")


# -- the caller -------------------------------------------------------------------------


@answers(
    router,
    "GET",
    "/me",
    Me,
    "Who you are and what you may do",
    dependencies=[allow(Action.SESSION)],
)
def me(request: Request) -> Me:
    principal = caller(request)
    user = services(request).users.get(principal.user_id)
    actions = [a.value for a in Action if policy.role_allows(principal, a)]
    return Me.model_validate({**user, "actions": actions, "token": principal.token_id})


@router.put(
    "/me/password",
    status_code=204,
    summary="Change your own password (other sessions and tokens stay)",
    dependencies=[allow(Action.SESSION)],
)
def change_password(body: PasswordChange, request: Request) -> Response:
    svc, principal = services(request), caller(request)
    if principal.token_id is not None:
        raise InvalidInput("sign in to change your password, not with an API token")
    if not svc.auth.check_password(principal.user_id, body.current_password):
        raise Unauthorized("the current password is wrong", field="current_password")
    svc.users.change_password(principal, body.new_password)
    return Response(status_code=204)


# -- your passkeys ---------------------------------------------------------------------


class PasskeyOut(Exact):
    id: str
    name: str
    created_at: float
    last_used_at: float | None


class PasskeyList(Exact):
    passkeys: list[PasskeyOut]


class PasskeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    handle: str = Field(min_length=1, max_length=64)
    credential: dict[str, Any] = Field(description="PublicKeyCredential.toJSON() of the answer")


def _session_only(request: Request) -> Principal:
    principal = caller(request)
    if principal.token_id is not None:
        raise InvalidInput("passkeys are managed in a signed-in session, not with an API token")
    return principal


@answers(
    router,
    "GET",
    "/me/passkeys",
    PasskeyList,
    "Your passkeys",
    dependencies=[allow(Action.SESSION)],
)
def list_passkeys(request: Request) -> PasskeyList:
    mine = services(request).store.accounts.passkeys_of(caller(request).user_id)
    return PasskeyList.model_validate({"passkeys": mine})


@router.post(
    "/me/passkeys/options",
    summary="A challenge for adding a passkey (navigator.credentials.create)",
    dependencies=[allow(Action.SESSION)],
)
def passkey_options(request: Request) -> PasskeyChallenge:
    principal = _session_only(request)
    _, rp_id = web_origin(request)
    return PasskeyChallenge.model_validate(
        services(request).passkeys.register_options(principal, rp_id)
    )


@answers(
    router,
    "POST",
    "/me/passkeys",
    PasskeyOut,
    "Add a passkey: the browser's answer to the challenge, verified",
    status_code=201,
    dependencies=[allow(Action.SESSION)],
)
def add_passkey(body: PasskeyIn, request: Request) -> PasskeyOut:
    svc, principal = services(request), _session_only(request)
    origin, rp_id = web_origin(request)
    made = svc.passkeys.register(
        principal,
        handle=body.handle,
        credential=body.credential,
        name=body.name,
        rp_id=rp_id,
        origin=origin,
    )
    svc.audit.record("passkey.add", body.name, id=str(made["id"]))
    return PasskeyOut.model_validate(made)


@router.delete(
    "/me/passkeys/{passkey_id}",
    status_code=204,
    summary="Remove one of your passkeys",
    dependencies=[allow(Action.SESSION)],
)
def delete_passkey(passkey_id: str, request: Request) -> Response:
    svc, principal = services(request), _session_only(request)
    if not svc.store.accounts.delete_passkey(principal.user_id, passkey_id):
        raise NotFound(f"no passkey {passkey_id!r} of yours", field="passkey")
    svc.audit.record("passkey.delete", passkey_id)
    return Response(status_code=204)


# -- users ------------------------------------------------------------------------------


@answers(
    router,
    "GET",
    "/users",
    UserList,
    "Users (an admin sees everything; others see names and roles, to share bots)",
    dependencies=[allow(Action.USERS_READ)],
)
def list_users(request: Request) -> UserList:
    users = services(request).users.users()
    if caller(request).role is not Role.ADMIN:
        users = [{"id": u["id"], "name": u["name"], "role": u["role"]} for u in users]
    return UserList.model_validate({"users": users})


@answers(
    router,
    "POST",
    "/users",
    UserAdded,
    "Add a user; they change the password at first sign-in",
    status_code=201,
    dependencies=[allow(Action.USERS_WRITE)],
)
def add_user(body: UserIn, request: Request, response: Response) -> UserAdded:
    user, password = services(request).users.add(
        body.name, body.role, email=body.email, password=body.password
    )
    response.headers["Cache-Control"] = "no-store"
    return UserAdded.model_validate({"user": user, "password": password})


@answers(
    router,
    "PATCH",
    "/users/{user}",
    UserOut,
    "Change a user's role, email, or disable them (which ends their sessions and tokens)",
    dependencies=[allow(Action.USERS_WRITE)],
)
def update_user(user: str, body: UserPatch, request: Request) -> UserOut:
    updated = services(request).users.update(
        user, role=body.role, disabled=body.disabled, email=body.email
    )
    return UserOut.model_validate(updated)


@answers(
    router,
    "POST",
    "/users/{user}/reset",
    UserAdded,
    "A new generated password (shown once, changed at next sign-in); sessions end",
    dependencies=[allow(Action.USERS_WRITE)],
)
def reset_user(user: str, request: Request, response: Response) -> UserAdded:
    record, password = services(request).users.reset(user)
    response.headers["Cache-Control"] = "no-store"
    return UserAdded.model_validate({"user": record, "password": password})


# -- teams ------------------------------------------------------------------------------


@answers(
    router,
    "GET",
    "/teams",
    TeamList,
    "Teams and their members",
    dependencies=[allow(Action.USERS_READ)],
)
def list_teams(request: Request) -> TeamList:
    return TeamList.model_validate({"teams": services(request).users.teams()})


@answers(
    router,
    "POST",
    "/teams",
    TeamOut,
    "Add a team",
    status_code=201,
    dependencies=[allow(Action.USERS_WRITE)],
)
def add_team(body: TeamIn, request: Request) -> TeamOut:
    return TeamOut.model_validate(services(request).users.add_team(body.name, body.members))


@answers(
    router,
    "PUT",
    "/teams/{team}/members",
    TeamOut,
    "Set a team's members (user ids or names)",
    dependencies=[allow(Action.USERS_WRITE)],
)
def set_members(team: str, body: Members, request: Request) -> TeamOut:
    return TeamOut.model_validate(services(request).users.set_members(team, body.members))


class TeamBudget(Exact):
    team: str
    budget: dict[str, int | None]


@answers(
    router,
    "PUT",
    "/teams/{team}/budget",
    TeamBudget,
    "The team's budget, shared by its bots and enforced by the keyring proxy",
    dependencies=[allow(Action.USERS_WRITE)],
)
def set_team_budget(team: str, body: BudgetIn, request: Request) -> TeamBudget:
    result = services(request).users.set_budget(team, body.to_budget())
    return TeamBudget.model_validate(result)


@answers(
    router,
    "DELETE",
    "/teams/{team}/budget",
    TeamBudget,
    "Remove the team's budget (its bots' own budgets stay)",
    dependencies=[allow(Action.USERS_WRITE)],
)
def delete_team_budget(team: str, request: Request) -> TeamBudget:
    return TeamBudget.model_validate(services(request).users.set_budget(team, None))


@router.delete(
    "/teams/{team}",
    status_code=204,
    summary="Delete a team (its bots stay, in no team)",
    dependencies=[allow(Action.USERS_WRITE)],
)
def delete_team(team: str, request: Request) -> Response:
    services(request).users.delete_team(team)
    return Response(status_code=204)


# -- a bot's access ---------------------------------------------------------------------


@answers(
    router,
    "GET",
    "/bots/{bot}/access",
    AccessOut,
    "Who reaches the bot besides admins: its owner, its team, the users it is granted to",
    dependencies=[allow(Action.BOT_READ)],
)
def bot_access(bot: str, request: Request) -> AccessOut:
    svc = services(request)
    return AccessOut.model_validate(svc.users.access(svc.store.find_bot(bot).id))


@answers(
    router,
    "PUT",
    "/bots/{bot}/access",
    AccessOut,
    "Grant the bot to exactly these users; put it in a team",
    dependencies=[allow(Action.BOT_EDIT)],
)
def set_bot_access(bot: str, body: AccessIn, request: Request) -> AccessOut:
    svc = services(request)
    record = svc.store.find_bot(bot)
    access = svc.users.set_access(
        caller(request),
        record.id,
        users=body.users,
        team=body.team or None,
        clear_team=body.team == "",
    )
    return AccessOut.model_validate(access)


# -- API tokens -------------------------------------------------------------------------


@answers(
    router,
    "GET",
    "/tokens",
    TokenList,
    "Your API tokens (an admin may ask for everyone's)",
    dependencies=[allow(Action.TOKENS_OWN)],
)
def list_tokens(request: Request, everyone: bool = Query(False)) -> TokenList:
    principal = caller(request)
    mine = None if everyone and principal.role is Role.ADMIN else principal.user_id
    return TokenList.model_validate({"tokens": services(request).users.tokens(mine)})


@answers(
    router,
    "POST",
    "/tokens",
    TokenMade,
    "Make an API token: some scopes, optionally some bots; never more than you may do",
    status_code=201,
    dependencies=[allow(Action.TOKENS_OWN)],
)
def make_token(body: TokenIn, request: Request, response: Response) -> TokenMade:
    svc, principal = services(request), caller(request)
    bots = None
    if body.bots is not None:
        ids = set()
        for ref in body.bots:
            bot = svc.store.find_bot(ref)
            policy.check(principal, Action.BOT_READ, owned(bot), ref)
            ids.add(bot.id)
        bots = frozenset(ids)
    days = body.expires_in_days
    record, secret = svc.auth.create_token(
        principal,
        name=body.name,
        scopes=frozenset(body.scopes),
        bots=bots,
        expires_in=None if days is None else days * 86400,
    )
    response.headers["Cache-Control"] = "no-store"
    (made,) = [t for t in svc.users.tokens(principal.user_id) if t["id"] == record.id]
    return TokenMade.model_validate({"token": made, "secret": secret})


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    summary="Revoke an API token (yours; an admin: anyone's)",
    dependencies=[allow(Action.TOKENS_OWN)],
)
def revoke_token(token_id: str, request: Request) -> Response:
    services(request).users.revoke_token(caller(request), token_id)
    return Response(status_code=204)


# -- the audit log as JSON lines ------------------------------------------------------


@router.get(
    "/audit/export",
    summary="The whole audit log (or one user's) as JSON lines, oldest first",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}},
    dependencies=[allow(Action.AUDIT_READ)],
)
def export_audit(request: Request, user: str | None = Query(None, max_length=320)) -> Response:
    svc = services(request)
    user_id = svc.store.accounts.find_user(user).id if user else None

    def lines() -> Iterator[bytes]:
        after = 0
        while True:
            batch = svc.audit.since(after, user=user_id, limit=1000)
            if not batch:
                return
            for entry in batch:
                yield json.dumps(entry, separators=(",", ":")).encode() + b"\n"
            after = batch[-1]["id"]

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": f'attachment; filename="botmaker-audit-{stamp}.jsonl"',
            "Cache-Control": "no-store",
        },
    )
