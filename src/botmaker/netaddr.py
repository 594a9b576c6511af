"""Small, dependency-free judgements about host strings (a leaf every layer may use)."""

from __future__ import annotations

import ipaddress


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 literal (no brackets)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
