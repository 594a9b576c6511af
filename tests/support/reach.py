"""What a bot can connect to: many TCP connects at once from inside it, and host listeners.

A reach test asks "does a TCP connection from inside the bot get through?", not "does
an HTTP server answer": a listener that accepts is already reachable, whatever it
speaks. :func:`connect_probes` runs one busybox ``nc`` per target in parallel (so a
dozen silent, dropped targets cost one timeout, not a dozen) and tells each outcome.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import docker

from tests.support.bots import exec_in

Target = tuple[str, int]


@dataclass(frozen=True)
class Reach:
    """One connect attempt from inside a bot."""

    host: str
    port: int
    code: int  # nc's exit status: 0 once connected
    message: str  # what nc or timeout said

    @property
    def connected(self) -> bool:
        return self.code == 0

    @property
    def outcome(self) -> str:
        if self.connected:
            return "connected"
        for word, said in (
            ("refused", "refused"),
            ("timed out", "timed out"),
            ("unreachable", "unreachable"),
            ("No route", "no route"),
        ):
            if word in self.message:
                return said
        return f"exit {self.code}: {self.message.strip()[:60]}"

    @property
    def conclusive(self) -> bool:
        """Connected, or nc said why not (a probe killed from outside proves nothing)."""
        return self.connected or not self.outcome.startswith("exit ")


def connect_probes(
    api: docker.APIClient, container: str, targets: Sequence[Target], timeout: int = 2
) -> dict[Target, Reach]:
    """From inside ``container``, try a TCP connection to every target, many at once.

    ``nc -e /bin/true`` exits 0 as soon as it is connected, and ``-w`` bounds the
    connect, so nothing can hang (busybox ``timeout`` is not used: its watcher outlives
    the probe by up to a second, and batches would pile up against the pids limit).
    Batches of :data:`BATCH` keep the processes well under a bot's pids limit.
    """
    unique = list(dict.fromkeys(targets))
    found: dict[Target, Reach] = {}
    for start in range(0, len(unique), BATCH):
        found.update(_batch(api, container, unique[start : start + BATCH], timeout))
    return found


BATCH = 16


def _batch(
    api: docker.APIClient, container: str, targets: list[Target], timeout: int
) -> dict[Target, Reach]:
    lines = ["d=$(mktemp -d)"]
    for i, (host, port) in enumerate(targets):
        lines.append(
            f"nc -w {timeout} {host} {port} -e /bin/true </dev/null >/dev/null 2>$d/{i} & p{i}=$!"
        )
    for i in range(len(targets)):
        lines.append(f'wait $p{i}; echo "{i} $? $(tr "\\n" " " <$d/{i})"')
    lines.append("rm -rf $d")
    result = exec_in(api, container, "\n".join(lines))
    found: dict[Target, Reach] = {}
    for line in result.out.splitlines():
        index, code, *said = line.split(" ", 2)
        host, port = targets[int(index)]
        found[(host, port)] = Reach(host, port, int(code), said[0] if said else "")
    missing = [t for t in targets if t not in found]
    assert not missing, f"no outcome for {missing}: {result}"
    return found


def host_addresses() -> list[str]:
    """Every IPv4 address of this host's interfaces, loopback aside."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    addresses = [line.split()[3].split("/")[0] for line in out.splitlines()]
    return [a for a in addresses if not a.startswith("127.")]


class HostHTTPListener:
    """A one-line HTTP responder on the host, bound to a given address (port: free)."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((address, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhost-listener\n")

    def __enter__(self) -> HostHTTPListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
