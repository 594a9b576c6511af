"""What callers see of a bot: its stored configuration plus live status, no secrets."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botmaker.keyring.model import Budget
from botmaker.runtime.base import RuntimeStatus
from botmaker.runtime.policy import container_name
from botmaker.store import BotRecord


@dataclass(frozen=True)
class BotView:
    """A bot as callers see it: stored configuration plus live status. No secrets."""

    record: BotRecord
    status: RuntimeStatus
    secret_names: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        persona = r.spec.get("persona") or {}
        channels = r.spec.get("channels") or [{"type": r.channel}]
        body: dict[str, Any] = {
            "id": r.id,
            "name": r.name,
            "persona": {"name": persona.get("name", r.name), "emoji": persona.get("emoji", "")},
            "provider": r.provider,
            "model": r.model,
            "channel": r.channel,
            "channels": [c["type"] for c in channels],
            "image": r.image,
            "image_digest": r.image_digest,
            "container_name": container_name(r.id),
            "container_id": r.container_id,
            "state": r.state,
            "desired": r.desired,
            "status": self.status.to_dict(),
            **uptime(self.status),
            "keyring": bool(r.spec.get("keyring")),
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        if r.spec.get("keyring"):
            body["budget"] = Budget.from_dict(r.spec.get("budget")).to_dict()
            body["key_tags"] = list(r.spec.get("key_tags") or [])
        if self.secret_names is not None:  # the detailed view: also the editable configuration
            body["secrets"] = self.secret_names
            body["config"] = {
                "persona": {"name": r.name, "emoji": "", "soul": "", "user_notes": "", **persona},
                "template": r.spec.get("template"),
                "fallbacks": list(r.spec.get("fallbacks") or []),
                "base_url": r.spec.get("base_url"),
                "heartbeat": bool(r.spec.get("heartbeat")),
                "channels": [
                    {
                        "type": c["type"],
                        "dm_policy": c.get("dm_policy"),
                        "allow_from": list(c.get("allow_from") or []),
                        "settings": dict(c.get("settings") or {}),
                    }
                    for c in channels
                ],
            }
        return body


def uptime(status: RuntimeStatus, now: float | None = None) -> dict[str, Any]:
    """``started_at`` and ``uptime_seconds`` of a running container (else both None).

    Exact from an inspect (``State.StartedAt``); from a list, Docker gives only
    ``Up 5 minutes``, so both are as precise as ``docker ps``.
    """
    if not status.running:
        return {"started_at": None, "uptime_seconds": None}
    now = time.time() if now is None else now
    if status.started_at:
        try:
            started = datetime.fromisoformat(status.started_at).timestamp()
        except ValueError:
            started = None
        if started is not None:
            return {"started_at": status.started_at, "uptime_seconds": max(0, int(now - started))}
    if status.uptime_hint is None:
        return {"started_at": None, "uptime_seconds": None}
    started_at = datetime.fromtimestamp(now - status.uptime_hint, UTC)
    return {
        "started_at": started_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "uptime_seconds": int(status.uptime_hint),
    }
