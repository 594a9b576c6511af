"""Container logs as Server-Sent Events.

One chunk is read from the engine at a time, only after the previous one was
handed to the client, so a slow client applies back-pressure instead of
growing a buffer; closing the stream wakes the reader thread when the client
leaves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.to_thread

from botmaker.runtime.base import LogChunk, LogStream

MAX_LINE = 16 * 1024
#: Log readers wait on the engine; keep them out of the request thread pool.
LOG_READERS = anyio.CapacityLimiter(256)


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


async def log_events(stream: LogStream) -> AsyncIterator[dict[str, str]]:
    iterator = iter(stream)
    splitter = LineSplitter()
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(
                next, iterator, None, abandon_on_cancel=True, limiter=LOG_READERS
            )
            if chunk is None:
                break
            for name, line in splitter.feed(chunk):
                yield {"event": name, "data": line}
        for name, line in splitter.flush():
            yield {"event": name, "data": line}
        yield {"event": "end", "data": "the log stream ended"}
    finally:
        stream.close()
