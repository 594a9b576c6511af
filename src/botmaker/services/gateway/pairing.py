"""DM pairing: which strangers may talk to a bot, decided from BotMaker.

On a channel whose DM policy is ``pairing``, OpenClaw answers an unknown sender with
a short code and ignores them until that code is approved. The pending requests live
in the bot's own state (its SQLite file), so BotMaker asks the bot image's own
OpenClaw CLI (found once per image by the deployer's check), run in the bot's
running container (``Backend.exec``):

- list: ``pairing list <channel> --json``, for each channel whose DM policy is
  ``pairing``;
- approve: ``pairing approve <channel> <code>`` (OpenClaw's first approval also makes
  that sender the command owner, ``commands.ownerAllowFrom``, which BotMaker's renders
  keep: ``openclaw.render.merge_config``);
- deny: the CLI cannot dismiss a request; the gateway method
  ``channels.pairing.dismiss`` can, through ``gateway call`` (the gateway's admin HTTP
  RPC does not offer it). A dismissed sender may ask again later.

What the CLI prints is hostile input (it runs on the bot's own state): the output is
bounded by the exec, parsed strictly, and only expected fields of expected types and
shapes are kept. Listing every bot runs in a bounded pool with a deadline; a bot that
fails or does not answer in time is reported with its error, never raised.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botmaker.errors import BotMakerError, Conflict, NotFound, RuntimeFailure
from botmaker.openclaw.cli import OpenClawCli
from botmaker.runtime.base import ExecResult, RuntimeStatus
from botmaker.runtime.policy import container_name
from botmaker.services.definitions import dm_policy_of
from botmaker.services.deploy import Deployer
from botmaker.store import BotRecord

log = logging.getLogger(__name__)

#: The most a CLI answer may print (three requests per channel account are a few KiB).
MAX_OUTPUT = 256 * 1024
#: Requests kept per channel (OpenClaw keeps at most three per channel account).
MAX_REQUESTS = 100
#: A pending request expires this long after it was made (OpenClaw's own TTL).
REQUEST_TTL = 3600.0
#: A pairing code: OpenClaw's are 8 characters of ``A-Z2-9`` less look-alikes.
_CODE = re.compile(r"[A-Z0-9]{4,16}")
_ACCOUNT = re.compile(r"[A-Za-z0-9_.:@+-]{1,128}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_APPROVED = re.compile(r"^Approved \S+ sender (\S{1,128}?)\.?$")
_OWNER = re.compile(r"^Command owner configured (\S{1,160})")
#: What of a request's ``meta`` is shown, besides its account.
_NAME_FIELDS = ("firstName", "lastName", "username")


@dataclass(frozen=True)
class PairingRequest:
    """One sender waiting for approval on one channel of a bot."""

    channel: str
    code: str
    sender: str  # the channel's own id of the sender (a Telegram user id…)
    account: str  # the channel account it came to (``default``)
    name: str  # the sender's name or username as the channel told it, or ""
    created_at: float | None
    last_seen_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "code": self.code,
            "sender": self.sender,
            "account": self.account,
            "name": self.name,
            "created_at": self.created_at,
            "last_seen_at": self.last_seen_at,
            "expires_at": self.created_at + REQUEST_TTL if self.created_at else None,
        }


@dataclass(frozen=True)
class BotPairing:
    """A bot's pending requests, or why they could not be read."""

    id: str
    name: str
    channels: tuple[str, ...]  # its channels whose DM policy is ``pairing``
    requests: tuple[PairingRequest, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "channels": list(self.channels),
            "requests": [r.to_dict() for r in self.requests],
            "error": self.error,
        }


@dataclass(frozen=True)
class PairingDecision:
    """What approving or denying a request did."""

    id: str
    name: str
    channel: str
    code: str
    decision: str  # approved|denied
    sender: str | None = None
    owner: str | None = None  # the command owner OpenClaw recorded with a first approval

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "channel": self.channel,
            "code": self.code,
            "decision": self.decision,
            "sender": self.sender,
            "owner": self.owner,
        }


