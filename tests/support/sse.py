"""A small Server-Sent Events reader over an httpx streaming response (tests only)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


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


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
