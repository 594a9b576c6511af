"""The data plane: ``/v1/<provider>/<path>`` with a bot's token in, the real key out.

For each request the proxy authenticates the bot's token (in whichever header the
provider's SDK puts its key), checks the bot may use the provider and still has
budget, strips every credential and hop-by-hop header the bot sent, and forwards
method, path, query string, vendor headers and body to the provider's fixed base
URL with the real key in the provider's own auth style. Responses stream back chunk
by chunk; the key is scrubbed from whatever comes back; usage is read on the way.
A 429 or 5xx (or a connection failure) from the provider moves on to the next key.

The upstream URL is built by :mod:`botmaker.keyring.target` from the matched provider
and the checked path and query only; every request target that could move the key
elsewhere (absolute-form, ``CONNECT``, encoded separators, dot segments, a foreign
``Host``) is a 400 before any body is read, counted as a refusal for the bot.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from urllib.parse import unquote_plus

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from botmaker.keyring.metering import UsageMeter
from botmaker.keyring.model import Grant, KeyChoice, UsageDelta
from botmaker.keyring.netpolicy import make_session
from botmaker.keyring.scrub import Scrubber, scrub
from botmaker.keyring.service import Keyring, Upstream, today
from botmaker.keyring.settings import KeyringSettings
from botmaker.keyring.target import (
    DataAddress,
    TargetRefused,
    check_path,
    check_query,
    origin_form,
    remainder,
    upstream_url,
)
from botmaker.keyring.tracing import TRACE, Attempt
from botmaker.keyring.tracing import middleware as trace_middleware
from botmaker.tracing import Tracing

log = logging.getLogger("botmaker.keyring.proxy")

#: Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus our own.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
#: Where SDKs put an API key: whatever the bot sent there is its token, never forwarded.
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})
#: Not forwarded upstream: cookies and client-identifying forwarding headers, and the
#: bot's trace context (with tracing on, the keyring sends its own ``traceparent``).
DROPPED_HEADERS = frozenset(
    {
        "cookie",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-real-ip",
        "accept-encoding",
        "traceparent",
        "tracestate",
        "baggage",
    }
)
#: Response encodings the proxy decodes (it asks for identity; some servers compress anyway).
_DECODABLE = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
#: A compressed answer is decoded in pieces of at most this size, each sent on at once,
#: so a few kilobytes that inflate to gigabytes never sit in memory whole.
DECODE_PIECE = 1024 * 1024
#: An error answer is read whole (to scrub it); one larger than this, before or after
#: decoding, is refused with a 502.
MAX_ERROR_BODY = 4 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
KEYRING = web.AppKey("keyring", Keyring)
SETTINGS = web.AppKey("settings", KeyringSettings)
SESSIONS = web.AppKey("sessions", dict[bool, aiohttp.ClientSession])
#: Where the data plane listens, for the ``Host`` check (set once the listener is up).
ADDRESS = web.AppKey("address", DataAddress)


class QuietParseErrors(logging.Filter):
    """aiohttp logs a request its parser refuses at ERROR with a traceback and the
    parser's message, which quotes the offending bytes (a bot's token in an oversized
    header, say): keep one line naming the error, none of the request's content."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = "refused a malformed request (%s, HTTP %s)"
            record.args = (type(exc).__name__, exc.code)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


#: The data plane's server logger (aiohttp's own, for what its handlers do not catch).
http_log = logging.getLogger("botmaker.keyring.http")
http_log.addFilter(QuietParseErrors())


