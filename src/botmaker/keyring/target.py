"""Where a bot's request may go: the provider's base URL and nowhere else.

The data plane adds the real provider key to every request it forwards, so the URL
it forwards to must come from parts the bot cannot bend: the provider the route
matched, and a path remainder and query string that were parsed and checked here.
Only origin-form request targets (``/v1/<provider>/...``) are accepted: an
absolute-form or authority-form line, ``CONNECT``, a fragment, an encoded slash or
backslash, a dot segment (plain or encoded), a broken escape or a ``Host`` that is
not the data plane's own address is a :class:`TargetRefused` (400), found before any
body is read or any connection opened. And :func:`upstream_url` checks its own
result: the final URL has exactly the base URL's scheme, host and port, and its path
starts with the base URL's path, or it is refused too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

from yarl import URL

from botmaker.errors import BadRequest
from botmaker.netaddr import is_ip, is_loopback

#: Characters of a path segment as RFC 3986 allows them (pchar), ``%`` checked apart.
_PATH_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*")
#: A query: printable ASCII but ``#`` (it cannot reach the host or path, being after
#: ``?``, but a ``#`` would turn its tail into a fragment). Lenient on purpose: clients
#: differ in what they escape there (``[]``, ``|``, ``{}``).
_QUERY_CHARS = re.compile(r"[\x21-\x22\x24-\x7e]*")
_BROKEN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED_SEPARATOR = re.compile(r"%(2[Ff]|5[Cc])")
_PORT = re.compile(r"[0-9]{1,5}")
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


class TargetRefused(BadRequest):
    """A request target (or ``Host``) that could move the key off the provider's URL."""

    def __init__(self, message: str, *, code: str = "bad_target") -> None:
        super().__init__(message)
        self.code = code


def origin_form(method: str, raw_target: str) -> tuple[str, str]:
    """``(path, query)`` of an origin-form request target, still percent-encoded.

    aiohttp accepts absolute-form targets and then reports the *bot's* scheme and host
    in ``request.url`` and the whole URL in ``request.raw_path``: refuse those here.
    """
    if method.upper() == "CONNECT":
        raise TargetRefused("CONNECT is not supported: this is not a forward proxy")
    if not raw_target.startswith("/") or raw_target.startswith("//"):
        raise TargetRefused("the request target must be a path (/v1/<provider>/...)")
    if "#" in raw_target:
        raise TargetRefused("the request target must not contain a fragment")
    path, _, query = raw_target.partition("?")
    return path, query


def remainder(path: str, provider: str) -> str:
    """What follows ``/v1/<provider>`` in the raw ``path``, checked by :func:`check_path`.

    The provider name must be spelled out as the route matched it: a percent-encoded
    name (``/v1/opena%69``) decodes to the same route but is a different length raw,
    which is how a length-based cut once moved the upstream host.
    """
    prefix = f"/v1/{provider}"
    if not path.startswith(prefix) or path[len(prefix) : len(prefix) + 1] not in ("", "/"):
        raise TargetRefused(
            "the path must start with /v1/<provider>/ spelled without escapes", code="bad_path"
        )
    rest = path[len(prefix) :]
    check_path(rest)
    return rest


def check_path(path: str) -> None:
    """Refuse a path that is not plain RFC 3986, or that has a dot segment, an encoded
    separator (``%2F``, ``%5C``) or a broken escape, in any spelling."""
    if path and not path.startswith("/"):
        raise TargetRefused("the path must start with /", code="bad_path")
    if "\\" in path or not _PATH_CHARS.fullmatch(path):
        raise TargetRefused(
            "the path may only contain URL characters (no backslash, space or control)",
            code="bad_path",
        )
    if _BROKEN_ESCAPE.search(path):
        raise TargetRefused("the path has a broken %-escape", code="bad_path")
    if _ENCODED_SEPARATOR.search(path):
        raise TargetRefused("the path must not contain an encoded / or \\", code="bad_path")
    for segment in path.split("/"):
        name = unquote(segment.split(";", 1)[0])
        if name in (".", ".."):
            raise TargetRefused("the path must not contain dot segments", code="bad_path")


