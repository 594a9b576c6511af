"""Send bytes to an HTTP server exactly as given and time the answer.

Hostile request lines (absolute-form, ``CONNECT``, smuggled framing) are exactly what
HTTP clients refuse to send or normalise away, so the tests that try them speak over
a plain socket. A server that never answers shows up as status 0 after ``timeout``,
not as a hung test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RawAnswer:
    status: int  # 0: no answer (closed, or silent until the timeout)
    headers: dict[str, str]  # lower-case names
    body: bytes
    seconds: float  # from sending the request to the end of the answer

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        head = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        return head + self.body.decode("latin-1")


def exchange(host: str, port: int, data: bytes, *, timeout: float = 5.0) -> RawAnswer:
    """Send ``data`` on a fresh connection; read one response (or none)."""
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # it may close before all of a huge head is sent
            sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            body = response.read()
        except (OSError, http.client.HTTPException):
            return RawAnswer(0, {}, b"", time.monotonic() - started)
        headers = {k.lower(): v for k, v in response.getheaders()}
        response.close()
    return RawAnswer(response.status, headers, body, time.monotonic() - started)
