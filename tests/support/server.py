"""A real uvicorn server on loopback, in a thread, configured as ``botmaker serve`` is."""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI

from botmaker.api.server import uvicorn_config


class ServerThread:
    def __init__(self, app: FastAPI) -> None:
        # The app's own settings through the same factory as the CLI (proxy headers off
        # unless BOTMAKER_TRUSTED_PROXIES says so), on a free loopback port.
        config = uvicorn_config(app, app.state.settings, port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
