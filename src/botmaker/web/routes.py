"""Dashboard pages. Thin: each page is a shell the browser fills from the JSON API.

Pages need the session cookie (without it they redirect to ``/login``) and carry the
session's CSRF token in a ``<meta>`` for scripts and in hidden fields for forms.
Every page is served with a strict Content-Security-Policy: scripts and styles come
only from ``/static``, nothing inline, nothing from another site.
"""

from __future__ import annotations

import hmac
import inspect
import re
import secrets
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from botmaker import __version__, policy
from botmaker.api.deps import (
    CSRF_FIELD,
    SESSION_COOKIE,
    check_csrf,
    check_origin,
    clear_session_cookie,
    client_address,
    csrf_token_for,
    owned,
    services,
    set_session_cookie,
)
from botmaker.errors import BotMakerError, Forbidden, TooManyRequests, Unauthorized
from botmaker.openclaw.render import ui_base_path
from botmaker.policy import Action, Principal
from botmaker.services.auth import FIRST_ADMIN
from botmaker.services.gateway.passes import UiPasses
from botmaker.web import apidocs
from botmaker.web.controlui import ENTER

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"

#: Pre-session CSRF for the login form (double submit: cookie == form field).
LOGIN_CSRF_COOKIE = "botmaker_login_csrf"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make Origin "null"
    "Cache-Control": "no-store",
}

_LOCAL_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Serve the dashboard: its pages at ``/``, its scripts and styles at ``/static``."""
    app.state.web_templates = Jinja2Templates(directory=TEMPLATES_DIR)
    app.include_router(apidocs.router)  # before /static: it serves /static/swagger-ui/
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    _install_error_pages(app)


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not a script's JSON)."""
    path = request.url.path
    if request.method not in ("GET", "HEAD") or path == "/api" or path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


async def _answered(result: Response | Awaitable[Response]) -> Response:
    return await result if inspect.isawaitable(result) else result