def pairing_channels(record: BotRecord) -> tuple[str, ...]:
    """The bot's channels whose DM policy is ``pairing``, once each."""
    found = [c.type for c in record.definition.channels if dm_policy_of(c) == "pairing"]
    return tuple(dict.fromkeys(found))


class PairingService:
    def __init__(
        self,
        deploy: Deployer,
        statuses: Callable[[], dict[str, RuntimeStatus]],
        *,
        workers: int = 8,
        timeout: float = 30.0,
        deadline: float = 60.0,
    ) -> None:
        self.deploy = deploy
        self.statuses = statuses
        self.workers = workers
        self.timeout = timeout  # one CLI call
        self.deadline = deadline  # a whole listing of every bot

    # -- reading ----------------------------------------------------------------------

    def pending(self, only: Callable[[BotRecord], bool] | None = None) -> list[BotPairing]:
        """Every running OpenClaw bot (of those ``only`` admits) with a pairing channel
        and its pending requests, by name; read in parallel (``workers`` at a time)
        within ``deadline`` seconds."""
        statuses = self.statuses()
        targets = [
            record
            for record in self.deploy.store.list_bots()
            if (only is None or only(record))
            and self._eligible(record)
            and _running(statuses.get(record.id))
        ]
        if not targets:
            return []
        pool = ThreadPoolExecutor(
            max_workers=max(1, min(self.workers, len(targets))), thread_name_prefix="pairing"
        )
        try:
            futures = {record.id: pool.submit(self._read, record) for record in targets}
            wait(futures.values(), timeout=self.deadline)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        found = [self._outcome(record, futures[record.id]) for record in targets]
        return sorted(found, key=lambda item: item.name)

    def bot(self, ref: str) -> BotPairing:
        """One bot's pending requests (``Conflict`` when they cannot be read now)."""
        record = self._ready(ref)
        return self._read(record)

    def _read(self, record: BotRecord) -> BotPairing:
        cli = self._cli(record)
        requests: list[PairingRequest] = []
        for channel in pairing_channels(record):
            requests.extend(self._requests(record, cli, channel))
        return BotPairing(record.id, record.name, pairing_channels(record), tuple(requests))

    def _outcome(self, record: BotRecord, future: Future[BotPairing]) -> BotPairing:
        channels = pairing_channels(record)
        if not future.done():
            error = f"no answer within {self.deadline:.0f} s"
        elif future.cancelled():
            error = "not read: the listing ran out of time"
        elif (exc := future.exception()) is None:
            return future.result()
        elif isinstance(exc, BotMakerError):
            error = exc.message
        else:
            log.error("pairing list of bot %s failed", record.name, exc_info=exc)
            error = f"unexpected error ({type(exc).__name__})"
        return BotPairing(record.id, record.name, channels, error=error)

    def _requests(self, record: BotRecord, cli: OpenClawCli, channel: str) -> list[PairingRequest]:
        result = self._run(record, cli, ("pairing", "list", channel, "--json"))
        if result.exit_code != 0:
            raise RuntimeFailure(
                f"bot {record.name}: openclaw pairing list {channel} failed: {failure(result)}"
            )
        return parse_requests(result.stdout, channel)

    # -- deciding ---------------------------------------------------------------------

    def approve(
        self, ref: str, channel: str, code: str, *, notify: bool = False
    ) -> PairingDecision:
        """Let the sender of ``code`` talk to the bot (``--notify``: tell them so on
        the channel). Holds the bot's lock: an edit meanwhile would render over the
        command owner OpenClaw writes into ``openclaw.json``."""
        record = self._ready(ref)
        channel, code = self._target(record, channel, code)
        args = ["pairing", "approve", channel, code]
        if notify:
            args.append("--notify")
        with self.deploy.locks.hold(record.id):
            result = self._run(record, self._cli(record), args)
        if result.exit_code != 0:
            message = failure(result)
            if "No pending pairing request" in message:
                raise NotFound(f"bot {record.name} has no pending request {code}", field="code")
            raise RuntimeFailure(f"bot {record.name}: openclaw pairing approve failed: {message}")
        sender, owner = parse_approval(result.stdout)
        return PairingDecision(
            record.id, record.name, channel, code, "approved", sender=sender, owner=owner
        )

    def deny(self, ref: str, channel: str, code: str) -> PairingDecision:
        """Dismiss the request of ``code``: the sender stays shut out until they ask
        again (OpenClaw's ``channels.pairing.dismiss``; not a permanent block)."""
        record = self._ready(ref)
        channel, code = self._target(record, channel, code)
        cli = self._cli(record)
        request = next((r for r in self._requests(record, cli, channel) if r.code == code), None)
        if request is None:
            raise NotFound(f"bot {record.name} has no pending request {code}", field="code")
        listed = self._gateway_call(record, cli, "channels.pairing.list", {"channel": channel})
        request_id = match_request_id(listed, request)
        if request_id is None:
            raise NotFound(f"bot {record.name} has no pending request {code}", field="code")
        self._gateway_call(
            record,
            cli,
            "channels.pairing.dismiss",
            {"channel": channel, "accountId": request.account, "requestId": request_id},
        )
        return PairingDecision(
            record.id, record.name, channel, code, "denied", sender=request.sender
        )

    # -- helpers ----------------------------------------------------------------------

    def _eligible(self, record: BotRecord) -> bool:
        return (
            record.state not in ("creating", "deleting")
            and record.definition.gateway
            and bool(pairing_channels(record))
        )

    def _ready(self, ref: str) -> BotRecord:
        record = self.deploy.ready(ref)
        if not record.definition.gateway:
            raise Conflict(f"bot {record.name} does not run an OpenClaw gateway", field="bot")
        if not _running(self.statuses().get(record.id)):
            raise Conflict(f"bot {record.name} is not running", field="bot")
        return record

    @staticmethod
    def _target(record: BotRecord, channel: str, code: str) -> tuple[str, str]:
        if channel not in pairing_channels(record):
            raise NotFound(
                f"bot {record.name} has no channel {channel[:64]!r} with DM pairing",
                field="channel",
            )
        code = code.strip().upper()
        if not _CODE.fullmatch(code):
            raise NotFound(f"no pending request {code[:32]!r}", field="code")
        return channel, code

    def _cli(self, record: BotRecord) -> OpenClawCli:
        cli = self.deploy.check.cli(self.deploy.container_spec(record), record.id)
        if cli is None:
            raise Conflict(f"bot {record.name}'s image carries no OpenClaw CLI", field="bot")
        return cli

    def _run(self, record: BotRecord, cli: OpenClawCli, args: Sequence[str]) -> ExecResult:
        return self.deploy.runtime.exec(
            container_name(record.id),
            [*cli.argv, *args],
            timeout=self.timeout,
            limit=MAX_OUTPUT,
        )

    def _gateway_call(
        self, record: BotRecord, cli: OpenClawCli, method: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """One gateway method through OpenClaw's CLI in the container (over loopback,
        with the gateway's own password): its JSON payload."""
        args = ("gateway", "call", method, "--params", json.dumps(params), "--json")
        result = self._run(record, cli, args)
        if result.exit_code != 0:
            message = failure(result)
            if "no longer exists" in message:
                raise NotFound(f"bot {record.name}: {message}", field="code")
            raise RuntimeFailure(f"bot {record.name}: {method} failed: {message}")
        return json_object(result.stdout)


# -- parsing what the CLI printed (hostile input) --------------------------------------


def _running(status: RuntimeStatus | None) -> bool:
    return status is not None and status.running


def json_object(stdout: str) -> dict[str, Any]:
    """The JSON object the CLI printed: the whole output, or from the first line that
    opens one (a plugin may log a line before it)."""
    text = stdout.strip()
    if not text.startswith("{"):
        start = text.find("\n{")
        if start < 0:
            raise RuntimeFailure("OpenClaw's CLI printed no JSON")
        text = text[start + 1 :]
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError):
        raise RuntimeFailure("OpenClaw's CLI printed no valid JSON") from None
    if not isinstance(value, dict):
        raise RuntimeFailure("OpenClaw's CLI printed JSON that is not an object")
    return value


