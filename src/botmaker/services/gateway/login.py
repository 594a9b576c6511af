"""Interactive channel logins (WhatsApp, Zalo Personal, Signal) run in the bot, shown in
BotMaker.

A channel plugin that links an account by QR code implements OpenClaw's web login:
the gateway's ``web.login.start`` (``{channel, force, timeoutMs}``) answers
``{qrDataUrl?, message, connected?, sessionKey?}`` and ``web.login.wait``
(``{channel, sessionKey, timeoutMs, currentQrDataUrl}``) answers
``{connected, message, qrDataUrl?}`` once the code is scanned, a new code replaced it,
the login ended, or ``timeoutMs`` passed. BotMaker calls both through the gateway's
admin RPC (:class:`GatewayService`), one worker thread per login, and keeps the flow's
state in memory for the pages to poll. The session itself is OpenClaw's: the plugin
writes it into the bot's state folder (WhatsApp: ``credentials/whatsapp/<account>``)
and the gateway starts the channel when the login connects.

The protocol has no status field: a wait that answers neither ``connected`` nor a new
code *at its timeout* is "still waiting"; one that answers so *before* its timeout is
the plugin saying the login ended (no login in progress, QR expired, failed). A start
that answers no code yet (Zalo's "still preparing") is asked again while waiting.

OpenClaw has no method that ends a pending web login. Cancelling stops BotMaker's
wait and forgets the code; the plugin's own login dies at its expiry (WhatsApp and
Zalo: 3 minutes), and a phone that scanned the code before then still links.

Everything a gateway sends is hostile: sizes are bounded, fields kept by type, an
image is passed on only if it is one (PNG, JPEG, GIF or WebP by its magic bytes, with
bounded dimensions for PNG), and text is QR-encoded by BotMaker (``segno``). The
code is a credential: it is never logged, never audited, and served only to the
signed-in user with ``Cache-Control: no-store``.

Signal has no login through the gateway (``@openclaw/signal`` has none): a channel
whose catalog entry has ``cli_login`` is linked by BotMaker running ``signal-cli link``
in the bot's container (``signal_link.py``: the program and data folder the bot's
``openclaw.json`` names, the device-link URI read from its bounded output and
QR-encoded here, the number it linked as). Same routes, states and page: ``starting``
until the code shows, ``waiting`` while it does, then ``linked``/``failed``/
``expired``; a start first checks that the image has signal-cli (409 naming it
otherwise). Unlike a web login, cancelling (and expiry, and a refused output) ends
the process in the container, with ``kill`` in a second exec. After a link, the
gateway is asked to start the channel (``channels.start``, as OpenClaw's own
``channels login`` does).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import segno

from botmaker.errors import BotMakerError, Conflict, NotFound, RuntimeFailure
from botmaker.fsutil import TooLarge
from botmaker.openclaw.catalog import CHANNELS
from botmaker.runtime.base import Backend, ExecStream
from botmaker.runtime.policy import container_name
from botmaker.services.gateway.client import GatewayService
from botmaker.services.gateway.signal_link import (
    PRESENT,
    LinkOutput,
    LinkRefused,
    SignalCli,
    linked_numbers,
    signal_cli_of,
)
from botmaker.state import StateStore
from botmaker.store import BotRecord, Store

log = logging.getLogger(__name__)

#: ``timeoutMs`` of ``web.login.start``: how long the plugin may take to get a code.
START_TIMEOUT_MS = 30_000
#: ``timeoutMs`` of each ``web.login.wait``: how often BotMaker's worker checks in.
WAIT_TIMEOUT_MS = 5_000
#: A login nobody completes ends here (the plugins' own logins last 3 minutes).
LOGIN_SECONDS = 180.0
#: An ended login's outcome stays readable this long.
KEEP_SECONDS = 600.0
#: At most this many logins at once (each holds a worker thread).
MAX_ACTIVE = 32
#: The largest code a gateway may send (a QR PNG data URL is a few KiB).
MAX_CODE_CHARS = 512 * 1024
MAX_IMAGE_BYTES = 256 * 1024
MAX_IMAGE_SIDE = 4096
#: The longest text BotMaker QR-encodes (a linking URI is a few hundred characters).
MAX_TEXT = 2048
_SESSION_KEY = re.compile(r"[A-Za-z0-9_.:=+/-]{1,256}")
_IMAGE_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
ACTIVE = ("starting", "waiting")


@dataclass(frozen=True)
class QrImage:
    media_type: str
    data: bytes = field(repr=False)


@dataclass
class Login:
    """One login flow of one channel of one bot."""

    bot_id: str
    bot_name: str
    channel: str
    started_at: float
    state: str = "starting"  # starting|waiting|linked|failed|cancelled|expired
    message: str = ""
    qr: QrImage | None = field(default=None, repr=False)
    qr_source: str | None = field(default=None, repr=False)  # the data URL as sent
    qr_version: int = 0
    session_key: str | None = field(default=None, repr=False)
    updated_at: float = 0.0
    ended_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    #: Ends what the login runs in the bot (a CLI login's process), when it runs one.
    stop: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


@dataclass(frozen=True)
class LoginView:
    """What the API answers about a channel's login (never the code itself)."""

    bot_id: str
    bot_name: str
    channel: str
    state: str  # idle|starting|waiting|linked|failed|cancelled|expired
    message: str = ""
    qr_version: int | None = None  # set while a code is shown: GET .../login/qr
    started_at: float | None = None
    updated_at: float | None = None
    expires_at: float | None = None
    linked: bool | None = None  # the channel account is configured (None: unknown)

    def to_dict(self) -> dict[str, Any]:
        prefix = f"/api/bots/{self.bot_id}/channels/{self.channel}/login"
        return {
            "id": self.bot_id,
            "name": self.bot_name,
            "channel": self.channel,
            "state": self.state,
            "message": self.message,
            "qr": f"{prefix}/qr?v={self.qr_version}" if self.qr_version else None,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "linked": self.linked,
        }


