"""Versioned schema migrations, applied in order and recorded in ``schema_migrations``.

Append new migrations; never edit one that has shipped. A migration is SQL, or a
function given the open transaction's connection when rows must be rewritten by
Python (a bot's definition JSON).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from pydantic import ValidationError

from botmaker.definition import BotDefinition
from botmaker.errors import StoreUnavailable

Migration = tuple[int, str, str | Callable[[sqlite3.Connection], None]]


def _versioned_definitions(conn: sqlite3.Connection) -> None:
    """Rewrite every bot's definition JSON as version 1: persona and channels always
    present (before, readers filled them in from the name and ``channel`` columns)."""
    rows = conn.execute(
        "SELECT id, name, provider, model, image, channel, definition FROM bots"
    ).fetchall()
    for bot_id, name, provider, model, image, channel, stored in rows:
        columns = {"provider": provider, "model": model, "image": image, "channel": channel}
        try:
            definition = BotDefinition.load(stored, name=name, columns=columns)
        except (ValidationError, ValueError) as exc:
            raise StoreUnavailable(f"the definition of bot {name} cannot be read: {exc}") from None
        conn.execute("UPDATE bots SET definition = ? WHERE id = ?", (definition.to_json(), bot_id))


MIGRATIONS: list[Migration] = [
    (
        1,
        "bots, admin settings and sessions",
        """
        CREATE TABLE bots (
            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
            id           TEXT    NOT NULL UNIQUE,
            name         TEXT    NOT NULL UNIQUE,
            provider     TEXT    NOT NULL,
            model        TEXT    NOT NULL,
            channel      TEXT    NOT NULL,
            image        TEXT    NOT NULL,
            uid          INTEGER NOT NULL,
            container_id TEXT,
            state        TEXT    NOT NULL DEFAULT 'creating'
                         CHECK (state IN ('creating', 'ready', 'deleting')),
            created_at   TEXT    NOT NULL,
            updated_at   TEXT    NOT NULL
        );
        CREATE TABLE admin_settings (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE sessions (
            id          TEXT PRIMARY KEY,
            secret_hash TEXT NOT NULL,
            created_at  REAL NOT NULL,
            expires_at  REAL NOT NULL
        );
        CREATE INDEX sessions_expires ON sessions (expires_at);
        """,
    ),
    (
        2,
        "bot definition: persona, fallbacks, base URL, heartbeat, channel settings (JSON)",
        """
        ALTER TABLE bots ADD COLUMN definition TEXT NOT NULL DEFAULT '{}';
        """,
    ),
    (
        3,
        "bot events: lifecycle, exits with their last log lines, health changes",
        """
        CREATE TABLE bot_events (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            bot_id    TEXT    NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
            at        REAL    NOT NULL,
            kind      TEXT    NOT NULL,
            detail    TEXT    NOT NULL DEFAULT '',
            exit_code INTEGER,
            logs      TEXT
        );
        CREATE INDEX bot_events_bot ON bot_events (bot_id, id);
        """,
    ),
    (
        4,
        "audit log: who did what when (never secrets)",
        """
        CREATE TABLE audit (
            id     INTEGER PRIMARY KEY AUTOINCREMENT,
            at     REAL    NOT NULL,
            actor  TEXT    NOT NULL,
            action TEXT    NOT NULL,
            target TEXT    NOT NULL DEFAULT '',
            detail TEXT    NOT NULL DEFAULT '{}'
        );
        """,
    ),
    (
        5,
        "bot stats kept 24 h per minute; the image digest each bot runs",
        """
        CREATE TABLE bot_stats (
            bot_id       TEXT    NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
            minute       INTEGER NOT NULL,
            cpu_percent  REAL,
            memory_bytes INTEGER NOT NULL DEFAULT 0,
            net_rx_bytes INTEGER NOT NULL DEFAULT 0,
            net_tx_bytes INTEGER NOT NULL DEFAULT 0,
            restarts     INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (bot_id, minute)
        );
        CREATE INDEX bot_stats_minute ON bot_stats (minute);
        ALTER TABLE bots ADD COLUMN image_digest TEXT;
        """,
    ),
    (
        6,
        "whether each bot should be running (a recreated container is started only if so)",
        """
        ALTER TABLE bots ADD COLUMN desired TEXT NOT NULL DEFAULT 'running'
            CHECK (desired IN ('running', 'stopped'));
        """,
    ),
    (
        7,
        "bot definitions as versioned JSON (version 1: persona and channels always given)",
        _versioned_definitions,
    ),
]