def error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """An error in the shape OpenAI-compatible clients show (``error.message``)."""
    body = {"error": {"type": code, "code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def bot_token(request: web.Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    for name in ("x-api-key", "x-goog-api-key", "api-key"):
        value = request.headers.get(name)
        if value:
            return value.strip()
    return request.query.get("key") or None


def _bad_header(headers: CIMultiDictProxy[str]) -> str | None:
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\x00" in value:
            return name
    return None


def upstream_headers(incoming: CIMultiDictProxy[str], upstream: Upstream) -> CIMultiDict[str]:
    listed = {
        token.strip().lower()
        for value in incoming.getall("connection", ())
        for token in value.split(",")
    }
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming.items():
        lower = name.lower()
        if (
            lower in HOP_BY_HOP
            or lower in CREDENTIAL_HEADERS
            or lower in DROPPED_HEADERS
            or lower in listed
        ):
            continue
        headers.add(name, value)
    headers["Accept-Encoding"] = "identity"  # usage is read from the body on the way
    return headers


def _with_key(headers: CIMultiDict[str], upstream: Upstream, key: KeyChoice) -> CIMultiDict[str]:
    out = headers.copy()
    if upstream.auth == "authorization-bearer":
        out["Authorization"] = f"Bearer {key.secret}"
    elif upstream.auth == "x-api-key":
        out["x-api-key"] = key.secret
    elif upstream.auth == "x-goog-api-key":
        out["x-goog-api-key"] = key.secret
    return out


def _query_without_key(raw: str) -> str:
    if not raw:
        return ""
    # compare the decoded name, as ``request.query`` (where the token is read) does:
    # ``?k%65y=<token>`` authenticates too and must not travel upstream either
    kept = [
        part for part in raw.split("&") if part and unquote_plus(part.split("=", 1)[0]) != "key"
    ]
    return "&".join(kept)


def _response_headers(headers: Iterable[tuple[str, str]], secret: str) -> CIMultiDict[str]:
    pairs = list(headers)
    listed = {  # headers the upstream's Connection names are hop-by-hop too
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in pairs:
        lower = name.lower()
        if (
            lower in HOP_BY_HOP
            or lower in listed
            or (lower == "content-encoding" and value == "identity")
        ):
            continue
        if secret and secret in value:
            continue
        out.add(name, value)
    return out


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None if it is larger than ``limit``."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(request: web.Request, refused: TargetRefused) -> web.Response:
    """A 400 for a hostile target, counted as a refusal for the bot whose token came
    with it; the connection is closed (whatever body follows is never read)."""
    keyring = request.app[KEYRING]
    token = bot_token(request)
    grant = keyring.authenticate(token) if token else None
    if grant is not None:
        provider = request.match_info.get("provider", "")
        counted = provider if provider in grant.providers else ""
        keyring.record(UsageDelta(today(), grant.bot_id, "", counted, rejected=1))
        keyring.metrics.refused(grant.bot_id, counted, refused.code)
    response = error(400, refused.code, refused.message)
    response.force_close()
    return response


@web.middleware
async def guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse what is not an origin-form request to the data plane's own address,
    before routing decides anything from aiohttp's reading of an absolute URL."""
    try:
        path, query = origin_form(request.method, request.raw_path)
        check_path(path)  # here too: an encoded slash may keep the route from matching
        check_query(query)
        hosts = request.headers.getall("host", [])
        if len(hosts) != 1 or not request.app[ADDRESS].accepts(hosts[0]):
            raise TargetRefused("the Host header is not this proxy's address", code="bad_host")
    except TargetRefused as refused:
        return _refuse(request, refused)
    return await handler(request)


async def handle(request: web.Request) -> web.StreamResponse:
    keyring = request.app[KEYRING]
    provider = request.match_info["provider"]
    try:  # the target first: a hostile one is a 400 whatever the token may do
        path, query = origin_form(request.method, request.raw_path)
        rest = remainder(path, provider)
    except TargetRefused as refused:
        return _refuse(request, refused)

    token = bot_token(request)
    grant = keyring.authenticate(token) if token else None
    if grant is None:
        return error(401, "invalid_token", "missing or unknown keyring token")
    if provider not in grant.providers:
        return error(403, "provider_not_allowed", f"this bot may not use provider {provider!r}")
    if (trace := request.get(TRACE)) is not None:
        trace.identify(grant.bot_id, provider)
    upstream = keyring.upstream(grant, provider)
    if upstream is None:
        return error(404, "unknown_provider", f"no upstream is configured for {provider!r}")
    bad = _bad_header(request.headers)
    if bad is not None:
        return error(400, "bad_header", f"header {bad} contains a line break")
    try:
        url = upstream_url(upstream.base_url, rest, _query_without_key(query))
    except TargetRefused as refused:
        return _refuse(request, refused)

    day = today()
    refusal = keyring.admit(grant)
    if refusal is not None:
        keyring.record(UsageDelta(day, grant.bot_id, "", provider, rejected=1))
        keyring.metrics.refused(grant.bot_id, provider, refusal.kind)
        return error(
            429, refusal.kind, refusal.message, headers={"Retry-After": str(refusal.retry_after)}
        )
    try:
        return await _forward(request, grant, provider, upstream, url, day)
    finally:
        keyring.finish(grant)  # admitted requests count against request budgets until here


async def _forward(
    request: web.Request, grant: Grant, provider: str, upstream: Upstream, url: URL, day: str
) -> web.StreamResponse:
    keyring = request.app[KEYRING]
    settings = request.app[SETTINGS]
    if keyring.store.locked:
        return error(503, "keyring_locked", "the keyring is locked: no key can be used")
    keys = keyring.candidates(grant, provider)
    if not keys:
        keyring.record(UsageDelta(day, grant.bot_id, "", provider, errors=1))
        return error(503, "no_key", f"the keyring has no key for provider {provider!r}")

    body = await _read_body(request, settings.max_body_bytes)
    if body is None:
        return error(413, "payload_too_large", f"request body over {settings.max_body_bytes} bytes")

    headers = upstream_headers(request.headers, upstream)
    session = request.app[SESSIONS][upstream.allow_private]
    trace = request.get(TRACE)
    if trace is not None:
        trace.request_body(body, url.path)

    started = time.monotonic()
    response: aiohttp.ClientResponse | None = None
    chosen: KeyChoice | None = None
    attempt: Attempt | None = None
    failure = ""
    for index, key in enumerate(keys):
        last = index == len(keys) - 1
        sent = _with_key(headers, upstream, key)
        if trace is not None:  # the client span, and its traceparent in ``sent``
            attempt = trace.attempt(request.method, url, key.info.id, index, sent)
        try:
            response = await session.request(
                request.method,
                url,
                headers=sent,
                data=body if body else None,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            failure = _describe(exc)
            if attempt is not None:
                attempt.unreachable(type(exc).__qualname__)
                attempt = None
            keyring.record(UsageDelta(day, grant.bot_id, key.info.id, provider, errors=1))
            log.warning("provider %s unreachable with key %s: %s", provider, key.info.id, failure)
            continue
        if attempt is not None:
            attempt.answered(response.status)
        if response.status in RETRY_STATUSES and not last:
            if attempt is not None:
                attempt.finish(0, 0, broken=False)
                attempt = None
            keyring.record(UsageDelta(day, grant.bot_id, key.info.id, provider, errors=1))
            log.info(
                "provider %s answered %s for key %s; next key",
                provider,
                response.status,
                key.info.id,
            )
            response.release()
            response = None
            continue
        chosen = key
        break
    if response is None or chosen is None:
        return error(502, "upstream_unreachable", f"provider {provider} unreachable: {failure}")
    try:
        return await _relay(
            request, response, chosen, keyring, day, grant.bot_id, provider, attempt
        )
    finally:
        keyring.metrics.observe(grant.bot_id, provider, chosen.info.id, time.monotonic() - started)


class _TooLarge(Exception):
    """An error answer over :data:`MAX_ERROR_BODY`."""


def _inflate(decoder: zlib._Decompress, data: bytes) -> Iterator[bytes]:
    """What ``data`` decodes to, in pieces of at most :data:`DECODE_PIECE` bytes."""
    while True:
        piece = decoder.decompress(data, DECODE_PIECE)
        if piece:
            yield piece
        data = decoder.unconsumed_tail
        # a full piece may leave output inside zlib even when all input is consumed
        if not data and len(piece) < DECODE_PIECE:
            return


async def _read_error(response: aiohttp.ClientResponse, decoder: zlib._Decompress | None) -> bytes:
    """An error answer's body, decoded; :class:`_TooLarge` beyond :data:`MAX_ERROR_BODY`."""
    parts: list[bytes] = []
    size = raw_size = 0
    async for raw in response.content.iter_any():
        raw_size += len(raw)
        if raw_size > MAX_ERROR_BODY:
            raise _TooLarge
        for piece in _inflate(decoder, raw) if decoder is not None else (raw,):
            size += len(piece)
            if size > MAX_ERROR_BODY:
                raise _TooLarge
            parts.append(piece)
    return b"".join(parts)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return str(exc.os_error) or "connection failed"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__


async def _relay(
    request: web.Request,
    response: aiohttp.ClientResponse,
    key: KeyChoice,
    keyring: Keyring,
    day: str,
    bot_id: str,
    provider: str,
    attempt: Attempt | None = None,
) -> web.StreamResponse:
    content_type = response.headers.get("content-type", "")
    meter = UsageMeter(content_type)
    failed = response.status >= 400
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity") and encoding not in _DECODABLE:
        # The key could not be scrubbed from bytes we cannot read: refuse them.
        response.close()
        keyring.record(UsageDelta(day, bot_id, key.info.id, provider, requests=1, errors=1))
        if attempt is not None:
            attempt.finish(0, 0, broken=True)
        return error(
            502, "unsupported_encoding", f"provider {provider} sent content-encoding {encoding}"
        )
    decoder = zlib.decompressobj(_DECODABLE[encoding]) if encoding in _DECODABLE else None
    headers = _response_headers(response.headers.items(), key.secret)
    if encoding:
        headers.popall("content-encoding", None)  # the bot gets what we read: plain bytes
    out = web.StreamResponse(status=response.status, reason=response.reason, headers=headers)
    completed = False
    try:
        if failed:  # errors are small: read whole, scrub (providers echo keys), send
            try:
                body = await _read_error(response, decoder)
            except _TooLarge:  # counted as an error below, like a broken stream
                log.warning(
                    "provider %s sent an error body over %d bytes", provider, MAX_ERROR_BODY
                )
                return error(
                    502,
                    "upstream_error_too_large",
                    f"provider {provider} answered {response.status} with an error body "
                    f"over {MAX_ERROR_BODY} bytes",
                )
            data = scrub(body, [key.secret])
            meter.feed(data)
            out.content_length = len(data)
            await out.prepare(request)
            await out.write(data)
        else:
            scrubber = Scrubber([key.secret])
            await out.prepare(request)
            async for raw in response.content.iter_any():
                for chunk in _inflate(decoder, raw) if decoder is not None else (raw,):
                    meter.feed(chunk)
                    clean = scrubber.feed(chunk)
                    if clean:
                        await out.write(clean)
            tail = scrubber.flush()
            if tail:
                await out.write(tail)
        await out.write_eof()
        completed = True
    except (ConnectionResetError, aiohttp.ClientConnectionResetError, asyncio.CancelledError):
        raise
    except (aiohttp.ClientError, TimeoutError, zlib.error) as exc:
        log.warning("provider %s stream broke: %s", provider, _describe(exc))
        failed = True
    finally:
        response.close()  # a bot that went away closes the provider request too
        tokens_in, tokens_out = meter.finish()
        if attempt is not None:
            attempt.finish(tokens_in, tokens_out, broken=not completed)
            if (trace := request.get(TRACE)) is not None:
                trace.usage(tokens_in, tokens_out)
        keyring.record(
            UsageDelta(
                day,
                bot_id,
                key.info.id,
                provider,
                requests=1,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                errors=1 if failed or not completed else 0,
            )
        )
    return out


async def healthz(request: web.Request) -> web.Response:
    keyring = request.app[KEYRING]
    return web.json_response({"ok": True, "locked": keyring.store.locked})


def data_plane(
    keyring: Keyring, settings: KeyringSettings, tracing: Tracing | None = None
) -> web.Application:
    # Tracing's middleware (only when on) is outermost: refused requests get a span too.
    middlewares = [guard] if tracing is None else [trace_middleware(tracing), guard]
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=middlewares)
    app[KEYRING] = keyring
    app[SETTINGS] = settings
    app[ADDRESS] = DataAddress()  # bound by the server once it listens
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", r"/v1/{provider:[a-z0-9-]+}{tail:(/.*)?}", handle)

    async def sessions(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        app[SESSIONS] = {
            False: make_session(allow_private=False, timeout=timeout),
            True: make_session(allow_private=True, timeout=timeout),
        }
        yield
        for session in app[SESSIONS].values():
            await session.close()

    app.cleanup_ctx.append(sessions)
    return app