class LoginService:
    """Starts, follows and cancels channel logins; one flow per (bot, channel)."""

    def __init__(
        self,
        store: Store,
        gateway: GatewayService,
        *,
        login_seconds: float = LOGIN_SECONDS,
        wait_timeout_ms: int = WAIT_TIMEOUT_MS,
        clock: Callable[[], float] = time.time,
        runtime: Backend | None = None,
        state: StateStore | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.runtime = runtime  # CLI logins (Signal) run in the bot's container
        self.state = state  # and read the bot's openclaw.json and signal-cli's accounts
        self.login_seconds = login_seconds
        self.wait_timeout_ms = wait_timeout_ms
        self.clock = clock
        self._lock = threading.Lock()
        self._logins: dict[tuple[str, str], Login] = {}

    # -- use cases ---------------------------------------------------------------------

    def start(self, ref: str, channel: str, *, force: bool = False) -> LoginView:
        """Start a login of ``channel`` in the bot (or return the one under way)."""
        record = self._record(ref, channel)
        cli = None
        if CHANNELS[channel].cli_login:
            cli = self._signal_cli(record)  # 409 at once: not running, no signal-cli
        else:
            self.gateway.base_url(record)  # 409 at once when the bot is not running
        key = (record.id, channel)
        with self._lock:
            self._prune()
            current = self._logins.get(key)
            if current is not None and current.active:
                return self._view(current)
            if sum(1 for login in self._logins.values() if login.active) >= MAX_ACTIVE:
                raise Conflict("too many channel logins under way; try again shortly")
            login = Login(record.id, record.name, channel, started_at=self.clock())
            login.updated_at = login.started_at
            self._logins[key] = login
        worker = threading.Thread(
            target=self._run,
            args=(record, login, force, cli),
            name=f"login-{record.id}-{channel}",
            daemon=True,
        )
        worker.start()
        return self._view(login)

    def status(self, ref: str, channel: str) -> LoginView:
        """The channel's login as it stands; when none is under way, whether the
        channel's account is linked (asked from the gateway, None if it cannot say)."""
        record = self._record(ref, channel)
        with self._lock:
            self._prune()
            login = self._logins.get((record.id, channel))
            if login is not None and login.active:
                return self._view(login)
        linked = self._linked(record, channel)
        if login is None:
            return LoginView(record.id, record.name, channel, "idle", linked=linked)
        return dataclasses.replace(self._view(login), linked=linked)

    def qr(self, ref: str, channel: str) -> QrImage:
        """The code to scan, while a login shows one."""
        record = self._record(ref, channel)
        with self._lock:
            login = self._logins.get((record.id, channel))
            image = login.qr if login is not None and login.active else None
        if image is None:
            raise NotFound(f"no login code of {channel} to show for {record.name}", field="channel")
        return image

    def cancel(self, ref: str, channel: str) -> LoginView:
        """Stop waiting for the login and forget its code; a login that runs a process
        in the bot (Signal) has it ended before this returns."""
        record = self._record(ref, channel)
        with self._lock:
            login = self._logins.get((record.id, channel))
            if login is None or not login.active:
                raise NotFound(
                    f"no login of {channel} under way for {record.name}", field="channel"
                )
            login.cancel.set()
            self._end(login, "cancelled", "Cancelled in BotMaker.")
            view = self._view(login)
            stop = login.stop
        if stop is not None:
            stop()
        return view

    def close(self) -> None:
        """Stop every worker's wait (they end at their next check-in) and the processes
        CLI logins run in bots."""
        with self._lock:
            stops = []
            for login in self._logins.values():
                login.cancel.set()
                if login.active and login.stop is not None:
                    stops.append(login.stop)
        for stop in stops:
            stop()

    # -- the worker --------------------------------------------------------------------

    def _run(self, record: BotRecord, login: Login, force: bool, cli: SignalCli | None) -> None:
        try:
            if cli is not None:
                self._follow_cli(record, login, force, cli)
            else:
                self._follow(record, login, force)
        except BotMakerError as exc:
            self._finish(login, "failed", exc.message)
        except Exception:  # a worker must end its flow, whatever went wrong
            log.exception("login of %s on bot %s failed", login.channel, record.name)
            self._finish(login, "failed", "BotMaker failed while following the login.")

    def _follow(self, record: BotRecord, login: Login, force: bool) -> None:
        deadline = login.started_at + self.login_seconds
        answer = self._call(
            record,
            "web.login.start",
            {"channel": login.channel, "force": force, "timeoutMs": START_TIMEOUT_MS},
        )
        first_message = answer.message
        if answer.connected:
            self._finish(login, "linked", answer.message)
            return
        self._note(login, answer)
        if answer.session_key:
            with self._lock:
                login.session_key = answer.session_key
        while not login.cancel.is_set():
            if self.clock() >= deadline:
                self._finish(login, "expired", "No scan in time; start again for a new code.")
                return
            params: dict[str, Any] = {"channel": login.channel, "timeoutMs": self.wait_timeout_ms}
            with self._lock:
                if login.session_key:
                    params["sessionKey"] = login.session_key
                if login.qr_source:
                    params["currentQrDataUrl"] = login.qr_source
                shown = login.qr is not None
            asked = time.monotonic()
            answer = self._call(record, "web.login.wait", params)
            took_ms = (time.monotonic() - asked) * 1000
            if answer.connected:
                self._finish(login, "linked", answer.message)
                return
            if answer.code is not None:
                self._note(login, answer)
                continue
            if took_ms < self.wait_timeout_ms * 0.8:
                # The plugin ended the login before the wait's timeout.
                self._finish(login, "failed", answer.message if shown else first_message)
                return
            if not shown:  # no code yet (Zalo's "still preparing"): ask for it again
                again = self._call(
                    record,
                    "web.login.start",
                    {"channel": login.channel, "timeoutMs": START_TIMEOUT_MS},
                )
                if again.connected:
                    self._finish(login, "linked", again.message)
                    return
                self._note(login, again)
            else:
                self._touch(login, answer.message)

    def _call(self, record: BotRecord, method: str, params: dict[str, Any]) -> _Answer:
        return _Answer.of(self.gateway.rpc(record, method, params))

    # -- a CLI login: signal-cli link in the bot's container ------------------------------

    def _signal_cli(self, record: BotRecord) -> SignalCli:
        """The bot's signal-cli, checked to be in its running container."""
        if self.runtime is None or self.state is None:
            raise Conflict("this BotMaker cannot run commands in bots", field="channel")
        cli = signal_cli_of(self.state.config(record.id))
        if not cli.declared:
            raise Conflict(
                f"bot {record.name}'s openclaw.json names no signal-cli data folder "
                "(channels.signal.transport.configPath), so OpenClaw would not find a "
                "linked account; apply any edit to the bot and BotMaker renders it",
                field="channel",
            )
        found = self.runtime.exec(
            container_name(record.id),
            ["/bin/sh", "-c", PRESENT, "sh", cli.program],
            timeout=15,
            limit=4096,
        )
        if found.exit_code != 0:
            raise Conflict(
                f"signal-cli ({cli.program}) is not in bot {record.name}'s image "
                f"({record.image[:200]}): OpenClaw's Signal channel runs it in the bot. "
                "Build the image with signal-cli (the native Linux build from "
                "github.com/AsamK/signal-cli/releases, or the JVM build and a Java "
                "runtime), or name where it is in channels.signal.transport.cliPath",
                field="channel",
            )
        return cli

    def _follow_cli(self, record: BotRecord, login: Login, force: bool, cli: SignalCli) -> None:
        assert self.runtime is not None  # checked by _signal_cli at start
        if not force:
            numbers = self._signal_numbers(record, cli)
            if numbers:
                self._finish(login, "linked", f"Already linked as {numbers[0]}.")
                return
        remaining = max(1.0, login.started_at + self.login_seconds - self.clock())
        container = container_name(record.id)
        stream = self.runtime.exec_stream(
            container, cli.argv(f"{record.name} (OpenClaw)"), timeout=remaining + 15
        )
        process = _LinkProcess(self.runtime, container, stream)
        with self._lock:
            running = login.active
            if running:
                login.stop = process.stop
                login.message = "Starting signal-cli in the bot…"
        if not running:  # cancelled while it started
            process.stop()
            return
        timer = threading.Timer(remaining, self._expire, args=(login, process))
        timer.daemon = True
        timer.start()
        output = LinkOutput(on_pid=process.known)
        try:
            for chunk in stream:
                self._cli_news(login, output, output.feed(chunk.stream, chunk.data))
            self._cli_news(login, output, output.end())
            process.exited.set()
        except (LinkRefused, BotMakerError) as exc:  # refused output, the engine gone
            if output.pid is None:
                process.pid_known.set()  # no process id to wait for: the stream is closed
            process.stop()  # gone before the login shows as ended
            self._finish(login, "failed", exc.message)
            return
        finally:
            timer.cancel()
            stream.close()
        if not login.active or login.cancel.is_set():
            return  # cancelled or expired: ended (or ending), its process stopped
        code = stream.exit_code()
        if output.linked and code == 0:
            number = output.number
            message = f"Linked as {number}." if number else "Linked."
            configured = _configured_account(record)
            if number and configured and configured != number:
                message += f" Set the bot's Signal number ({configured}) to {number}."
            self._finish(login, "linked", message)
            self._start_channel(record, login.channel)
            return
        words = output.words()
        if code is None:  # it closed its output but runs on: ended here
            process.exited.clear()
            process.stop()
            self._finish(login, "failed", "signal-cli's output ended before it did.")
        elif code == 0:
            self._finish(login, "failed", f"signal-cli ended without linking: {words}".strip())
        else:
            self._finish(
                login, "failed", f"signal-cli: {words}" if words else f"signal-cli exited {code}."
            )

    def _cli_news(self, login: Login, output: LinkOutput, news: list[str]) -> None:
        for item in news:
            if item == "uri" and output.uri is not None:
                image = qr_image(output.uri)
                with self._lock:
                    if login.active:
                        login.qr = image
                        login.qr_version += 1
                        login.state = "waiting"
                        login.message = (
                            "Scan this code in Signal on your phone: Settings → "
                            "Linked devices → Link new device."
                        )
                        login.updated_at = self.clock()
            elif item == "linked":
                self._touch(login, "Scanned; signal-cli is finishing the link…")

    def _expire(self, login: Login, process: _LinkProcess) -> None:
        with self._lock:
            if not login.active:
                return
            login.cancel.set()  # the worker leaves the outcome to this
        process.stop()  # gone before the login shows as ended
        self._finish(login, "expired", "No scan in time; start again for a new code.")

    def _start_channel(self, record: BotRecord, channel: str) -> None:
        """Have the gateway start the channel on the account just linked, as OpenClaw's
        own ``channels login`` does (best effort: it also starts at the next restart)."""
        if not record.definition.gateway:
            return
        try:
            self.gateway.rpc(record, "channels.start", {"channel": channel})
        except BotMakerError as exc:
            log.info("bot %s: could not start its %s channel: %s", record.name, channel, exc)

    def _signal_numbers(self, record: BotRecord, cli: SignalCli) -> list[str] | None:
        """The numbers signal-cli holds in the bot's state folder (None: unknown)."""
        relative = cli.state_relative
        if relative is None or self.state is None:
            return None
        try:
            accounts = self.state.read(record.id, f"{relative}/data/accounts.json", 64 * 1024)
        except (BotMakerError, TooLarge):
            return None
        return linked_numbers(accounts) if accounts is not None else []

    # -- state -------------------------------------------------------------------------

    def _note(self, login: Login, answer: _Answer) -> None:
        """A (new) code from the gateway: shown from now on."""
        image = qr_image(answer.code) if answer.code is not None else None
        with self._lock:
            if not login.active:
                return
            if image is not None:
                login.qr = image
                login.qr_source = answer.code
                login.qr_version += 1
                login.state = "waiting"
            login.message = answer.message or login.message
            login.updated_at = self.clock()

    def _touch(self, login: Login, message: str) -> None:
        with self._lock:
            if login.active:
                login.message = message or login.message
                login.updated_at = self.clock()

    def _finish(self, login: Login, state: str, message: str) -> None:
        with self._lock:
            if not login.active:
                return
            self._end(login, state, message)
        self.ended(login)

    def ended(self, login: Login) -> None:
        """A login ended by itself (linked, failed, expired); the audited service
        records it."""

    def _end(self, login: Login, state: str, message: str) -> None:
        """Under the lock: the flow's outcome; its code is dropped."""
        login.state = state
        login.message = _clean(message) or login.message
        login.qr = None
        login.qr_source = None
        login.session_key = None
        login.ended_at = login.updated_at = self.clock()
        log.info("login of %s on bot %s: %s", login.channel, login.bot_name, state)

    def _prune(self) -> None:
        """Under the lock: forget outcomes older than ``KEEP_SECONDS``."""
        now = self.clock()
        for key, login in list(self._logins.items()):
            if login.ended_at is not None and now - login.ended_at > KEEP_SECONDS:
                del self._logins[key]

    def _view(self, login: Login) -> LoginView:
        return LoginView(
            login.bot_id,
            login.bot_name,
            login.channel,
            login.state,
            message=login.message,
            qr_version=login.qr_version if login.qr is not None else None,
            started_at=login.started_at,
            updated_at=login.updated_at,
            expires_at=login.started_at + self.login_seconds if login.active else None,
        )

    def _record(self, ref: str, channel: str) -> BotRecord:
        record = self.store.find_bot(ref)
        spec = CHANNELS.get(channel)
        if spec is not None and not (spec.web_login or spec.cli_login):
            how = f" (use {spec.login_hint})" if spec.login_hint else ""
            raise Conflict(f"{channel} has no login through the gateway{how}", field="channel")
        if spec is None or channel not in {c.type for c in record.definition.channels}:
            raise NotFound(f"bot {record.name} has no channel {channel[:64]!r}", field="channel")
        return record

    def _linked(self, record: BotRecord, channel: str) -> bool | None:
        """Whether the gateway reports the channel's account configured (linked); for
        a CLI login, whether signal-cli holds an account in the bot's state folder."""
        if CHANNELS[channel].cli_login:
            if self.state is None:
                return None
            try:
                cli = signal_cli_of(self.state.config(record.id))
            except BotMakerError:
                return None
            numbers = self._signal_numbers(record, cli)
            return bool(numbers) if numbers is not None else None
        try:
            payload = self.gateway.rpc(record, "channels.status", {})
        except BotMakerError:
            return None
        accounts = payload.get("channelAccounts") if isinstance(payload, dict) else None
        entries = accounts.get(channel) if isinstance(accounts, dict) else None
        if not isinstance(entries, list):
            return None
        flags = [e.get("configured") for e in entries[:50] if isinstance(e, dict)]
        known = [flag for flag in flags if isinstance(flag, bool)]
        return any(known) if known else None


class _LinkProcess:
    """The ``signal-cli link`` a login runs in a bot's container, and how to end it:
    ``kill`` it (the wrapper announced its PID) in a second exec, TERM then KILL after
    5 s, waiting until it is gone; then its output stream is closed. A ``docker exec``
    process leads its own session and process group, so the group is signalled: what
    signal-cli started goes with it."""

    #: TERM the group (else the process), wait up to 5 s for it to go, then KILL.
    KILL = (
        'kill -TERM -"$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || exit 0; i=0; '
        'while kill -0 -"$1" 2>/dev/null || kill -0 "$1" 2>/dev/null; do i=$((i+1)); '
        'if [ "$i" -ge 50 ]; then kill -KILL -"$1" 2>/dev/null; kill -KILL "$1" 2>/dev/null; '
        "exit 0; fi; sleep 0.1; done"
    )

    def __init__(self, runtime: Backend, container: str, stream: ExecStream) -> None:
        self.runtime = runtime
        self.container = container
        self.stream = stream
        self.pid: int | None = None
        self.pid_known = threading.Event()
        self.exited = threading.Event()  # its output ended by itself: nothing to kill
        self.stopped = threading.Event()  # stop() has done its work
        self._lock = threading.Lock()
        self._stopping = False

    def known(self, pid: int) -> None:
        self.pid = pid
        self.pid_known.set()

    def stop(self) -> None:
        """End the process (once; a second call waits for the first)."""
        with self._lock:
            first = not self._stopping
            self._stopping = True
        if not first:
            self.stopped.wait(30)
            return
        try:
            if self.pid_known.wait(5) and not self.exited.is_set() and self.pid is not None:
                self.runtime.exec(
                    self.container,
                    ["/bin/sh", "-c", self.KILL, "sh", str(self.pid)],
                    timeout=15,
                    limit=4096,
                )
        except BotMakerError as exc:
            log.warning("could not end signal-cli in %s: %s", self.container, exc)
        finally:
            self.stream.close()
            self.stopped.set()


def _configured_account(record: BotRecord) -> str | None:
    for entry in record.definition.channels:
        if entry.type == "signal":
            account = entry.settings.get("account")
            return account if isinstance(account, str) else None
    return None


@dataclass(frozen=True)
class _Answer:
    """The fields BotMaker reads of a ``web.login.*`` answer."""

    message: str
    connected: bool
    code: str | None  # qrDataUrl
    session_key: str | None

    @classmethod
    def of(cls, payload: object) -> _Answer:
        if not isinstance(payload, dict):
            raise RuntimeFailure("the gateway's login answer is not an object")
        code = payload.get("qrDataUrl")
        if not isinstance(code, str) or not code:
            code = None
        elif len(code) > MAX_CODE_CHARS:
            raise RuntimeFailure("the gateway's login code is too large")
        key = payload.get("sessionKey")
        return cls(
            message=_clean(payload.get("message")),
            connected=payload.get("connected") is True,
            code=code,
            session_key=key if isinstance(key, str) and _SESSION_KEY.fullmatch(key) else None,
        )


def qr_image(code: str) -> QrImage:
    """The image to show for a code a gateway sent: an image data URL as it is (when
    its bytes are that image), else its text QR-encoded by BotMaker."""
    text = code
    if code.startswith("data:"):
        header, comma, body = code[5:].partition(",")
        if not comma:
            raise RuntimeFailure("the gateway's login code is a malformed data URL")
        kinds = header.lower().split(";")
        media = kinds[0].strip() or "text/plain"
        try:
            raw = (
                base64.b64decode(body, validate=True)
                if "base64" in kinds[1:]
                else urllib.parse.unquote_to_bytes(body)
            )
        except (binascii.Error, ValueError):
            raise RuntimeFailure("the gateway's login code is not valid base64") from None
        if media in _IMAGE_MAGIC:
            return QrImage(media, _checked_image(media, raw))
        if media != "text/plain":
            raise RuntimeFailure(f"the gateway's login code is a {media[:40]!r}, not an image")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RuntimeFailure("the gateway's login code is not UTF-8 text") from None
    if not text or len(text) > MAX_TEXT or not text.isprintable():
        raise RuntimeFailure("the gateway's login code is not a text BotMaker can encode")
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=6, border=4)
    return QrImage("image/png", out.getvalue())


def _checked_image(media: str, raw: bytes) -> bytes:
    if len(raw) > MAX_IMAGE_BYTES:
        raise RuntimeFailure("the gateway's login image is too large")
    if not raw.startswith(_IMAGE_MAGIC[media]):
        raise RuntimeFailure(f"the gateway's login image is not a {media}")
    if media == "image/webp" and raw[8:12] != b"WEBP":
        raise RuntimeFailure("the gateway's login image is not a image/webp")
    if media == "image/png":
        if raw[12:16] != b"IHDR" or len(raw) < 24:
            raise RuntimeFailure("the gateway's login image is not a image/png")
        width, height = int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
        if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
            raise RuntimeFailure("the gateway's login image has unlikely dimensions")
    return raw


def _clean(value: object, limit: int = 300) -> str:
    """A gateway's message, bounded, without control characters."""
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value[:limit] if ch.isprintable()).strip()