def check_query(query: str) -> None:
    """Refuse a query string with a ``#``, space, control or non-ASCII character."""
    if not _QUERY_CHARS.fullmatch(query):
        raise TargetRefused("the query string may only contain URL characters", code="bad_query")


def upstream_url(base_url: str, rest: str, query: str) -> URL:
    """``base_url`` + ``rest`` (a checked path remainder) + ``?query``, as a URL whose
    scheme, host and port are exactly the base URL's and whose path starts with its path.

    Built from parts (never by cutting and pasting strings a bot sent) and checked after
    building, so a bug in the checks above still cannot move the key elsewhere.
    """
    check_path(rest)
    check_query(query)
    try:
        base = URL(base_url, encoded=True)
        if base.scheme not in ("http", "https") or not base.raw_host or base.user is not None:
            raise TargetRefused("the provider's base URL is not a plain http(s) URL")
        base_path = base.raw_path.rstrip("/")
        url = URL.build(
            scheme=base.scheme,
            authority=base.raw_authority,  # host (bracketed if IPv6) and port, no user
            path=(base_path + rest) or "/",
            query_string=query,
            encoded=True,
        )
        _check_same_place(base, base_path, url)
        _check_same_place(base, base_path, URL(str(url), encoded=True))  # as it will be sent
    except ValueError as exc:  # yarl could not build or parse it: nothing is sent
        raise TargetRefused("the request does not make a valid provider URL") from exc
    return url


def _check_same_place(base: URL, base_path: str, url: URL) -> None:
    same_origin = (
        url.scheme == base.scheme
        and url.raw_host == base.raw_host
        and url.port == base.port
        and url.user is None
        and url.password is None
        and not url.raw_fragment
    )
    path = url.raw_path
    under_base = path == base_path or path.startswith(base_path + "/") or not base_path
    if not same_origin or not under_base or not path.startswith("/") or path.startswith("//"):
        raise TargetRefused("the request would leave the provider's base URL")


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a ``Host`` header (port None when absent), or None if malformed."""
    if value.startswith("["):
        host, sep, after = value[1:].partition("]")
        if not sep or ":" not in host or (after and not after.startswith(":")):
            return None
        port_text = after[1:] if after else None
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            host, port_text = value, None
        if ":" in host:
            return None
    if not host or (port_text is not None and not _PORT.fullmatch(port_text)):
        return None
    port = int(port_text) if port_text is not None else None
    if port is not None and not 0 < port < 65536:
        return None
    return host.lower(), port


@dataclass
class DataAddress:
    """The addresses the data plane is reached by, for checking the ``Host`` header.

    Bots are given ``http://<listen address>:<port>`` (BotMaker's ``proxy_base``), so
    that host, with that port or none, is accepted; ``localhost`` too when listening on
    loopback, and any IP literal when listening on every address. Until :meth:`bind`
    (the port is known only once the listener is up) nothing is accepted.
    """

    names: set[str] = field(default_factory=set)
    any_ip: bool = False
    port: int = 0

    def bind(self, listen_host: str, bound_host: str, port: int, names: Iterable[str] = ()) -> None:
        """Accept the listen and bound addresses, plus ``names`` (DNS names bots are
        given in their proxy URL: ``BOTMAKER_KEYRING_HOSTS``)."""
        hosts = {h.strip("[]").lower() for h in (listen_host, bound_host)}
        self.any_ip = bool(hosts & _WILDCARDS)
        self.names = (hosts - _WILDCARDS) | {name.lower() for name in names}
        if self.any_ip or any(is_loopback(h) for h in self.names):
            self.names.add("localhost")
        self.port = port

    def accepts(self, value: str | None) -> bool:
        if not value or not self.port:
            return False
        parsed = split_host(value)
        if parsed is None:
            return False
        host, port = parsed
        if port is not None and port != self.port:
            return False
        return host in self.names or (self.any_ip and is_ip(host))
