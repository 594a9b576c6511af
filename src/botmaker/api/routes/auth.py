from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from botmaker.api.deps import (
    allow,
    clear_session_cookie,
    client_address,
    request_token,
    services,
    set_session_cookie,
)
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
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response
