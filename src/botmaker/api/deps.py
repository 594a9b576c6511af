"""Request dependencies: the services, and who is calling."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

from botmaker.errors import Forbidden
from botmaker.services import Services

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


def require_auth(request: Request) -> str:
    """Every ``/api/*`` route but login: a valid Bearer token or session cookie.

    The cookie is ambient (a browser adds it by itself), so a cookie-authenticated write
    must also come from our own origin and carry the session's CSRF token in the
    ``X-CSRF-Token`` header. A Bearer token is never ambient and needs neither.
    """
    token, from_cookie = request_token(request)
    session_id = services(request).auth.authenticate(token)
    if from_cookie and request.method not in _SAFE_METHODS:
        assert token is not None
        # SameSite=Strict already keeps other sites' requests cookie-less; the Origin
        # check and the CSRF token refuse a cross-site write even where it does not.
        check_origin(request)
        check_csrf(token, request.headers.get(CSRF_HEADER))
    return session_id


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


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
