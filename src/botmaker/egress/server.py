"""``botmaker egress serve``: the proxy's data plane and its admin API, one asyncio loop.

Data plane (bots): ``CONNECT host:port`` tunnels and absolute-form ``http://`` requests,
one destination per connection. Everything a bot sends is hostile: the request head is
read with a size and time limit and parsed strictly; the connection's source address
names the bot, never anything in the request.

Admin API (127.0.0.1, ``Authorization: Bearer <admin token>``):
``PUT /admin/bots`` replaces the whole table of bots (addresses and policies),
``GET /admin/refusals?after=N`` lists refusals newer than ``N``, ``GET /admin/status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import dns.asyncresolver
import dns.exception
import dns.resolver
from aiohttp import web

from botmaker.egress.rules import (
    EgressMode,
    Network,
    Policy,
    address_refusal,
    normal_host,
    parse_networks,
    parse_patterns,
)
from botmaker.keyring.server import admin_token

log = logging.getLogger("botmaker.egress")

HEAD_LIMIT: Final = 16 * 1024
HEAD_TIMEOUT: Final = 15.0
CONNECT_TIMEOUT: Final = 10.0
RESOLVE_TIMEOUT: Final = 5.0
CHUNK: Final = 64 * 1024
PER_BOT_CONNECTIONS: Final = 256
REFUSAL_LOG: Final = 2000
#: A refusal of the same bot, host and port is recorded once per window (counted after):
#: a client retrying every few seconds must not push a bot's other events out of its
#: bounded history. A policy change of the bot opens a new window at once.
REFUSAL_WINDOW: Final = 300.0
MAX_BOTS: Final = 100_000


@dataclass(frozen=True)
class Settings:
    listen: tuple[str, int]
    admin_listen: tuple[str, int]
    admin_token_file: Path
    dns: tuple[tuple[str, int], ...] = ()  # empty: the system resolver
    allow_private: tuple[Network, ...] = ()
    #: ``ip:port`` every bot may reach whatever its policy (the keyring's data plane).
    always: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        token = env.get("BOTMAKER_EGRESS_ADMIN_TOKEN_FILE")
        if not token:
            raise SystemExit("BOTMAKER_EGRESS_ADMIN_TOKEN_FILE is required")
        return cls(
            listen=_host_port(env.get("BOTMAKER_EGRESS_LISTEN", "127.0.0.1:0")),
            admin_listen=_host_port(env.get("BOTMAKER_EGRESS_ADMIN_LISTEN", "127.0.0.1:0")),
            admin_token_file=Path(token),
            dns=tuple(
                _host_port(s, default_port=53)
                for s in env.get("BOTMAKER_EGRESS_DNS", "").replace(",", " ").split()
            ),
            allow_private=parse_networks(env.get("BOTMAKER_EGRESS_ALLOW_PRIVATE", "")),
            always=tuple(
                _host_port(s) for s in env.get("BOTMAKER_EGRESS_ALWAYS", "").split(",") if s
            ),
        )


def _host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or (default_port is not None and not port.isdigit()):
        if default_port is None:
            raise SystemExit(f"{text!r}: expected host:port")
        return text, default_port
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Bot:
    id: str
    policy: Policy


@dataclass(eq=False)
class Link:
    """One open tunnel or forwarded request: cut when its bot's policy stops allowing
    its destination (or the bot leaves the table)."""

    bot_id: str
    host: str
    port: int
    writers: tuple[asyncio.StreamWriter, ...]

    def cut(self) -> None:
        for writer in self.writers:
            writer.close()


@dataclass
class Refusal:
    seq: int
    at: float
    bot_id: str
    host: str
    port: int
    reason: str
    repeats: int = 0  # refused again within the window, after this record

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "bot_id": self.bot_id,
            "host": self.host,
            "port": self.port,
            "reason": self.reason,
            "repeats": self.repeats,
        }


@dataclass
class State:
    by_address: dict[str, Bot] = field(default_factory=dict)
    refusals: deque[Refusal] = field(default_factory=lambda: deque(maxlen=REFUSAL_LOG))
    seq: int = 0
    _last: dict[tuple[str, str, int], Refusal] = field(default_factory=dict)
    tunnels: int = 0
    refused: int = 0
    connections: dict[str, int] = field(default_factory=dict)  # open, by bot id
    links: set[Link] = field(default_factory=set)
    always: frozenset[tuple[str, int]] = frozenset()

    def replace(self, body: Any) -> int:
        """The table from a ``PUT /admin/bots`` body; ValueError for a bad one."""
        if not isinstance(body, dict) or not isinstance(body.get("bots"), list):
            raise ValueError("expected {'bots': [...]}")
        if len(body["bots"]) > MAX_BOTS:
            raise ValueError("too many bots")
        table: dict[str, Bot] = {}
        for entry in body["bots"]:
            if not isinstance(entry, dict):
                raise ValueError("a bot must be an object")
            bot_id = entry.get("id")
            mode = entry.get("mode")
            allow = entry.get("allow", [])
            addresses = entry.get("addresses", [])
            if not isinstance(bot_id, str) or not bot_id:
                raise ValueError("a bot needs an id")
            if mode not in {m.value for m in EgressMode}:
                raise ValueError(f"{bot_id}: mode must be open, allowlist or none")
            if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
                raise ValueError(f"{bot_id}: allow must be a list of hosts")
            if not isinstance(addresses, list):
                raise ValueError(f"{bot_id}: addresses must be a list")
            bot = Bot(bot_id, Policy(EgressMode(mode), parse_patterns(allow)))
            for address in addresses:
                table[str(ipaddress.ip_address(str(address)))] = bot
        before = {b.id: b.policy for b in self.by_address.values()}
        self.by_address = table
        changed = {b.id for b in table.values() if before.get(b.id) != b.policy}
        for key in [k for k in self._last if k[0] in changed]:
            del self._last[key]  # refused again under a new policy: said again
        self._cut_links()
        return len({b.id for b in table.values()})

    def _cut_links(self) -> None:
        """Close what the new table no longer allows: a tunnel outlives no policy."""
        policies = {b.id: b.policy for b in self.by_address.values()}
        for link in list(self.links):
            if (link.host, link.port) in self.always:
                continue
            policy = policies.get(link.bot_id)
            if policy is None or not policy.allows(link.host, link.port):
                log.info("cut %s -> %s:%d (no longer allowed)", link.bot_id, link.host, link.port)
                link.cut()
                self.links.discard(link)

    def refuse(self, bot_id: str, host: str, port: int, reason: str) -> None:
        self.refused += 1
        now = time.time()
        key = (bot_id, host, port)
        last = self._last.get(key)
        if last is not None and now - last.at < REFUSAL_WINDOW:
            last.repeats += 1
            return
        self.seq += 1
        record = Refusal(self.seq, now, bot_id, host, port, reason)
        self.refusals.append(record)
        if len(self._last) > 4 * REFUSAL_LOG:
            self._last.clear()
        self._last[key] = record
        log.info("refused %s -> %s:%d (%s)", bot_id, host, port, reason)


class Resolver:
    """Names to addresses: the system's resolver, or the configured DNS servers."""

    def __init__(self, servers: Sequence[tuple[str, int]]) -> None:
        self._dns: dns.asyncresolver.Resolver | None = None
        if servers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [s for s, _ in servers]
            resolver.port = servers[0][1]
            resolver.lifetime = RESOLVE_TIMEOUT
            resolver.cache = None  # every connection asks again: nothing stale is reused
            self._dns = resolver

    async def resolve(self, host: str, port: int) -> list[str]:
        if self._dns is not None:
            found: list[str] = []
            for kind in ("A", "AAAA"):
                with contextlib.suppress(dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                    answer = await self._dns.resolve(host, kind, search=False)
                    found += [r.to_text() for r in answer]
            return found
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Proxy:
    def __init__(self, settings: Settings, state: State, resolver: Resolver) -> None:
        self.settings = settings
        self.state = state
        self.resolver = resolver

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = str(ipaddress.ip_address(str(peer[0]).split("%", 1)[0])) if peer else ""
        try:
            # The head is read first, whoever sent it: an answer to a request not yet
            # read would reach the client as a reset, not as the refusal.
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
            except asyncio.LimitOverrunError:
                await _answer(writer, 431, "request head too large")
                return
            bot = self.state.by_address.get(address)
            if bot is None:
                await _answer(writer, 403, "this address is not a bot BotMaker knows")
                return
            open_now = self.state.connections.get(bot.id, 0)
            if open_now >= PER_BOT_CONNECTIONS:
                await _answer(writer, 429, "too many open connections")
                return
            self.state.connections[bot.id] = open_now + 1
            try:
                await self._serve(bot, head, reader, writer)
            finally:
                left = self.state.connections.get(bot.id, 1) - 1
                if left > 0:
                    self.state.connections[bot.id] = left
                else:
                    self.state.connections.pop(bot.id, None)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the bot or the destination went away (or could not be reached)
        except asyncio.CancelledError:  # the proxy stopping: close quietly
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(
        self, bot: Bot, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            method, host, port, forward = _parse_head(head)
        except ValueError as exc:
            await _answer(writer, 400, str(exc))
            return
        try:
            upstream = await self._open(bot, host, port)
        except Refused as refused:
            if refused.status == 403:
                self.state.refuse(bot.id, host, port, refused.reason)
            await _answer(writer, refused.status, refused.reason)
            return
        up_reader, up_writer = upstream
        self.state.tunnels += 1
        link = Link(bot.id, host, port, (writer, up_writer))
        self.state.links.add(link)
        try:
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await writer.drain()
            else:
                up_writer.write(forward)
                await up_writer.drain()
            await _pipe(reader, writer, up_reader, up_writer)
        finally:
            self.state.links.discard(link)
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()

    async def _open(
        self, bot: Bot, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if (host, port) in self.state.always:  # the keyring: an address, no name
            return await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=CHUNK), CONNECT_TIMEOUT
            )
        if not bot.policy.allows(host, port):
            reason = "egress is none" if bot.policy.mode is EgressMode.NONE else "not allowed"
            raise Refused(403, reason)
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = await asyncio.wait_for(
                    self.resolver.resolve(host, port), RESOLVE_TIMEOUT + 1
                )
            except (OSError, TimeoutError, dns.exception.DNSException):
                raise Refused(502, f"{host} does not resolve") from None
        if not addresses:
            raise Refused(502, f"{host} does not resolve")
        # Every answer must pass: one refused address refuses the name (rebinding).
        for address in addresses:
            refusal = address_refusal(address, self.settings.allow_private)
            if refusal is not None:
                raise Refused(403, f"{host} resolves to a {refusal} address ({address})")
        last: Exception | None = None
        for address in addresses:  # exactly the checked addresses
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(address, port, limit=CHUNK), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError) as exc:
                last = exc
        raise Refused(502, f"{host}:{port} did not answer ({type(last).__name__})")


