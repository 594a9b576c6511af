"""BotMaker's calls to a bot's gateway, over the bots' network, as ``botmaker``.

A gateway BotMaker renders trusts BotMaker's identity header from BotMaker's address
alone and enables OpenClaw's bundled ``admin-http-rpc`` plugin, so BotMaker can ask
it what OpenClaw's own Control UI asks: pending browser (device) pairings, channel
status, and act on them. Everything a gateway answers is hostile input: bodies are
bounded, parsed strictly, and only the expected fields of expected types are kept.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import httpx

from botmaker.errors import BotMakerError, Conflict, NotFound, RuntimeFailure
from botmaker.openclaw.render import ADMIN_RPC_PATH, GATEWAY_PORT
from botmaker.runtime.base import RuntimeStatus
from botmaker.services.gateway.access import identity_headers
from botmaker.store import BotRecord, Store

log = logging.getLogger(__name__)

#: A gateway's answer larger than this is refused (a pairing list is a few KiB).
MAX_ANSWER = 1 << 20
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class GatewayService:
    def __init__(
        self,
        store: Store,
        statuses: Callable[[], dict[str, RuntimeStatus]],
        *,
        timeout: float = 10.0,
        port: int = GATEWAY_PORT,
    ) -> None:
        self.store = store
        self.statuses = statuses
        self.timeout = timeout
        self.port = port

    def base_url(self, record: BotRecord) -> str:
        """``http://<address>:<port>`` of the bot's running gateway (Conflict when it
        is not running or not an OpenClaw gateway)."""
        if not record.definition.gateway:
            raise Conflict(f"bot {record.name} does not run an OpenClaw gateway", field="bot")
        status = self.statuses().get(record.id)
        if status is None or status.state != "running" or not status.address:
            raise Conflict(f"bot {record.name} is not running", field="bot")
        return f"http://{status.address}:{self.port}"

    def rpc(self, record: BotRecord, method: str, params: dict[str, Any] | None = None) -> Any:
        """The payload of one admin RPC ``method`` of the bot's gateway."""
        url = self.base_url(record) + ADMIN_RPC_PATH
        body = {"method": method, "params": params or {}}
        try:
            with (
                httpx.Client(timeout=self.timeout) as client,
                client.stream("POST", url, json=body, headers=identity_headers()) as answer,
            ):
                data = _bounded(answer)
                status = answer.status_code
        except httpx.HTTPError as exc:
            raise RuntimeFailure(
                f"bot {record.name}'s gateway did not answer {method}: {type(exc).__name__}"
            ) from exc
        if status == 404 and not data.startswith(b"{"):
            raise Conflict(
                f"bot {record.name}'s gateway has no admin RPC yet: restart the bot so it "
                "runs BotMaker's current configuration",
                field="bot",
            )
        reply = _object(data)
        if reply.get("ok") is True:
            return reply.get("payload")
        error = reply.get("error")
        if not isinstance(error, dict):
            error = {}
        message = _text(error.get("message")) or f"HTTP {status}"
        code = _text(error.get("code"))
        if status == 404 or code in ("APPROVAL_NOT_FOUND", "NOT_FOUND"):
            raise NotFound(f"bot {record.name}: {message}", field="request")
        if status == 400:
            raise Conflict(f"bot {record.name}: {message}", field="request")
        raise RuntimeFailure(f"bot {record.name}'s gateway refused {method}: {message}")

    # -- device (browser) pairing ------------------------------------------------------

    def devices(self, ref: str) -> dict[str, list[dict[str, Any]]]:
        """The bot gateway's pending device (browser) pairing requests and its paired
        devices: a browser opening the Control UI for the first time asks to pair."""
        record = self.store.find_bot(ref)
        payload = self.rpc(record, "device.pair.list")
        if not isinstance(payload, dict):
            raise RuntimeFailure(f"bot {record.name}'s gateway sent no device list")
        return {
            "pending": [_device(item, pending=True) for item in _items(payload.get("pending"))],
            "paired": [_device(item, pending=False) for item in _items(payload.get("paired"))],
        }

    def decide_device(self, ref: str, request_id: str, *, approve: bool) -> BotRecord:
        """Approve or deny one pending device pairing request."""
        record = self.store.find_bot(ref)
        if not _REQUEST_ID.fullmatch(request_id):
            raise NotFound(f"no pairing request {request_id!r}", field="request")
        method = "device.pair.approve" if approve else "device.pair.reject"
        self.rpc(record, method, {"requestId": request_id})
        return record


def _bounded(answer: httpx.Response) -> bytes:
    data = bytearray()
    for chunk in answer.iter_bytes():
        data += chunk
        if len(data) > MAX_ANSWER:
            raise RuntimeFailure("the gateway's answer is too large")
    return bytes(data)


def _object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise RuntimeFailure("the gateway's answer is not JSON") from None
    if not isinstance(value, dict):
        raise RuntimeFailure("the gateway's answer is not a JSON object")
    return value


def _items(value: object) -> list[dict[str, Any]]:
    return (
        [item for item in value if isinstance(item, dict)][:200] if isinstance(value, list) else []
    )


def _text(value: object, limit: int = 300) -> str:
    """A gateway's string, bounded and without control characters."""
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value[:limit] if ch.isprintable())


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _strings(value: object) -> list[str]:
    return (
        [_text(v, 80) for v in value if isinstance(v, str)][:32] if isinstance(value, list) else []
    )


def _device(item: dict[str, Any], *, pending: bool) -> dict[str, Any]:
    """The fields BotMaker shows of one device or request (no key, no token)."""
    view: dict[str, Any] = {
        "device_id": _text(item.get("deviceId"), 128),
        "client": _text(item.get("clientId"), 80),
        "mode": _text(item.get("clientMode"), 40),
        "platform": _text(item.get("platform"), 80),
        "family": _text(item.get("deviceFamily"), 80),
        "role": _text(item.get("role"), 40),
        "scopes": _strings(item.get("scopes")),
        "address": _text(item.get("remoteIp"), 64),
    }
    if pending:
        view["request_id"] = _text(item.get("requestId"), 128)
        view["requested_at"] = _ms(item.get("ts") or item.get("createdAtMs"))
    else:
        view["approved_at"] = _ms(item.get("approvedAtMs"))
        view["last_seen_at"] = _ms(item.get("lastSeenAtMs"))
        view["connected"] = item.get("connected") is True
    return view


def _ms(value: object) -> float | None:
    number = _number(value)
    return number / 1000 if number is not None else None


__all__ = ["BotMakerError", "GatewayService"]
