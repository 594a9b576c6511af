"""A server span per API request (pure ASGI), installed only when tracing is on.

The span is named ``<method> <route template>`` (``GET /api/bots/{bot}``), or just the
method when no route matched, so no id, name or query ever makes its way into a span
name. Its attributes follow the OpenTelemetry HTTP semantic conventions but leave out
everything that may carry an id or a secret: no ``url.path``, ``url.query``, host,
user agent, cookie or ``Authorization``; only the method, the route template, the
scheme, the protocol version, the client address and the status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from botmaker.tracing import Tracing, method_of

if TYPE_CHECKING:
    from opentelemetry.trace import Span


def route_template(scope: Scope) -> str | None:
    """The template of the route that took the request (``/api/bots/{bot}``); a mount
    (``/static``) as ``/static/{path}``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    return f"{path}/{{path}}" if isinstance(route, Mount) else path


class TraceRequests:
    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        from opentelemetry.trace import SpanKind, StatusCode

        self.app = app
        self.tracing = tracing
        self._server = SpanKind.SERVER
        self._error = StatusCode.ERROR

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traceparent = None
        for name, value in scope.get("headers") or ():
            if name == b"traceparent":
                traceparent = value.decode("latin-1")
                break
        method = method_of(scope["method"])
        span: Span = self.tracing.tracer.start_span(
            method,
            context=self.tracing.parent(traceparent),
            kind=self._server,
            attributes={
                "http.request.method": method,
                "url.scheme": scope.get("scheme", "http"),
                "network.protocol.version": scope.get("http_version", "1.1"),
                **_client(scope),
            },
        )
        status = 0
        failed = False

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            failed = True
            status = status or 500  # what the server's last resort answers
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(self._error)
            raise
        finally:
            route = route_template(scope)
            if route is not None:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
            if status:
                span.set_attribute("http.response.status_code", status)
                if status >= 500 and not failed:
                    span.set_attribute("error.type", str(status))
                    span.set_status(self._error)
            span.end()


def _client(scope: Scope) -> dict[str, str | int]:
    client = scope.get("client")
    if not client:
        return {}
    return {"client.address": str(client[0]), "client.port": int(client[1])}