def parse_requests(stdout: str, channel: str) -> list[PairingRequest]:
    """``pairing list <channel> --json``: ``{"channel", "requests": [{"id", "code",
    "createdAt", "lastSeenAt", "meta": {...}}]}``. A request missing a valid code or
    sender is left out; anything not of that shape is an error."""
    data = json_object(stdout)
    if data.get("channel") != channel:
        raise RuntimeFailure(f"OpenClaw's CLI answered for another channel than {channel}")
    items = data.get("requests")
    if not isinstance(items, list):
        raise RuntimeFailure("OpenClaw's CLI sent no list of requests")
    found = []
    for item in items[:MAX_REQUESTS]:
        request = _request(item, channel)
        if request is not None:
            found.append(request)
    return found


def _request(item: object, channel: str) -> PairingRequest | None:
    if not isinstance(item, dict):
        return None
    code, sender = item.get("code"), item.get("id")
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        return None
    if not isinstance(sender, str) or not 0 < len(sender) <= 128 or not sender.isprintable():
        return None
    meta = item.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    account = meta.get("accountId")
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        account = "default"
    names = [text(meta.get(key), 64) for key in _NAME_FIELDS]
    first_last = " ".join(n for n in names[:2] if n)
    name = first_last or (f"@{names[2]}" if names[2] else "")
    return PairingRequest(
        channel=channel,
        code=code,
        sender=sender,
        account=account,
        name=name,
        created_at=timestamp(item.get("createdAt")),
        last_seen_at=timestamp(item.get("lastSeenAt")),
    )


