"""Passes to the bots' Control UI origin, bound to a BotMaker session and one bot.

The Control UIs are served on their own origin (``BOTMAKER_UI_PORT``), which never
sees BotMaker's session cookie as a credential. A signed-in person reaches a bot's UI
in two steps: BotMaker's pages issue a *ticket* (single use, one minute) and redirect
to the UI origin, which redeems it for a *pass*: a random token in a cookie scoped to
that bot's path. A pass is good only while the BotMaker session it came from is (a
logout or an expired session ends every pass of it at once), and only for its bot.
Both live in memory: a restart of BotMaker asks people to open the UI again.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

TICKET_SECONDS = 60.0
MAX_TICKETS = 10_000
MAX_PASSES = 100_000


@dataclass(frozen=True)
class Pass:
    session: str  # the BotMaker session token it was issued under
    bot_id: str
    expires: float


class UiPasses:
    def __init__(self, pass_seconds: float) -> None:
        self.pass_seconds = pass_seconds
        self._lock = threading.Lock()
        self._tickets: dict[str, Pass] = {}
        self._passes: dict[str, Pass] = {}

    def ticket(self, session: str, bot_id: str) -> str:
        now = time.monotonic()
        token = secrets.token_urlsafe(32)
        with self._lock:
            _prune(self._tickets, now, MAX_TICKETS)
            self._tickets[token] = Pass(session, bot_id, now + TICKET_SECONDS)
        return token

    def redeem(self, ticket: str, bot_id: str) -> tuple[str, Pass] | None:
        """A new pass for the ticket's session and bot; None for an unknown, used,
        expired ticket or one issued for another bot."""
        now = time.monotonic()
        with self._lock:
            issued = self._tickets.pop(ticket, None)
            if issued is None or issued.expires < now or issued.bot_id != bot_id:
                return None
            token = secrets.token_urlsafe(32)
            _prune(self._passes, now, MAX_PASSES)
            granted = Pass(issued.session, bot_id, now + self.pass_seconds)
            self._passes[token] = granted
        return token, granted

    def check(self, token: str | None, bot_id: str) -> Pass | None:
        """The pass behind ``token`` if it is current and for ``bot_id``."""
        if not token:
            return None
        with self._lock:
            granted = self._passes.get(token)
            if granted is None:
                return None
            if granted.expires < time.monotonic():
                del self._passes[token]
                return None
        return granted if granted.bot_id == bot_id else None

    def revoke(self, token: str) -> None:
        with self._lock:
            self._passes.pop(token, None)

    def end_session(self, session: str) -> None:
        """Drop every ticket and pass issued under ``session`` (a logout): the next
        request of an open Control UI is refused at once, not after a re-check."""
        with self._lock:
            for table in (self._tickets, self._passes):
                for token in [t for t, p in table.items() if p.session == session]:
                    del table[token]


def _prune(table: dict[str, Pass], now: float, limit: int) -> None:
    """Drop expired entries; past ``limit``, the oldest ones too."""
    for token in [t for t, p in table.items() if p.expires < now]:
        del table[token]
    while len(table) >= limit:
        del table[next(iter(table))]
