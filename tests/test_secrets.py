"""Per-bot secret folders on the real filesystem (the suite runs as root, so chown is real)."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from botmaker.fsutil import running_as_root
from botmaker.secrets import SECRET_NAMES, SecretsError, SecretStore

BOT_UID = 212_345
VALUES = {"api_key": "sk-first-value", "channel_token": "123:first-token"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> SecretStore:
    return SecretStore(tmp_path / "secrets")


def test_the_suite_runs_as_root() -> None:
    # Ownership below is only meaningful as root (BotMaker chowns only when it can).
    assert running_as_root(), "run the suite as root (scripts/test does)"


def test_folder_0700_files_0600_owned_by_the_bot(store: SecretStore) -> None:
    bot_id = str(uuid.uuid4())
    folder = store.write_all(bot_id, VALUES, uid=BOT_UID, gid=BOT_UID + 1)
    assert folder == store.root / bot_id
    assert mode(store.root) == 0o700
    assert mode(folder) == 0o700
    assert (folder.stat().st_uid, folder.stat().st_gid) == (BOT_UID, BOT_UID + 1)
    assert sorted(p.name for p in folder.iterdir()) == sorted(VALUES)
    for name, value in VALUES.items():
        path = folder / name
        assert path.is_file()
        assert not path.is_symlink()
        assert mode(path) == 0o600
        assert (path.stat().st_uid, path.stat().st_gid) == (BOT_UID, BOT_UID + 1)
        assert path.read_text(encoding="utf-8") == value
    assert store.names(bot_id) == sorted(VALUES)
    assert store.exists(bot_id)


def test_an_existing_root_is_tightened_to_0700(store: SecretStore) -> None:
    store.root.mkdir(mode=0o755)
    store.write_all(str(uuid.uuid4()), VALUES, uid=BOT_UID, gid=BOT_UID)
    assert mode(store.root) == 0o700


def test_rewrites_replace_atomically_and_leave_no_temp_files(store: SecretStore) -> None:
    bot_id = str(uuid.uuid4())
    folder = store.write_all(bot_id, VALUES, uid=BOT_UID, gid=BOT_UID)
    before = {name: (folder / name).stat().st_ino for name in VALUES}
    # Open the old file, as a running bot would hold it.
    with (folder / "api_key").open() as held:
        store.write_all(
            bot_id,
            {"api_key": "sk-second", "channel_config": "{}"},
            uid=BOT_UID,
            gid=BOT_UID,
        )
        # A reader with the old file open still sees the whole old value: the new one
        # arrived by rename, never by truncating and rewriting in place.
        assert held.read() == VALUES["api_key"]
    assert (folder / "api_key").read_text() == "sk-second"
    assert (folder / "api_key").stat().st_ino != before["api_key"]
    assert (folder / "channel_token").read_text() == VALUES["channel_token"]  # untouched
    assert (folder / "channel_token").stat().st_ino == before["channel_token"]
    assert (folder / "channel_config").read_text() == "{}"
    assert sorted(os.listdir(folder)) == ["api_key", "channel_config", "channel_token"]
    assert not [p for p in store.root.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
    for name in ("api_key", "channel_config"):
        assert mode(folder / name) == 0o600
        assert (folder / name).stat().st_uid == BOT_UID


@pytest.mark.parametrize(
    "bad_id",
    [
        "..",
        "../outside",
        "../../etc",
        "a/b",
        "/etc",
        "",
        "not-a-uuid",
        # Fresh ids each run, under fixed names: pytest-xdist's workers must collect
        # the same test ids.
        pytest.param(str(uuid.uuid4()).upper(), id="upper-case-uuid"),
        pytest.param(str(uuid.uuid4()) + "/..", id="uuid-then-dot-dot"),
        pytest.param(str(uuid.uuid4()) + "\n", id="uuid-then-newline"),
        pytest.param("." + str(uuid.uuid4())[1:], id="uuid-with-a-dot-first"),
    ],
)
def test_ids_that_are_not_uuids_are_refused(
    store: SecretStore, tmp_path: Path, bad_id: str
) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(SecretsError):
        store.write_all(bad_id, VALUES, uid=BOT_UID, gid=BOT_UID)
    for call in (store.folder, store.names, store.exists, store.remove):
        with pytest.raises(SecretsError):
            call(bad_id)
    # Nothing was written anywhere (the root itself may exist; nothing inside it).
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert [p for p in after if p not in before and p != Path("secrets")] == []


def test_unknown_secret_names_are_refused(store: SecretStore) -> None:
    bot_id = str(uuid.uuid4())
    with pytest.raises(SecretsError, match="unknown secret names"):
        store.write_all(bot_id, {"../../escape": "x"}, uid=BOT_UID, gid=BOT_UID)
    assert not store.exists(bot_id)
    assert set(SECRET_NAMES) == {
        "api_key",
        "gateway_token",
        "keyring_token",
        "channel_token",
        "channel_config",
    }
    for bad in ("channel_", "Channel_x", "other", "channel_x/y", "gateway_token2"):
        with pytest.raises(SecretsError, match="unknown secret names"):
            store.write_all(bot_id, {bad: "x"}, uid=BOT_UID, gid=BOT_UID)
    assert not store.exists(bot_id)


def test_remove_is_idempotent(store: SecretStore) -> None:
    bot_id = str(uuid.uuid4())
    folder = store.write_all(bot_id, VALUES, uid=BOT_UID, gid=BOT_UID)
    keep = store.write_all(str(uuid.uuid4()), VALUES, uid=BOT_UID, gid=BOT_UID)
    store.remove(bot_id)
    assert not folder.exists()
    assert store.names(bot_id) == []
    assert not store.exists(bot_id)
    store.remove(bot_id)  # again: fine
    store.remove(str(uuid.uuid4()))  # never existed: fine
    assert keep.is_dir()  # another bot's folder is untouched
    assert sorted(p.name for p in keep.iterdir()) == sorted(VALUES)


def test_a_failed_write_names_the_bot_never_the_value(store: SecretStore) -> None:
    bot_id = str(uuid.uuid4())
    # (A file where the bot's folder should be is replaced: test_state_safety.py.)
    store.root.parent.mkdir(parents=True, exist_ok=True)
    store.root.write_text("a file where the secrets folder should be")
    with pytest.raises(SecretsError) as raised:
        store.write_all(bot_id, VALUES, uid=BOT_UID, gid=BOT_UID)
    assert bot_id in raised.value.message
    for value in VALUES.values():
        assert value not in raised.value.message
        assert value not in repr(raised.value)
