"""How the API is served: one uvicorn configuration for ``botmaker serve`` and the tests.

uvicorn trusts ``X-Forwarded-For``/``X-Forwarded-Proto`` from 127.0.0.1 by default, so
any local process (or a page that rebinds a name to 127.0.0.1) could choose the client
address the login limiter and the audit log see. Here proxy headers are off unless
``BOTMAKER_TRUSTED_PROXIES`` names the proxies, and then only those peers are believed.
"""

from __future__ import annotations

import contextlib

import uvicorn
from fastapi import FastAPI

from botmaker.config import Settings


def uvicorn_config(
    app: FastAPI,
    settings: Settings,
    *,
    port: int | None = None,
    log_level: str = "info",
) -> uvicorn.Config:
    """The server for ``app``; ``port`` overrides the settings' (0: any free port)."""
    trusted = list(settings.trusted_proxies)
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port if port is None else port,
        log_level=log_level,
        lifespan="on",
        proxy_headers=bool(trusted),
        # Always given, so uvicorn never falls back to $FORWARDED_ALLOW_IPS.
        forwarded_allow_ips=trusted,
    )


def serve(config: uvicorn.Config) -> bool:
    """Run the server until it is told to stop; whether it started at all."""
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a normal stop
        server.run()
    return bool(server.started)
