"""Where the keyring proxy may connect: public addresses only, unless allowed.

A base URL is checked when it is saved (:func:`check_base_url`) and every connection
is checked again when it is made: :class:`PinnedResolver` refuses a host name that
resolves to any blocked address, and the socket factory :func:`make_session` installs
refuses any blocked address the connector is about to connect to (this covers literal
IP hosts, which aiohttp does not pass to the resolver). aiohttp connects to exactly
the addresses the resolver returned, so the address checked is the address used: a
second DNS answer (DNS rebinding) cannot swap it.

``allow_private`` lets an admin point a provider at a local server (Ollama on the
host, a test server). Cloud metadata addresses stay refused even then: no model
server lives there, and reaching one from the proxy would hand the bot the host's
cloud credentials.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
from typing import Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.connector import AddrInfoType, SocketFactoryType
from yarl import URL

from botmaker.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA: Final = "cloud metadata"

_N4 = ipaddress.IPv4Network
_N6 = ipaddress.IPv6Network

# Checked in order: the first range that holds the address names the reason.
_V4_RANGES: Final[tuple[tuple[str, tuple[ipaddress.IPv4Network, ...]], ...]] = (
    (
        METADATA,
        (
            _N4("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack, DigitalOcean...
            _N4("169.254.170.2/32"),  # AWS ECS task metadata
            _N4("169.254.170.23/32"),  # AWS EKS pod identity
            _N4("100.100.100.200/32"),  # Alibaba Cloud
        ),
    ),
    ("unspecified", (_N4("0.0.0.0/8"),)),
    ("loopback", (_N4("127.0.0.0/8"),)),
    ("private", (_N4("10.0.0.0/8"), _N4("172.16.0.0/12"), _N4("192.168.0.0/16"))),
    ("link-local", (_N4("169.254.0.0/16"),)),
    ("carrier-grade NAT", (_N4("100.64.0.0/10"),)),
    ("multicast", (_N4("224.0.0.0/4"),)),
    (
        "reserved",
        (
            _N4("240.0.0.0/4"),  # includes 255.255.255.255
            _N4("192.0.0.0/24"),  # IETF protocol assignments
            _N4("192.0.2.0/24"),  # documentation
            _N4("198.51.100.0/24"),
            _N4("203.0.113.0/24"),
            _N4("198.18.0.0/15"),  # benchmarking
        ),
    ),
)
_V6_RANGES: Final[tuple[tuple[str, tuple[ipaddress.IPv6Network, ...]], ...]] = (
    (METADATA, (_N6("fd00:ec2::254/128"), _N6("fd00:ec2::23/128"))),  # AWS (IMDS, EKS)
    ("unspecified", (_N6("::/128"),)),
    ("loopback", (_N6("::1/128"),)),
    ("unique local", (_N6("fc00::/7"),)),
    ("link-local", (_N6("fe80::/10"),)),
    ("private", (_N6("fec0::/10"),)),  # deprecated site-local
    ("multicast", (_N6("ff00::/8"),)),
    ("reserved", (_N6("64:ff9b:1::/48"),)),  # local-use NAT64
)
# IPv6 ranges that carry an IPv4 address in their last 32 bits.
_EMBEDDING_V4: Final = (
    _N6("::ffff:0:0/96"),  # IPv4-mapped
    _N6("::ffff:0:0:0/96"),  # IPv4-translated
    _N6("64:ff9b::/96"),  # NAT64
    _N6("::/96"),  # IPv4-compatible (deprecated)
)
_GLOBAL_UNICAST: Final = _N6("2000::/3")
_SIXTOFOUR: Final = _N6("2002::/16")

#: Host names refused like the addresses they stand for.
_BLOCKED_NAMES: Final = {
    "localhost": "loopback",
    "metadata.google.internal": METADATA,
    "metadata.goog": METADATA,
    "metadata": METADATA,
}

# enable_cleanup_closed is only needed (and only accepted without a warning) before
# https://github.com/python/cpython/pull/118960: Python < 3.12.8, and 3.13.0.
_NEEDS_CLEANUP_CLOSED: Final = sys.version_info < (3, 12, 8) or (
    (3, 13, 0) <= sys.version_info < (3, 13, 1)
)


def blocked_reason(ip: IPAddress) -> str | None:
    """Why a connection to ``ip`` is refused (``"loopback"``, ``"private"``...), or None."""
    if isinstance(ip, ipaddress.IPv4Address):
        for reason, networks in _V4_RANGES:
            if any(ip in net for net in networks):
                return reason
        return None if ip.is_global else "reserved"
    if ip.scope_id:
        ip = ipaddress.IPv6Address(int(ip))
    for reason, networks6 in _V6_RANGES:
        if any(ip in net for net in networks6):
            return reason
    for net in _EMBEDDING_V4:
        if ip in net:
            return blocked_reason(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _SIXTOFOUR:
        embedded = ip.sixtofour
        assert embedded is not None
        return blocked_reason(embedded)
    if ip not in _GLOBAL_UNICAST or not ip.is_global:
        return "reserved"
    return None


def _refused(reason: str | None, allow_private: bool) -> bool:
    return reason is not None and (reason == METADATA or not allow_private)


def _address_reason(address: str) -> str | None:
    """:func:`blocked_reason` for an address as text; unparseable text is refused."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    return blocked_reason(ip)


