"""Users, teams, per-bot grants and API tokens: the SQL of who may reach what."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable

from botmaker.errors import Conflict, NotFound
from botmaker.store.database import Database
from botmaker.store.records import TeamRecord, TokenRecord, UserRecord


def _conflict(exc: sqlite3.IntegrityError, what: str, value: str, field: str) -> Conflict:
    if "UNIQUE" in str(exc):
        return Conflict(f"a {what} named {value!r} already exists", field=field)
    return Conflict(f"{what} could not be stored: {exc}", field=field)


class Accounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- users ------------------------------------------------------------------------

    def add_user(
        self,
        *,
        user_id: str,
        name: str,
        role: str,
        password_hash: str | None,
        email: str | None = None,
        source: str = "local",
        subject: str | None = None,
        must_change_password: bool = False,
    ) -> UserRecord:
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO users (id, name, email, role, password_hash, source, subject,"
                    " must_change_password, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        user_id,
                        name,
                        email,
                        role,
                        password_hash,
                        source,
                        subject,
                        int(must_change_password),
                        time.time(),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            if "email" in str(exc):
                raise _conflict(exc, "user with the email", email or "", "email") from None
            raise _conflict(exc, "user", name, "name") from None
        return self.get_user(user_id)

    def get_user(self, user_id: str) -> UserRecord:
        rows = self.db.query("SELECT * FROM users WHERE id = ?", (user_id,))
        if not rows:
            raise NotFound(f"no user with id {user_id!r}", field="user")
        return UserRecord.from_row(rows[0])

    def find_user(self, ref: str) -> UserRecord:
        """A user by id, name or email (names and emails ignore case)."""
        rows = self.db.query(
            "SELECT * FROM users WHERE id = ? OR name = ? OR email = ? LIMIT 1", (ref, ref, ref)
        )
        if not rows:
            raise NotFound(f"no user {ref!r}", field="user")
        return UserRecord.from_row(rows[0])

    def user_by_name(self, name: str) -> UserRecord | None:
        rows = self.db.query("SELECT * FROM users WHERE name = ? OR email = ?", (name, name))
        return UserRecord.from_row(rows[0]) if rows else None

    def user_by_subject(self, subject: str) -> UserRecord | None:
        rows = self.db.query("SELECT * FROM users WHERE subject = ?", (subject,))
        return UserRecord.from_row(rows[0]) if rows else None

    def list_users(self) -> list[UserRecord]:
        return [UserRecord.from_row(r) for r in self.db.query("SELECT * FROM users ORDER BY name")]

    def count_admins(self, *, enabled_only: bool = True) -> int:
        sql = "SELECT COUNT(*) AS n FROM users WHERE role = 'admin'"
        if enabled_only:
            sql += " AND disabled = 0"
        return int(self.db.query(sql)[0]["n"])

    def update_user(self, user_id: str, **fields: object) -> UserRecord:
        allowed = {
            "role",
            "email",
            "password_hash",
            "disabled",
            "must_change_password",
            "last_login_at",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if fields:
            values = {k: int(v) if isinstance(v, bool) else v for k, v in fields.items()}
            assignments = ", ".join(f"{key} = :{key}" for key in values)
            try:
                with self.db.write() as conn:
                    cursor = conn.execute(
                        f"UPDATE users SET {assignments} WHERE id = :id",  # noqa: S608
                        {**values, "id": user_id},
                    )
                    if cursor.rowcount == 0:
                        raise NotFound(f"no user with id {user_id!r}", field="user")
            except sqlite3.IntegrityError as exc:
                raise _conflict(
                    exc, "user with the email", str(fields.get("email")), "email"
                ) from None
        return self.get_user(user_id)

    def delete_user(self, user_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

    def end_sessions(self, user_id: str) -> int:
        """Delete every session of the user; revoke every token. Returns sessions ended."""
        with self.db.write() as conn:
            ended = conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,)).rowcount
            conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (time.time(), user_id),
            )
        return int(ended)

    # -- teams ------------------------------------------------------------------------

    def add_team(self, team_id: str, name: str) -> TeamRecord:
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)",
                    (team_id, name, time.time()),
                )
        except sqlite3.IntegrityError as exc:
            raise _conflict(exc, "team", name, "name") from None
        return self.get_team(team_id)

    def get_team(self, team_id: str) -> TeamRecord:
        return self._team(self.db.query("SELECT * FROM teams WHERE id = ?", (team_id,)), team_id)

    def find_team(self, ref: str) -> TeamRecord:
        rows = self.db.query("SELECT * FROM teams WHERE id = ? OR name = ? LIMIT 1", (ref, ref))
        return self._team(rows, ref)

    def _team(self, rows: list[sqlite3.Row], ref: str) -> TeamRecord:
        if not rows:
            raise NotFound(f"no team {ref!r}", field="team")
        row = rows[0]
        members = self.db.query(
            "SELECT user_id FROM team_members WHERE team_id = ? ORDER BY user_id", (row["id"],)
        )
        return TeamRecord(
            row["id"], row["name"], float(row["created_at"]), tuple(m[0] for m in members)
        )

    def list_teams(self) -> list[TeamRecord]:
        members: dict[str, list[str]] = {}
        for row in self.db.query("SELECT team_id, user_id FROM team_members ORDER BY user_id"):
            members.setdefault(row[0], []).append(row[1])
        return [
            TeamRecord(r["id"], r["name"], float(r["created_at"]), tuple(members.get(r["id"], ())))
            for r in self.db.query("SELECT * FROM teams ORDER BY name")
        ]

    def set_members(self, team_id: str, user_ids: Iterable[str]) -> TeamRecord:
        with self.db.write() as conn:
            conn.execute("DELETE FROM team_members WHERE team_id = ?", (team_id,))
            conn.executemany(
                "INSERT INTO team_members (team_id, user_id) VALUES (?, ?)",
                [(team_id, user_id) for user_id in dict.fromkeys(user_ids)],
            )
        return self.get_team(team_id)

    def delete_team(self, team_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM teams WHERE id = ?", (team_id,))

    def teams_of(self, user_id: str) -> frozenset[str]:
        rows = self.db.query("SELECT team_id FROM team_members WHERE user_id = ?", (user_id,))
        return frozenset(r[0] for r in rows)

    # -- grants -----------------------------------------------------------------------

    def grants_of(self, user_id: str) -> frozenset[str]:
        rows = self.db.query("SELECT bot_id FROM bot_grants WHERE user_id = ?", (user_id,))
        return frozenset(r[0] for r in rows)

    def grantees(self, bot_id: str) -> list[str]:
        rows = self.db.query(
            "SELECT user_id FROM bot_grants WHERE bot_id = ? ORDER BY user_id", (bot_id,)
        )
        return [r[0] for r in rows]

    def set_grants(self, bot_id: str, user_ids: Iterable[str]) -> list[str]:
        with self.db.write() as conn:
            conn.execute("DELETE FROM bot_grants WHERE bot_id = ?", (bot_id,))
            conn.executemany(
                "INSERT INTO bot_grants (bot_id, user_id) VALUES (?, ?)",
                [(bot_id, user_id) for user_id in dict.fromkeys(user_ids)],
            )
        return self.grantees(bot_id)

    # -- API tokens -------------------------------------------------------------------

    def add_token(
        self,
        *,
        token_id: str,
        user_id: str,
        name: str,
        secret_hash: str,
        scopes: Iterable[str],
        bots: Iterable[str] | None,
        expires_at: float | None,
    ) -> TokenRecord:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO api_tokens (id, user_id, name, secret_hash, scopes, bots,"
                " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    user_id,
                    name,
                    secret_hash,
                    json.dumps(sorted(scopes)),
                    None if bots is None else json.dumps(sorted(bots)),
                    time.time(),
                    expires_at,
                ),
            )
        return self.get_token(token_id)

    def get_token(self, token_id: str) -> TokenRecord:
        rows = self.db.query("SELECT * FROM api_tokens WHERE id = ?", (token_id,))
        if not rows:
            raise NotFound(f"no API token {token_id!r}", field="token")
        return TokenRecord.from_row(rows[0])

    def tokens_of(self, user_id: str | None = None) -> list[TokenRecord]:
        if user_id is None:
            rows = self.db.query("SELECT * FROM api_tokens ORDER BY created_at")
        else:
            rows = self.db.query(
                "SELECT * FROM api_tokens WHERE user_id = ? ORDER BY created_at", (user_id,)
            )
        return [TokenRecord.from_row(r) for r in rows]

    def token_used(self, token_id: str, at: float) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (at, token_id))

    def revoke_token(self, token_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), token_id),
            )

    # -- passkeys ---------------------------------------------------------------------

    def add_passkey(
        self, *, credential_id: str, user_id: str, name: str, public_key: bytes, sign_count: int
    ) -> None:
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO passkeys (id, user_id, name, public_key, sign_count, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (credential_id, user_id, name, public_key, sign_count, time.time()),
                )
        except sqlite3.IntegrityError:
            raise Conflict("this passkey is registered already", field="credential") from None

    def passkey(self, credential_id: str) -> sqlite3.Row | None:
        rows = self.db.query("SELECT * FROM passkeys WHERE id = ?", (credential_id,))
        return rows[0] if rows else None

    def passkeys_of(self, user_id: str) -> list[dict[str, object]]:
        rows = self.db.query(
            "SELECT id, name, created_at, last_used_at FROM passkeys WHERE user_id = ?"
            " ORDER BY created_at",
            (user_id,),
        )
        return [dict(r) for r in rows]

    def passkey_used(self, credential_id: str, sign_count: int) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE passkeys SET sign_count = ?, last_used_at = ? WHERE id = ?",
                (sign_count, time.time(), credential_id),
            )

    def delete_passkey(self, user_id: str, credential_id: str) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM passkeys WHERE id = ? AND user_id = ?", (credential_id, user_id)
            )
        return cursor.rowcount > 0