def _install_error_pages(app: FastAPI) -> None:
    """A browser's unknown path gets a 404 page in the theme, and a page route's
    unexpected failure a 500 page; the API (and every non-HTML client) keeps the JSON
    error of api/errors.py, whose handlers these wrap."""
    api_http_error = app.exception_handlers[StarletteHTTPException]
    api_unexpected = app.exception_handlers[Exception]

    def not_found(request: Request) -> HTMLResponse:
        visitor = _visitor(request)
        return _render(
            request,
            "not_found.html",
            token=visitor.token if visitor else None,
            principal=visitor.principal if visitor else None,
            page="missing",
            title="Page not found",
            message=f"There is no page at {request.url.path}.",
            status_code=404,
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        if (
            isinstance(exc, StarletteHTTPException)
            and exc.status_code == 404
            and _wants_page(request)
        ):
            return await anyio.to_thread.run_sync(not_found, request)
        return await _answered(api_http_error(request, exc))

    async def unexpected(request: Request, exc: Exception) -> Response:
        response = await _answered(api_unexpected(request, exc))  # logs it
        if not _wants_page(request):
            return response
        # No session lookup: whatever failed may fail again.
        return _render(
            request,
            "not_found.html",
            token=None,
            page="missing",
            title="Something went wrong",
            message="BotMaker could not show this page; the error is in its log.",
            status_code=500,
        )

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


# -- helpers ---------------------------------------------------------------------------


def _templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.web_templates
    return templates


class Visitor(NamedTuple):
    """A signed-in visitor of a page: their session token and who they are."""

    token: str
    principal: Principal


def _visitor(request: Request) -> Visitor | None:
    """The visitor behind a valid session cookie (an API token is not a page session)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        principal = services(request).auth.authenticate(token)
    except Unauthorized:
        return None
    if principal.token_id is not None:
        return None
    return Visitor(token, principal)


def _session(request: Request) -> str | None:
    """The session token from the cookie, if it is valid."""
    visitor = _visitor(request)
    return visitor.token if visitor else None


def _safe_next(value: object) -> str:
    text = value if isinstance(value, str) else ""
    return text if _LOCAL_PATH.fullmatch(text) and text != "/login" else "/"


def _to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = "/login" if here == "/" else f"/login?next={quote(here, safe='')}"
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


def _render(
    request: Request,
    template: str,
    *,
    token: str | None,
    principal: Principal | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    can = {a.value for a in Action if policy.role_allows(principal, a)} if principal else set()
    body = {
        "csrf_token": csrf_token_for(token) if token else "",
        "logged_in": token is not None,
        "user": principal,
        "can": can,
        "version": __version__,
        # As the event monitor last saw it: no engine call, so a page loads when it is down.
        "engine": services(request).monitor.engine_state() if token else None,
        **context,
    }
    return _templates(request).TemplateResponse(
        request, template, body, status_code=status_code, headers=PAGE_HEADERS
    )


def _page(request: Request, template: str, page: str, action: Action, **context: Any) -> Response:
    """A page for a visitor whose role allows ``action`` (policy); else 403 in words."""
    visitor = _visitor(request)
    if visitor is None:
        return _to_login(request)
    token, principal = visitor
    if principal.must_change_password and page != "account":
        return RedirectResponse("/account", status_code=303, headers={"Cache-Control": "no-store"})
    if not policy.allowed(principal, action):
        return _render(
            request,
            "not_found.html",
            token=token,
            principal=principal,
            page="missing",
            title="Not allowed",
            message=f"Your role ({principal.role}) does not include this page.",
            status_code=403,
        )
    return _render(request, template, token=token, principal=principal, page=page, **context)


# -- login and logout --------------------------------------------------------------------


def _login_page(
    request: Request, *, error: str | None = None, status_code: int = 200, next_url: str = "/"
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(32)
    response = _render(
        request,
        "login.html",
        token=None,
        page="login",
        title="Log in",
        login_csrf=nonce,
        sso_name=services(request).settings.oidc_name if services(request).sso.enabled else None,
        error=error,
        next_url=next_url,
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        nonce,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    next_url = _safe_next(request.query_params.get("next"))
    if _session(request) is not None:
        return RedirectResponse(next_url, status_code=303)
    return _login_page(request, next_url=next_url)


@router.post("/login")
async def login_form(request: Request) -> Response:
    form = await request.form()
    next_url = _safe_next(form.get("next"))
    supplied = form.get(CSRF_FIELD)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    try:
        check_origin(request)
        if not (
            isinstance(supplied, str)
            and expected
            and hmac.compare_digest(expected.encode(), supplied.encode())
        ):
            raise Forbidden("the login form expired; try again")
    except Forbidden as exc:
        return _login_page(request, error=exc.message, status_code=403, next_url=next_url)
    password = form.get("password")
    user = form.get("user")
    user = user.strip()[:320] if isinstance(user, str) and user.strip() else FIRST_ADMIN
    if not isinstance(password, str) or not password:
        return _login_page(request, error="enter your password", status_code=422, next_url=next_url)
    svc = services(request)
    try:
        token = await anyio.to_thread.run_sync(
            svc.auth.login, password[:1024], client_address(request), user
        )
    except TooManyRequests as exc:
        page = _login_page(request, error=exc.message, status_code=429, next_url=next_url)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except Unauthorized:
        return _login_page(
            request, error="wrong user name or password", status_code=401, next_url=next_url
        )
    response = RedirectResponse(next_url, status_code=303, headers={"Cache-Control": "no-store"})
    set_session_cookie(response, request, token, svc.settings.token_ttl_seconds)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


OIDC_STATE_COOKIE = "botmaker_oidc_state"
OIDC_CALLBACK = "/login/oidc/callback"


def _own_url(request: Request) -> str:
    settings = services(request).settings
    if settings.public_url:
        return settings.public_origin
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


@router.get("/login/oidc")
async def oidc_begin(request: Request) -> Response:
    """Off to the single sign-on provider, with this browser's state in a cookie (Lax:
    the provider's redirect back is a top-level navigation from its site)."""
    svc = services(request)
    if not svc.sso.enabled:
        return _login_page(request, error="single sign-on is not set up", status_code=404)
    next_url = _safe_next(request.query_params.get("next"))
    try:
        url, state = await anyio.to_thread.run_sync(
            svc.sso.begin, _own_url(request) + OIDC_CALLBACK, next_url
        )
    except BotMakerError as exc:
        return _login_page(request, error=exc.message, status_code=502, next_url=next_url)
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        OIDC_STATE_COOKIE,
        state,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/login/oidc",
    )
    return response


@router.get(OIDC_CALLBACK)
async def oidc_callback(request: Request) -> Response:
    svc = services(request)
    query = request.query_params
    if not svc.sso.enabled:
        return _login_page(request, error="single sign-on is not set up", status_code=404)
    if query.get("error"):
        words = query.get("error_description") or query["error"]
        return _login_page(request, error=f"the provider said: {words[:200]}", status_code=401)
    state, code = query.get("state", ""), query.get("code", "")
    try:
        user, next_url = await anyio.to_thread.run_sync(
            svc.sso.finish, state, code, request.cookies.get(OIDC_STATE_COOKIE)
        )
        token = await anyio.to_thread.run_sync(svc.auth.open_session, user.id)
    except BotMakerError as exc:
        svc.audit.record("login.failed", "", client=client_address(request), method="oidc")
        page = _login_page(request, error=exc.message, status_code=exc.status)
        page.delete_cookie(OIDC_STATE_COOKIE, path="/login/oidc")
        return page
    svc.audit.record_as(user, "login", user.name, client=client_address(request), method="oidc")
    response = RedirectResponse(next_url, status_code=303, headers={"Cache-Control": "no-store"})
    set_session_cookie(response, request, token, svc.settings.token_ttl_seconds)
    response.delete_cookie(OIDC_STATE_COOKIE, path="/login/oidc")
    return response


