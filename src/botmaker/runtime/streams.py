"""Docker's streamed answers (logs, events) and one-shot stats, as BotMaker's data.

Both runtimes read them the same way (a Swarm service's logs use Docker's framing
too), so they live here, apart from either backend.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Generic, TypeVar

import docker
import requests

from botmaker.errors import EngineUnavailable
from botmaker.runtime.base import LogChunk, RuntimeEvent, StatsSample
from botmaker.runtime.policy import LABEL_BOT_ID

Item = TypeVar("Item")


class StreamedResponse(Generic[Item]):
    """A streamed engine answer read as items, closable from another thread.

    ``close`` shuts the socket down, which wakes a reader blocked waiting for more. A
    stream that breaks while open is ``EngineUnavailable``; one closed here just ends.
    """

    what = "stream"

    def __init__(self, response: requests.Response, client: docker.APIClient | None = None) -> None:
        self._response = response
        self._client = client  # a dedicated connection, closed with the stream
        self._closed = False

    def _items(self) -> Iterator[Item]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Item]:
        try:
            for item in self._items():
                if self._closed:
                    return
                yield item
        except (requests.exceptions.RequestException, OSError, ValueError, AttributeError):
            if not self._closed:
                raise EngineUnavailable(f"the Docker engine closed the {self.what}") from None
        finally:
            self.close()

    def __del__(self) -> None:
        # A stream dropped unread (a log SSE answer whose client left before it began,
        # so its generator never ran its ``finally``) still frees its connection.
        self.close()

    def close(self) -> None:
        if getattr(self, "_closed", True):  # closed, or never fully built
            return
        self._closed = True
        close_streamed(self._response)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()


class DockerLogStream(StreamedResponse[LogChunk]):
    """Demultiplexes Docker's log stream (8-byte frame headers) into stdout/stderr chunks."""

    what = "log stream"

    def _items(self) -> Iterator[LogChunk]:
        buffer = bytearray()
        # Whatever the engine has sent (up to 64 KiB) at a time, not two reads per line.
        for data in self._response.raw.stream(1 << 16, decode_content=False):
            if self._closed:
                return
            buffer += data
            yield from frames(buffer)


class DockerExecOutput(DockerLogStream):
    """A running ``docker exec``'s output as it comes: each read hands over what the
    engine has sent so far (up to 64 KiB), not a full 64 KiB block (the exec's raw
    stream is not chunked, so a block read would wait for the command's end)."""

    what = "exec output"

    def _items(self) -> Iterator[LogChunk]:
        buffer = bytearray()
        raw = self._response.raw
        while not self._closed:
            data = raw.read1(1 << 16)
            if not data:
                return
            buffer += data
            yield from frames(buffer)


class DockerEventStream(StreamedResponse[RuntimeEvent]):
    """Docker's event stream (one JSON object per line) as ``RuntimeEvent``s.

    Events without a bot id (config checks) and exec events are skipped. A stream the
    engine ends (it went away) simply stops iterating.
    """

    what = "event stream"

    def _items(self) -> Iterator[RuntimeEvent]:
        for line in self._response.iter_lines(chunk_size=None):
            if not line:
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            event = runtime_event(raw) if isinstance(raw, dict) else None
            if event is not None:
                yield event


def frames(buffer: bytearray) -> Iterator[LogChunk]:
    """Take the whole frames (8-byte header, then the payload) off the front of ``buffer``.

    Consecutive frames of the same stream come out as one chunk.
    """
    pos, end = 0, len(buffer)
    run: list[bytes] = []
    run_kind = 0
    while end - pos >= 8:
        kind, length = struct.unpack_from(">BxxxL", buffer, pos)
        if end - pos - 8 < length:
            break
        if run and kind != run_kind:
            yield LogChunk("stderr" if run_kind == 2 else "stdout", b"".join(run))
            run = []
        run_kind = kind
        run.append(bytes(buffer[pos + 8 : pos + 8 + length]))
        pos += 8 + length
    del buffer[:pos]
    if run:
        yield LogChunk("stderr" if run_kind == 2 else "stdout", b"".join(run))


def close_streamed(response: requests.Response) -> None:
    """End a streamed response now: shutting its socket down wakes a blocked reader."""
    sock = response_socket(response)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


def response_socket(response: requests.Response) -> socket.socket | None:
    """The socket under a streamed response (urllib3 keeps it a few layers down)."""
    candidate: Any = getattr(response.raw, "_fp", None)
    for attr in ("fp", "raw", "_sock"):
        if isinstance(candidate, socket.socket):
            return candidate
        candidate = getattr(candidate, attr, None)
    return candidate if isinstance(candidate, socket.socket) else None


def runtime_event(raw: dict[str, Any]) -> RuntimeEvent | None:
    """A Docker event as a ``RuntimeEvent``; None for events that are not a bot's."""
    actor = raw.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    bot_id = attributes.get(LABEL_BOT_ID)
    action = str(raw.get("Action") or raw.get("status") or "")
    if not bot_id or not action or action.startswith("exec_"):
        return None
    health: str | None = None
    if action.startswith("health_status"):
        action, _, value = action.partition(":")
        health = value.strip() or None
    time_ns = int(raw.get("timeNano") or int(raw.get("time") or 0) * 1_000_000_000)
    exit_code = attributes.get("exitCode")
    return RuntimeEvent(
        bot_id=str(bot_id),
        action=action,
        container_id=str(actor.get("ID") or raw.get("id") or ""),
        at=time_ns / 1e9 if time_ns else time.time(),
        time_ns=time_ns,
        exit_code=int(exit_code)
        if exit_code is not None and str(exit_code).lstrip("-").isdigit()
        else None,
        signal=attributes.get("signal"),
        health=health,
    )


def stats_sample(raw: dict[str, Any]) -> StatsSample | None:
    """A one-shot stats answer as a ``StatsSample``; None for a container not running."""
    read = str(raw.get("read") or "")
    memory = raw.get("memory_stats") or {}
    cpu = raw.get("cpu_stats") or {}
    if not read or read.startswith("0001-01-01") or not memory or not cpu.get("system_cpu_usage"):
        return None
    usage = int(memory.get("usage") or 0)
    counters = memory.get("stats") or {}
    # As ``docker stats``: the page cache that can be dropped is not counted.
    inactive = counters.get("total_inactive_file", counters.get("inactive_file", 0))
    if 0 < int(inactive or 0) < usage:
        usage -= int(inactive)
    networks = raw.get("networks") or {}
    cpu_usage = cpu.get("cpu_usage") or {}
    online = cpu.get("online_cpus") or len(cpu_usage.get("percpu_usage") or ()) or 1
    try:
        at = datetime.fromisoformat(read).timestamp()
    except ValueError:
        at = time.time()
    return StatsSample(
        at=at,
        cpu_total_ns=int(cpu_usage.get("total_usage") or 0),
        system_cpu_ns=int(cpu.get("system_cpu_usage") or 0),
        online_cpus=int(online),
        memory_bytes=usage,
        memory_limit=int(memory.get("limit") or 0),
        rx_bytes=sum(int(n.get("rx_bytes") or 0) for n in networks.values()),
        tx_bytes=sum(int(n.get("tx_bytes") or 0) for n in networks.values()),
        pids=(raw.get("pids_stats") or {}).get("current"),
    )
