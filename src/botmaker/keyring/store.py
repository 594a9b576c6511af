"""The keyring's own SQLite file: encrypted provider keys, grants, upstreams, usage, events.

Three levels of keys. The root key (master key file or passphrase) wraps versioned random
KEKs; each provider key row has its own random DEK, wrapped by one KEK; the DEK seals the
secret. Each sealed value's associated data names its row, so a value copied to another
row fails to open, and the database file alone decrypts nothing. Several processes may
open the same file: a KEK version this instance does not know is reloaded from the file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from botmaker.errors import Conflict, InvalidInput, NotFound
from botmaker.keyring.crypto import KdfParams, RootKey, RootKind, open_sealed, seal
from botmaker.keyring.model import (
    TOKEN_PREFIX,
    Budget,
    Event,
    Grant,
    KeyChoice,
    KeyInfo,
    KeyringCorrupt,
    KeyringLocked,
    UpstreamOverride,
    Usage,
    UsageDelta,
    is_pool_id,
    key_tail,
)
from botmaker.store.database import Database

log = logging.getLogger(__name__)

KEYRING_MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "keyring: meta, KEKs, keys, grants, upstreams, usage, events",
        """
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE keks (
            version    INTEGER PRIMARY KEY,
            wrapped    BLOB    NOT NULL,
            created_at REAL    NOT NULL,
            retired    INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE keys (
            id          TEXT    PRIMARY KEY,
            provider    TEXT    NOT NULL,
            label       TEXT    NOT NULL,
            tags        TEXT    NOT NULL DEFAULT '[]',
            last4       TEXT    NOT NULL,
            bot_id      TEXT,
            kek_version INTEGER NOT NULL REFERENCES keks (version),
            wrapped_dek BLOB    NOT NULL,
            ciphertext  BLOB    NOT NULL,
            created_at  REAL    NOT NULL
        );
        CREATE INDEX keys_provider ON keys (provider, bot_id, created_at);
        CREATE INDEX keys_bot ON keys (bot_id);
        CREATE INDEX keys_kek ON keys (kek_version);
        CREATE TABLE grants (
            bot_id        TEXT    PRIMARY KEY,
            token_id      TEXT    NOT NULL UNIQUE,
            token_hash    TEXT    NOT NULL,
            providers     TEXT    NOT NULL DEFAULT '[]',
            tags          TEXT    NOT NULL DEFAULT '[]',
            base_urls     TEXT    NOT NULL DEFAULT '{}',
            allow_private INTEGER NOT NULL DEFAULT 0,
            budget        TEXT    NOT NULL DEFAULT '{}',
            created_at    REAL    NOT NULL
        );
        CREATE TABLE upstreams (
            provider      TEXT    PRIMARY KEY,
            base_url      TEXT    NOT NULL,
            allow_private INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE usage (
            day           TEXT    NOT NULL,
            bot_id        TEXT    NOT NULL,
            key_id        TEXT    NOT NULL,
            provider      TEXT    NOT NULL,
            requests      INTEGER NOT NULL DEFAULT 0,
            input_tokens  INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            errors        INTEGER NOT NULL DEFAULT 0,
            rejected      INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, bot_id, key_id, provider)
        );
        CREATE INDEX usage_bot_day ON usage (bot_id, day);
        CREATE INDEX usage_key_day ON usage (key_id, day);
        CREATE TABLE events (
            id     INTEGER PRIMARY KEY AUTOINCREMENT,
            at     REAL    NOT NULL,
            bot_id TEXT    NOT NULL,
            kind   TEXT    NOT NULL,
            detail TEXT    NOT NULL
        );
        CREATE INDEX events_bot ON events (bot_id, id);
        """,
    ),
    (
        2,
        "keyring: pools (budgets shared by the bots whose grants name the pool)",
        """
        ALTER TABLE grants ADD COLUMN pool TEXT;
        CREATE INDEX grants_pool ON grants (pool);
        CREATE TABLE pools (
            id     TEXT PRIMARY KEY,
            budget TEXT NOT NULL
        );
        """,
    ),
]

_ROOT_CHECK = "root_check"
_ROOT_KIND = "root_kind"
_KDF_SALT = "kdf_salt"
_KDF_PARAMS = "kdf_params"

_KIND_NAMES: dict[str, str] = {"file": "master key file", "passphrase": "passphrase"}
_TOKEN_ID = re.compile(r"[0-9a-f]{12}")
_TOKEN_SECRET = re.compile(r"[A-Za-z0-9_-]{16,128}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_KEY_COLUMNS = "id, provider, label, tags, last4, bot_id, kek_version, created_at"
_USAGE_SUMS = (
    "SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,"
    " SUM(output_tokens) AS output_tokens, SUM(errors) AS errors, SUM(rejected) AS rejected"
)


@dataclass(frozen=True)
class RotateReport:
    """What :meth:`KeyringStore.rotate` did: the KEK now in use and the rows it re-wrapped."""

    kek_version: int
    rewrapped: int
    resumed: bool  # a previous rotation had stopped half-way and this one finished it


def _kek_aad(version: int) -> bytes:
    return f"botmaker-kek:v{version}".encode()


def _dek_aad(key_id: str, version: int) -> bytes:
    return f"botmaker-dek:{key_id}:v{version}".encode()


def _secret_aad(key_id: str, provider: str) -> bytes:
    return f"botmaker-key:{key_id}:{provider}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_token() -> tuple[str, str, str]:
    """(token id, hash of the secret part, the full token to hand out once)."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return token_id, _hash_secret(secret), f"{TOKEN_PREFIX}{token_id}_{secret}"


def _get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _set_root_meta(conn: sqlite3.Connection, root: RootKey) -> None:
    _set_meta(conn, _ROOT_CHECK, _b64(root.check_value()))
    _set_meta(conn, _ROOT_KIND, root.kind)
    if root.salt is not None and root.params is not None:
        _set_meta(conn, _KDF_SALT, _b64(root.salt))
        _set_meta(conn, _KDF_PARAMS, json.dumps(root.params.to_dict()))
    else:
        conn.execute("DELETE FROM meta WHERE key IN (?, ?)", (_KDF_SALT, _KDF_PARAMS))


def _tags(values: Iterable[str]) -> tuple[str, ...]:
    cleaned = {value.strip() for value in values}
    if "" in cleaned:
        raise InvalidInput("a tag is empty", field="tags")
    return tuple(sorted(cleaned))


def _key_info(row: sqlite3.Row) -> KeyInfo:
    return KeyInfo(
        id=row["id"],
        provider=row["provider"],
        label=row["label"],
        tags=tuple(json.loads(row["tags"])),
        # A key stored before key_tail: a tail shorter than 4 was the whole key.
        last4=row["last4"] if len(row["last4"]) == 4 else "",
        bot_id=row["bot_id"],
        kek_version=int(row["kek_version"]),
        created_at=float(row["created_at"]),
    )


def _grant(row: sqlite3.Row) -> Grant:
    return Grant(
        bot_id=row["bot_id"],
        providers=frozenset(json.loads(row["providers"])),
        tags=frozenset(json.loads(row["tags"])),
        base_urls=dict(json.loads(row["base_urls"])),
        allow_private=bool(row["allow_private"]),
        budget=Budget.from_dict(json.loads(row["budget"])),
        created_at=float(row["created_at"]),
        pool=row["pool"],
    )


def _usage(row: sqlite3.Row) -> Usage:
    return Usage(
        requests=int(row["requests"] or 0),
        input_tokens=int(row["input_tokens"] or 0),
        output_tokens=int(row["output_tokens"] or 0),
        errors=int(row["errors"] or 0),
        rejected=int(row["rejected"] or 0),
    )


def _check_days(day_from: str, day_to: str) -> None:
    for name, day in (("day_from", day_from), ("day_to", day_to)):
        if not _DAY.fullmatch(day):
            raise InvalidInput(f"{name} must be YYYY-MM-DD", field=name)


class KeyringStore:
    """The keyring database; starts locked until given its root key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = Database(path, migrations=KEYRING_MIGRATIONS)
        self._root: RootKey | None = None
        self._keks: dict[int, bytes] = {}
        self._bad_keks: frozenset[int] = frozenset()

    def close(self) -> None:
        self.lock()
        self.db.close()

    # -- root key and KEKs ---------------------------------------------------------------

    @property
    def locked(self) -> bool:
        return self._root is None

    def initialised(self) -> bool:
        return self._meta(_ROOT_CHECK) is not None

    def root_kind(self) -> RootKind | None:
        kind = self._meta(_ROOT_KIND)
        if kind == "file":
            return "file"
        if kind == "passphrase":
            return "passphrase"
        return None

    def unlock(self, root: RootKey) -> None:
        """Initialise the keyring with ``root`` (first use), or check ``root`` and load KEKs."""
        with self.db.write() as conn:
            if _get_meta(conn, _ROOT_CHECK) is None:
                _set_root_meta(conn, root)
                if conn.execute("SELECT 1 FROM keks LIMIT 1").fetchone() is None:
                    self._insert_kek(conn, root, 1)
                log.info("keyring initialised with a %s", _KIND_NAMES[root.kind])
        self._verify_root(root)
        self._root = root
        self._load_keks()

    def unlock_with_file(self, path: Path, *, create: bool) -> None:
        """Unlock with a master key file; with ``create``, make one for a new keyring."""
        kind = self.root_kind()
        if kind == "passphrase":
            raise KeyringLocked("this keyring is unlocked with a passphrase, not a master key file")
        if create and kind is None and not os.path.lexists(path):
            try:
                root = RootKey.write_new_file(path)
            except Conflict:
                root = RootKey.from_file(path)
        else:
            root = RootKey.from_file(path)
        self.unlock(root)

    def unlock_with_passphrase(self, passphrase: str, *, params: KdfParams | None = None) -> None:
        """Unlock with a passphrase; ``params`` only apply when the keyring is new."""
        kind = self.root_kind()
        if kind == "file":
            raise KeyringLocked("this keyring is unlocked with a master key file, not a passphrase")
        salt, stored = self._meta(_KDF_SALT), self._meta(_KDF_PARAMS)
        if kind is None:
            root = RootKey.new_passphrase(passphrase, params)
        elif salt is None or stored is None:
            raise KeyringCorrupt("the keyring's passphrase salt or parameters are missing")
        else:
            try:
                salt_bytes, kdf = _unb64(salt), KdfParams.from_dict(json.loads(stored))
            except ValueError as exc:
                raise KeyringCorrupt(f"the keyring's passphrase salt is invalid: {exc}") from None
            root = RootKey.from_passphrase(passphrase, salt_bytes, kdf)
        self.unlock(root)

    def lock(self) -> None:
        """Forget the root key and the KEKs."""
        self._root = None
        self._keks = {}
        self._bad_keks = frozenset()

    def _meta(self, key: str) -> str | None:
        rows = self.db.query("SELECT value FROM meta WHERE key = ?", (key,))
        return None if not rows else str(rows[0]["value"])

    def _verify_root(self, root: RootKey) -> None:
        check = self._meta(_ROOT_CHECK)
        kind = self.root_kind() or "file"
        if kind != root.kind:
            raise KeyringLocked(
                f"this keyring is unlocked with a {_KIND_NAMES[kind]}, "
                f"not a {_KIND_NAMES[root.kind]}"
            )
        try:
            ok = check is not None and root.matches(_unb64(check))
        except ValueError:
            ok = False
        if not ok:
            what = "passphrase" if kind == "passphrase" else "master key"
            raise KeyringLocked(f"wrong {what}: it does not open this keyring")

    def _require_root(self) -> RootKey:
        root = self._root
        if root is None:
            raise KeyringLocked("the keyring is locked: unlock it with its master key")
        return root

    def _insert_kek(self, conn: sqlite3.Connection, root: RootKey, version: int) -> None:
        kek = os.urandom(32)
        conn.execute(
            "INSERT INTO keks (version, wrapped, created_at, retired) VALUES (?, ?, ?, 0)",
            (version, seal(root.material, kek, _kek_aad(version)), time.time()),
        )

    def _load_keks(self) -> None:
        """Read and open every KEK row; lock if the root key changed under us."""
        root = self._require_root()
        self._verify_current(root)
        keks: dict[int, bytes] = {}
        bad: set[int] = set()
        for row in self.db.query("SELECT version, wrapped FROM keks"):
            version = int(row["version"])
            try:
                keks[version] = open_sealed(root.material, bytes(row["wrapped"]), _kek_aad(version))
            except KeyringCorrupt:
                bad.add(version)
                if version not in self._bad_keks:
                    log.error("keyring KEK v%d does not open under the master key", version)
        self._keks = keks
        self._bad_keks = frozenset(bad)

    def _kek(self, version: int, key_id: str | None = None) -> bytes:
        self._require_root()
        kek = self._keks.get(version)
        if kek is None:
            self._load_keks()
            kek = self._keks.get(version)
        if kek is None:
            owner = f"key {key_id}: " if key_id else ""
            raise KeyringCorrupt(f"{owner}KEK v{version} is missing or does not open")
        return kek

    def _newest_kek(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT MAX(version) FROM keks").fetchone()
        if row is None or row[0] is None:
            raise KeyringCorrupt("the keyring has no KEK")
        return int(row[0])

    def _open_dek(self, key_id: str, version: int, wrapped: bytes) -> bytes:
        kek = self._kek(version, key_id)
        try:
            return open_sealed(kek, wrapped, _dek_aad(key_id, version))
        except KeyringCorrupt:
            raise KeyringCorrupt(
                f"key {key_id} does not decrypt: its data key was altered or moved"
            ) from None

    def _decrypt(self, row: sqlite3.Row) -> str:
        key_id = str(row["id"])
        dek = self._open_dek(key_id, int(row["kek_version"]), bytes(row["wrapped_dek"]))
        try:
            plain = open_sealed(dek, bytes(row["ciphertext"]), _secret_aad(key_id, row["provider"]))
        except KeyringCorrupt:
            raise KeyringCorrupt(
                f"key {key_id} does not decrypt: its ciphertext was altered or moved"
            ) from None
        return plain.decode("utf-8")

    # -- provider keys -------------------------------------------------------------------

    def add_key(
        self,
        provider: str,
        secret: str,
        *,
        label: str,
        tags: Sequence[str] = (),
        bot_id: str | None = None,
    ) -> KeyInfo:
        """Encrypt and store a provider key under a fresh data key and the newest KEK."""
        self._require_root()
        provider, secret = provider.strip(), secret.strip()
        if not provider:
            raise InvalidInput("the provider is empty", field="provider")
        if not secret:
            raise InvalidInput("the key is empty", field="secret")
        if isinstance(tags, str):
            raise InvalidInput("tags must be a list of strings", field="tags")
        clean_tags = _tags(tags)
        key_id = f"key_{secrets.token_hex(8)}"
        created_at = time.time()
        dek = os.urandom(32)
        ciphertext = seal(dek, secret.encode("utf-8"), _secret_aad(key_id, provider))
        with self.db.write() as conn:
            version = self._newest_kek(conn)
            wrapped = seal(self._kek(version), dek, _dek_aad(key_id, version))
            conn.execute(
                "INSERT INTO keys (id, provider, label, tags, last4, bot_id, kek_version,"
                " wrapped_dek, ciphertext, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key_id,
                    provider,
                    label,
                    json.dumps(list(clean_tags)),
                    key_tail(secret),
                    bot_id,
                    version,
                    wrapped,
                    ciphertext,
                    created_at,
                ),
            )
        return KeyInfo(
            id=key_id,
            provider=provider,
            label=label,
            tags=clean_tags,
            last4=key_tail(secret),
            bot_id=bot_id,
            kek_version=version,
            created_at=created_at,
        )

    def list_keys(self, *, provider: str | None = None, bot_id: str | None = None) -> list[KeyInfo]:
        sql = f"SELECT {_KEY_COLUMNS} FROM keys WHERE 1 = 1"  # noqa: S608
        params: list[Any] = []
        if provider is not None:
            sql += " AND provider = ?"
            params.append(provider)
        if bot_id is not None:
            sql += " AND bot_id = ?"
            params.append(bot_id)
        rows = self.db.query(sql + " ORDER BY created_at, rowid", tuple(params))
        return [_key_info(row) for row in rows]

    def get_key(self, key_id: str) -> KeyInfo:
        sql = f"SELECT {_KEY_COLUMNS} FROM keys WHERE id = ?"  # noqa: S608
        rows = self.db.query(sql, (key_id,))
        if not rows:
            raise NotFound(f"no key with id {key_id!r}", field="id")
        return _key_info(rows[0])

    def delete_key(self, key_id: str) -> None:
        with self.db.write() as conn:
            if conn.execute("DELETE FROM keys WHERE id = ?", (key_id,)).rowcount == 0:
                raise NotFound(f"no key with id {key_id!r}", field="id")

    def reveal(self, key_id: str) -> str:
        """The plaintext of one key."""
        self._require_root()
        rows = self.db.query("SELECT * FROM keys WHERE id = ?", (key_id,))
        if not rows:
            raise NotFound(f"no key with id {key_id!r}", field="id")
        return self._decrypt(rows[0])

    def candidates(self, provider: str, *, bot_id: str, tags: frozenset[str]) -> list[KeyChoice]:
        """Keys a bot may use for ``provider``, best first: its own, shared tagged, untagged."""
        self._require_root()
        rows = self.db.query(
            "SELECT * FROM keys WHERE provider = ? AND (bot_id = ? OR bot_id IS NULL)"
            " ORDER BY created_at, rowid",
            (provider, bot_id),
        )
        groups: tuple[list[KeyChoice], list[KeyChoice], list[KeyChoice]] = ([], [], [])
        for row in rows:
            info = _key_info(row)
            if info.bot_id is not None:
                group = 0
            elif not info.tags:
                group = 2
            elif tags.intersection(info.tags):
                group = 1
            else:
                continue
            try:
                secret = self._decrypt(row)
            except KeyringCorrupt:
                log.error("keyring key %s does not decrypt; skipped", info.id)
                continue
            groups[group].append(KeyChoice(info=info, secret=secret))
        return [*groups[0], *groups[1], *groups[2]]

    # -- grants --------------------------------------------------------------------------

    def put_grant(self, grant: Grant) -> str | None:
        """Create a grant (returns its token, once) or update one (returns ``None``)."""
        if not grant.bot_id:
            raise InvalidInput("the bot id is empty", field="bot_id")
        if grant.pool is not None and not is_pool_id(grant.pool):
            raise InvalidInput("not a pool id", field="pool")
        fields = (
            json.dumps(sorted(grant.providers)),
            json.dumps(sorted(grant.tags)),
            json.dumps(dict(grant.base_urls), sort_keys=True),
            int(grant.allow_private),
            json.dumps(grant.budget.to_dict()),
            grant.pool,
        )
        with self.db.write() as conn:
            exists = conn.execute(
                "SELECT 1 FROM grants WHERE bot_id = ?", (grant.bot_id,)
            ).fetchone()
            if exists is not None:
                conn.execute(
                    "UPDATE grants SET providers = ?, tags = ?, base_urls = ?, allow_private = ?,"
                    " budget = ?, pool = ? WHERE bot_id = ?",
                    (*fields, grant.bot_id),
                )
                return None
            token_id, token_hash, token = _new_token()
            conn.execute(
                "INSERT INTO grants (bot_id, token_id, token_hash, providers, tags, base_urls,"
                " allow_private, budget, pool, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (grant.bot_id, token_id, token_hash, *fields, grant.created_at or time.time()),
            )
        return token

    def get_grant(self, bot_id: str) -> Grant:
        rows = self.db.query("SELECT * FROM grants WHERE bot_id = ?", (bot_id,))
        if not rows:
            raise NotFound(f"no grant for bot {bot_id!r}", field="bot_id")
        return _grant(rows[0])

    def list_grants(self) -> list[Grant]:
        return [_grant(row) for row in self.db.query("SELECT * FROM grants ORDER BY created_at")]

    def delete_grant(self, bot_id: str) -> None:
        """Remove a bot's grant (its token) and the keys that belong to it only."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM grants WHERE bot_id = ?", (bot_id,))
            conn.execute("DELETE FROM keys WHERE bot_id = ?", (bot_id,))

    def rotate_token(self, bot_id: str) -> str:
        """Replace a bot's token; the old one stops working at once."""
        token_id, token_hash, token = _new_token()
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE grants SET token_id = ?, token_hash = ? WHERE bot_id = ?",
                (token_id, token_hash, bot_id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no grant for bot {bot_id!r}", field="bot_id")
        return token

    def authenticate(self, token: str) -> Grant | None:
        """The grant a bot token belongs to, or ``None``."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        token_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
        if not sep or not _TOKEN_ID.fullmatch(token_id) or not _TOKEN_SECRET.fullmatch(secret):
            return None
        rows = self.db.query("SELECT * FROM grants WHERE token_id = ?", (token_id,))
        if not rows or not hmac.compare_digest(_hash_secret(secret), rows[0]["token_hash"]):
            return None
        return _grant(rows[0])

    # -- pools ------------------------------------------------------------------------------

    def put_pool(self, pool_id: str, budget: Budget) -> None:
        """Create or replace a pool's budget."""
        if not is_pool_id(pool_id):
            raise InvalidInput("not a pool id", field="pool_id")
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO pools (id, budget) VALUES (?, ?)"
                " ON CONFLICT (id) DO UPDATE SET budget = excluded.budget",
                (pool_id, json.dumps(budget.to_dict())),
            )

    def delete_pool(self, pool_id: str) -> None:
        """Remove a pool's budget (grants naming the pool keep naming it)."""
        with self.db.write() as conn:
            if conn.execute("DELETE FROM pools WHERE id = ?", (pool_id,)).rowcount == 0:
                raise NotFound(f"no pool {pool_id!r}", field="pool_id")

    def pools(self) -> dict[str, Budget]:
        """Every pool with a budget, by id."""
        rows = self.db.query("SELECT id, budget FROM pools ORDER BY id")
        return {str(row["id"]): Budget.from_dict(json.loads(row["budget"])) for row in rows}

    def pool_members(self) -> dict[str, str]:
        """The pool each bot's grant names (bots in no pool are left out)."""
        rows = self.db.query("SELECT bot_id, pool FROM grants WHERE pool IS NOT NULL")
        return {str(row["bot_id"]): str(row["pool"]) for row in rows}

    # -- upstream overrides ----------------------------------------------------------------

    def set_upstream(self, override: UpstreamOverride) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO upstreams (provider, base_url, allow_private) VALUES (?, ?, ?)"
                " ON CONFLICT (provider) DO UPDATE SET base_url = excluded.base_url,"
                " allow_private = excluded.allow_private",
                (override.provider, override.base_url, int(override.allow_private)),
            )

    def delete_upstream(self, provider: str) -> None:
        """Remove an override; no error if there is none."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM upstreams WHERE provider = ?", (provider,))

    def upstreams(self) -> dict[str, UpstreamOverride]:
        rows = self.db.query("SELECT * FROM upstreams ORDER BY provider")
        return {
            row["provider"]: UpstreamOverride(
                provider=row["provider"],
                base_url=row["base_url"],
                allow_private=bool(row["allow_private"]),
            )
            for row in rows
        }

    # -- usage and events ------------------------------------------------------------------

    def add_usage(self, deltas: Iterable[UsageDelta]) -> None:
        """Add counters to (day, bot, key, provider) rows, all in one transaction."""
        rows = [
            (
                d.day,
                d.bot_id,
                d.key_id,
                d.provider,
                d.requests,
                d.input_tokens,
                d.output_tokens,
                d.errors,
                d.rejected,
            )
            for d in deltas
        ]
        for row in rows:
            if not _DAY.fullmatch(row[0]):
                raise InvalidInput(f"usage day {row[0]!r} is not YYYY-MM-DD", field="day")
        if not rows:
            return
        with self.db.write() as conn:
            conn.executemany(
                "INSERT INTO usage (day, bot_id, key_id, provider, requests, input_tokens,"
                " output_tokens, errors, rejected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (day, bot_id, key_id, provider) DO UPDATE SET"
                " requests = requests + excluded.requests,"
                " input_tokens = input_tokens + excluded.input_tokens,"
                " output_tokens = output_tokens + excluded.output_tokens,"
                " errors = errors + excluded.errors,"
                " rejected = rejected + excluded.rejected",
                rows,
            )

    def usage_by_bot(self, *, day_from: str, day_to: str) -> dict[str, Usage]:
        """Totals per bot over an inclusive day range."""
        return self._usage_by("bot_id", day_from, day_to)

    def usage_by_key(self, *, day_from: str, day_to: str) -> dict[str, Usage]:
        """Totals per key over an inclusive day range (``""``: refused before a key)."""
        return self._usage_by("key_id", day_from, day_to)

    def _usage_by(
        self, column: Literal["bot_id", "key_id"], day_from: str, day_to: str
    ) -> dict[str, Usage]:
        _check_days(day_from, day_to)
        sql = (
            f"SELECT {column} AS name, {_USAGE_SUMS} FROM usage"  # noqa: S608
            f" WHERE day BETWEEN ? AND ? GROUP BY {column}"
        )
        rows = self.db.query(sql, (day_from, day_to))
        return {str(row["name"]): _usage(row) for row in rows}

    def usage_days(
        self, *, bot_id: str | None, day_from: str, day_to: str, pool: str | None = None
    ) -> list[tuple[str, Usage]]:
        """Totals per day, oldest first, for one bot or (``None``) for all; with ``pool``,
        only for the bots whose grants name that pool."""
        _check_days(day_from, day_to)
        sql = f"SELECT day, {_USAGE_SUMS} FROM usage WHERE day BETWEEN ? AND ?"  # noqa: S608
        params: tuple[str, ...] = (day_from, day_to)
        if bot_id is not None:
            sql += " AND bot_id = ?"
            params = (*params, bot_id)
        if pool is not None:
            sql += " AND bot_id IN (SELECT bot_id FROM grants WHERE pool = ?)"
            params = (*params, pool)
        rows = self.db.query(sql + " GROUP BY day ORDER BY day", params)
        return [(str(row["day"]), _usage(row)) for row in rows]

    def add_event(self, bot_id: str, kind: str, detail: str) -> Event:
        at = time.time()
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO events (at, bot_id, kind, detail) VALUES (?, ?, ?, ?)",
                (at, bot_id, kind, detail),
            )
            event_id = int(cursor.lastrowid or 0)
        return Event(id=event_id, at=at, bot_id=bot_id, kind=kind, detail=detail)

    def events(
        self, *, after_id: int = 0, bot_id: str | None = None, limit: int = 100
    ) -> list[Event]:
        """Events after ``after_id``, oldest first, at most ``limit`` (capped at 1000)."""
        sql = "SELECT * FROM events WHERE id > ?"
        params: tuple[Any, ...] = (after_id,)
        if bot_id is not None:
            sql += " AND bot_id = ?"
            params = (*params, bot_id)
        rows = self.db.query(sql + " ORDER BY id LIMIT ?", (*params, max(1, min(limit, 1000))))
        return [
            Event(
                id=int(row["id"]),
                at=float(row["at"]),
                bot_id=row["bot_id"],
                kind=row["kind"],
                detail=row["detail"],
            )
            for row in rows
        ]

    # -- rotation --------------------------------------------------------------------------

    def rotate(
        self,
        *,
        new_root: RootKey | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> RotateReport:
        """Move every key to a new KEK, one row per transaction; resumes a stopped rotation.

        The data keys stay, only their wrapping changes. KEKs no key uses any more are
        deleted. With ``new_root``, the KEKs and the root check are then re-wrapped under
        it in one transaction (the caller swaps the master key file afterwards).
        """
        root = self._require_root()
        with self.db.write() as conn:
            self._verify_current(root)
            newest = self._newest_kek(conn)
            stale = conn.execute(
                "SELECT COUNT(*) FROM keys WHERE kek_version != ?", (newest,)
            ).fetchone()[0]
            resumed = stale > 0
            if not resumed:
                newest += 1
                self._insert_kek(conn, root, newest)
                conn.execute("UPDATE keks SET retired = 1 WHERE version != ?", (newest,))
                stale = conn.execute("SELECT COUNT(*) FROM keys").fetchone()[0]
        if resumed:
            log.info("resuming a keyring rotation to KEK v%d (%d keys left)", newest, stale)
        target = self._kek(newest)
        total, done = int(stale), 0
        while True:
            with self.db.write() as conn:
                row = conn.execute(
                    "SELECT id, kek_version, wrapped_dek FROM keys WHERE kek_version != ?"
                    " ORDER BY rowid LIMIT 1",
                    (newest,),
                ).fetchone()
                if row is None:
                    break
                key_id, version = str(row["id"]), int(row["kek_version"])
                dek = self._open_dek(key_id, version, bytes(row["wrapped_dek"]))
                conn.execute(
                    "UPDATE keys SET kek_version = ?, wrapped_dek = ? WHERE id = ?",
                    (newest, seal(target, dek, _dek_aad(key_id, newest)), key_id),
                )
            done += 1
            if on_progress is not None:
                on_progress(done, max(total, done))
        with self.db.write() as conn:
            conn.execute(
                "DELETE FROM keks WHERE version != (SELECT MAX(version) FROM keks)"
                " AND version NOT IN (SELECT DISTINCT kek_version FROM keys)"
            )
        if new_root is not None:
            self._change_root(root, new_root)
        self._load_keks()
        return RotateReport(kek_version=newest, rewrapped=done, resumed=resumed)

    def _verify_current(self, root: RootKey) -> None:
        """Lock this instance if another process changed the master key."""
        try:
            self._verify_root(root)
        except KeyringLocked:
            self.lock()
            raise KeyringLocked(
                "the keyring's master key was changed by another process; unlock it again"
            ) from None

    def _change_root(self, old: RootKey, new: RootKey) -> None:
        with self.db.write() as conn:
            check = _get_meta(conn, _ROOT_CHECK)
            if check is None or not old.matches(_unb64(check)):
                raise KeyringLocked("the keyring's master key was changed by another process")
            rows = conn.execute("SELECT version, wrapped FROM keks").fetchall()
            for row in rows:
                version = int(row["version"])
                try:
                    kek = open_sealed(old.material, bytes(row["wrapped"]), _kek_aad(version))
                except KeyringCorrupt:
                    raise KeyringCorrupt(
                        f"KEK v{version} does not open; the master key was not changed"
                    ) from None
                conn.execute(
                    "UPDATE keks SET wrapped = ? WHERE version = ?",
                    (seal(new.material, kek, _kek_aad(version)), version),
                )
            _set_root_meta(conn, new)
        self._root = new
        log.info("keyring master key changed (now a %s)", _KIND_NAMES[new.kind])
