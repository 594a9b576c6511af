"""A fake LLM provider upstream: one real aiohttp server speaking several providers' wire formats.

The keyring proxy's tests point it here instead of at OpenAI, Anthropic, Gemini or
Ollama. Routes are matched on the path's *end*, so a test picks any prefix it likes
(``fake.url + "/v1"`` for OpenAI, ``fake.url`` for Anthropic, ``fake.url + "/v1beta"``
for Gemini, ...):

* ``POST .../chat/completions``                      OpenAI chat (JSON or SSE)
* ``POST .../responses``                             OpenAI Responses (JSON or SSE)
* ``POST .../messages``                              Anthropic Messages (JSON or SSE)
* ``POST .../models/{model}:generateContent``        Gemini (JSON)
* ``POST .../models/{model}:streamGenerateContent``  Gemini (``?alt=sse``: SSE, else JSON array)
* ``POST .../api/chat``                              Ollama (NDJSON, or JSON if not streamed)
* ``GET  .../models``                                a models list (a key test's one call:
  any provider's auth header; ``accept_keys`` and ``fail_with`` apply)
* ``ANY  .../echo[/...]``  what the server saw: method, raw path and query, header pairs,
  body length and sha256
* ``ANY  .../redirect``  302 to :attr:`FakeUpstream.redirect_to`
* anything else          404, OpenAI-style JSON

Provider routes check the credential in that provider's own header (``Authorization:
Bearer`` for OpenAI and Ollama, ``x-api-key`` for Anthropic, ``x-goog-api-key`` for
Gemini) and answer 401 with an error that echoes the presented key, as OpenAI does,
so a test can check the proxy scrubs it. Every request is recorded as a :class:`Seen`.

The server runs on its own event loop in a daemon thread; the knobs are plain
attributes a test sets from its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiohttp import web

REPLY = "Hello from the fake upstream."
BODY_KEEP = 64 * 1024
"""How much of each request body :class:`Seen` keeps (``body_length`` has the full size)."""

_GEMINI = re.compile(r"/models/(?P<model>[^/:]+):(?P<verb>generateContent|streamGenerateContent)$")
_AUTH_HEADER = {
    "openai": "authorization",
    "responses": "authorization",
    "anthropic": "x-api-key",
    "gemini": "x-goog-api-key",
    "ollama": "authorization",
}
_PROVIDER = {
    "openai": "openai",
    "responses": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "ollama": "ollama",
}


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it."""

    method: str
    path: str  # raw (still percent-encoded), without the query
    query: str  # raw query string, without the "?"
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes  # the first BODY_KEEP bytes
    key: str | None  # the credential presented in the endpoint's auth header
    body_length: int = 0
    endpoint: str = ""  # openai, responses, anthropic, gemini, ollama, echo, redirect, unknown

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeUpstream:
    """A fake provider API on ``host:port`` (port 0: a free one); use as a context manager.

    Knobs (set them from the test at any time; they are read per request):

    * ``accept_keys``: keys the provider routes accept; empty accepts any key, or none.
    * ``fail_with``: key -> forced HTTP status (e.g. 429, 503), with a provider-style JSON
      error; ``"*"`` applies to every key. 429 carries ``Retry-After: retry_after``.
      A key listed here counts as known (it is not also checked against ``accept_keys``).
    * ``chunks``: how many text deltas a stream carries; ``chunk_delay``: seconds to wait
      before each delta (the framing events around them are not delayed).
    * ``delay``: seconds to wait before answering a provider route at all.
    * ``reply``: the assistant text; ``input_tokens``/``output_tokens``: reported usage.
    * ``redirect_to``: the ``Location`` of ``.../redirect`` (None: ``<url>/redirected``).
    * ``extra_headers``: added to every provider response (e.g. a ``set-cookie``).
    * ``require_anthropic_version``: answer 400 to ``.../messages`` without the header.
    """

    host: str = "127.0.0.1"
    port: int = 0
    accept_keys: set[str] = field(default_factory=set)
    fail_with: dict[str, int] = field(default_factory=dict)
    retry_after: str = "1"
    chunks: int = 3
    chunk_delay: float = 0.0
    delay: float = 0.0
    reply: str = REPLY
    input_tokens: int = 12
    output_tokens: int = 7
    redirect_to: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    require_anthropic_version: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._open_streams = 0
        self._closed_early = 0
        self._completed_streams = 0
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> FakeUpstream:
        if self._thread is not None:
            raise RuntimeError("FakeUpstream already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # stop, then start again
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(sock, ready), name="fake-upstream", daemon=True
        )
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("FakeUpstream did not start in 15s")
        if self._error is not None:
            self._thread.join(5)
            raise RuntimeError("FakeUpstream failed to start") from self._error
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
        if thread.is_alive():
            raise RuntimeError("FakeUpstream thread did not stop in 15s")
        self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        try:
            try:
                loop.run_until_complete(runner.setup())
                loop.run_until_complete(web.SockSite(runner, sock).start())
            except BaseException as exc:
                self._error = exc
                sock.close()
                ready.set()
                return
            ready.set()
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(runner.cleanup())
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    # -- accessors (any thread) --------------------------------------------------------

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    @property
    def last(self) -> Seen | None:
        with self._lock:
            return self._seen[-1] if self._seen else None

    def clear(self) -> None:
        """Forget the recorded requests and reset the stream counters."""
        with self._lock:
            self._seen.clear()
            self._closed_early = 0
            self._completed_streams = 0

    @property
    def open_streams(self) -> int:
        """Streaming responses being written right now."""
        with self._lock:
            return self._open_streams

    @property
    def closed_early(self) -> int:
        """Streams the client left before their end."""
        with self._lock:
            return self._closed_early

    @property
    def completed_streams(self) -> int:
        """Streams written to their end."""
        with self._lock:
            return self._completed_streams

    # -- request handling --------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path, _, query = request.raw_path.partition("?")
        path = request.path
        endpoint, model = _route(request.method, path)

        digest = hashlib.sha256()
        body = bytearray()
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            body += chunk

        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            lower = name.lower()
            headers[lower] = f"{headers[lower]}, {value}" if lower in headers else value
        key = _key(headers, _AUTH_HEADER.get(endpoint))
        with self._lock:
            self._seen.append(
                Seen(
                    method=request.method,
                    path=raw_path,
                    query=query,
                    headers=headers,
                    body=bytes(body[:BODY_KEEP]),
                    key=key,
                    body_length=len(body),
                    endpoint=endpoint,
                )
            )

        if endpoint == "echo":
            return web.json_response(
                {
                    "method": request.method,
                    "path": raw_path,
                    "query": query,
                    "headers": [
                        [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers
                    ],
                    "body_length": len(body),
                    "body_sha256": digest.hexdigest(),
                }
            )
        if endpoint == "redirect":
            location = self.redirect_to or f"{self.url}/redirected"
            return web.json_response(
                {"redirect": location}, status=302, headers={"location": location}
            )
        if endpoint == "models" and request.method == "GET":
            return self._models(key)
        if endpoint == "unknown":
            return web.json_response(
                _openai_error(f"Invalid URL ({request.method} {path})", "invalid_request_error"),
                status=404,
            )
        if request.method != "POST":
            return web.json_response(
                _openai_error(f"Method {request.method} not allowed", "invalid_request_error"),
                status=405,
                headers={"allow": "POST"},
            )
        return await self._provider(request, endpoint, model, key, headers, bytes(body))

    def _models(self, key: str | None) -> web.Response:
        forced = self.fail_with.get(key or "", self.fail_with.get("*"))
        if forced is not None:
            return web.json_response(
                _error("openai", forced, _forced_message(forced)), status=forced
            )
        if key is None or (self.accept_keys and key not in self.accept_keys):
            return web.json_response(
                _error("openai", 401, _auth_message("openai", key)), status=401
            )
        models = [{"id": "fake-model", "object": "model", "owned_by": "fake"}]
        return web.json_response({"object": "list", "data": models})

    async def _provider(
        self,
        request: web.Request,
        endpoint: str,
        model: str,
        key: str | None,
        headers: dict[str, str],
        body: bytes,
    ) -> web.StreamResponse:
        provider = _PROVIDER[endpoint]
        rid = f"fake{next(self._ids)}"
        extra = {"x-request-id": f"req_{rid}", **self.extra_headers}
        if self.delay > 0:
            await asyncio.sleep(self.delay)

        forced = self.fail_with.get(key or "", self.fail_with.get("*"))
        if forced is not None:
            if forced == 429:
                extra["retry-after"] = self.retry_after
            return web.json_response(
                _error(provider, forced, _forced_message(forced)), status=forced, headers=extra
            )
        if self.accept_keys and key not in self.accept_keys:
            return web.json_response(
                _error(provider, 401, _auth_message(provider, key)), status=401, headers=extra
            )
        if (
            endpoint == "anthropic"
            and self.require_anthropic_version
            and "anthropic-version" not in headers
        ):
            message = "anthropic-version: header is required"
            return web.json_response(_error(provider, 400, message), status=400, headers=extra)

        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            message = f"could not parse the JSON body of your request ({exc})"
            return web.json_response(_error(provider, 400, message), status=400, headers=extra)
        if not isinstance(payload, dict):
            message = "the request body must be a JSON object"
            return web.json_response(_error(provider, 400, message), status=400, headers=extra)

        model = model or str(payload.get("model") or "fake-model")
        reply = Reply(
            rid=rid,
            model=model,
            text=self.reply,
            pieces=_pieces(self.reply, self.chunks),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
        )
        streamed = bool(payload.get("stream"))

        if endpoint == "openai":
            if not streamed:
                return web.json_response(reply.openai_chat(), headers=extra)
            options = payload.get("stream_options") or {}
            usage = isinstance(options, dict) and bool(options.get("include_usage"))
            return await self._stream(request, "text/event-stream", reply.openai_sse(usage), extra)
        if endpoint == "responses":
            if not streamed:
                return web.json_response(reply.responses(), headers=extra)
            return await self._stream(request, "text/event-stream", reply.responses_sse(), extra)
        if endpoint == "anthropic":
            if not streamed:
                return web.json_response(reply.anthropic(), headers=extra)
            return await self._stream(request, "text/event-stream", reply.anthropic_sse(), extra)
        if endpoint == "gemini":
            if not request.path.endswith(":streamGenerateContent"):
                return web.json_response(reply.gemini(), headers=extra)
            if request.query.get("alt") == "sse":
                return await self._stream(request, "text/event-stream", reply.gemini_sse(), extra)
            return await self._stream(request, "application/json", reply.gemini_array(), extra)
        # ollama: streams unless told not to
        if payload.get("stream", True) is False:
            return web.json_response(reply.ollama(), headers=extra)
        return await self._stream(request, "application/x-ndjson", reply.ollama_ndjson(), extra)

    async def _stream(
        self,
        request: web.Request,
        content_type: str,
        parts: list[tuple[bool, bytes]],
        headers: dict[str, str],
    ) -> web.StreamResponse:
        """Write ``parts`` (delayed?, bytes) one by one, noticing a client that goes away."""
        resp = web.StreamResponse(
            status=200, headers={"content-type": content_type, "cache-control": "no-cache"}
        )
        for name, value in headers.items():
            resp.headers[name] = value
        with self._lock:
            self._open_streams += 1
        finished = False
        try:
            await resp.prepare(request)
            for delayed, data in parts:
                if delayed:
                    await _pause(request, self.chunk_delay)
                await resp.write(data)
            await resp.write_eof()
            finished = True
        except ConnectionError:  # includes aiohttp's ClientConnectionResetError
            resp.force_close()
        finally:
            with self._lock:
                self._open_streams -= 1
                if finished:
                    self._completed_streams += 1
                else:
                    self._closed_early += 1
        return resp


def _route(method: str, path: str) -> tuple[str, str]:
    """(endpoint, model from the path) for a decoded request path."""
    stripped = path.rstrip("/")
    if stripped.endswith("/echo") or "/echo/" in stripped:
        return "echo", ""
    if stripped.endswith("/redirect"):
        return "redirect", ""
    if stripped.endswith("/models"):
        return "models", ""
    if stripped.endswith("/chat/completions"):
        return "openai", ""
    if stripped.endswith("/responses"):
        return "responses", ""
    if stripped.endswith("/api/chat"):
        return "ollama", ""
    if stripped.endswith("/messages"):
        return "anthropic", ""
    match = _GEMINI.search(stripped)
    if match:
        return "gemini", match["model"]
    return "unknown", ""


def _key(headers: dict[str, str], header: str | None) -> str | None:
    """The credential in ``header``, or for non-provider routes the first one found."""
    names = [header] if header else ["authorization", "x-api-key", "x-goog-api-key"]
    for name in names:
        value = headers.get(name)
        if value is None:
            continue
        if name == "authorization":
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else value
        return value
    return None


async def _pause(request: web.Request, seconds: float) -> None:
    """Sleep ``seconds``, raising ConnectionResetError as soon as the client has gone."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        await asyncio.sleep(min(left, 0.05))


def _pieces(text: str, n: int) -> list[str]:
    """``text`` cut into ``n`` non-empty consecutive pieces (padded with dots if too short)."""
    n = max(1, n)
    if len(text) < n:
        text += "." * (n - len(text))
    bounds = [round(i * len(text) / n) for i in range(n + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(n)]


# -- errors ------------------------------------------------------------------------------


def _openai_error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _auth_message(provider: str, key: str | None) -> str:
    if key is None:
        return (
            "You didn't provide an API key. You need to provide your API key in the "
            f"{_AUTH_HEADER_NAME[provider]} header."
        )
    if provider == "openai":
        return (
            f"Incorrect API key provided: {key}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
    if provider == "anthropic":
        return f"invalid x-api-key: {key}"
    if provider == "gemini":
        return f"API key not valid. Please pass a valid API key. ({key})"
    return f"unauthorized: invalid key {key}"


_AUTH_HEADER_NAME = {
    "openai": "Authorization (Bearer)",
    "anthropic": "x-api-key",
    "gemini": "x-goog-api-key",
    "ollama": "Authorization (Bearer)",
}


def _forced_message(status: int) -> str:
    if status == 429:
        return "Rate limit reached for requests. Please try again in 1s."
    if status in (503, 529):
        return "The server is overloaded or not ready yet."
    return f"Upstream answered {status}."


def _error(provider: str, status: int, message: str) -> dict[str, Any]:
    if provider == "anthropic":
        kinds = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }
        return {
            "type": "error",
            "error": {"type": kinds.get(status, "api_error"), "message": message},
        }
    if provider == "gemini":
        statuses = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
        }
        return {
            "error": {"code": status, "message": message, "status": statuses.get(status, "UNKNOWN")}
        }
    if provider == "ollama":
        return {"error": message}
    if status == 401:
        return _openai_error(message, "invalid_request_error", "invalid_api_key")
    if status == 429:
        return _openai_error(message, "requests", "rate_limit_exceeded")
    if status >= 500:
        return _openai_error(message, "server_error")
    return _openai_error(message, "invalid_request_error")


# -- replies in each wire format ---------------------------------------------------------


def _sse(data: Any, event: str | None = None, end: str = "\n\n") -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}{end}".encode()


@dataclass(frozen=True)
class Reply:
    rid: str
    model: str
    text: str
    pieces: list[str]
    input_tokens: int
    output_tokens: int
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    # OpenAI chat completions

    def openai_usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.total,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def openai_chat(self) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{self.rid}",
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": self.text,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self.openai_usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    def openai_sse(self, include_usage: bool) -> list[tuple[bool, bytes]]:
        base: dict[str, Any] = {
            "id": f"chatcmpl-{self.rid}",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if include_usage:
            base["usage"] = None

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**base, "choices": [choice]}

        parts = [(False, _sse(chunk({"role": "assistant", "content": "", "refusal": None})))]
        parts += [(True, _sse(chunk({"content": piece}))) for piece in self.pieces]
        parts.append((False, _sse(chunk({}, "stop"))))
        if include_usage:
            parts.append((False, _sse({**base, "choices": [], "usage": self.openai_usage()})))
        parts.append((False, b"data: [DONE]\n\n"))
        return parts

    # OpenAI Responses

    def _response(self, status: str, text: str | None) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if text is not None:
            output.append(self._message_item("completed", text))
        return {
            "id": f"resp_{self.rid}",
            "object": "response",
            "created_at": self.created,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None
            if text is None
            else {
                "input_tokens": self.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": self.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.total,
            },
            "user": None,
            "metadata": {},
        }

    def _message_item(self, status: str, text: str | None) -> dict[str, Any]:
        content = [] if text is None else [self._text_part(text)]
        return {
            "id": f"msg_{self.rid}",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    @staticmethod
    def _text_part(text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": []}

    def responses(self) -> dict[str, Any]:
        return self._response("completed", self.text)

    def responses_sse(self) -> list[tuple[bool, bytes]]:
        seq = itertools.count()
        item_id = f"msg_{self.rid}"

        def event(kind: str, **fields: Any) -> bytes:
            return _sse({"type": kind, "sequence_number": next(seq), **fields}, kind)

        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        parts = [
            (False, event("response.created", response=self._response("in_progress", None))),
            (False, event("response.in_progress", response=self._response("in_progress", None))),
            (
                False,
                event(
                    "response.output_item.added",
                    output_index=0,
                    item=self._message_item("in_progress", None),
                ),
            ),
            (False, event("response.content_part.added", **where, part=self._text_part(""))),
        ]
        parts += [
            (True, event("response.output_text.delta", **where, delta=piece, logprobs=[]))
            for piece in self.pieces
        ]
        parts += [
            (False, event("response.output_text.done", **where, text=self.text, logprobs=[])),
            (False, event("response.content_part.done", **where, part=self._text_part(self.text))),
            (
                False,
                event(
                    "response.output_item.done",
                    output_index=0,
                    item=self._message_item("completed", self.text),
                ),
            ),
            (False, event("response.completed", response=self.responses())),
        ]
        return parts

    # Anthropic Messages

    def _anthropic_usage(self, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }

    def anthropic(self) -> dict[str, Any]:
        return {
            "id": f"msg_{self.rid}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [{"type": "text", "text": self.text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": self._anthropic_usage(self.output_tokens),
        }

    def anthropic_sse(self) -> list[tuple[bool, bytes]]:
        def event(kind: str, **fields: Any) -> bytes:
            return _sse({"type": kind, **fields}, kind)

        start = {
            **self.anthropic(),
            "content": [],
            "stop_reason": None,
            "usage": self._anthropic_usage(1),
        }
        parts = [
            (False, event("message_start", message=start)),
            (
                False,
                event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
            ),
            (False, event("ping")),
        ]
        parts += [
            (
                True,
                event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece}),
            )
            for piece in self.pieces
        ]
        parts += [
            (False, event("content_block_stop", index=0)),
            (
                False,
                event(
                    "message_delta",
                    delta={"stop_reason": "end_turn", "stop_sequence": None},
                    usage={"output_tokens": self.output_tokens},
                ),
            ),
            (False, event("message_stop")),
        ]
        return parts

    # Gemini

    def _gemini_chunk(self, text: str, output_tokens: int, last: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if last:
            candidate["finishReason"] = "STOP"
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": self.input_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": self.input_tokens + output_tokens,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.input_tokens}],
            },
            "modelVersion": self.model,
            "responseId": self.rid,
        }

    def gemini(self) -> dict[str, Any]:
        return self._gemini_chunk(self.text, self.output_tokens, last=True)

    def _gemini_chunks(self) -> list[dict[str, Any]]:
        n = len(self.pieces)
        return [
            self._gemini_chunk(piece, round(self.output_tokens * (i + 1) / n), last=i == n - 1)
            for i, piece in enumerate(self.pieces)
        ]

    def gemini_sse(self) -> list[tuple[bool, bytes]]:
        return [(True, _sse(chunk, end="\r\n\r\n")) for chunk in self._gemini_chunks()]

    def gemini_array(self) -> list[tuple[bool, bytes]]:
        chunks = self._gemini_chunks()
        parts = [
            (True, (("[" if i == 0 else ",\r\n") + json.dumps(chunk, indent=2)).encode())
            for i, chunk in enumerate(chunks)
        ]
        parts.append((False, b"]"))
        return parts

    # Ollama

    def _ollama(self, content: str, done: bool) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        out: dict[str, Any] = {
            "model": self.model,
            "created_at": now,
            "message": {"role": "assistant", "content": content},
            "done": done,
        }
        if done:
            out.update(
                done_reason="stop",
                total_duration=412_000_000,
                load_duration=21_000_000,
                prompt_eval_count=self.input_tokens,
                prompt_eval_duration=85_000_000,
                eval_count=self.output_tokens,
                eval_duration=300_000_000,
            )
        return out

    def ollama(self) -> dict[str, Any]:
        return self._ollama(self.text, done=True)

    def ollama_ndjson(self) -> list[tuple[bool, bytes]]:
        parts = [
            (True, (json.dumps(self._ollama(piece, done=False)) + "\n").encode())
            for piece in self.pieces
        ]
        parts.append((False, (json.dumps(self._ollama("", done=True)) + "\n").encode()))
        return parts
