from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from botmaker.api.deps import (
    allow,
    clear_session_cookie,
    client_address,
    request_token,
    services,
    set_session_cookie,
    web_origin,
)
from botmaker.api.responses import PasskeyChallenge
from botmaker.errors import BotMakerError
from botmaker.policy import Action
from botmaker.services.auth import FIRST_ADMIN

router = APIRouter(prefix="/api", tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(
        default=FIRST_ADMIN, min_length=1, max_length=320, description="user name or email"
    )
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    token: str
    expires_in: int


@router.post("/login", summary="Exchange a user's password for a token and a session cookie")
def login(body: LoginIn, request: Request, response: Response) -> TokenOut:
    svc = services(request)
    token = svc.auth.login(body.password, client_address(request), body.user)
    ttl = svc.settings.token_ttl_seconds
    set_session_cookie(response, request, token, ttl)
    response.headers["Cache-Control"] = "no-store"
    return TokenOut(token=token, expires_in=ttl)


@router.post(
    "/logout",
    status_code=204,
    summary="Revoke the current token and clear the cookie",
    dependencies=[allow(Action.SESSION)],
)
def logout(request: Request, response: Response) -> Response:
    token, _ = request_token(request)
    services(request).auth.logout(token)
    request.app.state.ui_passes.end_session(token)  # an open Control UI stops at once
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


class PasskeySignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: str = Field(min_length=1, max_length=64)
    credential: dict[str, Any] = Field(description="PublicKeyCredential.toJSON() of the answer")


@router.post(
    "/login/passkey/options",
    summary="A challenge for signing in with a passkey (navigator.credentials.get)",
)
def passkey_options(request: Request) -> PasskeyChallenge:
    _, rp_id = web_origin(request)
    return PasskeyChallenge.model_validate(services(request).passkeys.sign_in_options(rp_id))


@router.post("/login/passkey", summary="Sign in with a passkey: a token and a session cookie")
def passkey_login(body: PasskeySignIn, request: Request, response: Response) -> TokenOut:
    svc = services(request)
    origin, rp_id = web_origin(request)
    client = client_address(request)
    svc.auth.limiter.acquire(client)
    ok = False
    try:
        user = svc.passkeys.authenticate(
            handle=body.handle, credential=body.credential, rp_id=rp_id, origin=origin
        )
        ok = True
    except BotMakerError as exc:
        svc.audit.record("login.failed", "", client=client, method="passkey", status=exc.status)
        raise
    finally:
        (svc.auth.limiter.succeeded if ok else svc.auth.limiter.failed)(client)
    token = svc.auth.open_session(user.id)
    svc.audit.record_as(user, "login", user.name, client=client, method="passkey")
    ttl = svc.settings.token_ttl_seconds
    set_session_cookie(response, request, token, ttl)
    response.headers["Cache-Control"] = "no-store"
    return TokenOut(token=token, expires_in=ttl)