def _name_reason(host: str) -> str | None:
    """Why a host name is refused without resolving it, or None."""
    name = host.rstrip(".").lower()
    if name.endswith(".localhost"):
        return "loopback"
    return _BLOCKED_NAMES.get(name)


def _is_numeric_host(host: str) -> bool:
    """True when a URL parser would read ``host`` as an IPv4 address (last label numeric)."""
    last = host.rstrip(".").rsplit(".", 1)[-1].lower()
    if last.startswith("0x"):
        last = last[2:]
        return all(c in "0123456789abcdef" for c in last)
    return last.isascii() and last.isdigit()


def check_base_url(url: str, *, allow_private: bool, field: str = "base_url") -> str:
    """``url`` normalised (no trailing slash), or :class:`InvalidInput` naming ``field``.

    Host names are not resolved here; :class:`PinnedResolver` checks them at connect time.
    """

    def refuse(message: str) -> InvalidInput:
        return InvalidInput(f"{field} {message}", field=field)

    if not isinstance(url, str) or not url.strip():
        raise refuse("is required")
    text = url.strip()
    if len(text) > 2048:
        raise refuse("is too long")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text) or "\\" in text:
        raise refuse("must not contain spaces, control characters or backslashes")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise refuse("must start with http:// or https://")
    if "@" in rest.split("/", 1)[0]:
        raise refuse("must not contain a user name or password")
    if "#" in text:
        raise refuse("must not contain a fragment (#...)")
    if "?" in text:
        raise refuse("must not contain a query (?...)")
    try:
        parsed = URL(text)
        port = parsed.explicit_port
    except (ValueError, TypeError):
        raise refuse("is not a valid URL") from None
    host = parsed.raw_host
    if not host:
        raise refuse("has no host")
    if port is not None and not 1 <= port <= 65535:
        raise refuse("has an invalid port")
    if "%" in host:
        raise refuse("host must not contain percent-escapes or an IPv6 zone")
    reason: str | None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if _is_numeric_host(host):
            raise refuse(f"host {host} is not a canonical IPv4 address") from None
        reason = _name_reason(host)
        kind = "host"
    else:
        reason = blocked_reason(ip)
        kind = "address"
    if _refused(reason, allow_private):
        if reason == METADATA:
            raise refuse(f"host {host} is a {METADATA} {kind}; it is never allowed")
        raise refuse(
            f"host {host} is a private {kind} ({reason}); allow it explicitly "
            "(allow_private) to use a server on a private network"
        )
    return str(parsed).rstrip("/")


def _refusal(host: str, reason: str) -> OSError:
    return OSError(errno.EACCES, f"refusing to connect to {host}: it is a {reason} address")


class PinnedResolver(AbstractResolver):
    """A resolver that refuses host names resolving to any blocked address.

    Resolves once; aiohttp then connects to the very addresses returned, so the
    check cannot be bypassed by DNS rebinding. A refusal is an :class:`OSError`,
    which aiohttp raises as :class:`aiohttp.ClientConnectorError`.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner: aiohttp.ThreadedResolver | None = None  # made in the running loop

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of ``host``, or :class:`OSError` if any of them is refused."""
        reason = _name_reason(host)
        if _refused(reason, self._allow_private):
            assert reason is not None
            raise _refusal(host, reason)
        if self._inner is None:
            self._inner = aiohttp.ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        for result in results:
            reason = _address_reason(result["host"])
            if _refused(reason, self._allow_private):
                assert reason is not None
                raise _refusal(host, reason)
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


def guarded_socket_factory(*, allow_private: bool) -> SocketFactoryType:
    """A socket factory for :class:`aiohttp.TCPConnector` that refuses blocked addresses."""

    def factory(addr_info: AddrInfoType) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        address = str(sockaddr[0])
        reason = _address_reason(address)
        if _refused(reason, allow_private):
            assert reason is not None
            raise _refusal(address, reason)
        return socket.socket(family, kind, proto)

    return factory


def make_session(*, allow_private: bool, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
    """A client session for upstream requests whose every connection is checked.

    Call it inside the running event loop. Responses are passed on undecoded
    (``auto_decompress=False``); cookies are never kept (one session serves every
    bot); proxy settings from the environment are ignored (a proxy would connect on
    our behalf, past these checks). Redirects are not checked here: pass
    ``allow_redirects=False`` on every request.
    """
    connector = aiohttp.TCPConnector(
        resolver=PinnedResolver(allow_private=allow_private),
        socket_factory=guarded_socket_factory(allow_private=allow_private),
        limit=1024,
        ttl_dns_cache=5,
        enable_cleanup_closed=_NEEDS_CLEANUP_CLOSED,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )
