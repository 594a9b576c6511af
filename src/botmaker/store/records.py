"""Plain records read from the store."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class BotRecord:
    id: str
    seq: int
    name: str
    provider: str
    model: str
    channel: str
    image: str
    uid: int
    container_id: str | None
    state: str
    created_at: str
    updated_at: str
    definition: str = "{}"  # JSON: persona, fallbacks, base_url, heartbeat, channel settings
    image_digest: str | None = None  # the image the container runs: RepoDigests[0] or its Id
    desired: str = "running"  # running|stopped: what the admin asked for last

    @cached_property
    def spec(self) -> dict[str, Any]:
        value = json.loads(self.definition or "{}")
        return value if isinstance(value, dict) else {}

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> BotRecord:
        return cls(**{key: row[key] for key in row.keys()})  # noqa: SIM118


@dataclass(frozen=True)
class SessionRecord:
    id: str
    secret_hash: str
    created_at: float
    expires_at: float
