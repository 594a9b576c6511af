"""Channel health: each channel account of each running OpenClaw bot, as its gateway
reports it (the admin RPC ``channels.status``), and the ``channel_down`` episodes.

``/readyz`` only names a channel among its ``failing`` subsystems once OpenClaw gives
up on it (a refused token); a gateway whose channel cannot reach its provider for a
while still answers ready. ``channels.status`` with ``probe`` asks each account's
plugin for a live check (Telegram: one ``getMe``) and reports per account whether it
is configured, running and connected, its lifecycle and its last error, so that is
what BotMaker reads: in the background, every ``BOTMAKER_CHANNEL_INTERVAL`` seconds,
a bounded pool of calls, never per list request.

Everything a gateway answers is hostile input: the answer is bounded by the gateway
client, parsed strictly here (known fields of known types, bounded counts and texts,
identifiers of a safe alphabet), and an error text is cleaned and redacted (the
bot's own secret values and anything credential-like) before anyone sees it.

``ChannelBook`` is the pure, thread-safe bookkeeping (times passed in, so the unit
tests drive it): the latest accounts of each bot, since when each is in its state,
and the down episodes: an account that is not connected for ``threshold`` seconds
starts one (``channel_down``, once), its reconnection ends it (``channel_up``).
``ChannelWatch`` runs the rounds and records and publishes what the book finds.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botmaker.errors import BotMakerError
from botmaker.runtime.base import RuntimeStatus
from botmaker.services.crashloop import reason_lines
from botmaker.services.loop import BackgroundLoop
from botmaker.store import BotRecord, Store

log = logging.getLogger(__name__)

CHANNEL_DOWN = "channel_down"
CHANNEL_UP = "channel_up"
#: Accounts kept per bot, and channels read per answer (a bot has a handful).
MAX_ACCOUNTS = 32
MAX_CHANNELS = 16
#: Characters of an account's error kept (after cleaning and redaction).
ERROR_WIDTH = 300
#: States in which an account counts towards a down episode.
DOWN = frozenset({"disconnected", "connecting"})
#: How long the gateway may take for its live checks (it answers within it).
PROBE_TIMEOUT_MS = 5000

_CHANNEL_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+=-]{0,63}")
_WORD = re.compile(r"[a-z][a-z0-9_-]{0,39}")
#: Lifecycles in which an account that is not connected yet is still trying.
_TRYING = frozenset({"starting", "recovering"})


# -- what a gateway reports -------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """One channel account as its gateway reported it (strictly parsed)."""

    channel: str
    account: str
    label: str = ""
    configured: bool | None = None
    enabled: bool | None = None
    running: bool | None = None
    connected: bool | None = None
    lifecycle: str | None = None
    health: str | None = None  # OpenClaw's healthState, when it sets one
    probe_ok: bool | None = None  # the live check's verdict, when it ran
    error: str = ""
    last_connected_at: float | None = None  # seconds since the epoch

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel, self.account)

    @property
    def state(self) -> str:
        """connected | connecting | disconnected | running (no transport signal) |
        off (not configured or disabled)."""
        if self.configured is False or self.enabled is False:
            return "off"
        if self.probe_ok is False or self.lifecycle in ("blocked", "stopped"):
            return "disconnected"
        if self.running is False:
            return "disconnected"
        if self.connected is True:
            return "connected"
        if self.connected is False:
            trying = self.lifecycle in _TRYING and not self.error
            return "connecting" if trying else "disconnected"
        return "disconnected" if self.error else "running"

    @property
    def name(self) -> str:
        """How alerts and events name it: ``telegram`` or ``telegram (work)``."""
        return self.channel if self.account == "default" else f"{self.channel} ({self.account})"


def parse_status(payload: object) -> list[Account]:
    """The channel accounts of a ``channels.status`` answer (hostile input).

    Per-account entries (``channelAccounts``) where the gateway gives them, else its
    per-channel summary (``channels``) as the channel's default account. Entries that
    are not objects, or whose channel or account id is not a plain identifier, are
    dropped; at most ``MAX_ACCOUNTS`` are kept.
    """
    if not isinstance(payload, dict):
        return []
    labels = _dict(payload.get("channelLabels"))
    defaults = _dict(payload.get("channelDefaultAccountId"))
    issues = _issues(payload.get("statusIssues"))
    per_account = _dict(payload.get("channelAccounts"))
    summaries = _dict(payload.get("channels"))
    found: list[Account] = []
    for channel in _channel_ids([*per_account, *summaries]):
        label = _text(labels.get(channel), 40)
        entries = _list(per_account.get(channel))
        if not entries and isinstance(summaries.get(channel), dict):
            default = _text(defaults.get(channel), 64) or "default"
            entries = [{**summaries[channel], "accountId": default}]
        for entry in entries:
            account = _account(channel, label, entry, issues)
            if account is not None and account.key not in {a.key for a in found}:
                found.append(account)
            if len(found) == MAX_ACCOUNTS:
                return found
    return found


def _account(
    channel: str, label: str, entry: dict[str, Any], issues: dict[tuple[str, str], str]
) -> Account | None:
    account_id = entry.get("accountId")
    if not isinstance(account_id, str) or not _ACCOUNT_ID.fullmatch(account_id):
        return None
    probe = entry.get("probe")
    probe_ok = probe.get("ok") if isinstance(probe, dict) else None
    probe_error = _text(probe.get("error")) if isinstance(probe, dict) else ""
    error = (
        (probe_error if probe_ok is False else "")
        or _text(entry.get("lastError"))
        or issues.get((channel, account_id), "")
    )
    return Account(
        channel=channel,
        account=account_id,
        label=label,
        configured=_flag(entry.get("configured")),
        enabled=_flag(entry.get("enabled")),
        running=_flag(entry.get("running")),
        connected=_flag(entry.get("connected")),
        lifecycle=_word(entry.get("lifecycle")),
        health=_word(entry.get("healthState")),
        probe_ok=_flag(probe_ok),
        error=error,
        last_connected_at=_ms(entry.get("lastConnectedAt")),
    )


def _issues(value: object) -> dict[tuple[str, str], str]:
    """The gateway's status issues by (channel, account): their messages."""
    found: dict[tuple[str, str], str] = {}
    for item in _list(value)[:MAX_ACCOUNTS]:
        channel, account = _text(item.get("channel"), 40), _text(item.get("accountId"), 64)
        message = _text(item.get("message"))
        if channel and account and message:
            found.setdefault((channel, account), message)
    return found


