"""Each bot's own Control UI, on its own origin, behind BotMaker's login.

A request whose host is ``<bot id><ui_host_suffix>`` (``<id>.localhost`` by default,
``<id>.ui.example.com`` with ``BOTMAKER_UI_URL=https://*.ui.example.com``) is for that
bot's Control UI and never reaches BotMaker's pages or API: :class:`ControlUiSplit`
sends it here. Its own origin per bot, because a bot's gateway runs code nobody
reviewed: pages it serves must be able to read neither BotMaker's pages (and so its
CSRF tokens) nor another bot's UI.

Access: BotMaker's page ``/bots/<bot>/ui/`` (signed in) issues a one-minute ticket and
redirects here; ``/bots/<id>/ui/__botmaker/enter`` redeems it for a pass cookie of this
origin (:mod:`botmaker.services.gateway.passes`), valid while the BotMaker session is.
Then every HTTP request and WebSocket under ``/bots/<id>/ui`` is streamed to the bot's
gateway over the bots' network, with BotMaker's identity headers for the signed-in
person (the gateway trusts them from BotMaker alone) and nothing the browser sent as
identity, forwarding or credential. Nothing outside the UI's base path is forwarded, so
the gateway's admin RPC and chat endpoints stay BotMaker's. New browsers still need
device pairing, approved on the bot's page in BotMaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from botmaker import policy
from botmaker.api.deps import owned
from botmaker.errors import BotMakerError, Forbidden, NotFound, Unauthorized
from botmaker.openclaw.render import ui_base_path
from botmaker.policy import Action
from botmaker.services import Services
from botmaker.services.gateway.access import forwarded_headers, response_headers, user_identity
from botmaker.services.gateway.passes import UiPasses
from botmaker.store import BotRecord

log = logging.getLogger(__name__)

PASS_COOKIE = "botmaker_ui"  # noqa: S105 - a cookie name
ENTER = "/__botmaker/enter"
#: How often an open WebSocket re-checks that its pass and session still hold.
RECHECK_SECONDS = 5.0
MAX_MESSAGE = 16 * 1024 * 1024
CACHE_SECONDS = 1.0
CACHE_LIMIT = 10_000
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: Encoded dots, slashes and backslashes, dot segments, empty segments: never forwarded.
_UNSAFE_PATH = re.compile(rb"%2e|%2f|%5c|\\|/\.\.?(/|$)|//", re.IGNORECASE)
_BOT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class ControlUiSplit:
    """The outermost ASGI layer: requests for a bot's UI host go to ``ui``, the rest
    (and lifespan) to BotMaker's app."""

    def __init__(self, app: ASGIApp, ui: ASGIApp, suffix: str) -> None:
        self.app = app
        self.ui = ui
        self.suffix = suffix.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.bot_of(scope) is not None:
            await self.ui(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def bot_of(self, scope: Scope) -> str | None:
        host = _host(scope)
        if not host.endswith(self.suffix):
            return None
        label = host[: -len(self.suffix)]
        return label if _BOT_ID.fullmatch(label) else None


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == b"host":
            text = str(value.decode("latin-1")).lower()
            return text.rsplit(":", 1)[0] if not text.endswith("]") else text
    return ""


class ControlUi:
    """The Control UI origin's app: the pass exchange and the proxy."""

    def __init__(self, svc: Services, passes: UiPasses) -> None:
        self.svc = svc
        self.passes = passes
        self.suffix = svc.settings.ui_host_suffix
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, read=None), follow_redirects=False, trust_env=False
        )
        self.app = Starlette(
            routes=[
                Route("/bots/{bot_id}/ui" + ENTER, self.enter, methods=["GET"]),
                Route("/bots/{bot_id}/ui{rest:path}", self.http, methods=_METHODS),
                WebSocketRoute("/bots/{bot_id}/ui{rest:path}", self.websocket),
            ],
        )
        self.app.add_route("/{rest:path}", self.elsewhere, methods=_METHODS)
        # A UI loads dozens of assets at once: a session and a bot row checked in the
        # last second are not asked again (a WebSocket's watch always asks).
        self._sessions: dict[tuple[str, str], tuple[float, str]] = {}
        self._records: dict[str, tuple[float, BotRecord]] = {}

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- access ---------------------------------------------------------------------

    def _own_bot(self, scope: Scope, bot_id: str) -> bool:
        """The path's bot is the host's bot: a pass of one origin opens nothing else."""
        host = _host(scope)
        return host == f"{bot_id}{self.suffix}"

    async def _allowed(
        self, scope: Scope, bot_id: str, cookie: str | None, *, fresh: bool = False
    ) -> str | None:
        """The signed-in person behind the request's pass, or None."""
        granted = self.passes.check(cookie, bot_id)
        if granted is None or not self._own_bot(scope, bot_id):
            return None
        now = time.monotonic()
        cached = self._sessions.get((granted.session, bot_id))
        if fresh or cached is None or cached[0] < now:
            try:
                person = await anyio.to_thread.run_sync(self._person, granted.session, bot_id)
            except (Unauthorized, Forbidden, NotFound):
                self._sessions.pop((granted.session, bot_id), None)
                if cookie:
                    self.passes.revoke(cookie)
                return None
            if len(self._sessions) > CACHE_LIMIT:
                self._sessions.clear()
            cached = self._sessions[(granted.session, bot_id)] = (now + CACHE_SECONDS, person)
        return cached[1]

    def _person(self, session: str, bot_id: str) -> str:
        """The session's user, if they may still use this bot's gateway (policy)."""
        principal = self.svc.auth.authenticate(session)
        record = self.svc.store.get_bot(bot_id)
        policy.check(principal, Action.BOT_ACCESS, owned(record))
        return principal.name

    async def _target(self, bot_id: str) -> str:
        now = time.monotonic()
        cached = self._records.get(bot_id)
        if cached is None or cached[0] < now:
            record = await anyio.to_thread.run_sync(self.svc.store.get_bot, bot_id)
            if len(self._records) > CACHE_LIMIT:
                self._records.clear()
            self._records[bot_id] = (now + CACHE_SECONDS, record)
        else:
            record = cached[1]
        return self.svc.gateway.base_url(record)

    def _sign_in(self, request: Request, bot_id: str) -> Response:
        """Back to BotMaker's pages to sign in and get a ticket for this bot."""
        if request.method not in ("GET", "HEAD") or "text/html" not in request.headers.get(
            "accept", ""
        ):
            return _plain(401, "sign in to BotMaker and open this bot's Control UI from its page")
        settings = self.svc.settings
        if settings.public_url is not None:
            main = settings.public_origin
        else:
            port = request.url.port or (443 if request.url.scheme == "https" else 80)
            main = f"{request.url.scheme}://{settings.host}:{port}"
        return RedirectResponse(f"{main}{ui_base_path(bot_id)}/", status_code=303)

    # -- routes ---------------------------------------------------------------------

    async def enter(self, request: Request) -> Response:
        bot_id = request.path_params["bot_id"]
        ticket = request.query_params.get("ticket", "")
        redeemed = (
            self.passes.redeem(ticket, bot_id) if self._own_bot(request.scope, bot_id) else None
        )
        if redeemed is None:
            return _plain(403, "this link expired or was used: open the Control UI again")
        token, _ = redeemed
        response = RedirectResponse(f"{ui_base_path(bot_id)}/", status_code=303)
        response.set_cookie(
            PASS_COOKIE,
            token,
            max_age=int(self.passes.pass_seconds),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=ui_base_path(bot_id),
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def elsewhere(self, request: Request) -> Response:
        return _plain(404, "not found")

    async def http(self, request: Request) -> Response:
        bot_id = request.path_params["bot_id"]
        if _UNSAFE_PATH.search(request.scope.get("raw_path") or b""):
            return _plain(400, "path refused")
        person = await self._allowed(request.scope, bot_id, request.cookies.get(PASS_COOKIE))
        if person is None:
            return self._sign_in(request, bot_id)
        try:
            base = await self._target(bot_id)
        except BotMakerError as exc:
            return _plain(exc.status, exc.message)
        raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        query = request.url.query
        headers = forwarded_headers(
            request.headers.items(),
            user_identity(person),
            request.client.host if request.client else None,
            proto=request.url.scheme,
            host=request.headers.get("host"),
        )
        if "origin" in headers:  # checked by the browser's same-origin rules; canonical
            headers["origin"] = self.svc.settings.ui_origin(bot_id)
        body = request.stream() if request.method not in ("GET", "HEAD") else None
        outgoing = self.client.build_request(
            request.method,
            base + raw_path + (f"?{query}" if query else ""),
            headers=headers,
            content=body,
        )
        try:
            upstream = await self.client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            return _plain(502, f"the bot's gateway did not answer: {type(exc).__name__}")
        kept = response_headers(upstream.headers.multi_items())
        kept = [(k, v) for k, v in kept if k != "service-worker-allowed"]
        response = StreamingResponse(
            _relay(upstream),
            status_code=upstream.status_code,
            background=BackgroundTask(upstream.aclose),
        )
        response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in kept] + [
            (k.lower().encode(), v.encode()) for k, v in _HEADERS.items()
        ]
        return response

    async def websocket(self, websocket: WebSocket) -> None:
        bot_id = websocket.path_params["bot_id"]
        scope = websocket.scope
        if _UNSAFE_PATH.search(scope.get("raw_path") or b""):
            await websocket.close(code=1008)
            return
        own = f"{websocket.url.scheme.replace('ws', 'http', 1)}://{websocket.headers.get('host')}"
        if websocket.headers.get("origin") != own:  # no other page may ride the pass
            await websocket.close(code=1008)
            return
        cookie = websocket.cookies.get(PASS_COOKIE)
        person = await self._allowed(scope, bot_id, cookie)
        if person is None:
            await websocket.close(code=1008)
            return
        try:
            base = await self._target(bot_id)
        except BotMakerError:
            await websocket.close(code=1013)  # try again later: not running
            return
        raw_path = (scope.get("raw_path") or websocket.url.path.encode()).decode("latin-1")
        query = websocket.url.query
        url = "ws" + base[len("http") :] + raw_path + (f"?{query}" if query else "")
        headers = forwarded_headers(
            websocket.headers.items(),
            user_identity(person),
            websocket.client.host if websocket.client else None,
            proto="https" if websocket.url.scheme == "wss" else "http",
            host=websocket.headers.get("host"),
        )
        headers.pop("origin", None)
        protocols = [
            p.strip()
            for p in websocket.headers.get("sec-websocket-protocol", "").split(",")
            if p.strip()
        ]
        try:
            upstream = await connect(
                url,
                origin=self.svc.settings.ui_origin(bot_id),  # type: ignore[arg-type]
                additional_headers=headers,
                subprotocols=protocols or None,  # type: ignore[arg-type]
                max_size=MAX_MESSAGE,
                open_timeout=15,
                ping_interval=None,
                user_agent_header=headers.get("user-agent"),
                proxy=None,  # straight to the bot, whatever proxy the environment names
            )
        except InvalidStatus as exc:
            log.info("bot %s: Control UI WebSocket refused: %s", bot_id, exc.response.status_code)
            await websocket.close(code=1008)
            return
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            log.info("bot %s: Control UI WebSocket failed: %s", bot_id, type(exc).__name__)
            await websocket.close(code=1011)
            return
        async with upstream:
            await websocket.accept(subprotocol=upstream.subprotocol)
            await _pipe(
                websocket, upstream, lambda: self._allowed(scope, bot_id, cookie, fresh=True)
            )


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    async for chunk in upstream.aiter_raw():
        yield chunk


async def _pipe(websocket: WebSocket, upstream: ClientConnection, still: Any) -> None:
    """Both directions until either side closes or the pass lapses; each send waits
    for the other side to take it (back-pressure), nothing is buffered beyond that."""

    async def browser_to_gateway() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(code=message.get("code", 1000) or 1000)
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])

    async def gateway_to_browser() -> None:
        try:
            async for data in upstream:
                if isinstance(data, str):
                    await websocket.send_text(data)
                else:
                    await websocket.send_bytes(data)
        except ConnectionClosed:
            pass
        close = upstream.close_code or 1000
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=close if close not in (1005, 1006) else 1011)

    async def watch() -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            if await still() is None:
                await upstream.close(code=1008)
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await websocket.close(code=1008)
                return

    tasks = [asyncio.create_task(t()) for t in (browser_to_gateway, gateway_to_browser, watch)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _plain(status: int, text: str) -> Response:
    return PlainTextResponse(
        text, status_code=status, headers={**_HEADERS, "Cache-Control": "no-store"}
    )
