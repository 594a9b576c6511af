"""Request dependencies: the services, and who is calling."""

from __future__ import annotations

from fastapi import Request

from botmaker.errors import Forbidden
from botmaker.services import Services

SESSION_COOKIE = "botmaker_session"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def request_token(request: Request) -> tuple[str | None, bool]:
    """The caller's token and whether it came from the session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def require_auth(request: Request) -> str:
    """Every ``/api/*`` route but login: a valid Bearer token or session cookie."""
    token, from_cookie = request_token(request)
    session_id = services(request).auth.authenticate(token)
    if from_cookie and request.method not in _SAFE_METHODS:
        # SameSite=Strict already keeps other sites' requests cookie-less; also refuse a
        # cookie-authenticated write whose Origin is another site.
        origin = request.headers.get("origin")
        if origin is not None and origin != _own_origin(request):
            raise Forbidden("cross-site request refused")
    return session_id


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
