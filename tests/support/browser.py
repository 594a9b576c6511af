"""Debian's Chromium driven by Playwright (never a downloaded browser), in a network
namespace of its own.

Chromium aborts every request in flight with ``net::ERR_NETWORK_CHANGED`` when the
machine's network interfaces change, loopback requests included, and the suite's
Docker engine adds and removes a veth interface with every container. A page whose
modules were being fetched at that moment never ran its script (seen as the
dashboard's "first API reads never answered" under parallel load). So the browser
runs in its own network namespace, where nothing ever changes: only its loopback,
holding a SOCKS5 proxy (:class:`Socks5Relay`) whose listening socket is in the
browser's namespace and whose outgoing connections are made in this process's, so
``http://127.0.0.1:<port>`` still reaches the test servers here. Chromium is told to
send loopback through the proxy too (``<-loopback>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CLONE_NEWNET = 0x40000000
#: Where the launcher scripts go (one per namespace).
WORK = Path(__file__).resolve().parents[2] / ".ci" / "work" / "browser"


@contextmanager
def chromium() -> Iterator[Browser]:
    with (
        BrowserNetwork() as network,
        Socks5Relay(network) as relay,
        sync_playwright() as playwright,
    ):
        launched = playwright.chromium.launch(
            executable_path=str(network.launcher),
            args=[
                *CHROMIUM_ARGS,
                f"--proxy-server=socks5://127.0.0.1:{relay.port}",
                "--proxy-bypass-list=<-loopback>",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


class BrowserNetwork:
    """A named network namespace with only its loopback up, and a script that runs
    Chromium in it (Playwright starts it as the browser's executable)."""

    def __init__(self) -> None:
        self.name = f"bm-browser-{os.getpid()}-{threading.get_ident() % 100000}"
        self.path = Path("/run/netns") / self.name
        self.launcher = WORK / f"{self.name}.sh"

    def __enter__(self) -> BrowserNetwork:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
            WORK.mkdir(parents=True, exist_ok=True)
            self.launcher.write_text(f'#!/bin/sh\nexec ip netns exec {self.name} {CHROMIUM} "$@"\n')
            self.launcher.chmod(0o755)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.launcher.unlink()
        subprocess.run(["ip", "netns", "delete", self.name], check=False)

    def listen(self) -> socket.socket:
        """A TCP socket listening on 127.0.0.1 inside the namespace (made on a thread
        that enters it: the socket stays there, this process does not)."""
        made: list[socket.socket | BaseException] = []

        def inside() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            try:
                with self.path.open("rb") as ns:
                    if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns into the browser's netns")
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind(("127.0.0.1", 0))
                sock.listen(128)
                sock.setblocking(False)
                made.append(sock)
            except BaseException as exc:
                made.append(exc)

        # The thread ends in the namespace and is gone: no other code runs there.
        thread = threading.Thread(target=inside, name="netns-listen")
        thread.start()
        thread.join()
        (result,) = made
        if isinstance(result, BaseException):
            raise result
        return result


class Socks5Relay:
    """A SOCKS5 proxy (CONNECT only, no authentication) listening in the browser's
    namespace and connecting from this process's: the browser's only way out."""

    def __init__(self, network: BrowserNetwork) -> None:
        self.network = network
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="socks5", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        # Each connection's task (and through it its streams), held until it ends: the
        # event loop keeps only weak references to tasks, and a relay whose two sides
        # both wait (neither socket registered with the selector) would otherwise be
        # collected half-way, its sockets never closed.
        self._tasks: set[asyncio.Task[None]] = set()

    def __enter__(self) -> Socks5Relay:
        sock = self.network.listen()
        self.port = sock.getsockname()[1]
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, sock=sock), self._loop
        )
        self._server = future.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # each closes its writers
            # A writer's close only schedules its socket's: let those callbacks run
            # before the loop stops, or the sockets are left to the garbage collector.
            for _ in range(3):
                await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_writer: asyncio.StreamWriter | None = None
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            host, port = await self._handshake(reader, writer)
            try:
                up_reader, up_writer = await asyncio.open_connection(host, port)
            except OSError:
                writer.write(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
                await writer.drain()
                return
            bound = b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0)
            writer.write(bound)
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            if up_writer is not None:
                up_writer.close()
            if task is not None:
                self._tasks.discard(task)

    @staticmethod
    async def _handshake(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, int]:
        version, methods = await reader.readexactly(2)
        if version != 5:
            raise ValueError("not SOCKS5")
        await reader.readexactly(methods)
        writer.write(b"\x05\x00")  # no authentication
        await writer.drain()
        version, command, _, kind = await reader.readexactly(4)
        if version != 5 or command != 1:
            raise ValueError("only CONNECT")
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        elif kind == 3:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode("idna")
        else:
            raise ValueError("unknown address type")
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if host == "localhost" or host.endswith(".localhost"):
            host = "127.0.0.1"  # as Chromium itself resolves them (RFC 6761)
        return host, port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()
