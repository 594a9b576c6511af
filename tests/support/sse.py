"""A small Server-Sent Events reader over an httpx streaming response (tests only)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    event: str
    data: str


@dataclass(frozen=True)
class Comment:
    text: str


def parse_sse(lines: Iterable[str]) -> Iterator[Event | Comment]:
    """Yield events (dispatched on a blank line) and comment lines, per the SSE spec."""
    name: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data or name is not None:
                yield Event(name or "message", "\n".join(data))
            name, data = None, []
            continue
        if line.startswith(":"):
            yield Comment(line[1:].lstrip())
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data or name is not None:
        yield Event(name or "message", "\n".join(data))
