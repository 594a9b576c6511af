"""Crash loops: a bot whose container keeps ending by itself, or whose OpenClaw gateway
restarted and has not answered ``/healthz`` since.

Everything here is fed by the ``Monitor``'s engine events (an exit nobody asked for,
a start, a deliberate stop) and the ``HealthMonitor``'s probes; nothing asks the
engine per bot, and only bots that exited recently are tracked, so a fleet of
thousands costs nothing while it is well.

Two rules start an *episode* (``Rules``):

- ``restarts``: the container ended by itself ``restarts`` times within ``window``
  seconds (Docker's restart policy, or Swarm replacing a failed task);
- ``never_live``: an OpenClaw gateway that ended by itself and was restarted has not
  answered ``/healthz`` for ``never_live`` seconds since that restart (a gateway that
  dies slowly, before it is ever live, restarts too seldom for the first rule).

An episode ends when the bot has run ``stable`` seconds since its last restart without
ending (a gateway: and answered ``/healthz`` since that restart), or when BotMaker
stops, restarts or replaces the container on purpose.

``CrashLoops`` is the pure, thread-safe bookkeeping (times are passed in, so the
unit tests drive it); ``CrashLoopWatch`` runs its periodic sweep and records,
publishes and announces what it finds. ``reason_lines`` turns a log tail, which is
hostile input, into a few short, printable, redacted lines for alerts and pages.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from botmaker.runtime.base import RuntimeStatus
from botmaker.services.loop import BackgroundLoop
from botmaker.store import Store

log = logging.getLogger(__name__)

CRASH_LOOP = "crash_loop"
#: Statuses a crash loop is shown on (a bot being created, removed or gone is not one).
_SHOWN_ON = frozenset({"running", "restarting", "exited", "created", "dead"})


@dataclass(frozen=True)
class Rules:
    restarts: int = 3  # exits by itself ...
    window: float = 60.0  # ... within this many seconds
    never_live: float = 45.0  # a restarted gateway silent on /healthz this long
    stable: float = 60.0  # running this long since the last restart ends an episode


@dataclass(frozen=True)
class Episode:
    """One crash loop of one bot, from its detection until it ends."""

    bot_id: str
    since: float  # when it was detected (seconds since the epoch)
    rule: str  # restarts|never_live
    found: int  # exits by itself within ``window`` seconds when it was detected
    window: float
    restarts: int  # ``found`` plus the exits since
    exit_code: int | None  # of the latest exit
    reason: str = ""  # the last log lines before the latest exit (see ``reason_lines``)

    @property
    def detail(self) -> str:
        code = "unknown" if self.exit_code is None else str(self.exit_code)
        if self.rule == "never_live":
            times = "once" if self.restarts == 1 else f"{self.restarts} times"
            what = f"restarted {times}, /healthz never live since"
        else:
            what = f"exited {self.found} times within {self.window:g} s"
            if self.restarts > self.found:
                what += f" ({self.restarts} restarts in all)"
        return f"crash loop: {what}; last exit code {code}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "rule": self.rule,
            "restarts": self.restarts,
            "exit_code": self.exit_code,
            "detail": self.detail,
            "reason": self.reason,
        }


@dataclass
class _Track:
    """What is known of one bot that exited by itself recently."""

    exits: deque[float] = field(default_factory=deque)  # times of exits within the window
    last_exit: float = 0.0
    exit_code: int | None = None
    reason: str = ""
    restarted_at: float | None = None  # the latest start after an exit by itself
    episode: Episode | None = None


class CrashLoops:
    """Per-bot crash-loop bookkeeping (see the module docstring); thread-safe."""

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self._tracks: dict[str, _Track] = {}
        self._lock = threading.Lock()

    # -- events -----------------------------------------------------------------------

    def exited(
        self, bot_id: str, at: float, exit_code: int | None, reason: str = ""
    ) -> Episode | None:
        """The bot's container ended by itself; the episode this exit starts, if any."""
        rules = self.rules
        with self._lock:
            track = self._tracks.setdefault(bot_id, _Track())
            track.exits.append(at)
            while track.exits and track.exits[0] < at - rules.window:
                track.exits.popleft()
            track.last_exit = max(track.last_exit, at)
            track.exit_code = exit_code
            track.reason = reason or track.reason
            if track.episode is not None:  # counting on within the episode
                track.episode = replace(
                    track.episode,
                    restarts=track.episode.restarts + 1,
                    exit_code=exit_code,
                    reason=track.reason,
                )
                return None
            if len(track.exits) < rules.restarts:
                return None
            found = len(track.exits)
            track.episode = Episode(
                bot_id, at, "restarts", found, rules.window, found, exit_code, track.reason
            )
            return track.episode

    def started(self, bot_id: str, at: float) -> None:
        """The bot's container (or a new task of its service) started."""
        with self._lock:
            track = self._tracks.get(bot_id)
            if track is not None:
                track.restarted_at = at

    def stopped(self, bot_id: str) -> Episode | None:
        """BotMaker stopped, restarted or replaced the container on purpose: forget the
        bot; the episode that ends with it, if any."""
        with self._lock:
            track = self._tracks.pop(bot_id, None)
        return track.episode if track is not None else None

    # -- time -------------------------------------------------------------------------

    def sweep(
        self,
        now: float,
        live_at: Callable[[str], float | None],
        gateway: Callable[[str], bool],
    ) -> tuple[list[Episode], list[Episode]]:
        """Episodes the ``never_live`` rule starts and episodes that end, at ``now``.

        ``live_at``: when the bot's gateway last answered ``/healthz`` (None: never);
        ``gateway``: whether the bot is an OpenClaw gateway. Tracks of bots that are
        fine again are dropped.
        """
        started: list[Episode] = []
        ended: list[Episode] = []
        with self._lock:
            for bot_id, track in list(self._tracks.items()):
                is_gateway = gateway(bot_id)
                live_since_restart = _live_since(live_at(bot_id), track.restarted_at)
                if track.episode is None:
                    episode = self._never_live(bot_id, track, now, is_gateway, live_since_restart)
                    if episode is not None:
                        started.append(episode)
                    elif self._idle(track, now, is_gateway, live_since_restart):
                        del self._tracks[bot_id]
                    continue
                if self._stable(track, now) and (live_since_restart or not is_gateway):
                    ended.append(track.episode)
                    del self._tracks[bot_id]
        return started, ended

    def _never_live(
        self, bot_id: str, track: _Track, now: float, gateway: bool, live: bool
    ) -> Episode | None:
        restarted = track.restarted_at
        if not gateway or live or restarted is None or restarted < track.last_exit:
            return None
        if now - restarted < self.rules.never_live:
            return None
        found = max(1, len(track.exits))
        track.episode = Episode(
            bot_id,
            now,
            "never_live",
            found,
            self.rules.window,
            found,
            track.exit_code,
            track.reason,
        )
        return track.episode

    def _idle(self, track: _Track, now: float, gateway: bool, live: bool) -> bool:
        """Nothing can come of this track any more: no recent exits, and no restarted
        gateway waiting to be judged by the ``never_live`` rule."""
        if now - track.last_exit < self.rules.window:
            return False
        return not gateway or live or track.restarted_at is None

    def _stable(self, track: _Track, now: float) -> bool:
        restarted = track.restarted_at
        return (
            restarted is not None
            and restarted >= track.last_exit
            and now - restarted >= self.rules.stable
        )

    # -- readers ----------------------------------------------------------------------

    def episode(self, bot_id: str) -> Episode | None:
        with self._lock:
            track = self._tracks.get(bot_id)
            return track.episode if track is not None else None

    def looping(self) -> list[Episode]:
        with self._lock:
            return [t.episode for t in self._tracks.values() if t.episode is not None]

    def overlay(self, bot_id: str, status: RuntimeStatus) -> RuntimeStatus:
        """``status`` as a crash-looping bot shows it: health ``crash_loop``, the detail
        with its restarts and last exit code (unchanged when the bot is not looping)."""
        episode = self.episode(bot_id)
        if episode is None or status.state not in _SHOWN_ON:
            return status
        exit_code = status.exit_code if status.exit_code is not None else episode.exit_code
        return replace(status, health=CRASH_LOOP, detail=episode.detail, exit_code=exit_code)