def _parse_head(head: bytes) -> tuple[str, str, int, bytes]:
    """(method, host, port, head to send upstream) of a proxy request; ValueError."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("the request head is not ASCII") from None
    lines = text[:-4].split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise ValueError("a malformed request line")
    method, target, version = parts
    if not method.isalpha() or not method.isupper():
        raise ValueError("a malformed method")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
            raise ValueError("a malformed header")
        headers.append((name, value.strip()))
    if method == "CONNECT":
        host, port = _authority(target)
        return method, host, port, b""
    if not target.lower().startswith("http://"):
        raise ValueError("only CONNECT and absolute http:// requests are proxied")
    rest = target[len("http://") :]
    authority, slash, path = rest.partition("/")
    host, port = _authority(authority, default=80)
    origin_form = "/" + path if slash else "/"
    kept = [
        (n, v)
        for n, v in headers
        if not n.lower().startswith("proxy-") and n.lower() not in ("connection", "keep-alive")
    ]
    upstream = [f"{method} {origin_form} {version}"]
    upstream += [f"{n}: {v}" for n, v in kept] + ["Connection: close", "", ""]
    return method, host, port, "\r\n".join(upstream).encode("ascii")


def _authority(text: str, default: int | None = None) -> tuple[str, int]:
    if "@" in text or not text:
        raise ValueError("a malformed destination")
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[1:end], text[end + 1 :]
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
        rest = f":{port_text}" if ":" in text else ""
    if rest:
        if not rest.startswith(":") or not rest[1:].isdigit():
            raise ValueError("a malformed port")
        port = int(rest[1:])
    elif default is not None:
        port = default
    else:
        raise ValueError("CONNECT needs host:port")
    if not 1 <= port <= 65535:
        raise ValueError("a malformed port")
    return normal_host(host), port


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    phrases = {400: "Bad Request", 403: "Forbidden", 429: "Too Many Requests"}
    phrases |= {431: "Request Header Fields Too Large", 502: "Bad Gateway"}
    body = f"BotMaker egress: {reason}\n".encode()
    writer.write(
        f"HTTP/1.1 {status} {phrases.get(status, 'Error')}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode("ascii")
        + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()


async def _pipe(
    a_reader: asyncio.StreamReader,
    a_writer: asyncio.StreamWriter,
    b_reader: asyncio.StreamReader,
    b_writer: asyncio.StreamWriter,
) -> None:
    """Copy both ways until either side ends; drain() is the back-pressure."""

    async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(CHUNK):
                sink.write(data)
                await sink.drain()
            if sink.can_write_eof():
                sink.write_eof()

    tasks = [
        asyncio.create_task(copy(a_reader, b_writer)),
        asyncio.create_task(copy(b_reader, a_writer)),
    ]
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # One side ended: give the other a moment to finish its last bytes.
        if pending:
            await asyncio.wait(pending, timeout=30)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def admin_app(state: State, token: str, listen: tuple[str, int]) -> web.Application:
    def authorised(request: web.Request) -> None:
        supplied = request.headers.get("Authorization", "")
        if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
            raise web.HTTPUnauthorized(text="admin token required")

    async def put_bots(request: web.Request) -> web.Response:
        authorised(request)
        try:
            count = state.replace(json.loads(await request.read()))
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response({"bots": count, "addresses": len(state.by_address)})

    async def refusals(request: web.Request) -> web.Response:
        authorised(request)
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="after must be a number") from None
        items = [r.to_dict() for r in state.refusals if r.seq > after]
        return web.json_response({"refusals": items, "last": state.seq})

    async def status(request: web.Request) -> web.Response:
        authorised(request)
        return web.json_response(
            {
                "ok": True,
                "listen": f"{listen[0]}:{listen[1]}",
                "bots": len({b.id for b in state.by_address.values()}),
                "tunnels": state.tunnels,
                "refused": state.refused,
            }
        )

    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.router.add_put("/admin/bots", put_bots)
    app.router.add_get("/admin/refusals", refusals)
    app.router.add_get("/admin/status", status)
    return app


async def serve(settings: Settings) -> None:
    token = admin_token(settings.admin_token_file)
    state = State(always=frozenset(settings.always))
    proxy = Proxy(settings, state, Resolver(settings.dns))
    server = await asyncio.start_server(
        proxy.handle, settings.listen[0], settings.listen[1], limit=HEAD_LIMIT
    )
    data = server.sockets[0].getsockname()[:2]
    runner = web.AppRunner(admin_app(state, token, (str(data[0]), int(data[1]))), access_log=None)
    await runner.setup()
    admin_socket = socket.create_server(settings.admin_listen)
    admin = admin_socket.getsockname()[:2]
    await web.SockSite(runner, admin_socket).start()
    print(json.dumps({"data": list(data), "admin": list(admin)}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        await runner.cleanup()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s egress %(levelname)s %(message)s")
    asyncio.run(serve(Settings.from_env()))
