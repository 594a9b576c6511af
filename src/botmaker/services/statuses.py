"""Every bot's runtime status, kept current by the engine's event stream.

The engine stays the source of truth: the monitor fills this cache with one list
call when its event stream (re)connects, then refreshes a bot's entry (one
inspect) after each of its container events. Readers (``GET /api/bots``, the
health prober, the stats sampler) then need no engine call at all.

- A backend whose status does not follow its container events (Swarm: a bot's status
  is its service's tasks) never goes live: every reader lists.
- While the event stream is down the cache is not *live*: readers ask the engine
  (one list call), so an engine outage answers 503 as before.
- An operation of this process marks the bot *unknown* when it ends; the next
  reader inspects that bot (or the event that follows refreshes it). Each bot has a
  generation number, so an inspect that began before the mark cannot store a
  status older than the operation.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from botmaker.runtime.base import Backend, RuntimeStatus
from botmaker.runtime.policy import container_name

#: More unknown bots than this and one list call beats one inspect each.
MAX_INSPECTS = 16


@dataclass(frozen=True)
class Token:
    """Taken before asking the engine; a write with a stale token is dropped."""

    epoch: int
    generations: dict[str, int]


class StatusCache:
    def __init__(self, runtime: Backend) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        self._live = False
        self._epoch = 0  # bumped when the cache stops being live
        self._entries: dict[str, RuntimeStatus] = {}  # by bot id; absent: no container
        self._unknown: set[str] = set()  # marked by an operation, not yet seen again
        self._generations: dict[str, int] = {}
        self.fills = 0  # list calls that filled the cache
        self.inspects = 0  # inspects of bots marked unknown
        self.fallbacks = 0  # list calls made because the cache was not live

    @property
    def live(self) -> bool:
        return self._live

    def counters(self) -> dict[str, object]:
        """For diagnostics: live or not, list calls that filled it, inspects of unknown bots."""
        return {
            "live": self._live,
            "fills": self.fills,
            "inspects": self.inspects,
            "fallbacks": self.fallbacks,
        }

    # -- writers ----------------------------------------------------------------------

    def token(self, bot_id: str | None = None) -> Token:
        with self._lock:
            if bot_id is None:
                return Token(self._epoch, dict(self._generations))
            return Token(self._epoch, {bot_id: self._generations.get(bot_id, 0)})

    def fill(self, statuses: dict[str, RuntimeStatus], token: Token, *, at: float) -> None:
        """Replace every entry with one list's answer (taken after ``token``); go live.

        Never live on a backend whose statuses do not follow its events (Swarm).
        """
        if not self.runtime.status_follows_events:
            return
        entries = {bot_id: _pinned(status, at) for bot_id, status in statuses.items()}
        with self._lock:
            if token.epoch != self._epoch:
                return
            changed = {
                bot_id
                for bot_id, generation in self._generations.items()
                if token.generations.get(bot_id, 0) != generation
            }
            for bot_id in changed:  # touched while the list ran: keep them unknown
                entries.pop(bot_id, None)
            self._entries = entries
            self._unknown = changed
            self._live = True
            self.fills += 1

    def put(self, bot_id: str, status: RuntimeStatus, token: Token) -> None:
        """One bot's status from an inspect taken after ``token``."""
        with self._lock:
            if token.epoch != self._epoch:
                return
            if token.generations.get(bot_id, 0) != self._generations.get(bot_id, 0):
                return  # an operation ended meanwhile: this answer may predate it
            if status.state == "missing":
                self._entries.pop(bot_id, None)
            else:
                self._entries[bot_id] = status
            self._unknown.discard(bot_id)

    def mark(self, bot_id: str) -> None:
        """An operation on this bot ended: its cached status may be stale."""
        with self._lock:
            self._generations[bot_id] = self._generations.get(bot_id, 0) + 1
            self._entries.pop(bot_id, None)
            self._unknown.add(bot_id)

    def forget(self, bot_id: str) -> None:
        """The bot's row is gone."""
        with self._lock:
            self._entries.pop(bot_id, None)
            self._unknown.discard(bot_id)

    def invalidate(self) -> None:
        """The event stream is down: nothing here can be trusted until the next fill."""
        with self._lock:
            self._live = False
            self._epoch += 1
            self._entries = {}
            self._unknown = set()

    # -- readers ----------------------------------------------------------------------

    def snapshot(self) -> tuple[bool, dict[str, RuntimeStatus], set[str]]:
        """Whether the cache is live, its entries and the bots marked unknown, as they
        are: never an engine call (what the metrics scrape reads)."""
        with self._lock:
            return self._live, dict(self._entries), set(self._unknown)

    def current(self) -> dict[str, RuntimeStatus]:
        """Every bot container's status by bot id, as ``Backend.list`` answers.

        No engine call when live and nothing is unknown; an inspect per unknown bot
        (up to ``MAX_INSPECTS``); else one list call.
        """
        with self._lock:
            live = self._live
            entries = dict(self._entries)
            unknown = set(self._unknown)
        if not live:
            self.fallbacks += 1
            return self.runtime.list()
        if len(unknown) > MAX_INSPECTS:
            token = self.token()
            statuses = self.runtime.list()
            self.fill(statuses, token, at=time.time())
            return statuses
        for bot_id in unknown:
            token = self.token(bot_id)
            status = self.runtime.status(container_name(bot_id))
            self.inspects += 1
            self.put(bot_id, status, token)
            if status.state != "missing":
                entries[bot_id] = status
        return entries


def _pinned(status: RuntimeStatus, at: float) -> RuntimeStatus:
    """A listed status whose ``Up 5 minutes`` becomes a start time (it is kept a while)."""
    if status.started_at or status.uptime_hint is None or not status.running:
        return status
    started = datetime.fromtimestamp(at - status.uptime_hint, UTC)
    return replace(
        status,
        started_at=started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        uptime_hint=None,
    )
