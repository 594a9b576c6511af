"""One SQLite connection per process, one writer at a time, explicit transactions."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botmaker.errors import StorageFull, StoreUnavailable
from botmaker.store.migrations import MIGRATIONS, Migration, statements


class Database:
    """A SQLite file in WAL mode with foreign keys on and a busy timeout.

    All access goes through one connection guarded by a lock, so writes from the
    API's worker threads are serialised in this process; ``BEGIN IMMEDIATE``
    serialises them with other processes (the CLI) through SQLite's own lock.
    """

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 5000,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> None:
        self.path = path
        self._migrations = migrations
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the store at {path}: {exc}") from exc
        path.chmod(0o600)
        self._lock = threading.RLock()
        self._writes = 0  # this connection's write transactions (see ``version``)
        try:
            self.migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreUnavailable(f"cannot migrate the store at {path}: {exc}") from exc
        except StoreUnavailable:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``), rolled back on error."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"the store is busy or unwritable: {exc}") from exc
            self._writes += 1  # whatever the outcome: readers' caches must look again
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:
                self._rollback()
                if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                    raise StorageFull(f"the disk holding {self.path} is full") from None
                raise
            except BaseException:
                self._rollback()
                raise
            else:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.OperationalError as exc:
                    self._rollback()
                    if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                        raise StorageFull(f"the disk holding {self.path} is full") from None
                    raise StoreUnavailable(f"could not commit to the store: {exc}") from exc

    def _rollback(self) -> None:
        """Undo the open transaction; SQLite may already have (a full disk does that)."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"the store cannot be read: {exc}") from exc

    def version(self) -> tuple[int, int]:
        """Changes whenever the file may have changed: a commit by another connection
        (``PRAGMA data_version``, e.g. the CLI) or a write transaction of this one."""
        with self._lock:
            try:
                row = self._conn.execute("PRAGMA data_version").fetchone()
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"the store cannot be read: {exc}") from exc
            return int(row[0]), self._writes

    def ping(self) -> None:
        self.query("SELECT 1")

    def schema_version(self) -> int:
        rows = self.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        return int(rows[0]["v"])

    def migrate(self) -> None:
        with self.write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, step in self._migrations:
                if version in applied:
                    continue
                if callable(step):
                    step(conn)
                else:
                    for statement in statements(step):
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )
