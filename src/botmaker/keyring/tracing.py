"""Spans of the keyring's data plane, when tracing is on (see ``botmaker.tracing``).

One bot's model call is one trace from the bot's request to the provider's answer:

* a **server** span for the bot's request (``POST /v1/{provider}{tail}``), continuing
  the bot's W3C ``traceparent`` if it sent a valid one (trace id and parent span id
  only), else starting a new trace; once the bot's token is checked it carries the
  bot's id, the provider, the model asked for and the tokens used;
* a **client** span for each upstream attempt (a 429 or 5xx moves on to the next key:
  one span per key tried), child of the server span, whose ``traceparent`` goes to
  the provider in place of anything the bot sent.

Attributes follow the OpenTelemetry HTTP and GenAI semantic conventions where they
have a name (``http.*``, ``gen_ai.request.model``, ``gen_ai.usage.*``) and are
``botmaker.*`` otherwise. Never recorded: the bot's token, the provider key (only its
id, ``key_…``), a request or response body, the query string, a header's value.

The proxy asks ``request.get(TRACE)`` at each step: None (tracing off, the middleware
not installed) costs it one dictionary lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict
from yarl import URL

from botmaker.tracing import Tracing, method_of

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanKind, StatusCode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: A model name as it may be recorded; anything else is left out.
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}")
#: A body up to this size is parsed for its top-level ``model``; a larger one is searched.
_PARSED_BODY = 64 * 1024
_MODEL_KEY = re.compile(rb'"model"\s*:\s*"([^"\\]{1,128})"')
#: Gemini names the model in the path: ``.../models/<model>:generateContent``.
_GEMINI_MODEL = re.compile(r"/models/([^/:]{1,128}):[A-Za-z]+$")


def model_of(body: bytes, path: str) -> str | None:
    """The model a request asks for (the body's ``model``, or Gemini's path), if it
    looks like a model name."""
    found: object = None
    if gemini := _GEMINI_MODEL.search(path):
        found = gemini.group(1)
    elif body[:1] == b"{" and len(body) <= _PARSED_BODY:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict):
            found = document.get("model")
    elif body[:1] == b"{" and (match := _MODEL_KEY.search(body)):
        found = match.group(1).decode("utf-8", "replace")
    return found if isinstance(found, str) and _MODEL.fullmatch(found) else None


class Attempt:
    """The client span of one upstream request."""

    __slots__ = ("_error", "span")

    def __init__(self, span: Span, error: StatusCode) -> None:
        self.span = span
        self._error = error

    def unreachable(self, reason: str) -> None:
        self.span.set_attribute("error.type", reason)
        self.span.set_status(self._error)
        self.span.end()

    def answered(self, status: int) -> None:
        self.span.set_attribute("http.response.status_code", status)
        if status >= 400:
            self.span.set_attribute("error.type", str(status))
            self.span.set_status(self._error)

    def finish(self, tokens_in: int, tokens_out: int, broken: bool) -> None:
        """The answer was relayed (``broken``: not whole)."""
        _usage(self.span, tokens_in, tokens_out)
        if broken:
            self.span.set_attribute("botmaker.relay.broken", True)
            self.span.set_status(self._error)
        self.span.end()


class ForwardTrace:
    """The spans of one data plane request."""

    __slots__ = ("_attributes", "_client", "_error", "span", "tracing")

    def __init__(self, tracing: Tracing, span: Span, client: SpanKind, error: StatusCode) -> None:
        self.tracing = tracing
        self.span = span
        self._client = client
        self._error = error
        self._attributes: dict[str, str] = {}

    def identify(self, bot_id: str, provider: str) -> None:
        """The caller is known (its token checked) and may use ``provider``."""
        self._attributes = {"botmaker.bot.id": bot_id, "botmaker.provider": provider}
        self.span.set_attributes(self._attributes)

    def request_body(self, body: bytes, path: str) -> None:
        model = model_of(body, path)
        if model is not None:
            self._attributes["gen_ai.request.model"] = model
            self.span.set_attribute("gen_ai.request.model", model)

    def attempt(
        self, method: str, url: URL, key_id: str, resend: int, headers: CIMultiDict[str]
    ) -> Attempt:
        """Start the client span of an upstream request and put its ``traceparent`` in
        ``headers`` (the request's own copy)."""
        from opentelemetry import trace

        verb = method_of(method)
        attributes: dict[str, str | int] = {
            **self._attributes,
            "botmaker.key.id": key_id,
            "http.request.method": verb,
            "server.address": url.raw_host or "",
            "server.port": url.port or 0,
            "url.full": str(url.with_user(None).with_query(None).with_fragment(None)),
        }
        if resend:
            attributes["http.request.resend_count"] = resend
        span = self.tracing.tracer.start_span(
            verb,
            context=trace.set_span_in_context(self.span),
            kind=self._client,
            attributes=attributes,
        )
        self.tracing.inject(span, headers)
        return Attempt(span, self._error)

    def usage(self, tokens_in: int, tokens_out: int) -> None:
        _usage(self.span, tokens_in, tokens_out)


def _usage(span: Span, tokens_in: int, tokens_out: int) -> None:
    span.set_attribute("gen_ai.usage.input_tokens", tokens_in)
    span.set_attribute("gen_ai.usage.output_tokens", tokens_out)


#: The request's spans, set by :func:`middleware` (absent when tracing is off).
TRACE = web.RequestKey("trace", ForwardTrace)


def middleware(tracing: Tracing) -> Middleware:
    """The data plane's outermost middleware: the server span of every request."""
    from opentelemetry.trace import SpanKind, StatusCode

    server, client, error = SpanKind.SERVER, SpanKind.CLIENT, StatusCode.ERROR

    @web.middleware
    async def trace_request(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else None
        method = method_of(request.method)
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "url.scheme": request.scheme,
            "network.protocol.version": f"{request.version.major}.{request.version.minor}",
        }
        if route is not None:
            attributes["http.route"] = route
        if request.remote:
            attributes["client.address"] = request.remote
        span = tracing.tracer.start_span(
            f"{method} {route}" if route else method,
            context=tracing.parent(request.headers.get("traceparent")),
            kind=server,
            attributes=attributes,
        )
        request[TRACE] = ForwardTrace(tracing, span, client, error)
        status = 0
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(error)
            raise
        finally:
            if status:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_attribute("error.type", str(status))
                    span.set_status(error)
            span.end()

    return trace_request
