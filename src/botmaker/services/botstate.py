"""A bot's state as people see it: one model for the API, the pages, the live stream
and the events.

The engine says what a container is doing (``RuntimeStatus``); that alone misleads.
A stop that needed a SIGKILL exits 137 like a crash; a gateway that answers while its
Telegram account cannot connect looks ``healthy``; a bot nobody probes looks
``running`` as if it were known to be fine. The state here also weighs what was asked
(the bot's ``desired``), what BotMaker is doing to it right now (an :class:`Operation`),
its channel accounts as its gateway reports them, and whether its health is probed:

=================  ===========================================================
``starting``       running, its gateway not ready yet (within the start grace)
``healthy``        gateway live and ready, every channel account connected
``degraded``       gateway live, a channel account down or its readiness naming what
                   fails (``reason`` says which)
``unhealthy``      gateway not live, or not ready for no named reason, after the grace
``health_unknown`` running, not probed (``reason`` says why)
``stopping``       a stop asked for, the container still running
``restarting``     a restart under way (asked for, or by the restart policy)
``stopped``        not running because it was asked to stop, whatever the exit code
``crashed``        exited when it should run (``exit_code``)
``crash_loop``     BotMaker's verdict: it keeps dying (see the diagnosis)
``creating``       being created
``missing``        no container
``paused``         paused by hand
=================  ===========================================================

Each :class:`Operation` also names its cause and actor (``stop by admin``, ``edit by
admin: model``, ``upgrade``, ``reconcile``), so the events it leads to (the container's
``stopped``, ``started``) carry them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botmaker.policy import acting
from botmaker.runtime.base import RuntimeStatus

log = logging.getLogger(__name__)

#: Every state a bot can show (``status.summary`` in the API).
STATES = (
    "starting",
    "healthy",
    "degraded",
    "unhealthy",
    "health_unknown",
    "stopping",
    "restarting",
    "stopped",
    "crashed",
    "crash_loop",
    "creating",
    "missing",
    "paused",
)
#: An operation's kind: the state shown while it runs (``None``: the engine's own).
SHOWN = {"stop": "stopping", "restart": "restarting", "start": "starting", "recreate": None}
#: How long after an operation ends the engine events it caused are still its own.
AFTERMATH = 15.0
#: A channel account that is still connecting this long after its state began is down.
CONNECT_GRACE = 60.0


@dataclass(frozen=True)
class Operation:
    """Something BotMaker does to a bot's container, and why."""

    kind: str  # stop|restart|start|recreate|remove
    cause: str  # in words: "stop by admin", "edit by admin: model", "upgrade", ...
    actor: str | None  # the user (or token) behind it, if one
    started: float
    ended: float | None = None


def acting_actor() -> str | None:
    """The user (or token) of the request being served, as the audit log names it."""
    caller = acting.get()
    return caller.actor if caller else None


def cause_by(what: str, detail: str = "") -> tuple[str, str | None]:
    """``("edit by alice: model", "alice")`` for the request being served, else
    ``("edit", None)`` (a background action)."""
    actor = acting_actor()
    cause = f"{what} by {actor}" if actor else what
    return (f"{cause}: {detail}" if detail else cause), actor


class Operations:
    """What BotMaker is doing to each bot now, and did a moment ago (thread-safe).

    ``listener`` is told the bot id whenever an operation begins or ends (the monitor
    publishes the bot's new state, so every page shows ``stopping…`` at once).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: dict[str, Operation] = {}
        self._last: dict[str, Operation] = {}
        self.listeners: list[Callable[[str], None]] = []

    @contextmanager
    def running(
        self, bot_id: str, kind: str, cause: str | None = None, actor: str | None = None
    ) -> Iterator[Operation]:
        """Mark ``kind`` under way for the bot while the block runs. Without ``cause``:
        ``<kind> by <caller>`` (or ``<kind>`` for a background action)."""
        if cause is None:
            cause, actor = cause_by(kind)
        operation = Operation(kind, cause, actor, time.time())
        with self._lock:
            outer = self._now.get(bot_id)
            if outer is None:
                self._now[bot_id] = operation
        if outer is not None:  # inside a bigger one (a restart's start): that one shows
            yield outer
            return
        self._tell(bot_id)
        try:
            yield operation
        finally:
            with self._lock:
                self._now.pop(bot_id, None)
                self._last[bot_id] = Operation(
                    operation.kind, operation.cause, operation.actor, operation.started, time.time()
                )
            self._tell(bot_id)

    def current(self, bot_id: str) -> Operation | None:
        with self._lock:
            return self._now.get(bot_id)

    def behind(self, bot_id: str, at: float) -> Operation | None:
        """The operation that explains an engine event of the bot at ``at``: one under
        way, or one that ended at most :data:`AFTERMATH` seconds before it."""
        with self._lock:
            now = self._now.get(bot_id)
            if now is not None and at >= now.started - 1:
                return now
            last = self._last.get(bot_id)
        if (
            last is not None
            and last.ended is not None
            and last.started - 1 <= at <= last.ended + AFTERMATH
        ):
            return last
        return None

    def forget(self, bot_id: str) -> None:
        with self._lock:
            self._last.pop(bot_id, None)

    def _tell(self, bot_id: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(bot_id)
            except Exception:  # telling never fails the operation
                log.exception("operation listener failed")


@dataclass(frozen=True)
class Probing:
    """Whether BotMaker probes a bot's health, and if not, why."""

    probed: bool
    why_not: str = ""


