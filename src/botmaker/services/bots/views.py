"""What callers see of a bot: its stored configuration plus live status, no secrets."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botmaker.runtime.base import RuntimeStatus
from botmaker.runtime.policy import container_name
from botmaker.services.botstate import PROBED, Operation, Probing, state_of
from botmaker.store import BotRecord


@dataclass(frozen=True)
class BotView:
    """A bot as callers see it: stored configuration plus live status. No secrets."""

    record: BotRecord
    status: RuntimeStatus
    secret_names: list[str] | None = None
    #: Its channel accounts as its gateway last reported them (``ChannelBook.report``).
    channel_status: dict[str, Any] | None = None
    #: What BotMaker is doing to it now (a stop under way shows ``stopping``).
    operation: Operation | None = None
    probing: Probing = PROBED

    def status_dict(self) -> dict[str, Any]:
        """The engine's status with the bot's state (``summary``, ``reason``) on top:
        the one model every page, the live stream and the API show."""
        body = self.status.to_dict()
        body["summary"], body["reason"] = state_of(
            self.status,
            desired=self.record.desired,
            operation=self.operation,
            channels=self.channel_status if self.status.running else None,
            probing=self.probing,
        )
        return body

    def to_dict(self) -> dict[str, Any]:
        r, definition = self.record, self.record.definition
        persona = definition.persona
        body: dict[str, Any] = {
            "id": r.id,
            "name": r.name,
            "persona": {"name": persona.name, "emoji": persona.emoji},
            "provider": r.provider,
            "model": r.model,
            "channel": r.channel,
            "channels": [c.type for c in definition.channels],
            "image": r.image,
            "image_digest": r.image_digest,
            "container_name": container_name(r.id),
            "container_id": r.container_id,
            "state": r.state,
            "desired": r.desired,
            "status": self.status_dict(),
            **uptime(self.status),
            "channel_status": self.channel_status if self.status.running else None,
            "keyring": definition.keyring,
            "owner": r.owner_id,
            "team": r.team_id,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        if definition.keyring:
            body["budget"] = definition.budget.model_dump()
            body["key_tags"] = list(definition.key_tags)
        if self.secret_names is not None:  # the detailed view: also the editable configuration
            body["secrets"] = self.secret_names
            body["openclaw"] = openclaw(r)
            body["config"] = {
                "persona": persona.model_dump(),
                "template": definition.template,
                "fallbacks": list(definition.fallbacks),
                "base_url": definition.base_url,
                "base_url_private": definition.base_url_private,
                "heartbeat": definition.heartbeat,
                "limits": definition.limits.model_dump(),
                "channels": [
                    {
                        "type": c.type,
                        "dm_policy": c.dm_policy,
                        "allow_from": list(c.allow_from),
                        "settings": dict(c.settings),
                    }
                    for c in definition.channels
                ],
            }
        return body


def openclaw(record: BotRecord) -> dict[str, Any] | None:
    """The OpenClaw the bot's image carries: its version and the command lines that
    run its CLI in the bot's container (for interactive channel logins); None when
    the image carries no OpenClaw or was not asked yet."""
    definition = record.definition
    if not definition.openclaw_cli:
        return None
    cli = shlex.join(definition.openclaw_cli)
    return {
        "version": definition.openclaw_version,
        "cli": cli,
        "exec": f"docker exec -it {container_name(record.id)} {cli}",
    }


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
