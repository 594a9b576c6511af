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
from typing import TypeVar

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
    """Yield what ``source`` yields until it ends or ``allowed()`` turns False."""
    pending: asyncio.Future[T] | None = None
    checked = time.monotonic()
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=every)
            if time.monotonic() - checked >= every:
                if not await anyio.to_thread.run_sync(allowed):
                    return
                checked = time.monotonic()
            if not done:
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield item
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(RuntimeError):
                await aclose()
