"""A Unix-socket relay in front of the real Docker socket, to take the engine "down".

BotMaker is pointed at the relay with DOCKER_HOST. ``down()`` closes the relay
(connections are refused, as when dockerd is stopped), ``hang()`` accepts
connections and never answers (a stuck engine), ``up()`` relays again.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
from pathlib import Path

REAL_SOCKET = "/var/run/docker.sock"


class DockerRelay:
    def __init__(self, path: Path, target: str = REAL_SOCKET) -> None:
        self.path = path
        self.target = target
        self.mode = "down"
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def up(self) -> None:
        self._close_listener()
        self.mode = "up"
        self._listen()

    def hang(self) -> None:
        self._close_listener()
        self.mode = "hang"
        self._listen()

    def down(self) -> None:
        self.mode = "down"
        self._close_listener()

    def _listen(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(client)
            if self.mode == "hang":
                continue  # never answer
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                upstream.close()
                continue
            with self._lock:
                self._conns.append(upstream)
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()

    def close(self) -> None:
        self.down()


def _pump(a: socket.socket, b: socket.socket) -> None:
    selector = selectors.DefaultSelector()
    selector.register(a, selectors.EVENT_READ, b)
    selector.register(b, selectors.EVENT_READ, a)
    try:
        while True:
            for key, _ in selector.select():
                source = key.fileobj
                assert isinstance(source, socket.socket)
                data = source.recv(65536)
                if not data:
                    return
                key.data.sendall(data)
    except OSError:
        return
    finally:
        selector.close()
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()
