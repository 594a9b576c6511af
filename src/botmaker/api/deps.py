"""Request dependencies: the services, and who is calling."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from fastapi import Depends, Request, Response

from botmaker import policy
from botmaker.errors import Forbidden
from botmaker.policy import Action, Principal
from botmaker.services import Services
from botmaker.store import BotRecord

SESSION_COOKIE = "botmaker_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def client_address(request: Request) -> str:
    """The one place a caller's address comes from (login limiter, audit log).

    It is the TCP peer, unless that peer is a proxy named in BOTMAKER_TRUSTED_PROXIES:
    only then has uvicorn replaced it with the client the proxy names in
    ``X-Forwarded-For`` (api/server.py). A header from anyone else changes nothing.
    """
    return request.client.host if request.client else "unknown"


def request_token(request: Request) -> tuple[str | None, bool]:
    """The caller's token and whether it came from the session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: a keyed hash of its token.

    Pages render it (a ``<meta>`` for scripts, a hidden field for forms); only someone
    who can read the HttpOnly session cookie can compute it.
    """
    return hmac.new(session_token.encode("utf-8"), b"botmaker-csrf", hashlib.sha256).hexdigest()


def check_csrf(session_token: str, supplied: str | None) -> None:
    """Refuse a cookie-authenticated write without this session's CSRF token."""
    expected = csrf_token_for(session_token)
    if not supplied or not hmac.compare_digest(expected.encode(), supplied.encode("utf-8")):
        raise Forbidden(
            "missing or wrong CSRF token: send the X-CSRF-Token header (or csrf_token field)"
        )


def check_origin(request: Request) -> None:
    """Refuse a write whose Origin is another site (browsers send Origin on writes)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(request):
        raise Forbidden("cross-site request refused")


def authenticate(request: Request) -> Principal:
    """Who calls an ``/api/*`` route: a valid Bearer token or session cookie.

    The cookie is ambient (a browser adds it by itself), so a cookie-authenticated write
    must also come from our own origin and carry the session's CSRF token in the
    ``X-CSRF-Token`` header. A Bearer token is never ambient and needs neither.
    """
    token, from_cookie = request_token(request)
    principal = services(request).auth.authenticate(token)
    if from_cookie and request.method not in _SAFE_METHODS:
        assert token is not None
        # SameSite=Strict already keeps other sites' requests cookie-less; the Origin
        # check and the CSRF token refuse a cross-site write even where it does not.
        check_origin(request)
        check_csrf(token, request.headers.get(CSRF_HEADER))
    return principal


class Allow:
    """The dependency every ``/api/*`` route but login declares: who calls, and may
    they do ``action`` (to the route's ``{bot}``)? Decided by :func:`policy.check`.

    Async, so the caller it sets in :data:`policy.acting` is seen by the route (run
    in a copy of this context) and by the audit log. The store reads run in a thread.
    """

    def __init__(self, action: Action) -> None:
        self.action = action

    async def __call__(self, request: Request) -> Principal:
        principal, record, ref = await anyio.to_thread.run_sync(self._resolve, request)
        if principal.must_change_password and self.action is not Action.SESSION:
            raise Forbidden("change your password first (PUT /api/me/password)")
        policy.check(principal, self.action, record, ref)
        policy.acting.set(principal)
        request.state.principal = principal
        return principal

    def _resolve(self, request: Request) -> tuple[Principal, policy.Owned | None, str]:
        principal = authenticate(request)
        ref = str(request.path_params.get("bot", ""))
        if self.action not in policy.BOT_ACTIONS:
            return principal, None, ref
        record = services(request).store.find_bot(ref)
        return principal, owned(record), ref


def allow(action: Action) -> Any:
    """``dependencies=[allow(Action.X)]`` on a route."""
    return Depends(Allow(action))


def owned(record: BotRecord) -> policy.Owned:
    return policy.Owned(record.id, record.owner_id, record.team_id)


def caller(request: Request) -> Principal:
    """The principal :class:`Allow` admitted for this request."""
    principal: Principal = request.state.principal
    return principal


def reach(request: Request, action: Action = Action.BOT_READ) -> Callable[[BotRecord], bool]:
    """The bots the caller may ``action`` (see, by default): every fleet-wide list's
    filter."""
    principal = caller(request)
    return lambda record: policy.allowed(principal, action, owned(record))


def reach_ids(request: Request) -> set[str]:
    """The ids of the bots the caller may see (read the store's cached list once)."""
    visible = reach(request)
    return {record.id for record in services(request).store.list_bots() if visible(record)}


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def web_origin(request: Request) -> tuple[str, str]:
    """The origin browsers use for BotMaker's pages and its host name (the WebAuthn
    relying party): ``BOTMAKER_PUBLIC_URL``'s when set, else the request's own."""
    settings = services(request).settings
    origin = settings.public_origin if settings.public_url else _own_origin(request)
    return origin, urlsplit(origin).hostname or ""


def set_session_cookie(response: Response, request: Request, token: str, ttl: int) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure on HTTPS."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ttl,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
