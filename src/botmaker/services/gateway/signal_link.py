"""Linking a bot's Signal account: ``signal-cli link`` run in the bot's container.

OpenClaw's Signal channel (``@openclaw/signal``) has no login of its own: it starts a
signal-cli daemon for an account signal-cli already holds. An account is linked as a
secondary device of a phone with ``signal-cli [--config DIR] link -n NAME``, which
prints a device-link URI (``sgnl://linkdevice?uuid=…&pub_key=…``; older releases
``tsdevice:/?uuid=…``) on stdout, waits until the phone scans it as a QR code
(Signal → Settings → Linked devices), prints ``Associated with: +15551234567`` and
exits 0; it exits non-zero when the link fails or times out.

BotMaker runs that command in the bot's own container (``Backend.exec_stream``, the
container's user, no TTY), with the signal-cli and data folder the bot's
``openclaw.json`` names (``channels.signal.transport.cliPath``/``configPath``, or the
same keys on ``channels.signal`` before ``transport`` existed; BotMaker renders the
data folder into the state folder, ``render.SIGNAL_CLI_DATA``), so the account lands
where OpenClaw's daemon looks and survives restarts and recreations. A small ``sh``
wrapper announces its PID (it then ``exec``s signal-cli, so the PID is signal-cli's);
cancelling, expiry and a refused output end the process with ``kill`` in a second
exec, not merely by dropping the stream.

Everything the container prints is hostile: :class:`LinkOutput` reads it in bounded
lines (``MAX_LINE``) up to ``MAX_OUTPUT`` bytes, accepts only a well-formed link URI
of at most ``MAX_URI`` characters and an E.164 number, and keeps a few cleaned lines of
signal-cli's own words for a failure; a link URI never appears in a message. The URI
is a one-time credential: it is QR-encoded by BotMaker and never logged or stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botmaker.errors import Conflict
from botmaker.openclaw.render import SIGNAL_CLI_DATA, STATE_DIR
from botmaker.runtime.policy import BOT_HOME

#: The longest line read (a link URI is about 150 characters, a log line a few hundred).
MAX_LINE = 4096
#: The most output read from one ``signal-cli link`` (it prints a few lines).
MAX_OUTPUT = 64 * 1024
#: The longest link URI accepted (and QR-encoded).
MAX_URI = 1024
#: How many of signal-cli's last lines make a failure's message.
WORDS_KEPT = 3
#: The line the wrapper prints before it becomes signal-cli.
PID_MARKER = "@@botmaker-signal-pid"
#: The wrapper: ``$1`` the signal-cli to run, the rest its arguments. Exit 127 when the
#: image has no such program; new files private to the bot's user.
WRAPPER = (
    'cli=$1; shift; command -v "$cli" >/dev/null 2>&1 || '
    '{ echo "signal-cli not found: $cli" >&2; exit 127; }; '
    f'umask 077; echo "{PID_MARKER} $$"; exec "$cli" "$@"'
)
#: ``command -v`` alone: whether the image has the program (a quick check before start).
PRESENT = 'command -v "$1" >/dev/null 2>&1'

_PARAM = r"[A-Za-z0-9_%.~+/=-]{1,400}"
_URI = re.compile(
    rf"(?:sgnl://linkdevice|tsdevice:/?)\?uuid={_PARAM}&pub_key={_PARAM}"
    rf"(?:&[a-z_]{{1,32}}={_PARAM})*"
)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_ASSOCIATED = re.compile(r"Associated with:\s*(\S{1,64})\s*")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_KIND = re.compile(r"[a-z][a-z-]{0,31}")
#: A line of signal-cli's own logging that says nothing about a failure.
_CHATTER = re.compile(r"(?:TRACE|DEBUG|INFO)\s")
_PROGRAM = re.compile(r"(?:/[A-Za-z0-9._+-]+)+|[A-Za-z0-9._+][A-Za-z0-9._+-]*")
_FOLDER = re.compile(r"(?:~|~/[A-Za-z0-9._+/-]{1,200}|/[A-Za-z0-9._+/-]{1,250})")


class LinkRefused(Exception):
    """signal-cli's output broke the rules: the link is ended (its process killed)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SignalCli:
    """The bot's signal-cli: the program and the folder it keeps accounts in."""

    program: str
    data: str  # the --config folder, inside the container
    declared: bool  # the bot's openclaw.json names ``data`` (else BotMaker's default)

    def argv(self, device_name: str) -> list[str]:
        """The command line run in the container: the wrapper, then signal-cli's link."""
        return [
            "/bin/sh",
            "-c",
            WRAPPER,
            "sh",
            self.program,
            "--config",
            self.data,
            "link",
            "-n",
            device_name,
        ]

    @property
    def state_relative(self) -> str | None:
        """``data`` relative to the bot's state folder, when it is inside it."""
        prefix = STATE_DIR + "/"
        if not self.data.startswith(prefix):
            return None
        relative = self.data[len(prefix) :].strip("/")
        parts = relative.split("/")
        if not relative or any(part in ("", ".", "..") for part in parts):
            return None
        return relative


