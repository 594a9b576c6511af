"""Plain records read from the store."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> BotRecord:
        return cls(**{key: row[key] for key in row.keys()})  # noqa: SIM118


@dataclass(frozen=True)
class SessionRecord:
    id: str
    secret_hash: str
    created_at: float
    expires_at: float
