"""The app factory: ``create_app(settings)`` builds everything; nothing at import time."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from botmaker import __version__, web
from botmaker.api.errors import install_error_handlers
from botmaker.api.middleware import BodySizeLimit
from botmaker.api.routes import (
    auth,
    bots,
    catalog,
    chat,
    devices,
    health,
    keyring,
    logins,
    monitor,
    ops,
    pairing,
    upgrades,
)
from botmaker.config import Settings
from botmaker.errors import BotMakerError
from botmaker.services import Services, build_services
from botmaker.services.gateway.passes import UiPasses
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


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    svc = services or build_services(settings)
    passes = UiPasses(settings.token_ttl_seconds)
    control_ui = ControlUi(svc, passes)

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
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    for module in (
        health,
        auth,
        bots,
        catalog,
        chat,
        devices,
        keyring,
        logins,
        monitor,
        ops,
        pairing,
        upgrades,
    ):
        app.include_router(module.router)
    web.install(app)  # the dashboard: pages at /, scripts and styles at /static
    # Outermost: a request for a bot's Control UI host never reaches the rest.
    app.add_middleware(ControlUiSplit, ui=control_ui.app, suffix=settings.ui_host_suffix)
    return app