def _live_since(live_at: float | None, restarted_at: float | None) -> bool:
    return live_at is not None and restarted_at is not None and live_at >= restarted_at


# -- hostile log lines ---------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
#: Credential-looking text: (pattern, replacement); a keyword and its separator stay.
_SECRET_LIKE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s\"']+"), r"\1\2[redacted]"),
    (
        re.compile(r"(?i)\b(token|api[_-]?key|password|passwd|secret)(\s*[:=]\s*[\"']?)[^\s\"']+"),
        r"\1\2[redacted]",
    ),
    (re.compile(r"\b(?:sk|pk|rk|ghp|gho|xox[abposr])[-_][A-Za-z0-9_\-]{6,}"), "[redacted]"),
    (re.compile(r"\b\d{5,}:[A-Za-z0-9_\-]{20,}"), "[redacted]"),  # a Telegram bot token
    # Any long opaque token (letters and digits mixed; a long word is left alone).
    (
        re.compile(r"(?=[A-Za-z0-9_\-+=]*\d)(?=[A-Za-z0-9_\-+=]*[A-Za-z])[A-Za-z0-9_\-+=]{32,}"),
        "[redacted]",
    ),
)
REDACTED = "[redacted]"


def reason_lines(
    text: str | None, known: Iterable[str] = (), *, lines: int = 5, width: int = 200
) -> str:
    """The last ``lines`` non-empty lines of a log tail, safe to mail and show.

    Log lines are the bot's output, hostile input: escape sequences and control
    characters are removed, each line is cut to ``width`` characters, and anything
    that looks like a credential (or is one of ``known``, the bot's own secret
    values) is replaced by ``[redacted]``. Secrets never reach logs by design; this
    is the second line of defence.
    """
    if not text:
        return ""
    values = sorted((v for v in known if len(v) >= 4), key=len, reverse=True)
    kept: list[str] = []
    for raw in reversed(text[-64 * 1024 :].splitlines()):
        line = _CONTROL.sub("", _ANSI.sub("", raw).replace("\t", " ")).strip()
        if not line:
            continue
        kept.append(_redact(line, values))
        if len(kept) == lines:
            break
    return "\n".join(_cut(line, width) for line in reversed(kept))


