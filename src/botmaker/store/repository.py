"""Typed access to the tables: the only module that writes SQL for the services."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from botmaker.definition import BotDefinition
from botmaker.errors import Conflict, NotFound
from botmaker.store.accounts import Accounts
from botmaker.store.database import Database
from botmaker.store.records import BotRecord, SessionRecord


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _canonical(definition: BotDefinition | str, *, name: str, columns: dict[str, str]) -> str:
    """The JSON to store: always the current version (JSON of an older one is upgraded)."""
    if isinstance(definition, str):
        definition = BotDefinition.load(definition, name=name, columns=columns)
    return definition.to_json()


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.accounts = Accounts(db)
        self._bots: tuple[tuple[int, int], list[BotRecord]] | None = None  # (version, rows)

    # -- bots -------------------------------------------------------------------------

    def insert_bot(
        self,
        *,
        bot_id: str,
        name: str,
        provider: str,
        model: str,
        channel: str,
        image: str,
        uid_base: int,
        fixed_uid: int | None,
        definition: BotDefinition | str = "{}",
        owner_id: str | None = None,
        team_id: str | None = None,
    ) -> BotRecord:
        """Insert a bot in state ``creating``; a taken name is a 409 naming ``name``."""
        now = utcnow()
        columns = {"provider": provider, "model": model, "image": image, "channel": channel}
        definition = _canonical(definition, name=name, columns=columns)
        try:
            with self.db.write() as conn:
                cursor = conn.execute(
                    "INSERT INTO bots (id, name, provider, model, channel, image, uid,"
                    " state, created_at, updated_at, definition, owner_id, team_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, 0, 'creating', ?, ?, ?, ?, ?)",
                    (
                        bot_id,
                        name,
                        provider,
                        model,
                        channel,
                        image,
                        now,
                        now,
                        definition,
                        owner_id,
                        team_id,
                    ),
                )
                seq = int(cursor.lastrowid or 0)
                uid = fixed_uid if fixed_uid is not None else uid_base + seq
                conn.execute("UPDATE bots SET uid = ? WHERE seq = ?", (uid, seq))
        except sqlite3.IntegrityError as exc:
            if "bots.name" in str(exc):
                raise Conflict(f"a bot named {name!r} already exists", field="name") from None
            raise Conflict(f"bot could not be stored: {exc}") from None
        return self.get_bot(bot_id)

    def get_bot(self, bot_id: str) -> BotRecord:
        rows = self.db.query("SELECT * FROM bots WHERE id = ?", (bot_id,))
        if not rows:
            raise NotFound(f"no bot with id {bot_id!r}", field="id")
        return BotRecord.from_row(rows[0])

    def find_bot(self, ref: str) -> BotRecord:
        """A bot by id or by name."""
        rows = self.db.query("SELECT * FROM bots WHERE id = ? OR name = ?", (ref, ref))
        if not rows:
            raise NotFound(f"no bot with id or name {ref!r}", field="id")
        return BotRecord.from_row(rows[0])

    def list_bots(self) -> list[BotRecord]:
        """Every bot by name; read again only when the file may have changed."""
        version = self.db.version()  # taken first: a write meanwhile makes it stale
        cached = self._bots
        if cached is not None and cached[0] == version:
            return list(cached[1])
        records = [BotRecord.from_row(r) for r in self.db.query("SELECT * FROM bots ORDER BY name")]
        self._bots = (version, records)
        return list(records)

    def update_bot(self, bot_id: str, **fields: str | BotDefinition | None) -> BotRecord:
        """Change columns of a bot's row. A :class:`BotDefinition` as ``definition`` also
        sets the provider, model, image and channel columns (unless given here too)."""
        definition = fields.get("definition")
        if isinstance(definition, BotDefinition):
            for column in ("provider", "model", "image", "channel"):
                fields.setdefault(column, getattr(definition, column))
        if definition is not None:
            current = self.get_bot(bot_id)
            columns = {
                column: str(fields.get(column) or getattr(current, column))
                for column in ("provider", "model", "image", "channel")
            }
            fields["definition"] = _canonical(definition, name=current.name, columns=columns)
        allowed = {
            "container_id",
            "state",
            "image",
            "image_digest",
            "provider",
            "model",
            "channel",
            "definition",
            "desired",
            "owner_id",
            "team_id",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        assignments = ", ".join(f"{key} = :{key}" for key in fields)
        with self.db.write() as conn:
            cursor = conn.execute(
                f"UPDATE bots SET {assignments}, updated_at = :now WHERE id = :id",  # noqa: S608
                {**fields, "now": utcnow(), "id": bot_id},
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no bot with id {bot_id!r}", field="id")
        return self.get_bot(bot_id)

    def delete_bot(self, bot_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM bots WHERE id = ?", (bot_id,))

    # -- bot events -------------------------------------------------------------------

    def add_bot_event(
        self,
        bot_id: str,
        *,
        kind: str,
        at: float,
        detail: str = "",
        exit_code: int | None = None,
        logs: str | None = None,
        cause: str = "",
        actor: str | None = None,
        keep: int = 1000,
    ) -> dict[str, Any] | None:
        """Record an event of a bot that still has a row (None if it has none).

        ``cause``: why it happened, in words (``edit by admin: model``, ``upgrade``,
        ``reconcile``, ``oom``); ``actor``: who did it, when a user or token did.
        Only the latest ``keep`` events of each bot are kept.
        """
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO bot_events (bot_id, at, kind, detail, exit_code, logs, cause, actor)"
                " SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM bots WHERE id = ?)",
                (bot_id, at, kind, detail, exit_code, logs, cause, actor, bot_id),
            )
            if cursor.rowcount == 0:
                return None
            event_id = int(cursor.lastrowid or 0)
            conn.execute(
                "DELETE FROM bot_events WHERE bot_id = ? AND id <= ("
                " SELECT id FROM bot_events WHERE bot_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (bot_id, bot_id, keep),
            )
        return {
            "id": event_id,
            "bot_id": bot_id,
            "at": at,
            "kind": kind,
            "detail": detail,
            "exit_code": exit_code,
            "logs": logs,
            "cause": cause,
            "actor": actor,
        }

    def bot_events(
        self, bot_id: str, *, limit: int = 100, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        """A bot's events, newest first; ``before_id`` pages back."""
        rows = self.db.query(
            "SELECT id, bot_id, at, kind, detail, exit_code, logs, cause, actor FROM bot_events"
            " WHERE bot_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (bot_id, before_id if before_id is not None else 2**63 - 1, limit),
        )
        return [dict(row) for row in rows]

    def fleet_events(
        self,
        *,
        bot_ids: set[str] | None,
        kinds: list[str] | None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Events of many bots (``bot_ids``; None: every bot), newest first, each with its
        bot's name and without its log lines; ``kinds`` keeps those kinds only."""
        if bot_ids is not None and not bot_ids:
            return []
        where = ["e.id < ?"]
        params: list[Any] = [before_id if before_id is not None else 2**63 - 1]
        if bot_ids is not None:
            where.append(f"e.bot_id IN ({', '.join('?' * len(bot_ids))})")
            params.extend(sorted(bot_ids))
        if kinds:
            where.append(f"e.kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        # Only placeholders are joined in: every value is a parameter.
        sql = (
            "SELECT e.id, e.bot_id, b.name AS bot_name, e.at, e.kind, e.detail, e.exit_code,"  # noqa: S608
            " e.cause, e.actor"
            " FROM bot_events e JOIN bots b ON b.id = e.bot_id"
            " WHERE " + " AND ".join(where) + " ORDER BY e.id DESC LIMIT ?"
        )
        rows = self.db.query(sql, (*params, limit))
        return [dict(row) for row in rows]

    def latest_bot_event(self, bot_id: str, kind: str) -> dict[str, Any] | None:
        """The bot's newest event of one kind (its last ``config_changed``, say)."""
        rows = self.db.query(
            "SELECT id, bot_id, at, kind, detail, exit_code, logs, cause, actor FROM bot_events"
            " WHERE bot_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
            (bot_id, kind),
        )
        return dict(rows[0]) if rows else None

    # -- bot stats (one aggregated row per bot per minute, kept 24 h) -------------------

    def add_bot_stats(self, rows: list[dict[str, Any]], *, prune_before: float) -> int:
        """Store aggregated rows (of bots that still have one) and drop rows older than
        ``prune_before``; the number of rows written."""
        written = 0
        with self.db.write() as conn:
            for row in rows:
                cursor = conn.execute(
                    "INSERT OR REPLACE INTO bot_stats (bot_id, minute, cpu_percent, memory_bytes,"
                    " net_rx_bytes, net_tx_bytes, restarts)"
                    " SELECT :bot_id, :minute, :cpu_percent, :memory_bytes, :net_rx_bytes,"
                    " :net_tx_bytes, :restarts"
                    " WHERE EXISTS (SELECT 1 FROM bots WHERE id = :bot_id)",
                    row,
                )
                written += cursor.rowcount
            conn.execute("DELETE FROM bot_stats WHERE minute < ?", (int(prune_before),))
        return written

    def bot_stats(self, bot_id: str, *, since: float) -> list[dict[str, Any]]:
        """A bot's aggregated rows from ``since`` on, oldest first."""
        rows = self.db.query(
            "SELECT minute, cpu_percent, memory_bytes, net_rx_bytes, net_tx_bytes, restarts"
            " FROM bot_stats WHERE bot_id = ? AND minute >= ? ORDER BY minute",
            (bot_id, int(since)),
        )
        return [dict(row) for row in rows]

    def fleet_stats(self, *, since: float, only: set[str] | None = None) -> list[dict[str, Any]]:
        """Per-minute totals over every bot (or the bots ``only``) from ``since`` on,
        oldest first (one query)."""
        rows = self.db.query(
            "SELECT minute, ROUND(SUM(COALESCE(cpu_percent, 0)), 2) AS cpu_percent,"
            " SUM(memory_bytes) AS memory_bytes, SUM(net_rx_bytes) AS net_rx_bytes,"
            " SUM(net_tx_bytes) AS net_tx_bytes, SUM(restarts) AS restarts,"
            " COUNT(*) AS bots FROM bot_stats WHERE minute >= ?"
            " AND (? IS NULL OR bot_id IN (SELECT value FROM json_each(?)))"
            " GROUP BY minute ORDER BY minute",
            (int(since), None if only is None else 1, json.dumps(sorted(only or ()))),
        )
        return [dict(row) for row in rows]

    # -- admin settings ---------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        rows = self.db.query("SELECT value FROM admin_settings WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_setting(self, key: str, value: str, *, only_if_absent: bool = False) -> bool:
        """Store a setting; with ``only_if_absent`` return False if it was already set."""
        verb = "INSERT OR IGNORE" if only_if_absent else "INSERT OR REPLACE"
        with self.db.write() as conn:
            cursor = conn.execute(
                f"{verb} INTO admin_settings (key, value) VALUES (?, ?)",
                (key, value),
            )
            return cursor.rowcount > 0

    # -- sessions ---------------------------------------------------------------------

    def add_session(
        self, session_id: str, secret_hash: str, ttl_seconds: int, user_id: str | None = None
    ) -> SessionRecord:
        now = time.time()
        with self.db.write() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            conn.execute(
                "INSERT INTO sessions (id, secret_hash, created_at, expires_at, user_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_id, secret_hash, now, now + ttl_seconds, user_id),
            )
        return SessionRecord(session_id, secret_hash, now, now + ttl_seconds, user_id)

    def get_session(self, session_id: str) -> SessionRecord | None:
        rows = self.db.query("SELECT * FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            return None
        row = rows[0]
        return SessionRecord(
            row["id"],
            row["secret_hash"],
            float(row["created_at"]),
            float(row["expires_at"]),
            row["user_id"],
        )

    def delete_session(self, session_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
