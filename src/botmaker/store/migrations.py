"""Versioned schema migrations, applied in order and recorded in ``schema_migrations``.

Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
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
]
