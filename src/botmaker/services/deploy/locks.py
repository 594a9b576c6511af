"""The one per-bot lock every operation on a bot takes.

Create, edit, start/stop/restart, delete, upgrade, migrate and import hold it
(``hold``: waits for the bot to be free); the reconciler only ``claim``s it (never
waits, skips a bot someone works on). So the reconciler cannot see a bot mid-way
through an operation — e.g. between an upgrade removing the old container and
creating the new one — and two edits of one bot run one after the other.

A thread may hold the same bot again (a restart that turns into a start, a rollback
that recreates), but a ``claim`` fails whenever anyone holds the bot, the claiming
thread included.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator


class BotLocks:
    def __init__(self, on_release: Callable[[str], None] = lambda _: None) -> None:
        self.on_release = on_release  # e.g. the status cache: the bot may have changed
        self._cond = threading.Condition()
        self._owners: dict[str, tuple[int, int]] = {}  # bot id -> (thread id, depth)

    @contextlib.contextmanager
    def hold(self, bot_id: str) -> Iterator[None]:
        """Work on the bot, waiting until no other thread does."""
        me = threading.get_ident()
        with self._cond:
            while (owner := self._owners.get(bot_id)) is not None and owner[0] != me:
                self._cond.wait()
            self._owners[bot_id] = (me, owner[1] + 1 if owner else 1)
        try:
            yield
        finally:
            self._release(bot_id)

    @contextlib.contextmanager
    def claim(self, bot_id: str) -> Iterator[bool]:
        """For the reconciler: yields True (holding the bot) if nothing works on it."""
        with self._cond:
            free = bot_id not in self._owners
            if free:
                self._owners[bot_id] = (threading.get_ident(), 1)
        try:
            yield free
        finally:
            if free:
                self._release(bot_id)

    def held(self, bot_id: str) -> bool:
        with self._cond:
            return bot_id in self._owners

    def _release(self, bot_id: str) -> None:
        self.on_release(bot_id)
        with self._cond:
            me, depth = self._owners[bot_id]
            if depth > 1:
                self._owners[bot_id] = (me, depth - 1)
            else:
                del self._owners[bot_id]
                self._cond.notify_all()