def _redact(line: str, values: list[str]) -> str:
    for value in values:
        line = line.replace(value, REDACTED)
    for pattern, replacement in _SECRET_LIKE:
        line = pattern.sub(replacement, line)
    return line


def _cut(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


# -- the watch -----------------------------------------------------------------------------


class CrashLoopWatch:
    """Sweeps the bookkeeping every ``interval`` seconds and records each episode's
    start (``crash_loop``) and end (``crash_loop_ended``) as a bot event, published
    like the monitor's own (the alerts listen there), with the bot's new status."""

    def __init__(
        self,
        loops: CrashLoops,
        store: Store,
        *,
        publish_event: Callable[[dict[str, Any]], None],
        publish_status: Callable[[str], None],
        live_at: Callable[[str], float | None],
        gateway: Callable[[str], bool],
        interval: float = 5.0,
    ) -> None:
        self.loops = loops
        self.store = store
        self.publish_event = publish_event
        self.publish_status = publish_status
        self.live_at = live_at
        self.gateway = gateway
        self.interval = interval
        self.loop = BackgroundLoop("crashloop", self.sweep, lambda: self.interval)

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def exited(self, bot_id: str, at: float, exit_code: int | None, reason: str) -> None:
        episode = self.loops.exited(bot_id, at, exit_code, reason)
        if episode is not None:
            self.began(episode)

    def stopped(self, bot_id: str, why: str) -> None:
        episode = self.loops.stopped(bot_id)
        if episode is not None:
            self.ended(episode, why)

    def sweep(self) -> None:
        started, ended = self.loops.sweep(time.time(), self.live_at, self.gateway)
        for episode in started:
            self.began(episode)
        stable = f"ran {self.loops.rules.stable:g} s without ending"
        for episode in ended:
            self.ended(episode, stable)

    def began(self, episode: Episode) -> None:
        log.warning("bot %s is crash-looping: %s", episode.bot_id, episode.detail)
        recorded = self.store.add_bot_event(
            episode.bot_id,
            kind=CRASH_LOOP,
            at=time.time(),
            detail=episode.detail,
            exit_code=episode.exit_code,
            logs=episode.reason or None,
        )
        if recorded is not None:
            self.publish_event({**recorded, "restarts": episode.restarts})
        self.publish_status(episode.bot_id)

    def ended(self, episode: Episode, why: str) -> None:
        log.info("bot %s no longer crash-loops: %s", episode.bot_id, why)
        recorded = self.store.add_bot_event(
            episode.bot_id, kind="crash_loop_ended", at=time.time(), detail=why
        )
        if recorded is not None:
            self.publish_event(recorded)
        self.publish_status(episode.bot_id)
