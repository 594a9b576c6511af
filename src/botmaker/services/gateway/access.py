"""The headers BotMaker sends a bot's gateway, which trusts them from BotMaker alone.

A gateway renders ``gateway.auth.mode: "trusted-proxy"`` with BotMaker's address on the
bots' network as its only trusted proxy (:class:`~botmaker.openclaw.render.GatewayAccess`).
OpenClaw then takes the caller's identity from ``USER_HEADER`` and the caller's address
from ``X-Forwarded-For``, and refuses (``proxy_attribution_required``) a proxied request
whose client address is missing, loopback or the proxy itself. So every request BotMaker
makes or forwards carries:

- ``USER_HEADER``: ``botmaker`` for BotMaker's own calls (probes, admin RPC, chat), or
  ``user:<name>`` for a person signed in to BotMaker. Whatever a browser sent under that
  name, and every forwarding header it sent, is dropped first (:func:`forwarded_headers`).
- ``X-Forwarded-For``: one address, rebuilt, never appended to: the person's address as
  BotMaker sees it, or ``LOOPBACK_CLIENT`` for a person on BotMaker's own host and for
  BotMaker itself (an RFC 5737 documentation address: not loopback, so OpenClaw's
  same-host shortcuts such as silent device pairing never apply to proxied traffic).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from botmaker.openclaw.render import USER_HEADER

CONTROL_PLANE = "botmaker"
LOOPBACK_CLIENT = "192.0.2.1"
#: Headers a browser may not choose for the gateway: identity, forwarding, hop-by-hop.
_DROPPED = frozenset(
    {
        USER_HEADER,
        "x-openclaw-scopes",
        "forwarded",
        "x-real-ip",
        "authorization",
        "cookie",
        "host",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


def user_identity(name: str) -> str:
    return f"user:{name}"


def client_address(peer: str | None) -> str:
    """The ``X-Forwarded-For`` value for a caller at ``peer``."""
    try:
        address = ipaddress.ip_address((peer or "").strip("[]"))
    except ValueError:
        return LOOPBACK_CLIENT
    if address.is_loopback or address.is_unspecified:
        return LOOPBACK_CLIENT
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None and mapped.is_loopback:
        return LOOPBACK_CLIENT
    return str(address)


def identity_headers(identity: str = CONTROL_PLANE, peer: str | None = None) -> dict[str, str]:
    return {USER_HEADER: identity, "x-forwarded-for": client_address(peer)}


def forwarded_headers(
    incoming: Iterable[tuple[str, str]],
    identity: str,
    peer: str | None,
    *,
    proto: str = "http",
    host: str | None = None,
) -> dict[str, str]:
    """The headers to send the gateway for a browser's request: the browser's own,
    less every identity, forwarding, credential and hop-by-hop header, plus BotMaker's
    identity and attribution. BotMaker's session cookie never reaches a bot."""
    headers: dict[str, str] = {}
    for name, value in incoming:
        lower = name.lower()
        if lower in _DROPPED or lower.startswith(("x-forwarded-", "sec-websocket-")):
            continue
        headers[lower] = value
    headers.update(identity_headers(identity, peer))
    headers["x-forwarded-proto"] = proto
    if host:
        headers["x-forwarded-host"] = host
    return headers


def response_headers(
    upstream: Mapping[str, str] | Iterable[tuple[str, str]],
) -> list[tuple[str, str]]:
    """A gateway's response headers fit to pass on: no hop-by-hop, no cookie for
    BotMaker's origin (a bot must not set or clear BotMaker's cookies)."""
    items = upstream.items() if isinstance(upstream, Mapping) else upstream
    kept = []
    for name, value in items:
        lower = name.lower()
        if lower in _DROPPED or lower == "set-cookie":
            continue
        kept.append((lower, value))
    return kept
