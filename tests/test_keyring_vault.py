"""The keyring vault: envelope encryption, master key handling, grants, usage, rotation.

Real SQLite files and real crypto; the interrupted rotation runs in a child process that
is killed with SIGKILL half-way.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from botmaker.errors import Conflict, InvalidInput, NotFound
from botmaker.keyring.crypto import KdfParams, RootKey, open_sealed, seal
from botmaker.keyring.model import (
    TOKEN_PREFIX,
    Budget,
    Grant,
    KeyringCorrupt,
    KeyringLocked,
    UpstreamOverride,
    Usage,
    UsageDelta,
)
from botmaker.keyring.store import KeyringStore

FAST = KdfParams(time_cost=1, memory_cost=8, parallelism=1)
REPO = Path(__file__).resolve().parents[1]

OpenStore = Callable[[], KeyringStore]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "keyring" / "keyring.db"


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "master" / "master.key"


@pytest.fixture
def open_store(db_path: Path) -> Iterator[OpenStore]:
    """Open (locked) store instances on the same file; all closed at the end."""
    opened: list[KeyringStore] = []

    def make() -> KeyringStore:
        store = KeyringStore(db_path)
        opened.append(store)
        return store

    yield make
    for store in opened:
        with contextlib.suppress(Exception):
            store.close()


@pytest.fixture
def store(open_store: OpenStore, key_path: Path) -> KeyringStore:
    store = open_store()
    store.unlock_with_file(key_path, create=True)
    return store


def raw(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run SQL on the file through a separate connection (reads, and tampering)."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows


def flip_bit(db_path: Path, table: str, column: str, where: str, value: Any) -> None:
    select = f"SELECT {column} FROM {table} WHERE {where} = ?"  # noqa: S608
    (blob,) = raw(db_path, select, (value,))[0]
    data = bytearray(blob)
    data[len(data) // 2] ^= 0x01
    update = f"UPDATE {table} SET {column} = ? WHERE {where} = ?"  # noqa: S608
    raw(db_path, update, (bytes(data), value))


def file_bytes(db_path: Path) -> bytes:
    return b"".join(
        path.read_bytes()
        for path in (db_path, db_path.with_name(db_path.name + "-wal"))
        if path.exists()
    )


class Stop(Exception):
    pass


def stop_after(rows: int) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        if done >= rows:
            raise Stop

    return progress


# -- primitives -----------------------------------------------------------------------------


def test_seal_round_trip_and_failures() -> None:
    key = os.urandom(32)
    blob = seal(key, b"hello", b"aad")
    assert blob[0] == 1
    assert open_sealed(key, blob, b"aad") == b"hello"
    assert seal(key, b"hello", b"aad") != blob
    for bad_key, bad_blob, aad in (
        (key, blob, b"other aad"),
        (os.urandom(32), blob, b"aad"),
        (key, blob[:20], b"aad"),
        (key, b"\x02" + blob[1:], b"aad"),
        (key, b"", b"aad"),
        (key, blob[:-1] + bytes([blob[-1] ^ 1]), b"aad"),
    ):
        with pytest.raises(KeyringCorrupt):
            open_sealed(bad_key, bad_blob, aad)


def test_root_key_repr_hides_the_key_and_check_value_recognises_it() -> None:
    root = RootKey.generate()
    assert base64.b64encode(root.material).decode() not in repr(root)
    assert root.material.hex() not in repr(root)
    check = root.check_value()
    assert root.matches(check)
    assert not RootKey.generate().matches(check)
    with pytest.raises(InvalidInput):
        RootKey(b"short")


def test_passphrase_derivation_is_deterministic_per_salt() -> None:
    salt = os.urandom(16)
    one = RootKey.from_passphrase("correct horse", salt, FAST)
    assert one.material == RootKey.from_passphrase("correct horse", salt, FAST).material
    assert one.material != RootKey.from_passphrase("correct horse", os.urandom(16), FAST).material
    assert one.material != RootKey.from_passphrase("wrong horse", salt, FAST).material
    assert one.kind == "passphrase"
    with pytest.raises(InvalidInput):
        RootKey.from_passphrase("", salt, FAST)
    with pytest.raises(InvalidInput):
        KdfParams(hash_len=16)


# -- master key file ------------------------------------------------------------------------


def test_new_master_key_file_is_0600_in_a_0700_folder_and_never_overwritten(
    key_path: Path,
) -> None:
    root = RootKey.write_new_file(key_path)
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert key_path.parent.stat().st_mode & 0o777 == 0o700
    assert key_path.read_text().endswith("\n")
    assert RootKey.from_file(key_path).material == root.material
    before = key_path.read_bytes()
    with pytest.raises(Conflict):
        RootKey.write_new_file(key_path)
    assert key_path.read_bytes() == before
    assert sorted(p.name for p in key_path.parent.iterdir()) == ["master.key"]


def test_master_key_file_readable_by_others_is_refused(
    open_store: OpenStore, key_path: Path
) -> None:
    RootKey.write_new_file(key_path)
    key_path.chmod(0o644)
    with pytest.raises(KeyringLocked, match="0644"):
        RootKey.from_file(key_path)
    store = open_store()
    with pytest.raises(KeyringLocked, match="0644"):
        store.unlock_with_file(key_path, create=True)
    assert store.locked
    assert not store.initialised()


def test_malformed_master_key_file_is_refused(key_path: Path) -> None:
    key_path.parent.mkdir(mode=0o700)
    for content in (b"not base64!\n", base64.b64encode(os.urandom(16)) + b"\n", b""):
        key_path.write_bytes(content)
        key_path.chmod(0o600)
        with pytest.raises(KeyringLocked, match="not base64 of 32 bytes"):
            RootKey.from_file(key_path)


def test_missing_master_key_locks_an_initialised_store_and_creates_nothing(
    store: KeyringStore, open_store: OpenStore, key_path: Path
) -> None:
    info = store.add_key("openai", "sk-missing-file-0001", label="main")
    key_path.unlink()
    again = open_store()
    assert again.initialised()
    with pytest.raises(KeyringLocked, match="no master key"):
        again.unlock_with_file(key_path, create=True)
    assert again.locked
    assert not key_path.exists()
    with pytest.raises(KeyringLocked):
        again.reveal(info.id)


def test_missing_master_key_without_create_leaves_a_new_store_uninitialised(
    open_store: OpenStore, key_path: Path
) -> None:
    store = open_store()
    with pytest.raises(KeyringLocked, match="no master key"):
        store.unlock_with_file(key_path, create=False)
    assert store.locked
    assert not store.initialised()
    assert store.root_kind() is None


def test_an_existing_master_key_file_initialises_a_new_store(
    open_store: OpenStore, key_path: Path
) -> None:
    root = RootKey.write_new_file(key_path)
    store = open_store()
    store.unlock_with_file(key_path, create=True)
    assert store.root_kind() == "file"
    store.lock()
    store.unlock(root)
    assert not store.locked


def test_wrong_master_key_is_refused_and_store_stays_locked(
    store: KeyringStore, open_store: OpenStore, tmp_path: Path, key_path: Path
) -> None:
    info = store.add_key("openai", "sk-wrong-key-test-0002", label="main")
    other = tmp_path / "other" / "master.key"
    RootKey.write_new_file(other)
    again = open_store()
    with pytest.raises(KeyringLocked, match="wrong master key"):
        again.unlock_with_file(other, create=False)
    assert again.locked
    with pytest.raises(KeyringLocked, match="wrong master key"):
        again.unlock(RootKey.generate())
    assert again.locked
    with pytest.raises(KeyringLocked, match="file, not a passphrase"):
        again.unlock_with_passphrase("anything")
    assert again.locked
    again.unlock_with_file(key_path, create=False)
    assert again.reveal(info.id) == "sk-wrong-key-test-0002"


def test_passphrase_unlock_wrong_passphrase_and_stored_parameters(
    open_store: OpenStore, db_path: Path, key_path: Path
) -> None:
    store = open_store()
    store.unlock_with_passphrase("correct horse battery", params=FAST)
    assert store.root_kind() == "passphrase"
    info = store.add_key("anthropic", "sk-ant-passphrase-0003", label="main")
    stored = dict(raw(db_path, "SELECT key, value FROM meta"))
    assert '"memory_cost": 8' in stored["kdf_params"]
    assert len(base64.b64decode(stored["kdf_salt"])) == 16

    again = open_store()
    with pytest.raises(KeyringLocked, match="wrong passphrase"):
        again.unlock_with_passphrase("wrong horse battery")
    assert again.locked
    with pytest.raises(KeyringLocked, match="passphrase, not a master key file"):
        again.unlock_with_file(key_path, create=True)
    assert not key_path.exists()
    again.unlock_with_passphrase("correct horse battery")
    assert again.reveal(info.id) == "sk-ant-passphrase-0003"


# -- envelope encryption --------------------------------------------------------------------


def test_envelope_layout_and_same_plaintext_twice(
    store: KeyringStore, db_path: Path, key_path: Path
) -> None:
    secret = "sk-same-plaintext-twice-0004"
    one = store.add_key("openai", secret, label="one")
    two = store.add_key("openai", secret, label="two")
    assert one.id != two.id
    assert one.id.startswith("key_")
    assert len(one.id) == 20
    int(one.id[4:], 16)
    assert one.last4 == "0004"
    assert one.kek_version == 1
    rows = {
        row[0]: row[1:]
        for row in raw(db_path, "SELECT id, kek_version, wrapped_dek, ciphertext FROM keys")
    }
    assert rows[one.id][2] != rows[two.id][2]
    assert rows[one.id][1] != rows[two.id][1]

    root = RootKey.from_file(key_path)
    ((wrapped_kek,),) = raw(db_path, "SELECT wrapped FROM keks WHERE version = 1")
    kek = open_sealed(root.material, wrapped_kek, b"botmaker-kek:v1")
    deks = []
    for key_id in (one.id, two.id):
        _, wrapped_dek, ciphertext = rows[key_id]
        dek = open_sealed(kek, wrapped_dek, f"botmaker-dek:{key_id}:v1".encode())
        deks.append(dek)
        aad = f"botmaker-key:{key_id}:openai".encode()
        assert open_sealed(dek, ciphertext, aad) == secret.encode()
    assert deks[0] != deks[1]


@pytest.mark.parametrize("column", ["ciphertext", "wrapped_dek"])
def test_flipped_bit_fails_that_key_only(store: KeyringStore, db_path: Path, column: str) -> None:
    bad = store.add_key("openai", "sk-flipped-bit-bad-0005", label="bad")
    good = store.add_key("openai", "sk-flipped-bit-good-0006", label="good")
    flip_bit(db_path, "keys", column, "id", bad.id)
    with pytest.raises(KeyringCorrupt, match=bad.id):
        store.reveal(bad.id)
    assert store.reveal(good.id) == "sk-flipped-bit-good-0006"
    choices = store.candidates("openai", bot_id="bot-a", tags=frozenset())
    assert [c.info.id for c in choices] == [good.id]
    assert "sk-flipped" not in repr(choices)


def test_ciphertext_moved_to_another_row_fails_cleanly(store: KeyringStore, db_path: Path) -> None:
    source = store.add_key("openai", "sk-moved-source-0007", label="source")
    target = store.add_key("openai", "sk-moved-target-0008", label="target")
    raw(
        db_path,
        "UPDATE keys SET ciphertext = (SELECT ciphertext FROM keys WHERE id = ?) WHERE id = ?",
        (source.id, target.id),
    )
    with pytest.raises(KeyringCorrupt, match=target.id):
        store.reveal(target.id)
    raw(
        db_path,
        "UPDATE keys SET wrapped_dek = (SELECT wrapped_dek FROM keys WHERE id = ?) WHERE id = ?",
        (source.id, target.id),
    )
    with pytest.raises(KeyringCorrupt, match=target.id):
        store.reveal(target.id)
    assert store.reveal(source.id) == "sk-moved-source-0007"


def test_ciphertext_moved_to_another_provider_fails(store: KeyringStore, db_path: Path) -> None:
    info = store.add_key("openai", "sk-provider-bound-0009", label="main")
    raw(db_path, "UPDATE keys SET provider = 'anthropic' WHERE id = ?", (info.id,))
    with pytest.raises(KeyringCorrupt, match=info.id):
        store.reveal(info.id)


def test_flipped_bit_in_a_kek_fails_the_keys_it_wraps_only(
    store: KeyringStore, open_store: OpenStore, db_path: Path, key_path: Path
) -> None:
    first = store.add_key("openai", "sk-kek-flip-first-0010", label="first")
    second = store.add_key("openai", "sk-kek-flip-second-0011", label="second")
    with pytest.raises(Stop):
        store.rotate(on_progress=stop_after(1))
    versions = dict(raw(db_path, "SELECT id, kek_version FROM keys"))
    assert versions == {first.id: 2, second.id: 1}
    flip_bit(db_path, "keks", "wrapped", "version", 1)

    again = open_store()
    again.unlock_with_file(key_path, create=False)
    with pytest.raises(KeyringCorrupt, match=second.id):
        again.reveal(second.id)
    assert again.reveal(first.id) == "sk-kek-flip-first-0010"
    with pytest.raises(KeyringCorrupt, match=second.id):
        again.rotate()


def test_the_database_alone_decrypts_nothing(
    store: KeyringStore, open_store: OpenStore, db_path: Path
) -> None:
    secret = "sk-canary-7c1d9e0b4f2a46d8a1b3"
    info = store.add_key("openai", secret, label="canary")
    token = store.put_grant(Grant(bot_id="bot-a", providers=frozenset({"openai"})))
    assert token is not None
    token_secret = token.rsplit("_", 1)[-1]
    data = file_bytes(db_path)
    assert secret.encode() not in data
    assert secret[3:-4].encode() not in data
    assert token.encode() not in data
    assert token_secret.encode() not in data
    store.close()
    data = file_bytes(db_path)
    assert secret[3:-4].encode() not in data
    assert token_secret.encode() not in data

    locked = open_store()
    assert locked.locked
    assert locked.initialised()
    assert [k.id for k in locked.list_keys()] == [info.id]
    with pytest.raises(KeyringLocked):
        locked.reveal(info.id)
    with pytest.raises(KeyringLocked):
        locked.add_key("openai", "sk-another-0012", label="x")
    with pytest.raises(KeyringLocked):
        locked.candidates("openai", bot_id="bot-a", tags=frozenset())
    with pytest.raises(KeyringLocked):
        locked.rotate()


def test_lock_forgets_the_keys(store: KeyringStore) -> None:
    info = store.add_key("openai", "sk-lock-forget-0013", label="main")
    store.lock()
    assert store.locked
    with pytest.raises(KeyringLocked):
        store.reveal(info.id)
    assert store.get_key(info.id).label == "main"


# -- provider keys --------------------------------------------------------------------------


def test_key_listing_lookup_and_deletion(store: KeyringStore) -> None:
    a = store.add_key("openai", "  sk-listing-a-0014\n", label="a", tags=["x", "b", "x"])
    b = store.add_key("anthropic", "sk-listing-b-0015", label="b", bot_id="bot-a")
    assert a.tags == ("b", "x")
    assert store.reveal(a.id) == "sk-listing-a-0014"
    assert [k.id for k in store.list_keys()] == [a.id, b.id]
    assert [k.id for k in store.list_keys(provider="anthropic")] == [b.id]
    assert [k.id for k in store.list_keys(bot_id="bot-a")] == [b.id]
    assert store.get_key(a.id) == a
    store.delete_key(a.id)
    with pytest.raises(NotFound):
        store.get_key(a.id)
    with pytest.raises(NotFound):
        store.delete_key(a.id)
    with pytest.raises(NotFound):
        store.reveal(a.id)
    with pytest.raises(InvalidInput):
        store.add_key("openai", "   ", label="empty")


def test_candidates_order_and_exclusions(store: KeyringStore) -> None:
    untagged_old = store.add_key("openai", "sk-untagged-old-0016", label="u1")
    tagged_other = store.add_key("openai", "sk-tagged-other-0017", label="t0", tags=["ops"])
    tagged = store.add_key("openai", "sk-tagged-team-0018", label="t1", tags=["team", "ops"])
    other_bot = store.add_key("openai", "sk-other-bot-0019", label="o", bot_id="bot-b")
    own = store.add_key("openai", "sk-own-key-0020", label="own", bot_id="bot-a")
    untagged_new = store.add_key("openai", "sk-untagged-new-0021", label="u2")
    store.add_key("anthropic", "sk-other-provider-0022", label="p", bot_id="bot-a")

    choices = store.candidates("openai", bot_id="bot-a", tags=frozenset({"team"}))
    assert [c.info.id for c in choices] == [own.id, tagged.id, untagged_old.id, untagged_new.id]
    assert choices[0].secret == "sk-own-key-0020"
    assert tagged_other.id not in repr(choices)
    assert "sk-" not in repr(choices)

    untagged_only = store.candidates("openai", bot_id="bot-c", tags=frozenset())
    assert [c.info.id for c in untagged_only] == [untagged_old.id, untagged_new.id]
    other = store.candidates("openai", bot_id="bot-b", tags=frozenset({"ops"}))
    assert [c.info.id for c in other] == [
        other_bot.id,
        tagged_other.id,
        tagged.id,
        untagged_old.id,
        untagged_new.id,
    ]
    assert store.candidates("google", bot_id="bot-a", tags=frozenset()) == []


# -- grants and tokens ----------------------------------------------------------------------


def test_grant_token_is_shown_once_and_stored_hashed(store: KeyringStore, db_path: Path) -> None:
    grant = Grant(
        bot_id="bot-a",
        providers=frozenset({"openai", "anthropic"}),
        tags=frozenset({"team"}),
        base_urls={"openai": "https://llm.example.com/v1"},
        budget=Budget(daily_tokens=1000),
    )
    token = store.put_grant(grant)
    assert token is not None
    assert token.startswith(TOKEN_PREFIX)
    token_id, secret = token[len(TOKEN_PREFIX) :].split("_", 1)
    assert len(token_id) == 12
    int(token_id, 16)
    assert len(secret) >= 43
    ((stored_id, stored_hash),) = raw(db_path, "SELECT token_id, token_hash FROM grants")
    assert stored_id == token_id
    assert stored_hash == hashlib.sha256(secret.encode()).hexdigest()

    found = store.get_grant("bot-a")
    assert found.providers == grant.providers
    assert found.tags == grant.tags
    assert dict(found.base_urls) == {"openai": "https://llm.example.com/v1"}
    assert found.budget == Budget(daily_tokens=1000)
    assert found.created_at > 0

    updated = Grant(bot_id="bot-a", providers=frozenset({"google"}), allow_private=True)
    assert store.put_grant(updated) is None
    found = store.get_grant("bot-a")
    assert found.providers == frozenset({"google"})
    assert found.allow_private
    assert found.budget == Budget()
    assert store.authenticate(token) == found
    assert [g.bot_id for g in store.list_grants()] == ["bot-a"]


def test_authenticate_refuses_wrong_unknown_and_garbage_tokens(store: KeyringStore) -> None:
    token = store.put_grant(Grant(bot_id="bot-a", providers=frozenset({"openai"})))
    assert token is not None
    assert store.authenticate(token) is not None
    token_id, secret = token[len(TOKEN_PREFIX) :].split("_", 1)
    wrong_secret = f"{TOKEN_PREFIX}{token_id}_{'A' * len(secret)}"
    unknown_id = f"{TOKEN_PREFIX}{'0' * 12}_{secret}"
    for bad in (
        wrong_secret,
        unknown_id,
        token + "x",
        token[:-1],
        "",
        TOKEN_PREFIX,
        f"{TOKEN_PREFIX}{token_id}",
        f"{TOKEN_PREFIX}{token_id}_",
        f"{TOKEN_PREFIX}{token_id.upper()}_{secret}",
        f"Bearer {token}",
        token.replace(TOKEN_PREFIX, "bk2_"),
        "bk1_' OR 1=1 --_x",
        "\x00" * 80,
    ):
        assert store.authenticate(bad) is None, bad


def test_rotate_token_invalidates_the_old_one(store: KeyringStore) -> None:
    old = store.put_grant(Grant(bot_id="bot-a", providers=frozenset({"openai"})))
    assert old is not None
    new = store.rotate_token("bot-a")
    assert new != old
    assert store.authenticate(old) is None
    found = store.authenticate(new)
    assert found is not None
    assert found.bot_id == "bot-a"
    with pytest.raises(NotFound):
        store.rotate_token("bot-missing")
    with pytest.raises(NotFound):
        store.get_grant("bot-missing")


def test_delete_grant_removes_token_and_the_bots_own_keys(store: KeyringStore) -> None:
    token = store.put_grant(Grant(bot_id="bot-a", providers=frozenset({"openai"})))
    assert token is not None
    store.put_grant(Grant(bot_id="bot-b", providers=frozenset({"openai"})))
    own = store.add_key("openai", "sk-own-deleted-0023", label="own", bot_id="bot-a")
    other = store.add_key("openai", "sk-other-kept-0024", label="other", bot_id="bot-b")
    shared = store.add_key("openai", "sk-shared-kept-0025", label="shared")
    store.delete_grant("bot-a")
    assert store.authenticate(token) is None
    with pytest.raises(NotFound):
        store.get_grant("bot-a")
    with pytest.raises(NotFound):
        store.get_key(own.id)
    assert {k.id for k in store.list_keys()} == {other.id, shared.id}
    assert [g.bot_id for g in store.list_grants()] == ["bot-b"]
    store.delete_grant("bot-a")


def test_upstream_overrides(store: KeyringStore) -> None:
    store.set_upstream(UpstreamOverride("openai", "https://eu.example.com/v1"))
    store.set_upstream(UpstreamOverride("openai", "http://10.0.0.5:8000/v1", allow_private=True))
    store.set_upstream(UpstreamOverride("anthropic", "https://anthropic.example.com"))
    assert store.upstreams() == {
        "anthropic": UpstreamOverride("anthropic", "https://anthropic.example.com"),
        "openai": UpstreamOverride("openai", "http://10.0.0.5:8000/v1", allow_private=True),
    }
    store.delete_upstream("openai")
    store.delete_upstream("openai")
    assert list(store.upstreams()) == ["anthropic"]


# -- usage and events -----------------------------------------------------------------------


def test_usage_upserts_sum_and_ranges_are_inclusive(store: KeyringStore) -> None:
    store.add_usage(
        [
            UsageDelta("2026-03-01", "bot-a", "key_1", "openai", requests=1, input_tokens=10),
            UsageDelta("2026-03-01", "bot-a", "key_1", "openai", requests=1, output_tokens=5),
            UsageDelta("2026-03-02", "bot-a", "key_2", "openai", requests=2, errors=1),
            UsageDelta("2026-03-02", "bot-b", "", "openai", rejected=3),
            UsageDelta("2026-03-31", "bot-b", "key_1", "openai", requests=4, input_tokens=7),
            UsageDelta("2026-04-01", "bot-a", "key_1", "openai", requests=100),
        ]
    )
    store.add_usage([UsageDelta("2026-03-01", "bot-a", "key_1", "openai", input_tokens=1)])
    store.add_usage([])

    march = store.usage_by_bot(day_from="2026-03-01", day_to="2026-03-31")
    assert march == {
        "bot-a": Usage(requests=4, input_tokens=11, output_tokens=5, errors=1),
        "bot-b": Usage(requests=4, input_tokens=7, rejected=3),
    }
    assert march["bot-a"].tokens == 16
    assert store.usage_by_bot(day_from="2026-03-02", day_to="2026-03-02") == {
        "bot-a": Usage(requests=2, errors=1),
        "bot-b": Usage(rejected=3),
    }
    assert store.usage_by_key(day_from="2026-03-01", day_to="2026-03-31") == {
        "key_1": Usage(requests=6, input_tokens=18, output_tokens=5),
        "key_2": Usage(requests=2, errors=1),
        "": Usage(rejected=3),
    }
    assert store.usage_days(bot_id="bot-a", day_from="2026-03-01", day_to="2026-04-30") == [
        ("2026-03-01", Usage(requests=2, input_tokens=11, output_tokens=5)),
        ("2026-03-02", Usage(requests=2, errors=1)),
        ("2026-04-01", Usage(requests=100)),
    ]
    assert store.usage_days(bot_id=None, day_from="2026-03-02", day_to="2026-03-31") == [
        ("2026-03-02", Usage(requests=2, errors=1, rejected=3)),
        ("2026-03-31", Usage(requests=4, input_tokens=7)),
    ]
    assert store.usage_by_bot(day_from="2025-01-01", day_to="2025-12-31") == {}
    with pytest.raises(InvalidInput):
        store.usage_by_bot(day_from="March", day_to="2026-03-31")
    with pytest.raises(InvalidInput):
        store.add_usage([UsageDelta("2026/03/01", "bot-a", "key_1", "openai")])


def test_events_are_appended_and_paged(store: KeyringStore) -> None:
    first = store.add_event("bot-a", "budget_exceeded", "daily tokens")
    second = store.add_event("bot-b", "key_failed", "key_1: 401")
    third = store.add_event("bot-a", "key_failed", "key_2: 429")
    assert first.id < second.id < third.id
    assert [e.id for e in store.events()] == [first.id, second.id, third.id]
    assert store.events(after_id=first.id) == [second, third]
    assert store.events(bot_id="bot-a") == [first, third]
    assert store.events(limit=1) == [first]
    assert store.events(after_id=third.id) == []


# -- rotation -------------------------------------------------------------------------------


def test_rotation_rewraps_every_key_and_drops_old_keks(store: KeyringStore, db_path: Path) -> None:
    keys = {store.add_key("openai", f"sk-rotate-{n:04d}", label=str(n)).id: n for n in range(5)}
    before = dict(raw(db_path, "SELECT id, ciphertext FROM keys"))
    progress: list[tuple[int, int]] = []
    report = store.rotate(on_progress=lambda done, total: progress.append((done, total)))
    assert (report.kek_version, report.rewrapped, report.resumed) == (2, 5, False)
    assert progress == [(n, 5) for n in range(1, 6)]
    assert {k.kek_version for k in store.list_keys()} == {2}
    assert raw(db_path, "SELECT version, retired FROM keks") == [(2, 0)]
    assert dict(raw(db_path, "SELECT id, ciphertext FROM keys")) == before
    for key_id, n in keys.items():
        assert store.reveal(key_id) == f"sk-rotate-{n:04d}"

    report = store.rotate()
    assert (report.kek_version, report.rewrapped, report.resumed) == (3, 5, False)
    added = store.add_key("openai", "sk-after-rotation-0026", label="after")
    assert added.kek_version == 3


def test_rotation_of_an_empty_keyring(store: KeyringStore, db_path: Path) -> None:
    report = store.rotate()
    assert (report.kek_version, report.rewrapped, report.resumed) == (2, 0, False)
    assert raw(db_path, "SELECT version FROM keks") == [(2,)]


def test_interrupted_rotation_resumes_with_the_same_kek(store: KeyringStore, db_path: Path) -> None:
    ids = [store.add_key("openai", f"sk-interrupt-{n:04d}", label=str(n)).id for n in range(4)]
    with pytest.raises(Stop):
        store.rotate(on_progress=stop_after(2))
    assert sorted(v for (v,) in raw(db_path, "SELECT kek_version FROM keys")) == [1, 1, 2, 2]
    report = store.rotate()
    assert (report.kek_version, report.rewrapped, report.resumed) == (2, 2, True)
    assert raw(db_path, "SELECT version FROM keks") == [(2,)]
    assert [store.reveal(i) for i in ids] == [f"sk-interrupt-{n:04d}" for n in range(4)]


def test_rotation_to_a_new_master_key(
    store: KeyringStore, open_store: OpenStore, key_path: Path, db_path: Path
) -> None:
    info = store.add_key("openai", "sk-new-root-0027", label="main")
    old_root = RootKey.from_file(key_path)
    new_root = RootKey.generate()
    report = store.rotate(new_root=new_root)
    assert report.kek_version == 2
    assert store.reveal(info.id) == "sk-new-root-0027"

    again = open_store()
    with pytest.raises(KeyringLocked, match="wrong master key"):
        again.unlock(old_root)
    again.unlock(new_root)
    assert again.reveal(info.id) == "sk-new-root-0027"

    passphrase_root = RootKey.new_passphrase("a long new passphrase", FAST)
    again.rotate(new_root=passphrase_root)
    assert again.root_kind() == "passphrase"
    third = open_store()
    with pytest.raises(KeyringLocked, match="passphrase, not a master key file"):
        third.unlock(new_root)
    third.unlock_with_passphrase("a long new passphrase")
    assert third.reveal(info.id) == "sk-new-root-0027"

    back = RootKey.generate()
    third.rotate(new_root=back)
    assert third.root_kind() == "file"
    keys = {k for (k,) in raw(db_path, "SELECT key FROM meta")}
    assert keys == {"root_check", "root_kind"}
    fourth = open_store()
    fourth.unlock(back)
    assert fourth.reveal(info.id) == "sk-new-root-0027"


ROTATE_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from botmaker.keyring.crypto import RootKey
    from botmaker.keyring.store import KeyringStore

    store = KeyringStore(Path(sys.argv[1]))
    store.unlock(RootKey.from_file(Path(sys.argv[2])))

    def progress(done, total):
        print(f"row {done} {total}", flush=True)
        if done >= 10:
            time.sleep(0.2)

    store.rotate(on_progress=progress)
    print("finished", flush=True)
    """
)


