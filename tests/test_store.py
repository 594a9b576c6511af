"""The SQLite store, on real files: migrations, pragmas, permissions, concurrency."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
import time
import uuid
from pathlib import Path

import pytest

from botmaker.definition import BotState
from botmaker.errors import Conflict, NotFound, StoreUnavailable
from botmaker.store import Database, Store
from botmaker.store.migrations import MIGRATIONS


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def insert(store: Store, name: str, bot_id: str | None = None) -> str:
    bot_id = bot_id or str(uuid.uuid4())
    store.insert_bot(
        bot_id=bot_id,
        name=name,
        provider="openai",
        model="gpt-5.1",
        channel="telegram",
        image="botmaker-standin:test",
        uid_base=200_000,
        fixed_uid=None,
    )
    return bot_id


def test_migrations_are_recorded_and_not_reapplied_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "botmaker.db"
    db = Database(path)
    rows = db.query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [(v, n) for v, n, _ in MIGRATIONS]
    assert db.schema_version() == MIGRATIONS[-1][0]
    tables = {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"schema_migrations", "bots", "admin_settings", "sessions"} <= tables
    store = Store(db)
    bot_id = insert(store, "alpha")
    first_applied = [r["applied_at"] for r in rows]
    db.migrate()  # again, on the open database: nothing to do
    db.close()

    time.sleep(0.01)
    reopened = Database(path)
    again = reopened.query("SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in again] == [v for v, _, _ in MIGRATIONS]
    assert [r["applied_at"] for r in again] == first_applied  # not re-applied
    # The data survived (a re-applied CREATE TABLE would have failed, or wiped it).
    assert Store(reopened).get_bot(bot_id).name == "alpha"
    reopened.close()


def test_a_failing_migration_changes_nothing_and_is_a_store_error(tmp_path: Path) -> None:
    # A file that is not ours: one of the tables the first migration creates exists already.
    path = tmp_path / "botmaker.db"
    with sqlite3.connect(path) as foreign:
        foreign.execute("CREATE TABLE admin_settings (something TEXT)")
    foreign.close()
    with pytest.raises(StoreUnavailable) as raised:
        Database(path)
    assert str(path) in raised.value.message
    # The migration and its record were one transaction: nothing of it is left.
    with sqlite3.connect(path) as check:
        tables = {r[0] for r in check.execute("SELECT name FROM sqlite_master")}
    check.close()
    assert tables == {"admin_settings"}


def test_pragmas_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    db = Database(tmp_path / "botmaker.db", busy_timeout_ms=4321)
    assert db.query("PRAGMA journal_mode")[0][0] == "wal"
    assert db.query("PRAGMA foreign_keys")[0][0] == 1
    assert db.query("PRAGMA busy_timeout")[0][0] == 4321
    db.close()
    assert Database(tmp_path / "default.db").query("PRAGMA busy_timeout")[0][0] == 5000
    # WAL is a property of the file: another connection sees it too.
    with sqlite3.connect(tmp_path / "botmaker.db") as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_database_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "botmaker.db"
    db = Database(path)
    Store(db).set_setting("k", "v")  # a write, so the WAL and shared-memory files exist
    assert mode(path) == 0o600
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        assert side.exists(), side
        assert mode(side) == 0o600, side
    db.close()
    # A file left readable by an older version is tightened on open.
    path.chmod(0o644)
    Database(path).close()
    assert mode(path) == 0o600


def test_names_are_unique_even_under_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "botmaker.db"
    Database(path).close()
    # Separate connections, as separate processes (API and CLI) would have.
    stores = [Store(Database(path)) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    won: list[str] = []
    lost: list[Conflict] = []
    other: list[BaseException] = []

    def attempt(store: Store) -> None:
        barrier.wait()
        try:
            won.append(insert(store, "same-name"))
        except Conflict as exc:
            lost.append(exc)
        except BaseException as exc:
            other.append(exc)

    threads = [threading.Thread(target=attempt, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert other == []
    assert len(won) == 1
    assert len(lost) == len(stores) - 1
    assert all(exc.field == "name" and exc.status == 409 for exc in lost)
    rows = stores[0].list_bots()
    assert [(r.id, r.name) for r in rows] == [(won[0], "same-name")]
    # Each bot got its own uid from the row sequence, within one transaction.
    assert rows[0].uid == 200_000 + rows[0].seq
    for store in stores:
        store.db.close()


def test_concurrent_inserts_of_different_names_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "botmaker.db"
    stores = [Store(Database(path)) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def attempt(index: int, store: Store) -> None:
        barrier.wait()
        try:
            for n in range(5):
                insert(store, f"bot-{index}-{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(i, s)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    rows = stores[0].list_bots()
    assert len(rows) == 30
    assert len({r.uid for r in rows}) == 30  # distinct uids, so bots cannot read each other
    for store in stores:
        store.db.close()


def test_settings_sessions_and_missing_rows(tmp_path: Path) -> None:
    store = Store(Database(tmp_path / "botmaker.db"))
    assert store.get_setting("k") is None
    assert store.set_setting("k", "one", only_if_absent=True) is True
    assert store.set_setting("k", "two", only_if_absent=True) is False
    assert store.get_setting("k") == "one"
    store.set_setting("k", "three")
    assert store.get_setting("k") == "three"
    session = store.add_session("abc", "digest", 60)
    assert store.get_session("abc") == session
    store.add_session("old", "digest", -1)  # already expired
    store.add_session("new", "digest", 60)  # adding one sweeps expired rows
    assert store.get_session("old") is None
    store.delete_session("abc")
    assert store.get_session("abc") is None
    with pytest.raises(NotFound):
        store.get_bot(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        store.update_bot(str(uuid.uuid4()), state="ready")
    store.db.close()


def test_bot_events_are_paged_pruned_and_go_with_the_bot(tmp_path: Path) -> None:
    store = Store(Database(tmp_path / "botmaker.db"))
    alpha, bravo = insert(store, "alpha"), insert(store, "bravo")
    for n in range(5):
        row = store.add_bot_event(alpha, kind="started", at=1000.0 + n, detail=f"#{n}")
        assert row is not None
        assert row["bot_id"] == alpha
    died = store.add_bot_event(
        bravo, kind="died", at=2000.0, detail="exited with code 137", exit_code=137, logs="a\nb"
    )
    assert died is not None
    assert store.bot_events(bravo) == [died]  # the row as returned is the row as stored
    events = store.bot_events(alpha)
    assert [e["detail"] for e in events] == ["#4", "#3", "#2", "#1", "#0"]  # newest first
    page = store.bot_events(alpha, limit=2, before_id=events[1]["id"])
    assert [e["detail"] for e in page] == ["#2", "#1"]
    # A bot with no row gets no events (a late event of a deleted bot is dropped).
    assert store.add_bot_event(str(uuid.uuid4()), kind="started", at=1.0) is None
    # Only the latest ``keep`` are kept.
    store.add_bot_event(alpha, kind="stopped", at=3000.0, keep=3)
    assert [e["kind"] for e in store.bot_events(alpha)] == ["stopped", "started", "started"]
    # Deleting the bot deletes its events (foreign key, ON DELETE CASCADE).
    store.delete_bot(alpha)
    assert store.bot_events(alpha) == []
    assert (
        store.db.query("SELECT COUNT(*) AS n FROM bot_events WHERE bot_id = ?", (alpha,))[0]["n"]
        == 0
    )
    assert store.bot_events(bravo) == [died]


def test_the_bot_list_is_read_again_after_any_write_even_by_another_process(
    tmp_path: Path,
) -> None:
    """list_bots answers from memory only while nothing may have changed the file."""
    path = tmp_path / "botmaker.db"
    server, cli = Store(Database(path)), Store(Database(path))  # two connections
    insert(server, "alpha")
    assert [r.name for r in server.list_bots()] == ["alpha"]
    insert(cli, "bravo")  # another connection commits: data_version moves
    assert [r.name for r in server.list_bots()] == ["alpha", "bravo"]
    record = server.find_bot("bravo")
    server.update_bot(record.id, state="ready")  # this connection writes
    assert [r.state for r in server.list_bots()] == ["creating", "ready"]
    cli.delete_bot(record.id)
    assert [r.name for r in server.list_bots()] == ["alpha"]
    server.db.close()
    cli.db.close()


def _legacy_row(db: Database, name: str, channel: str, definition: str) -> None:
    with db.write() as conn:
        conn.execute(
            "INSERT INTO bots (id, name, provider, model, channel, image, uid, state,"
            " created_at, updated_at, definition) VALUES (?, ?, 'openai', 'gpt-5.1', ?,"
            " 'img:1', 1000, 'ready', 'now', 'now', ?)",
            (f"id-{name}", name, channel, definition),
        )


def test_migration_7_makes_every_definition_versioned_json(tmp_path: Path) -> None:
    # Rows as versions before 7 left them: a bot from before persona and channels
    # existed, and a keyring bot with an empty budget and an unknown key.
    path = tmp_path / "botmaker.db"
    old = Database(path, migrations=[m for m in MIGRATIONS if m[0] < 7])
    _legacy_row(old, "plain", "telegram", "{}")
    keyed = (
        '{"persona": {"name": "Alfred", "emoji": "x", "soul": "s", "user_notes": ""},'
        ' "template": null, "fallbacks": ["gpt-4o"], "base_url": null, "heartbeat": true,'
        ' "channels": [{"type": "slack", "dm_policy": "open", "allow_from": ["*"],'
        ' "settings": {}}], "keyring": true, "budget": {}, "key_tags": ["team"],'
        ' "gateway": true, "retired": 1}'
    )
    _legacy_row(old, "keyed", "slack", keyed)
    old.close()

    store = Store(Database(path))
    plain = store.get_bot("id-plain").definition
    assert plain.persona.name == "plain"
    assert [c.type for c in plain.channels] == ["telegram"]
    assert (plain.provider, plain.model, plain.image) == ("openai", "gpt-5.1", "img:1")
    bot = store.get_bot("id-keyed").definition
    assert bot.keyring
    assert bot.gateway
    assert bot.heartbeat
    assert bot.key_tags == ("team",)
    assert bot.fallbacks == ("gpt-4o",)
    assert bot.channels[0].dm_policy == "open"
    assert bot.channels[0].allow_from == ("*",)
    rows = store.db.query("SELECT name, definition FROM bots ORDER BY name")
    stored = {row["name"]: json.loads(row["definition"]) for row in rows}
    assert stored["plain"] == {
        "version": 1,
        "persona": {"name": "plain", "emoji": "", "soul": "", "user_notes": ""},
        "channels": [{"type": "telegram"}],
    }
    assert stored["keyed"]["version"] == 1
    assert "retired" not in stored["keyed"]


def test_a_definition_round_trips_through_the_store(tmp_path: Path) -> None:
    store = Store(Database(tmp_path / "botmaker.db"))
    bot_id = insert(store, "roundtrip")
    before = store.get_bot(bot_id).definition
    changed = before.model_copy(update={"model": "gpt-4o", "heartbeat": True, "key_id": "k"})
    after = store.update_bot(bot_id, definition=changed)
    assert after.definition == changed
    assert after.model == "gpt-4o"  # the column follows the definition
    assert after.state == "creating"
    assert after.state is BotState.CREATING


def test_an_unreadable_definition_stops_the_migration_with_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "botmaker.db"
    old = Database(path, migrations=[m for m in MIGRATIONS if m[0] < 7])
    _legacy_row(old, "broken", "telegram", '{"version": 9}')
    old.close()
    with pytest.raises(StoreUnavailable, match="bot broken"):
        Database(path)
    assert Database(path, migrations=[m for m in MIGRATIONS if m[0] < 7]).schema_version() == 6
