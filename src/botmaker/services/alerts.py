"""Alerts: a webhook and/or email told when a bot dies, is OOM-killed, turns unhealthy,
crash-loops, loses a channel or runs out of budget.

Sources: the ``Monitor``'s bot events (a listener on its broadcaster) for
``died``, ``oom``, ``unhealthy`` and ``crash_loop`` (one per episode, see
``services/crashloop.py``: its restarts, last exit code and the last log lines,
cleaned; each also an audit entry); the ``ChannelWatch``'s ``channel_down`` (a channel
account not connected for ``channel_down_after_seconds``, once per episode) and
``channel_up`` (it reconnected), published on the same broadcaster; the keyring's
``budget_exceeded`` events, polled every few seconds when the keyring is on.

Delivery: a bounded queue drained by one sender thread; per alert a JSON POST to the
webhook and an email (``services/mail.py``: ``smtplib``, the password read from
``BOTMAKER_SMTP_PASSWORD_FILE``, never stored), each with a timeout and three tries
with back-off; at most one alert per (bot, kind) every ``min_interval_seconds`` so a
flapping bot cannot flood either channel. Failures are logged; nothing here ever
fails a bot or a request.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from botmaker.errors import BotMakerError, InvalidInput, NotFound
from botmaker.services import mail
from botmaker.services.audit import AuditLog
from botmaker.services.crashloop import reason_lines
from botmaker.services.keyring import KeyringService
from botmaker.services.loop import BackgroundLoop
from botmaker.services.mail import EmailSettings, MailError
from botmaker.services.monitor import Message, Monitor
from botmaker.store import Store

log = logging.getLogger(__name__)

SETTINGS_KEY = "alerts"
KINDS = (
    "died",
    "oom",
    "unhealthy",
    "crash_loop",
    "channel_down",
    "channel_up",
    "budget_exceeded",
)
#: Bot events forwarded as alerts as they are.
_BOT_KINDS = frozenset({"died", "oom", "unhealthy"})
LOGS_TAIL_LINES = 20


class AlertSettings(BaseModel):
    """``PUT /api/alerts``: where alerts go, which ones, and how often at most."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = Field(default=None, max_length=2000)
    email: EmailSettings | None = None
    events: list[str] = Field(default_factory=lambda: list(KINDS), max_length=len(KINDS))
    min_interval_seconds: int = Field(default=300, ge=0, le=86_400)
    channel_down_after_seconds: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="how long a channel account stays disconnected before channel_down",
    )

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown events {unknown}; choose from: {', '.join(KINDS)}")
        return [kind for kind in KINDS if kind in value]