def signal_cli_of(config: bytes | None) -> SignalCli:
    """The signal-cli the bot's ``openclaw.json`` (hostile, bounded by its reader) has
    OpenClaw run: ``Conflict`` on the ``channel`` field when that signal-cli runs
    outside the bot (an external daemon or container) or is named oddly."""
    signal = _signal_block(config)
    transport = signal.get("transport")
    settings: dict[str, Any] = signal
    if transport is not None:
        if not isinstance(transport, dict):
            raise Conflict(
                "channels.signal.transport in the bot's openclaw.json is not an object",
                field="channel",
            )
        kind = transport.get("kind")
        if kind != "managed-native":
            shown = kind if isinstance(kind, str) and _KIND.fullmatch(kind) else "unknown"
            raise Conflict(
                f"the bot's Signal transport is {shown!r}: its signal-cli runs outside "
                "the bot; link the account there",
                field="channel",
            )
        settings = transport
    program = settings.get("cliPath", "signal-cli")
    if not isinstance(program, str) or not _PROGRAM.fullmatch(program) or len(program) > 256:
        raise Conflict(
            "the bot's openclaw.json names a signal-cli (cliPath) BotMaker does not run",
            field="channel",
        )
    data = settings.get("configPath")
    if data is None:
        return SignalCli(program, SIGNAL_CLI_DATA, declared=False)
    if not isinstance(data, str) or not _FOLDER.fullmatch(data.strip()):
        raise Conflict(
            "the bot's openclaw.json names a signal-cli data folder (configPath) BotMaker "
            "does not use",
            field="channel",
        )
    data = data.strip()
    if data == "~" or data.startswith("~/"):  # as OpenClaw resolves it: the user's home
        data = BOT_HOME + data[1:]
    return SignalCli(program, data, declared=True)


def _signal_block(config: bytes | None) -> dict[str, Any]:
    if not config:
        return {}
    try:
        document = json.loads(config)
    except (ValueError, RecursionError):
        return {}
    channels = document.get("channels") if isinstance(document, dict) else None
    signal = channels.get("signal") if isinstance(channels, dict) else None
    return signal if isinstance(signal, dict) else {}


def linked_numbers(accounts: bytes | None) -> list[str] | None:
    """The numbers in signal-cli's ``data/accounts.json`` (``{"accounts": [{"number":
    …}]}``; hostile, bounded by its reader); None when it cannot be read as such."""
    if accounts is None:
        return None
    try:
        document = json.loads(accounts)
    except (ValueError, RecursionError):
        return None
    entries = document.get("accounts") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return None
    numbers = []
    for entry in entries[:50]:
        number = entry.get("number") if isinstance(entry, dict) else None
        if isinstance(number, str) and _E164.fullmatch(number):
            numbers.append(number)
    return numbers


