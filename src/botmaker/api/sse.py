"""Container logs as Server-Sent Events.

A reader thread per stream moves the engine's chunks into a bounded buffer, and
the event loop takes everything buffered at once: one wake-up and one write per
batch rather than per line. When the buffer is full the reader stops reading, so
a slow client applies back-pressure instead of growing memory; closing the stream
wakes the reader thread when the client leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

from botmaker.runtime.base import LogChunk, LogStream

MAX_LINE = 16 * 1024


class LineSplitter:
    """Turns frames into whole lines per stream, with bounded partial lines."""

    def __init__(self) -> None:
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def feed(self, chunk: LogChunk) -> list[tuple[str, str]]:
        data = self._partial[chunk.stream] + chunk.data
        lines = data.split(b"\n")
        rest = lines.pop()
        out: list[tuple[str, str]] = [(chunk.stream, _text(line)) for line in lines]
        while len(rest) > MAX_LINE:
            out.append((chunk.stream, _text(rest[:MAX_LINE])))
            rest = rest[MAX_LINE:]
        self._partial[chunk.stream] = rest
        return out

    def flush(self) -> list[tuple[str, str]]:
        out = [(name, _text(rest)) for name, rest in self._partial.items() if rest]
        self._partial = {"stdout": b"", "stderr": b""}
        return out


def _text(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", errors="replace")


#: Bytes a reader may buffer ahead of a slow client.
MAX_BUFFERED = 32 * 1024
SEP = "\r\n"


class LogPump:
    """Reads a log stream in its own thread into a bounded buffer the event loop drains."""

    def __init__(self, stream: LogStream, loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop
        self._cond = threading.Condition()
        self._chunks: list[LogChunk] = []
        self._bytes = 0
        self._done = False
        self._closed = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="log-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for chunk in self._stream:
                with self._cond:
                    while self._bytes >= MAX_BUFFERED and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    self._chunks.append(chunk)
                    self._bytes += len(chunk.data)
                    self._wake()
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._wake()

    def _wake(self) -> None:
        """Resolve the event loop's waiter, if it waits (called holding the lock)."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self._loop.call_soon_threadsafe(_resolve, waiter)

    async def batch(self) -> list[LogChunk] | None:
        """Everything read so far (waits for at least one chunk); None at the end."""
        while True:
            with self._cond:
                if self._chunks:
                    chunks, self._chunks, self._bytes = self._chunks, [], 0
                    self._cond.notify()
                    return chunks
                if self._done:
                    if self._error is not None:
                        raise self._error
                    return None
                waiter = self._waiter = self._loop.create_future()
            await waiter

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._stream.close()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def encode(event: str, line: str) -> str:
    """One SSE event (``data`` split where the line holds a bare CR, as SSE requires)."""
    if "\r" in line:
        data = "".join(f"data: {part}{SEP}" for part in line.split("\r"))
        return f"event: {event}{SEP}{data}{SEP}"
    return f"event: {event}{SEP}data: {line}{SEP}{SEP}"


async def log_events(stream: LogStream) -> AsyncIterator[bytes]:
    pump = LogPump(stream, asyncio.get_running_loop())
    splitter = LineSplitter()
    try:
        while (chunks := await pump.batch()) is not None:
            out = [encode(name, line) for chunk in chunks for name, line in splitter.feed(chunk)]
            if out:
                yield "".join(out).encode("utf-8")
        tail = [encode(name, line) for name, line in splitter.flush()]
        yield ("".join(tail) + encode("end", "the log stream ended")).encode("utf-8")
    finally:
        pump.close()