class WebhookError(Exception):
    """The webhook was not reached or did not take the alert (safe to log)."""


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlertService:
    def __init__(
        self,
        store: Store,
        monitor: Monitor,
        keyring: KeyringService,
        *,
        audit: AuditLog | None = None,
        smtp_password_file: Path | None = None,
        queue_size: int = 100,
        timeout: float = 5.0,
        tries: int = 3,
        backoff: float = 1.0,
        keyring_poll: float = 3.0,
    ) -> None:
        self.store = store
        self.monitor = monitor
        self.keyring = keyring
        self.audit = audit
        self.smtp_password_file = smtp_password_file
        self.timeout = timeout
        self.tries = tries
        self.backoff = backoff
        self.keyring_poll = keyring_poll
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=queue_size)
        self.sender = BackgroundLoop(
            "alerts-send", self._send_next, lambda: 0.0, join_timeout=timeout + 2
        )
        self.keyring_poller = BackgroundLoop(
            "alerts-keyring",
            self._poll_keyring,
            lambda: self.keyring_poll,
            join_timeout=timeout + 2,
        )
        self._last: dict[tuple[str, str], float] = {}  # (bot, kind) -> monotonic send time
        self._down: set[tuple[str, str, str]] = set()  # (bot, channel, account) alerted down
        self._lock = threading.Lock()
        self._keyring_after: int | None = None

    # -- settings ------------------------------------------------------------------------

    def settings(self) -> AlertSettings:
        raw = self.store.get_setting(SETTINGS_KEY)
        if raw:
            try:
                return AlertSettings.model_validate(json.loads(raw))
            except ValueError:
                log.error("stored alert settings are invalid; using the defaults")
        return AlertSettings()

    def update(self, new: AlertSettings) -> AlertSettings:
        if new.email is not None and new.email.username and self.smtp_password_file is None:
            raise InvalidInput(
                "email.username: a username needs the password in the file "
                "BOTMAKER_SMTP_PASSWORD_FILE names (set it and restart BotMaker)",
                field="email.username",
            )
        self.store.set_setting(SETTINGS_KEY, new.model_dump_json())
        if self.audit is not None:  # the URL may embed a token: only whether one is set
            self.audit.record(
                "alerts.update",
                "",
                webhook=new.webhook_url is not None,
                email=new.email is not None,
                events=new.events,
                min_interval_seconds=new.min_interval_seconds,
                channel_down_after_seconds=new.channel_down_after_seconds,
            )
        return new

    # -- sources -------------------------------------------------------------------------

    def on_bot_event(self, event: dict[str, Any]) -> None:
        """A bot event as the Monitor publishes it (never raises)."""
        try:
            self._on_bot_event(event)
        except Exception:  # an alert must never break monitoring
            log.exception("alert for bot event %s failed", event.get("kind"))

    def _on_bot_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("kind", ""))
        bot_id = str(event.get("bot_id", ""))
        if kind in _BOT_KINDS:
            self.alert(kind, bot_id, event)
        elif kind == "crash_loop":
            self._crash_loop(bot_id, event)
        elif kind in ("channel_down", "channel_up"):
            self._channel(kind, bot_id, event)

    def _channel(self, kind: str, bot_id: str, event: dict[str, Any]) -> None:
        """A channel account's down alert (rate-limited per account), and its
        resolution, sent only for a down alert that went out (never rate-limited)."""
        account = (bot_id, str(event.get("channel") or ""), str(event.get("account") or ""))
        if kind == "channel_down":
            if self.alert(kind, bot_id, event, scope="/".join(account[1:])):
                with self._lock:
                    self._down.add(account)
            return
        with self._lock:
            raised = account in self._down
            self._down.discard(account)
        if raised:
            self.alert(kind, bot_id, event, limit=False)

    def _crash_loop(self, bot_id: str, event: dict[str, Any]) -> None:
        """One alert per episode (and the minimum interval), and an audit entry."""
        queued = self.alert("crash_loop", bot_id, event)
        if self.audit is not None:
            try:
                name = self.store.get_bot(bot_id).name
            except NotFound:
                return
            self.audit.record(
                "bot.crash_loop",
                name,
                id=bot_id,
                restarts=event.get("restarts"),
                exit_code=event.get("exit_code"),
                alerted=queued,
            )

    def poll_keyring(self) -> None:
        """Forward the keyring's new ``budget_exceeded`` events (first call: skip the past)."""
        client = self.keyring.client
        if self._keyring_after is None:
            after = 0
            while events := client.events(after=after):
                after = max(int(e["id"]) for e in events)
            self._keyring_after = after
            return
        events = client.events(after=self._keyring_after)
        for event in events:
            self._keyring_after = max(self._keyring_after, int(event["id"]))
            if event.get("kind") == "budget_exceeded":
                self.alert("budget_exceeded", str(event.get("bot_id", "")), event)

    # -- delivery ------------------------------------------------------------------------

    def alert(
        self,
        kind: str,
        bot_id: str,
        event: dict[str, Any],
        *,
        scope: str = "",
        limit: bool = True,
    ) -> bool:
        """Queue an alert if it is wanted and not rate-limited; True if queued.

        At most one per (bot, kind, ``scope``) every ``min_interval_seconds`` unless
        ``limit`` is off (a resolution of an alert that went out)."""
        config = self.settings()
        if (config.webhook_url is None and config.email is None) or kind not in config.events:
            return False
        now = time.monotonic()
        key = (bot_id, f"{kind}:{scope}" if scope else kind)
        with self._lock:
            last = self._last.get(key)
            if limit and last is not None and now - last < config.min_interval_seconds:
                return False
            if limit:
                self._last[key] = now
        try:
            self._queue.put_nowait(self.payload(kind, bot_id, event))
        except queue.Full:
            self.dropped += 1
            log.warning("alert queue full: %s alert of bot %s dropped", kind, bot_id)
            return False
        return True

    def payload(self, kind: str, bot_id: str, event: dict[str, Any]) -> dict[str, Any]:
        try:
            name: str | None = self.store.get_bot(bot_id).name
        except NotFound:
            name = None
        at = event.get("at")
        payload: dict[str, Any] = {
            "kind": kind,
            "bot": {"id": bot_id, "name": name},
            "at": _iso(float(at)) if isinstance(at, int | float) else _iso(time.time()),
            "detail": str(event.get("detail") or ""),
        }
        if event.get("exit_code") is not None:
            payload["exit_code"] = event["exit_code"]
        if event.get("restarts") is not None:
            payload["restarts"] = event["restarts"]
        if isinstance(event.get("channel"), str):  # channel_down / channel_up
            payload["channel"] = {
                "type": event["channel"],
                "account": str(event.get("account") or ""),
                "state": str(event.get("state") or ""),
                "down_since": event.get("down_since"),
            }
        logs = event.get("logs")
        if logs:
            # The bot's own output: hostile; cut, cleaned and redacted like a crash reason.
            payload["logs_tail"] = reason_lines(str(logs), lines=LOGS_TAIL_LINES)
        return payload

    def send_test(self) -> dict[str, Any]:
        """Deliver a test alert now on every channel (one try each); per-channel results.

        ``{"delivered": all configured channels took it, "channels": {"webhook":
        {"delivered", "status"?, "error"?}, "email": {"delivered", "error"?}}}``
        """
        config = self.settings()
        if config.webhook_url is None and config.email is None:
            return {
                "delivered": False,
                "error": "no webhook URL or email is configured",
                "channels": {},
            }
        payload = {
            "kind": "test",
            "bot": {"id": None, "name": None},
            "at": _iso(time.time()),
            "detail": "a test alert from BotMaker",
        }
        channels: dict[str, dict[str, Any]] = {}
        if config.webhook_url is not None:
            try:
                response = httpx.post(config.webhook_url, json=payload, timeout=self.timeout)
            except httpx.HTTPError as exc:
                channels["webhook"] = {
                    "delivered": False,
                    "error": f"{type(exc).__name__}: could not reach it",
                }
            else:
                channels["webhook"] = {
                    "delivered": response.is_success,
                    "status": response.status_code,
                }
        if config.email is not None:
            try:
                self._send_email(config.email, payload)
            except MailError as exc:
                channels["email"] = {"delivered": False, "error": str(exc)}
            else:
                channels["email"] = {"delivered": True}
        delivered = all(result["delivered"] for result in channels.values())
        return {"delivered": delivered, "channels": channels}

    def _send_email(self, config: EmailSettings, payload: dict[str, Any]) -> None:
        password = mail.read_password(self.smtp_password_file)
        mail.send(config, mail.build_message(config, payload), password, self.timeout)

    def _deliver(self, payload: dict[str, Any]) -> bool:
        """Every configured channel, each with its tries; True if all delivered."""
        config = self.settings()
        results = []
        if config.webhook_url is not None:
            results.append(self._deliver_webhook(config.webhook_url, payload))
        if config.email is not None:
            email = config.email
            results.append(
                self._with_tries(
                    "email",
                    email.host,
                    payload,
                    lambda: self._send_email(email, payload),
                )
            )
        return bool(results) and all(results)

    def _deliver_webhook(self, url: str, payload: dict[str, Any]) -> bool:
        def post() -> None:
            try:
                response = httpx.post(url, json=payload, timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise WebhookError(type(exc).__name__) from None
            if not response.is_success:
                raise WebhookError(f"HTTP {response.status_code}")

        return self._with_tries("webhook", urlsplit(url).hostname, payload, post)

    def _with_tries(
        self, channel: str, host: str | None, payload: dict[str, Any], send: Callable[[], None]
    ) -> bool:
        delay = self.backoff
        for attempt in range(1, self.tries + 1):
            try:
                send()
                return True
            except (WebhookError, MailError) as exc:
                problem = str(exc)
            log.warning(
                "alert %s by %s to %s failed (try %d of %d): %s",
                payload["kind"],
                channel,
                host,
                attempt,
                self.tries,
                problem,
            )
            if attempt < self.tries and self.sender.wait(delay):
                return False
            delay *= 2
        return False

    # -- threads -------------------------------------------------------------------------

    def start(self) -> None:
        if self.sender.started:
            return
        self.monitor.broadcaster.add_listener(self._on_message)
        self.sender.start()
        if self.keyring.enabled:
            self.keyring_poller.start()

    def stop(self) -> None:
        self.monitor.broadcaster.remove_listener(self._on_message)
        self.sender.request_stop()
        self.keyring_poller.request_stop()
        self.sender.join()
        self.keyring_poller.join()

    def _send_next(self) -> None:
        """The sender's step: deliver one queued alert (waiting briefly for one)."""
        try:
            payload = self._queue.get(timeout=0.2)
        except queue.Empty:
            return
        try:
            if self._deliver(payload):
                self.sent += 1
            else:
                self.failed += 1
        except Exception:  # never end the sender
            self.failed += 1
            log.exception("alert delivery failed")

    def _on_message(self, message: Message) -> None:
        """The Monitor's broadcaster published (on its thread): only queue, never block."""
        if message.event == "event":
            self.on_bot_event(message.data)

    def _poll_keyring(self) -> None:
        try:
            self.poll_keyring()
        except BotMakerError as exc:
            log.info("keyring events not read: %s", exc.message)
