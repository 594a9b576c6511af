"""Versioned schema migrations, applied in order and recorded in ``schema_migrations``.

Append new migrations; never edit one that has shipped. A migration is SQL, or a
function given the open transaction's connection when rows must be rewritten by
Python (a bot's definition JSON).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator

from pydantic import ValidationError

from botmaker.definition import BotDefinition
from botmaker.errors import StoreUnavailable

Migration = tuple[int, str, str | Callable[[sqlite3.Connection], None]]


def statements(script: str) -> Iterator[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:60]}")


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


#: The settings key the single-admin installs kept the admin's password hash under.
LEGACY_PASSWORD_KEY = "admin_password_hash"  # noqa: S105 - a settings key

USERS_SCHEMA = """
CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email                TEXT UNIQUE COLLATE NOCASE,
    role                 TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    password_hash        TEXT,
    source               TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'oidc')),
    subject              TEXT UNIQUE,
    disabled             INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at           REAL NOT NULL,
    last_login_at        REAL
);
CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at REAL NOT NULL
);
CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);
CREATE TABLE bot_grants (
    bot_id  TEXT NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (bot_id, user_id)
);
CREATE INDEX bot_grants_user ON bot_grants (user_id);
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    bots         TEXT,
    created_at   REAL NOT NULL,
    expires_at   REAL,
    last_used_at REAL,
    revoked_at   REAL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE TABLE passkeys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    public_key   BLOB NOT NULL,
    sign_count   INTEGER NOT NULL DEFAULT 0,
    created_at   REAL NOT NULL,
    last_used_at REAL
);
CREATE INDEX passkeys_user ON passkeys (user_id);
ALTER TABLE bots ADD COLUMN owner_id TEXT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE bots ADD COLUMN team_id TEXT REFERENCES teams (id) ON DELETE SET NULL;
ALTER TABLE sessions ADD COLUMN user_id TEXT REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX sessions_user ON sessions (user_id);
ALTER TABLE audit ADD COLUMN user_id TEXT;
ALTER TABLE audit ADD COLUMN token_id TEXT;
CREATE INDEX audit_user ON audit (user_id, id);
"""


def _users(conn: sqlite3.Connection) -> None:
    """Users, teams, grants and API tokens. A single-admin install keeps its admin:
    the stored password hash becomes the user ``admin``, who owns every bot and every
    open session (so nobody is logged out by the upgrade)."""
    for statement in statements(USERS_SCHEMA):
        conn.execute(statement)
    row = conn.execute(
        "SELECT value FROM admin_settings WHERE key = ?", (LEGACY_PASSWORD_KEY,)
    ).fetchone()
    if row is None:
        return  # a new install: the first admin is made at start-up (AuthService)
    admin_id = secrets.token_hex(6)
    conn.execute(
        "INSERT INTO users (id, name, role, password_hash, created_at)"
        " VALUES (?, 'admin', 'admin', ?, ?)",
        (admin_id, row[0], time.time()),
    )
    conn.execute("DELETE FROM admin_settings WHERE key = ?", (LEGACY_PASSWORD_KEY,))
    conn.execute("UPDATE bots SET owner_id = ?", (admin_id,))
    conn.execute("UPDATE sessions SET user_id = ?", (admin_id,))
    conn.execute("UPDATE audit SET user_id = ? WHERE actor = 'admin'", (admin_id,))


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
    (
        8,
        "users, teams, per-bot grants, API tokens and passkeys; bots get an owner and a team",
        _users,
    ),
    (
        9,
        "bot events say why and who: the cause (edit by admin: model, upgrade, reconcile, "
        "oom, ...) and the acting user",
        """
        ALTER TABLE bot_events ADD COLUMN cause TEXT NOT NULL DEFAULT '';
        ALTER TABLE bot_events ADD COLUMN actor TEXT;
        """,
    ),
]
