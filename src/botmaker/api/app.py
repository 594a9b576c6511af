"""The app factory: ``create_app(settings)`` builds everything; nothing at import time."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from botmaker import __version__, web
from botmaker.api.deps import Allow
from botmaker.api.errors import install_error_handlers
from botmaker.api.middleware import BodySizeLimit, RequestMetrics
from botmaker.api.routes import (
    auth,
    backups,
    botconfig,
    bots,
    catalog,
    chat,
    devices,
    egress,
    health,
    history,
    keyring,
    logins,
    metrics,
    monitor,
    ops,
    pairing,
    upgrades,
    users,
)
from botmaker.api.tracing import TraceRequests
from botmaker.config import Settings
from botmaker.errors import BotMakerError
from botmaker.services import Services, build_services
from botmaker.services.gateway.passes import UiPasses
from botmaker.tracing import start as start_tracing
from botmaker.web.controlui import ControlUi, ControlUiSplit

log = logging.getLogger("botmaker")


def announce_password(password: str) -> None:
    """Show a generated admin password once, on the console (never in a log file)."""
    print(
        "\n"
        "  BotMaker generated an admin password (shown only this once; stored hashed):\n"
        f"      {password}\n"
        "  Set BOTMAKER_ADMIN_PASSWORD or BOTMAKER_ADMIN_PASSWORD_FILE to choose your own.\n",
        file=sys.stderr,
        flush=True,
    )


#: The only ``/api`` routes anyone may call: signing in (password or passkey), and the
#: docs page (which itself sends a visitor without a session to the login form).
PUBLIC_API = frozenset(
    {"/api/login", "/api/login/passkey/options", "/api/login/passkey", "/api/docs"}
)


def declare_actions(app: FastAPI) -> None:
    """Every ``/api`` route (and ``/metrics``) names the one policy action it needs
    (``allow``), or the app does not start; the action is shown in the OpenAPI
    document (``x-action``)."""
    for route in _api_routes(app.routes):
        if not route.path.startswith("/api") and route.path != "/metrics":
            continue
        actions = [d.call.action for d in route.dependant.dependencies if isinstance(d.call, Allow)]
        if route.path in PUBLIC_API:
            if actions:
                raise RuntimeError(f"{route.path} is public but declares {actions}")
            continue
        if len(actions) != 1:
            raise RuntimeError(
                f"{sorted(route.methods or ())} {route.path} must declare one action"
            )
        route.openapi_extra = {**(route.openapi_extra or {}), "x-action": actions[0].value}


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route, also inside included routers (FastAPI includes them lazily)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    svc = services or build_services(settings)
    passes = UiPasses(settings.token_ttl_seconds)
    control_ui = ControlUi(svc, passes)
    tracing = start_tracing(settings.otel_traces_url, settings.otel_service_name, "botmaker.api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        generated = await anyio.to_thread.run_sync(svc.auth.ensure_password)
        if generated:
            announce_password(generated)
        try:
            await anyio.to_thread.run_sync(svc.runtime.ensure_network)
        except BotMakerError as exc:
            log.warning("bot network not ready yet (%s); will retry on first create", exc.message)
        if svc.keyring.enabled:
            try:
                await anyio.to_thread.run_sync(svc.keyring.ensure)
            except BotMakerError as exc:
                log.warning("keyring not started yet (%s); will retry on first create", exc.message)
        svc.start_background()  # gateway probes, engine events (monitor), stats sampler
        yield
        await control_ui.aclose()
        await anyio.to_thread.run_sync(svc.stop_background)
        if services is None:
            svc.close()
        if tracing is not None:  # the last spans reach the collector (bounded wait)
            await anyio.to_thread.run_sync(tracing.shutdown)

    app = FastAPI(
        title="BotMaker",
        version=__version__,
        summary="Create, run, watch and delete OpenClaw bots in hardened containers.",
        lifespan=lifespan,
        # Not FastAPI's: both need a login, and Swagger UI comes from a pinned package
        # under the pages' CSP (web/apidocs.py).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = svc
    app.state.settings = settings
    app.state.ui_passes = passes
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_body_bytes,
        larger={backups.IMPORT_PATH: backups.IMPORT_MAX_BYTES},
    )
    app.add_middleware(RequestMetrics, observe=svc.metrics.observe_request)
    for module in (
        health,
        auth,
        backups,  # before bots: POST /api/bots/import is not a bot named "import"
        botconfig,
        bots,
        catalog,
        chat,
        devices,
        egress,
        history,
        keyring,
        logins,
        metrics,
        monitor,
        ops,
        pairing,
        upgrades,
        users,
    ):
        app.include_router(module.router)
    web.install(app)  # the dashboard: pages at /, scripts and styles at /static
    declare_actions(app)
    if tracing is not None:  # off: not installed at all
        app.add_middleware(TraceRequests, tracing=tracing)
    # Outermost: a request for a bot's Control UI host never reaches the rest.
    app.add_middleware(ControlUiSplit, ui=control_ui.app, suffix=settings.ui_host_suffix)
    return app