PROBED = Probing(True)


def state_of(
    status: RuntimeStatus,
    *,
    desired: str,
    operation: Operation | None = None,
    channels: dict[str, Any] | None = None,
    probing: Probing = PROBED,
    now: float | None = None,
) -> tuple[str, str]:
    """The bot's state and the reason shown with it (words; empty when none)."""
    engine = status.state
    shown = SHOWN.get(operation.kind) if operation is not None else None
    if shown == "stopping" and engine in ("running", "restarting", "paused"):
        return "stopping", operation.cause if operation else ""
    if shown == "restarting":
        return "restarting", operation.cause if operation else ""
    if status.health == "crash_loop":  # BotMaker's verdict outranks the engine's restarts
        return "crash_loop", status.detail or ""
    if engine == "restarting":
        return "restarting", "by the restart policy"
    if engine == "creating":
        return "creating", ""
    if engine in ("missing", "removing"):
        return "missing", status.detail or "no container"
    if engine == "paused":
        return "paused", ""
    if engine in ("created", "exited", "dead"):
        if shown == "starting":
            return "starting", operation.cause if operation else ""
        if desired == "stopped" or engine == "created":
            return "stopped", _exit_words(status)
        return "crashed", _exit_words(status)
    if engine != "running":
        return engine, status.detail or ""
    if not probing.probed:
        return "health_unknown", probing.why_not
    if status.health is None:
        return "health_unknown", status.detail or "not probed yet"
    if status.health == "healthy":
        down = _channels_down(channels, time.time() if now is None else now)
        if down:
            return "degraded", down
        return "healthy", ""
    if status.health == "unhealthy" and _live_not_ready(status.detail):
        # Live, but its readiness names what fails (a channel account, say): degraded,
        # with the channel's own words when the gateway reported them.
        down = _channels_down(channels, time.time() if now is None else now)
        return "degraded", down or str(status.detail)
    if status.health in ("starting", "unhealthy"):
        return status.health, status.detail or ""
    return "health_unknown", status.detail or ""


def _live_not_ready(detail: str | None) -> bool:
    """Whether a probe's detail says the gateway answered live but named checks that
    keep it from being ready (``not ready: telegram``), not a bare status code."""
    if not detail or not detail.startswith("not ready: "):
        return False
    return not detail.removeprefix("not ready: ").strip().isdigit()


def _exit_words(status: RuntimeStatus) -> str:
    if status.state == "created":
        return "created, not started"
    code = status.exit_code
    words = f"exit code {code}" if code is not None else "exited"
    if status.oom_killed:
        words += " (out of memory)"
    elif code == 137:
        words += " (killed)"
    return words


def _channels_down(report: dict[str, Any] | None, now: float) -> str:
    """Which channel accounts are down, in words (``telegram: disconnected: 401
    Unauthorized``); empty when all are up or nothing was read."""
    if not report:
        return ""
    down = []
    for account in report.get("accounts") or []:
        state = str(account.get("state") or "")
        if state == "connecting" and _seconds_since(account.get("since"), now) < CONNECT_GRACE:
            continue  # still trying, as a fresh start does
        if state not in ("disconnected", "connecting"):
            continue
        label = str(account.get("label") or account.get("channel") or "channel")
        error = account.get("error")
        down.append(f"{label}: {state}" + (f" ({error})" if error else ""))
    return "; ".join(down)


def _seconds_since(iso: object, now: float) -> float:
    if not isinstance(iso, str) or not iso:
        return float("inf")
    from datetime import datetime

    try:
        return now - datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")