def _channel_ids(names: list[str]) -> list[str]:
    seen: list[str] = []
    for name in names:
        if _CHANNEL_ID.fullmatch(name) and name not in seen:
            seen.append(name)
    return seen[:MAX_CHANNELS]


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value[: MAX_ACCOUNTS * 4] if isinstance(item, dict)]


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _word(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if _WORD.fullmatch(value) else None


def _text(value: object, limit: int = 1000) -> str:
    """A bounded string without control characters ('' for anything else)."""
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value[:limit] if ch.isprintable()).strip()


def _ms(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value) / 1000
    return seconds if 0 < seconds < 1e11 else None


def clean_error(text: str, secrets: list[str]) -> str:
    """An account's error as BotMaker shows it: printable, redacted, bounded."""
    if not text:
        return ""
    return reason_lines(text, secrets, lines=3, width=ERROR_WIDTH).replace("\n", " | ")[
        :ERROR_WIDTH
    ]


# -- the bookkeeping ----------------------------------------------------------------------


@dataclass(frozen=True)
class Tracked:
    account: Account
    since: float  # when it entered its current state (as BotMaker saw it)
    down_since: float | None = None  # when it was last seen leaving connected/running
    alerted: bool = False  # a channel_down was raised for this episode
    last_error: str = ""  # the episode's last error (cleared while the gateway retries)