class LinkOutput:
    """Reads what ``signal-cli link`` (behind the wrapper) prints, chunk by chunk.

    ``feed`` answers the news in one chunk: a link URI to show, the number it linked
    as. The wrapper's process id goes to ``on_pid`` the moment its line is read, so a
    chunk that holds it and then output past the bounds still leaves a process to kill.
    Output that breaks the bounds, a second PID line or a link URI that is not well
    formed raise :class:`LinkRefused` (the caller kills the process)."""

    def __init__(self, on_pid: Callable[[int], None] | None = None) -> None:
        self.on_pid = on_pid
        self.pid: int | None = None
        self.uri: str | None = None
        self.linked = False
        self.number: str | None = None
        self._size = 0
        self._partial: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._words: list[str] = []
        self._first = True

    def feed(self, stream: str, data: bytes) -> list[str]:
        """Take one chunk of ``stream`` (stdout/stderr); the kinds of news it brought:
        ``uri`` (a new code to show), ``linked``."""
        self._size += len(data)
        if self._size > MAX_OUTPUT:
            raise LinkRefused(f"signal-cli printed more than {MAX_OUTPUT // 1024} KiB; stopped")
        buffer = self._partial["stderr" if stream == "stderr" else "stdout"]
        buffer += data
        news: list[str] = []
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            news += self._line(stream, line)
        if len(buffer) > MAX_LINE:
            raise LinkRefused(f"signal-cli printed a line longer than {MAX_LINE} bytes; stopped")
        return news

    def end(self) -> list[str]:
        """The output ended: its last unterminated lines count too."""
        news: list[str] = []
        for stream, buffer in self._partial.items():
            if buffer:
                line = bytes(buffer)
                buffer.clear()
                news += self._line(stream, line)
        return news

    def words(self) -> str:
        """signal-cli's last words (cleaned, bounded, never a link URI)."""
        return " ".join(self._words)[-300:].strip()

    def _line(self, stream: str, raw: bytes) -> list[str]:
        if len(raw) > MAX_LINE:
            raise LinkRefused(f"signal-cli printed a line longer than {MAX_LINE} bytes; stopped")
        text = raw.decode("utf-8", errors="replace").strip()
        if stream == "stdout" and self._first:
            self._first = False
            marker, _, value = text.partition(" ")
            if marker != PID_MARKER or not value.isdigit() or not 1 < int(value) < 1 << 22:
                raise LinkRefused("the signal-cli wrapper printed no valid process id")
            self.pid = int(value)
            if self.on_pid is not None:
                self.on_pid(self.pid)
            return []
        if text.startswith(PID_MARKER):
            raise LinkRefused("signal-cli printed a second process id; stopped")
        if not text:
            return []
        lowered = text.lower()
        if stream == "stdout" and lowered.startswith(("sgnl:", "tsdevice:")):
            if len(text) > MAX_URI or not _URI.fullmatch(text):
                raise LinkRefused(
                    "signal-cli printed a device link BotMaker does not accept "
                    "(not a well-formed sgnl:// or tsdevice: link)"
                )
            self.uri = text
            return ["uri"]
        if any(word in lowered for word in ("sgnl:", "tsdevice:", "linkdevice", "pub_key")):
            return []  # a link's parts are never kept as words (they are a credential)
        associated = _ASSOCIATED.fullmatch(text) if stream == "stdout" else None
        if associated is not None:
            number = associated.group(1)
            self.linked = True
            self.number = number if _E164.fullmatch(number) else None
            return ["linked"]
        cleaned = "".join(ch for ch in _ANSI.sub("", text[:300]) if ch.isprintable()).strip()
        if cleaned and not _CHATTER.match(cleaned):
            self._words = [*self._words, cleaned][-WORDS_KEPT:]
        return []