@router.post("/logout")
async def logout_form(request: Request) -> Response:
    form = await request.form()
    token = await anyio.to_thread.run_sync(_session, request)
    response = RedirectResponse("/login", status_code=303, headers={"Cache-Control": "no-store"})
    if token is None:
        return response
    supplied = form.get(CSRF_FIELD)
    check_origin(request)
    check_csrf(token, supplied if isinstance(supplied, str) else None)
    await anyio.to_thread.run_sync(services(request).auth.logout, token)
    passes: UiPasses = request.app.state.ui_passes
    passes.end_session(token)
    clear_session_cookie(response)
    return response


# -- pages -------------------------------------------------------------------------------


@router.get("/")
def bots_page(request: Request) -> Response:
    return _page(request, "bots.html", "bots", Action.FLEET_READ, title="Bots")


@router.get("/bots/new")
def wizard_page(request: Request) -> Response:
    return _page(request, "wizard.html", "wizard", Action.BOT_CREATE, title="New bot")


def _bot_id(names: dict[str, str], bot: str) -> str | None:
    """The id of the bot ``bot`` names (its id or its name), if there is one."""
    return bot if bot in names else next((i for i, n in names.items() if n == bot), None)


def _no_such_bot(request: Request, visitor: Visitor, bot: str) -> HTMLResponse:
    return _render(
        request,
        "not_found.html",
        token=visitor.token,
        principal=visitor.principal,
        page="missing",
        title="No such bot",
        message=f"There is no bot {bot!r}.",
        status_code=404,
    )


def _reachable_bot(
    request: Request, bot: str, action: Action
) -> tuple[Visitor | None, str | None, Response | None]:
    """The visitor and the id of the bot ``bot`` names, if the policy lets them ``action``
    it; else the response to give (the login form, the password change, 'no such bot')."""
    visitor = _visitor(request)
    if visitor is None:
        return None, None, _to_login(request)
    if visitor.principal.must_change_password:
        return None, None, RedirectResponse("/account", status_code=303)
    svc = services(request)
    bot_id = _bot_id(svc.bots.names(), bot)  # no engine call: loads even if it is down
    if bot_id is not None:
        record = svc.store.get_bot(bot_id)
        if not policy.allowed(visitor.principal, action, owned(record)):
            bot_id = None  # out of reach: as if there were no such bot
    if bot_id is None:
        return visitor, None, _no_such_bot(request, visitor, bot)
    return visitor, bot_id, None


@router.get("/bots/{bot}")
def bot_page(bot: str, request: Request) -> Response:
    visitor, bot_id, refused = _reachable_bot(request, bot, Action.BOT_READ)
    if refused is not None or visitor is None or bot_id is None:
        return refused or _to_login(request)
    return _render(
        request,
        "bot.html",
        token=visitor.token,
        principal=visitor.principal,
        page="bot",
        title=services(request).bots.names()[bot_id],
        bot_id=bot_id,
        bot_limits=services(request).settings.limits,  # the defaults of a bot's own limits
    )


@router.get("/bots/{bot}/ui")
@router.get("/bots/{bot}/ui/{rest:path}")
def control_ui_entry(bot: str, request: Request, rest: str = "") -> Response:
    """Into a bot's Control UI on its own origin (web/controlui.py): a one-minute,
    single-use ticket bound to this session and bot, redeemed there for a pass."""
    visitor, bot_id, refused = _reachable_bot(request, bot, Action.BOT_ACCESS)
    if refused is not None or visitor is None or bot_id is None:
        return refused or _to_login(request)
    passes: UiPasses = request.app.state.ui_passes
    ticket = passes.ticket(visitor.token, bot_id)
    settings = services(request).settings
    origin = settings.ui_origin(bot_id, port=request.url.port)
    target = f"{origin}{ui_base_path(bot_id)}{ENTER}?ticket={quote(ticket, safe='')}"
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


@router.get("/keys")
def keys_page(request: Request) -> Response:
    return _page(request, "keys.html", "keys", Action.KEYS_READ, title="Provider keys")


@router.get("/pairing")
def pairing_page(request: Request) -> Response:
    return _page(request, "pairing.html", "pairing", Action.FLEET_READ, title="DM pairing")


@router.get("/diagnostics")
def diagnostics_page(request: Request) -> Response:
    return _page(
        request, "diagnostics.html", "diagnostics", Action.ENGINE_READ, title="Diagnostics"
    )


@router.get("/settings/users")
def users_page(request: Request) -> Response:
    return _page(request, "users.html", "users", Action.USERS_WRITE, title="Users and teams")


@router.get("/audit")
def audit_page(request: Request) -> Response:
    return _page(request, "audit.html", "audit", Action.AUDIT_READ, title="Audit log")


@router.get("/account")
def account_page(request: Request) -> Response:
    return _page(request, "account.html", "account", Action.SESSION, title="Your account")


@router.get("/api/docs")
def api_docs_page(request: Request) -> Response:
    """Swagger UI over ``/api/openapi.json`` (web/apidocs.py), for the logged-in admin."""
    return _page(request, "api_docs.html", "api", Action.SESSION, title="API")
