"""Long answers (Server-Sent Events) end when their caller's access does.

A stream is authorised when it opens; ``revocable`` asks again every ``RECHECK``
seconds, between messages and while none flow, and ends the stream as soon as the
session or token is revoked, expired or its user disabled. So a disabled user's
open log or event stream closes within seconds, not when they next reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request

from botmaker.api.deps import request_token, services
from botmaker.errors import Unauthorized

#: Seconds between two checks of an open stream's caller.
RECHECK = 2.0

T = TypeVar("T")


def still_allowed(request: Request) -> Callable[[], bool]:
    """Whether the request's session or token still stands for an enabled user."""
    token, _ = request_token(request)
    auth = services(request).auth

    def check() -> bool:
        try:
            auth.authenticate(token)
        except Unauthorized:
            return False
        return True

    return check


async def revocable(
    source: AsyncIterator[T], allowed: Callable[[], bool], every: float = RECHECK
) -> AsyncIterator[T]:
    """Yield what ``source`` yields until it ends or ``allowed()`` turns False.

    ``source`` runs whole in one task of its own (a generator's cancel scopes must stay
    in the task that entered them), one item ahead of the client (back-pressure); this
    generator waits for its items at most ``every`` seconds at a time, asking
    ``allowed`` in between.
    """
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=1)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((False, item))
        except Exception as exc:  # noqa: BLE001 - handed to the reader, raised there
            await queue.put((True, exc))
            return
        finally:  # also when cancelled waiting to hand an item over: close it here
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(RuntimeError):
                    await aclose()
        await queue.put((True, None))

    task = asyncio.ensure_future(pump())
    checked = time.monotonic()
    try:
        while True:
            try:
                ended, item = await asyncio.wait_for(queue.get(), timeout=every)
            except TimeoutError:
                ended, item = False, _NOTHING
            if ended:
                if isinstance(item, Exception):
                    raise item
                return
            if time.monotonic() - checked >= every:
                if not await anyio.to_thread.run_sync(allowed):
                    return
                checked = time.monotonic()
            if item is not _NOTHING:
                yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


_NOTHING: Any = object()