def match_request_id(listed: dict[str, Any], request: PairingRequest) -> str | None:
    """The gateway's id of ``request`` in a ``channels.pairing.list`` payload (matched
    on channel, account, sender and creation time; the gateway does not show codes)."""
    items = listed.get("requests")
    if not isinstance(items, list):
        raise RuntimeFailure("the gateway sent no list of requests")
    for item in items[:MAX_REQUESTS]:
        if not isinstance(item, dict):
            continue
        request_id = item.get("requestId")
        if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
            continue
        if (
            item.get("channel") == request.channel
            and item.get("accountId") == request.account
            and item.get("senderId") == request.sender
            and timestamp(item.get("createdAt")) == request.created_at
        ):
            return request_id
    return None


def parse_approval(stdout: str) -> tuple[str | None, str | None]:
    """The approved sender and the command owner OpenClaw recorded, from ``pairing
    approve``'s lines (``Approved telegram sender 42.``)."""
    sender = owner = None
    for raw in stdout.splitlines()[:50]:
        line = _ANSI.sub("", raw).strip()
        if (match := _APPROVED.match(line)) is not None:
            sender = text(match.group(1), 128) or None
        elif (match := _OWNER.match(line)) is not None:
            owner = text(match.group(1), 160) or None
    return sender, owner


def failure(result: ExecResult) -> str:
    """Why a CLI call failed, in OpenClaw's words (bounded): its JSON error, its
    ``Reason:`` line, or its last line."""
    try:
        error = json_object(result.stdout).get("error")
    except RuntimeFailure:
        error = None
    if isinstance(error, dict) and (message := text(error.get("message"))):
        return message
    lines = [_ANSI.sub("", line).strip() for line in result.stderr.splitlines()[-40:]]
    for line in lines:
        if line.startswith("[openclaw] Reason:"):
            return text(line.removeprefix("[openclaw] Reason:").strip())
    last = next((line for line in reversed(lines) if line), "")
    return text(last) or f"exit code {result.exit_code}"


def text(value: object, limit: int = 300) -> str:
    """A string the CLI printed, bounded and without control characters."""
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value[:limit] if ch.isprintable()).strip()


def timestamp(value: object) -> float | None:
    """An ISO 8601 time (``2026-12-05T12:24:36.916Z``) as seconds since the epoch."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


__all__ = [
    "BotPairing",
    "PairingDecision",
    "PairingRequest",
    "PairingService",
    "pairing_channels",
]