@dataclass(frozen=True)
class Change:
    """A down episode began (``channel_down``) or ended (``channel_up``)."""

    kind: str
    bot_id: str
    account: Account
    down_since: float
    at: float
    last_error: str = ""

    @property
    def detail(self) -> str:
        minutes = _duration(self.at - self.down_since)
        if self.kind == CHANNEL_DOWN:
            error = self.account.error or self.last_error
            why = f": {error}" if error else ""
            return f"{self.account.name} {self.account.state} for {minutes}{why}"
        return f"{self.account.name} {self.account.state} again after {minutes}"


@dataclass(frozen=True)
class Report:
    """A bot's channels as the last round found them."""

    accounts: dict[tuple[str, str], Tracked]
    checked_at: float
    error: str | None = None  # the gateway did not answer the last round


class ChannelBook:
    def __init__(self) -> None:
        self._reports: dict[str, Report] = {}
        self._lock = threading.Lock()

    def observe(
        self, bot_id: str, accounts: list[Account], now: float, threshold: float
    ) -> tuple[list[Change], bool]:
        """Record a round's answer; returns the episodes that began or ended, and
        whether anything shown changed (a state or an error)."""
        changes: list[Change] = []
        with self._lock:
            before = self._reports.get(bot_id)
            old = before.accounts if before is not None else {}
            kept: dict[tuple[str, str], Tracked] = {}
            for account in accounts:
                tracked, change = _step(bot_id, old.get(account.key), account, now, threshold)
                kept[account.key] = tracked
                if change is not None:
                    changes.append(change)
            for key in old.keys() - kept.keys():  # no longer configured
                gone = old[key]
                if gone.alerted and gone.down_since is not None:
                    account = replace(gone.account, configured=False)
                    changes.append(Change(CHANNEL_UP, bot_id, account, gone.down_since, now))
            self._reports[bot_id] = Report(kept, now)
        shown = before is None or before.error is not None or _shown(old) != _shown(kept)
        return changes, shown

    def unanswered(self, bot_id: str, why: str, now: float) -> bool:
        """The gateway did not answer: keep what was known (and its episodes), say why.
        Returns whether that is news."""
        with self._lock:
            before = self._reports.get(bot_id)
            accounts = before.accounts if before is not None else {}
            self._reports[bot_id] = Report(accounts, now, why)
        return before is None or before.error != why

    def forget(self, bot_id: str) -> bool:
        """The bot is not running (or is gone): nothing to show, episodes end unsaid."""
        with self._lock:
            return self._reports.pop(bot_id, None) is not None

    def known(self) -> set[str]:
        with self._lock:
            return set(self._reports)

    def report(self, bot_id: str) -> dict[str, Any] | None:
        """The bot's ``channel_status`` as views show it; None when never read."""
        with self._lock:
            report = self._reports.get(bot_id)
        if report is None:
            return None
        return {
            "checked_at": _iso(report.checked_at),
            "error": report.error,
            "accounts": [_view(tracked) for tracked in report.accounts.values()],
        }


def _step(
    bot_id: str, old: Tracked | None, account: Account, now: float, threshold: float
) -> tuple[Tracked, Change | None]:
    """One account's next bookkeeping, and the episode change it makes (if any)."""
    state = account.state
    since = old.since if old is not None and old.account.state == state else now
    if state in DOWN:
        episode = old is not None and old.down_since is not None
        down_since = old.down_since if old is not None and old.down_since is not None else now
        alerted = old.alerted if old is not None else False
        last_error = account.error or (old.last_error if old is not None and episode else "")
        if not alerted and now - down_since >= threshold:
            change = Change(CHANNEL_DOWN, bot_id, account, down_since, now, last_error)
            return Tracked(account, since, down_since, True, last_error), change
        return Tracked(account, since, down_since, alerted, last_error), None
    if old is not None and old.alerted and old.down_since is not None:
        return Tracked(account, since), Change(CHANNEL_UP, bot_id, account, old.down_since, now)
    return Tracked(account, since), None


def _shown(accounts: dict[tuple[str, str], Tracked]) -> list[tuple[Any, ...]]:
    return [(key, t.account.state, t.account.error) for key, t in accounts.items()]