def test_rotation_killed_half_way_resumes(
    store: KeyringStore, open_store: OpenStore, db_path: Path, key_path: Path
) -> None:
    secrets_by_id = {
        store.add_key("openai", f"sk-killed-{n:04d}", label=str(n)).id: f"sk-killed-{n:04d}"
        for n in range(30)
    }
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", ROTATE_SCRIPT, str(db_path), str(key_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    lines: list[str] = []
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if lines[-1] == "row 10 30":
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        stderr = child.stderr.read()
        child.stdout.close()
        child.stderr.close()
    assert lines[-1:] == ["row 10 30"], (lines, stderr)
    assert child.returncode == -signal.SIGKILL

    counts = dict(raw(db_path, "SELECT kek_version, COUNT(*) FROM keys GROUP BY kek_version"))
    assert set(counts) == {1, 2}
    assert 10 <= counts[2] < 30
    assert raw(db_path, "SELECT version FROM keks ORDER BY version") == [(1,), (2,)]
    for key_id, secret in secrets_by_id.items():
        assert store.reveal(key_id) == secret

    again = open_store()
    again.unlock_with_file(key_path, create=False)
    report = again.rotate()
    assert report.resumed
    assert report.kek_version == 2
    assert report.rewrapped == counts[1]
    assert raw(db_path, "SELECT DISTINCT kek_version FROM keys") == [(2,)]
    assert raw(db_path, "SELECT version FROM keks") == [(2,)]
    assert raw(db_path, "PRAGMA integrity_check") == [("ok",)]
    for key_id, secret in secrets_by_id.items():
        assert again.reveal(key_id) == secret
        assert store.reveal(key_id) == secret


def test_two_instances_on_one_file(
    store: KeyringStore, open_store: OpenStore, key_path: Path
) -> None:
    other = open_store()
    other.unlock_with_file(key_path, create=False)
    first = store.add_key("openai", "sk-shared-file-0028", label="first")
    assert [k.id for k in other.list_keys()] == [first.id]
    assert other.reveal(first.id) == "sk-shared-file-0028"

    store.rotate()
    assert other.reveal(first.id) == "sk-shared-file-0028"
    second = other.add_key("openai", "sk-shared-file-0029", label="second")
    assert second.kek_version == 2
    assert store.reveal(second.id) == "sk-shared-file-0029"
    assert [c.info.id for c in other.candidates("openai", bot_id="b", tags=frozenset())] == [
        first.id,
        second.id,
    ]

    token = other.put_grant(Grant(bot_id="bot-a", providers=frozenset({"openai"})))
    assert token is not None
    assert store.authenticate(token) is not None

    store.rotate(new_root=RootKey.generate())
    with pytest.raises(KeyringLocked, match="changed by another process"):
        other.reveal(first.id)
    assert other.locked
