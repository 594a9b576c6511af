"""A webhook receiver on loopback that records the JSON bodies POSTed to it."""

from __future__ import annotations

import json
import threading
from typing import Any

from tests.support.httpfake import JsonHandler, ServerThread


class WebhookReceiver:
    """Use as a context manager; ``received`` holds the bodies, ``status`` is the answer."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.status = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                with receiver._lock:
                    receiver.attempts += 1
                    status = receiver.status
                    if status < 300:
                        receiver.received.append(body)
                self.send_json(status, {"ok": status < 300})

        self._server = ServerThread("127.0.0.1", 0, Handler)
        self.url = f"http://127.0.0.1:{self._server.port}/hook"

    def kinds(self) -> list[str]:
        with self._lock:
            return [str(body["kind"]) for body in self.received]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for body in self.received if body["kind"] == kind]

    def __enter__(self) -> WebhookReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
