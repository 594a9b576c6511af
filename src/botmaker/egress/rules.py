"""Egress policies as data: modes, host patterns, and the address check (pure)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from botmaker.keyring.netpolicy import METADATA, blocked_reason

#: Ports a pattern without one allows: HTTPS and HTTP.
DEFAULT_PORTS: Final = frozenset({443, 80})
MAX_PATTERNS: Final = 200

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_RE: Final = re.compile(rf"^(\*\.)?({_LABEL}(?:\.{_LABEL})*)$")


class EgressMode(StrEnum):
    """Where a bot may connect besides the keyring."""

    OPEN = "open"  # any public host, through the proxy
    ALLOWLIST = "allowlist"  # only the listed host patterns
    NONE = "none"  # nothing: the keyring alone


@dataclass(frozen=True)
class HostPattern:
    """``example.com``, ``*.example.com`` (its subdomains, not itself), each with an
    optional ``:port`` (else 443 and 80)."""

    host: str
    wildcard: bool = False
    port: int | None = None

    def __str__(self) -> str:
        text = ("*." if self.wildcard else "") + self.host
        return f"{text}:{self.port}" if self.port is not None else text

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        if self.port is None and port not in DEFAULT_PORTS:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def normal_host(host: str) -> str:
    """A host name lower-cased, without a trailing dot, in its ASCII (IDNA) form; IP
    literals in their canonical text. ValueError for anything else."""
    text = host.strip().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    try:
        ascii_name = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"{host!r} is not a valid host name") from None
    if len(ascii_name) > 253 or not _HOST_RE.match(ascii_name) or ascii_name.startswith("*"):
        raise ValueError(f"{host!r} is not a valid host name")
    return ascii_name


def parse_pattern(text: str) -> HostPattern:
    """One allowlist entry; ValueError saying what is wrong with it."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError("an empty host")
    if "://" in raw or "/" in raw or "@" in raw:
        raise ValueError(f"{text!r}: a host name (and :port), not a URL")
    port: int | None = None
    host = raw
    if raw.startswith("["):  # [v6]:port
        end = raw.find("]")
        if end < 0:
            raise ValueError(f"{text!r} is not a valid host")
        host, rest = raw[: end + 1], raw[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r} is not a valid host")
            port = _port(rest[1:], text)
    elif raw.count(":") == 1:
        host, _, number = raw.partition(":")
        port = _port(number, text)
    wildcard = host.startswith("*.")
    name = normal_host(host[2:] if wildcard else host)
    if wildcard and _is_ip(name):
        raise ValueError(f"{text!r}: a wildcard needs a host name")
    return HostPattern(name, wildcard, port)


def _port(number: str, text: str) -> int:
    if not number.isdigit() or not 1 <= int(number) <= 65535:
        raise ValueError(f"{text!r} has an invalid port")
    return int(number)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_patterns(entries: Iterable[str]) -> tuple[HostPattern, ...]:
    """Every entry parsed, duplicates dropped, order kept; ValueError for the first bad."""
    seen: dict[str, HostPattern] = {}
    for entry in entries:
        pattern = parse_pattern(entry)
        seen.setdefault(str(pattern), pattern)
    if len(seen) > MAX_PATTERNS:
        raise ValueError(f"at most {MAX_PATTERNS} hosts")
    return tuple(seen.values())


@dataclass(frozen=True)
class Policy:
    mode: EgressMode
    allow: tuple[HostPattern, ...] = ()

    def allows(self, host: str, port: int) -> bool:
        """Whether the destination's name and port pass (addresses are checked apart)."""
        if self.mode is EgressMode.OPEN:
            return True
        if self.mode is EgressMode.NONE:
            return False
        return any(p.matches(host, port) for p in self.allow)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``10.0.0.5/32, 192.168.1.0/24`` (comma or space separated)."""
    return tuple(
        ipaddress.ip_network(part, strict=False) for part in re.split(r"[,\s]+", text) if part
    )


def address_refusal(address: str, allow_private: Sequence[Network] = ()) -> str | None:
    """Why a connection to ``address`` is refused (``"private"``, ``"cloud metadata"``…),
    or None. Addresses inside ``allow_private`` pass, except cloud metadata."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    reason = blocked_reason(ip)
    if reason is None or reason == METADATA:
        return reason
    if any(ip in net for net in allow_private if net.version == ip.version):
        return None
    return reason
