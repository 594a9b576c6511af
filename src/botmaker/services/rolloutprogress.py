"""The progress of the latest fleet rollout, for whoever watches it while it runs.

A rollout (``services/rollout.py``) runs inside its ``POST /api/image/upgrade``
request, for minutes; this keeps, in memory, what it is doing: each bot's state
(``waiting``, ``upgrading``, then its result's status: ``upgraded``, ``rolled_back``,
``refused``, ``failed``, ``current`` or ``pending``) and the counts, readable at any
time (``GET /api/image/rollout``). Only one rollout runs at a time: a second is
refused while one is running. Nothing is stored; after a restart there is none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from botmaker.errors import Conflict
from botmaker.store import BotRecord

#: A bot's states while the rollout has not finished it.
WAITING = "waiting"
UPGRADING = "upgrading"
#: Results that count as done well / as failed.
DONE = frozenset({"upgraded", "current"})
FAILED = frozenset({"failed", "rolled_back", "refused"})


class RolloutProgress:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, Any] | None = None
        self._bots: dict[str, dict[str, Any]] = {}

    def begin(self, image: str, records: Iterable[BotRecord]) -> None:
        """A rollout starts (refused with 409 while another runs)."""
        with self._lock:
            if self._current is not None and self._current["running"]:
                raise Conflict(
                    f"a rollout of {self._current['image']} is already running", field="image"
                )
            self._current = {
                "running": True,
                "image": image,
                "digest": None,
                "started_at": time.time(),
                "finished_at": None,
                "paused_reason": None,
                "error": None,
            }
            self._bots = {
                r.id: {"id": r.id, "name": r.name, "state": WAITING, "detail": ""} for r in records
            }

    def upgrading(self, bot_id: str) -> None:
        self._set(bot_id, {"state": UPGRADING, "started_at": time.time()})

    def result(self, result: dict[str, Any]) -> None:
        """A bot's result (also the ``current`` and ``pending`` ones)."""
        self._set(
            str(result["id"]),
            {"state": result["status"], "detail": str(result.get("detail") or "")},
        )

    def finish(self, digest: str | None, paused_reason: str | None) -> None:
        with self._lock:
            if self._current is not None:
                self._current.update(
                    running=False,
                    digest=digest,
                    finished_at=time.time(),
                    paused_reason=paused_reason,
                )

    def abort(self, message: str) -> None:
        """The rollout ended without a result (its image could not be fetched, say)."""
        with self._lock:
            if self._current is not None and self._current["running"]:
                self._current.update(running=False, finished_at=time.time(), error=message)

    def snapshot(self) -> dict[str, Any]:
        """The latest rollout: counts and each bot's state (``rollout`` null if none)."""
        with self._lock:
            if self._current is None:
                return {"rollout": None}
            bots = [dict(b) for b in self._bots.values()]
            current = dict(self._current)
        states = [b["state"] for b in bots]
        counts = {
            "total": len(bots),
            "done": sum(s in DONE for s in states),
            "failed": sum(s in FAILED for s in states),
            "upgrading": states.count(UPGRADING),
            "waiting": states.count(WAITING),
            "pending": states.count("pending"),
        }
        return {"rollout": {**current, "counts": counts, "bots": bots}}

    def _set(self, bot_id: str, change: dict[str, Any]) -> None:
        with self._lock:
            if bot_id in self._bots:
                self._bots[bot_id].update(change)