def _view(tracked: Tracked) -> dict[str, Any]:
    account = tracked.account
    return {
        "channel": account.channel,
        "account": account.account,
        "label": account.label or account.channel,
        "state": account.state,
        "connected": account.connected,
        "running": account.running,
        "configured": account.configured,
        "error": account.error or None,
        "since": _iso(tracked.since),
        "last_connected_at": (
            _iso(account.last_connected_at) if account.last_connected_at is not None else None
        ),
    }


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# -- the watch ----------------------------------------------------------------------------


class ChannelWatch:
    """Reads every running gateway's ``channels.status`` every ``interval`` seconds
    (``workers`` at a time), records each episode as a bot event (``channel_down``,
    ``channel_up``) published like the monitor's own (the alerts listen there), and
    publishes a bot's ``channels`` message whenever what it shows changed."""

    def __init__(
        self,
        book: ChannelBook,
        store: Store,
        rpc: Callable[[BotRecord, str, dict[str, Any]], Any],
        *,
        statuses: Callable[[], dict[str, RuntimeStatus]],
        watching: Callable[[str], bool],
        secrets: Callable[[str], list[str]],
        threshold: Callable[[], float],
        publish: Callable[[str, dict[str, Any]], None],
        interval: float = 30.0,
        workers: int = 8,
    ) -> None:
        self.book = book
        self.store = store
        self.rpc = rpc
        self.statuses = statuses
        self.watching = watching
        self.secrets = secrets
        self.threshold = threshold
        self.publish = publish
        self.interval = interval
        self.workers = workers
        self.loop = BackgroundLoop("channels", self.check_all, lambda: self.interval)

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def check_all(self) -> None:
        try:
            statuses = self.statuses()
        except BotMakerError as exc:
            log.debug("channel check skipped: %s", exc.message)
            return
        records = {
            record.id: record
            for record in self.store.list_bots()
            if self.watching(record.id) and _running(statuses.get(record.id))
        }
        for bot_id in self.book.known() - records.keys():
            if self.book.forget(bot_id):
                self._publish_channels(bot_id)
        if not records:
            return
        threshold = max(0.0, float(self.threshold()))
        with ThreadPoolExecutor(max_workers=min(self.workers, len(records))) as pool:
            answers = list(zip(records, pool.map(self._read, records.values()), strict=True))
        for bot_id, answer in answers:
            self._record(bot_id, answer, threshold)

    def _read(self, record: BotRecord) -> list[Account] | str:
        """The bot's accounts, or why its gateway gave none."""
        try:
            payload = self.rpc(
                record, "channels.status", {"probe": True, "timeoutMs": PROBE_TIMEOUT_MS}
            )
        except BotMakerError as exc:
            return exc.message[:ERROR_WIDTH]
        accounts = parse_status(payload)
        if any(account.error for account in accounts):
            secrets = self.secrets(record.id)
            accounts = [replace(a, error=clean_error(a.error, secrets)) for a in accounts]
        return accounts

    def _record(self, bot_id: str, answer: list[Account] | str, threshold: float) -> None:
        now = time.time()
        if isinstance(answer, str):
            if self.book.unanswered(bot_id, answer, now):
                self._publish_channels(bot_id)
            return
        changes, shown = self.book.observe(bot_id, answer, now, threshold)
        for change in changes:
            self._episode(change)
        if shown:
            self._publish_channels(bot_id)

    def _episode(self, change: Change) -> None:
        if change.kind == CHANNEL_DOWN:
            log.warning("bot %s: %s", change.bot_id, change.detail)
        else:
            log.info("bot %s: %s", change.bot_id, change.detail)
        recorded = self.store.add_bot_event(
            change.bot_id, kind=change.kind, at=change.at, detail=change.detail
        )
        if recorded is not None:
            account = change.account
            self.publish(
                "event",
                {
                    **recorded,
                    "channel": account.channel,
                    "account": account.account,
                    "state": account.state,
                    "down_since": _iso(change.down_since),
                },
            )

    def _publish_channels(self, bot_id: str) -> None:
        self.publish("channels", {"id": bot_id, "channel_status": self.book.report(bot_id)})


def _running(status: RuntimeStatus | None) -> bool:
    return status is not None and status.state == "running" and bool(status.address)
