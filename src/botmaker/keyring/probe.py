"""Testing a provider key: one tiny call to the provider, the answer in words.

The call is the cheapest one that needs the key: the provider's models list (no
tokens spent), or the key's own info where the models list is public (OpenRouter).
It goes where the keyring would send a bot's requests (the provider's base URL, an
operator's override, or a custom base URL), through the same guarded connections
(no private address unless allowed, no redirect followed). The key travels in the
provider's own auth style and never comes back: the provider's message is scrubbed of
it before it is shown, and nothing of the call is logged but its status.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from botmaker.keyring.netpolicy import make_session
from botmaker.keyring.scrub import scrub
from botmaker.openclaw.catalog import PROVIDERS

log = logging.getLogger("botmaker.keyring.probe")

#: The whole test, connection included (a provider that hangs is reported, not waited on).
TIMEOUT = 10.0
#: How much of the provider's answer is read (its error message is near the start).
MAX_ANSWER = 64 * 1024
ANTHROPIC_VERSION = "2023-06-01"

#: Where each provider answers a key-only request, when not at ``<base>/models``.
_PATHS = {"openrouter": "/key", "ollama": "/api/tags"}
_API_PATHS = {"anthropic-messages": "/v1/models"}


@dataclass(frozen=True)
class KeyTest:
    ok: bool
    provider: str
    status: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "provider": self.provider,
            "status": self.status,
            "message": self.message,
        }


def _url(provider: str, base_url: str) -> URL:
    spec = PROVIDERS[provider]
    path = _PATHS.get(provider) or _API_PATHS.get(spec.api) or "/models"
    base = URL(base_url.rstrip("/"))
    if spec.api == "anthropic-messages" and base.path.rstrip("/").endswith("/v1"):
        path = "/models"
    return base.with_path(base.path.rstrip("/") + path)


def _headers(provider: str, secret: str) -> dict[str, str]:
    spec = PROVIDERS[provider]
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    if spec.api == "anthropic-messages":
        headers["anthropic-version"] = ANTHROPIC_VERSION
    if not secret:
        return headers
    if spec.key_auth == "x-api-key":
        headers["x-api-key"] = secret
    elif spec.key_auth == "x-goog-api-key":
        headers["x-goog-api-key"] = secret
    else:  # bearer (and "none": a keyless provider behind a proxy may still want one)
        headers["Authorization"] = f"Bearer {secret}"
    return headers


def _said(body: bytes) -> str:
    """The provider's own error message, if its answer has one."""
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:300] if text and not text.startswith("<") else ""
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, str):
            return error[:300]
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or error.get("status")
            if isinstance(message, str):
                return message[:300]
        message = data.get("message") or data.get("detail")
        if isinstance(message, str):
            return message[:300]
    return ""


async def check_key(
    provider: str, secret: str, base_url: str, *, allow_private: bool = False
) -> KeyTest:
    """Ask ``provider`` at ``base_url`` whether it takes ``secret``: one GET."""
    spec = PROVIDERS[provider]
    label = spec.label
    url = _url(provider, base_url)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    session = make_session(allow_private=allow_private, timeout=timeout)
    try:
        async with session.get(url, headers=_headers(provider, secret), allow_redirects=False) as r:
            status = r.status
            body = await r.content.read(MAX_ANSWER)
    except TimeoutError:
        return KeyTest(False, provider, None, f"{label} did not answer within {TIMEOUT:.0f} s")
    except (aiohttp.ClientError, OSError) as exc:
        reason = _reason(exc)
        log.info("key test for %s: %s unreachable (%s)", provider, url.host, type(exc).__name__)
        return KeyTest(False, provider, None, f"could not reach {label} at {url.host}: {reason}")
    finally:
        await session.close()
    said = scrub(_said(body).encode(), [secret]).decode("utf-8", "replace")
    if secret:  # scrub() leaves secrets under 8 bytes alone: a key is never one, but
        said = said.replace(secret, "[redacted]")  # an old stored one might be
    log.info("key test for %s: %s answered %d", provider, url.host, status)
    if 200 <= status < 300:
        return KeyTest(True, provider, status, f"{label} accepted the key")
    if status in (401, 403):
        words = f"{label} refused the key"
        return KeyTest(False, provider, status, f"{words}: {said}" if said else words)
    words = f"{label} answered {status}"
    if said:
        words += f": {said}"
    return KeyTest(False, provider, status, f"{words} (the key could not be confirmed)")


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words (never the URL's query or a header)."""
    inner = exc.__cause__ or exc
    if isinstance(exc, aiohttp.ClientConnectorError):
        inner = exc.os_error
    text = getattr(inner, "strerror", None) or str(inner) or type(inner).__name__
    return str(text)[:200]
