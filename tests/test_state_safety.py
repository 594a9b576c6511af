"""A bot's planted links and special files never make root BotMaker touch the host.

A bot owns its state folder (mounted read-write at ``/state``). Here, as root on the
real filesystem, each test plants in that folder what a hostile bot could (a symlink
to a host folder or to a root-only host file, a hard link to a host file, a FIFO, a
device node, a file where a folder belongs) and runs one of BotMaker's operations on
it: render (``StateStore.write``), ``restore_previous``, ``read``, ``remove``, the
state files a backup or export takes, and the secrets folder's writes. A canary tree
outside the bot's folders must come out unchanged (content, owner, mode) and no
operation may hang (``timeout``).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from botmaker.fsutil import atomic_write
from botmaker.secrets import SecretStore
from botmaker.services import Services
from botmaker.services.backup import export_bot
from botmaker.state import StateError, StateStore
from tests.support.canary import CANARY_SECRET, canary_tree_digest, holds_canary, make_canary

pytestmark = pytest.mark.timeout(20)  # a FIFO opened for reading would hang forever

BOT_UID = 212_377
RENDERED = {
    "openclaw.json": b'{"gateway": {"mode": "local"}}\n',
    "workspace/IDENTITY.md": b"# IDENTITY.md\n",
    "workspace/SOUL.md": b"You are helpful.\n",
}


def _fresh(path: Path) -> None:
    """Remove what a bot would replace (a file or a folder), never following a link."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def symlink_folder(state: Path, canary: Path) -> None:
    _fresh(state / "workspace")
    (state / "workspace").symlink_to(canary / "folder")


def symlink_file(state: Path, canary: Path) -> None:
    _fresh(state / "openclaw.json")
    (state / "openclaw.json").symlink_to(canary / "secret")


def symlink_nested_file(state: Path, canary: Path) -> None:
    _fresh(state / "workspace" / "SOUL.md")
    (state / "workspace" / "SOUL.md").symlink_to(canary / "secret")


def hard_link(state: Path, canary: Path) -> None:
    _fresh(state / "openclaw.json")
    os.link(canary / "secret", state / "openclaw.json")


def fifo_file(state: Path, canary: Path) -> None:
    _fresh(state / "openclaw.json")
    os.mkfifo(state / "openclaw.json", 0o600)


def fifo_folder(state: Path, canary: Path) -> None:
    _fresh(state / "workspace")
    os.mkfifo(state / "workspace", 0o600)


def device_file(state: Path, canary: Path) -> None:
    _fresh(state / "openclaw.json")
    os.mknod(state / "openclaw.json", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null


def folder_for_file(state: Path, canary: Path) -> None:
    _fresh(state / "openclaw.json")
    (state / "openclaw.json" / "inner").mkdir(parents=True)


Plant = Callable[[Path, Path], None]
PLANTS: dict[str, Plant] = {
    "workspace symlink to a host folder": symlink_folder,
    "openclaw.json symlink to a root-only host file": symlink_file,
    "workspace/SOUL.md symlink to a root-only host file": symlink_nested_file,
    "openclaw.json hard link to a host file": hard_link,
    "openclaw.json a FIFO": fifo_file,
    "workspace a FIFO": fifo_folder,
    "openclaw.json a character device": device_file,
    "openclaw.json a folder": folder_for_file,
}


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    return make_canary(tmp_path / "host")


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    (tmp_path / "data").mkdir(mode=0o700)
    return StateStore(tmp_path / "data" / "bots")


@pytest.fixture
def bot_id() -> str:
    return str(uuid.uuid4())


def planted(store: StateStore, bot_id: str, canary: Path, plant: Plant) -> Path:
    """A rendered state folder with ``plant`` in it; returns the folder."""
    state = store.write(bot_id, RENDERED, uid=BOT_UID)
    plant(state, canary)
    return state


def assert_rendered(state: Path, files: dict[str, bytes]) -> None:
    """Each file is our own: a regular file with one link, the bot's, with ``files``'s bytes."""
    for relative, data in files.items():
        info = (state / relative).lstat()
        assert stat.S_ISREG(info.st_mode), relative
        assert info.st_nlink == 1, relative
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (BOT_UID, 0o600), relative
        assert (state / relative).read_bytes() == data, relative
        parent = (state / relative).parent.lstat()
        assert stat.S_ISDIR(parent.st_mode), relative
        assert parent.st_uid == BOT_UID, relative


@pytest.mark.parametrize("plant", PLANTS.values(), ids=PLANTS.keys())
def test_render_replaces_plants_and_leaves_the_host_alone(
    store: StateStore, bot_id: str, canary: Path, plant: Plant
) -> None:
    state = planted(store, bot_id, canary, plant)
    before = canary_tree_digest(canary)
    again = {**RENDERED, "openclaw.json": b'{"gateway": {"mode": "remote"}}\n'}
    store.write(bot_id, again, uid=BOT_UID)
    assert canary_tree_digest(canary) == before
    assert_rendered(state, again)
    previous = store.bot_folder(bot_id) / "previous"
    assert holds_canary(previous) == []
    assert holds_canary(state) == []


@pytest.mark.parametrize("plant", PLANTS.values(), ids=PLANTS.keys())
def test_restore_previous_never_brings_a_host_file_to_the_bot(
    store: StateStore, bot_id: str, canary: Path, plant: Plant
) -> None:
    state = planted(store, bot_id, canary, plant)
    store.write(bot_id, RENDERED, uid=BOT_UID)  # what an edit does: the plant goes aside
    before = canary_tree_digest(canary)
    store.restore_previous(bot_id, uid=BOT_UID)  # what a failed edit or move does
    assert canary_tree_digest(canary) == before
    assert holds_canary(state) == []
    assert holds_canary(store.bot_folder(bot_id)) == []


def test_previous_is_botmakers_own_not_the_bots(store: StateStore, bot_id: str) -> None:
    """The bot never sees ``previous`` (or its bot folder): BotMaker keeps them, 0700."""
    store.write(bot_id, RENDERED, uid=BOT_UID)
    store.write(bot_id, RENDERED, uid=BOT_UID)
    for folder in (store.root, store.bot_folder(bot_id), store.bot_folder(bot_id) / "previous"):
        info = folder.lstat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.getuid(), 0o700), folder
    kept = (store.bot_folder(bot_id) / "previous" / "openclaw.json").lstat()
    assert (kept.st_uid, stat.S_IMODE(kept.st_mode)) == (os.getuid(), 0o600)


@pytest.mark.parametrize("plant", PLANTS.values(), ids=PLANTS.keys())
def test_read_and_files_never_follow_a_plant(
    store: StateStore, bot_id: str, canary: Path, plant: Plant
) -> None:
    planted(store, bot_id, canary, plant)
    before = canary_tree_digest(canary)
    assert store.read(bot_id, "openclaw.json") in (None, RENDERED["openclaw.json"])
    assert store.read(bot_id, "workspace/SOUL.md") in (None, RENDERED["workspace/SOUL.md"])
    files = dict(store.files(bot_id))
    assert all(CANARY_SECRET not in data for data in files.values())
    assert set(files) <= set(RENDERED)
    assert canary_tree_digest(canary) == before


@pytest.mark.parametrize("plant", PLANTS.values(), ids=PLANTS.keys())
def test_remove_never_follows_a_plant(
    store: StateStore, bot_id: str, canary: Path, plant: Plant
) -> None:
    planted(store, bot_id, canary, plant)
    before = canary_tree_digest(canary)
    store.remove(bot_id)
    assert not store.bot_folder(bot_id).exists()
    assert canary_tree_digest(canary) == before


def test_a_path_that_walks_out_is_refused(store: StateStore, bot_id: str, canary: Path) -> None:
    before = canary_tree_digest(canary)
    for relative in ("../escape", "/abs", "workspace/../../x", "", "a//b"):
        with pytest.raises(StateError, match="not a plain relative path"):
            store.write(bot_id, {relative: b"x"}, uid=BOT_UID)
    assert canary_tree_digest(canary) == before


def test_secret_writes_replace_a_linked_folder_and_files(tmp_path: Path, canary: Path) -> None:
    """The secrets folder is mounted read-only in the bot, but its writes are fd-based
    too: a link planted there (by anyone) is replaced, never written through."""
    secrets = SecretStore(tmp_path / "secrets")
    secrets.ensure_root()
    linked, filed = str(uuid.uuid4()), str(uuid.uuid4())
    (secrets.root / linked).symlink_to(canary / "folder")
    secrets.write_all(filed, {"api_key": "sk-first"}, uid=BOT_UID, gid=BOT_UID)
    (secrets.root / filed / "api_key").unlink()
    (secrets.root / filed / "api_key").symlink_to(canary / "secret")
    os.link(canary / "secret", secrets.root / filed / "channel_token")
    before = canary_tree_digest(canary)
    assert secrets.read(filed, "api_key") is None  # never the canary's content
    assert secrets.read(filed, "channel_token") is None  # a hard link: not ours
    secrets.write_all(linked, {"api_key": "sk-linked"}, uid=BOT_UID, gid=BOT_UID)
    secrets.write_all(filed, {"api_key": "sk-second"}, uid=BOT_UID, gid=BOT_UID)
    secrets.remove_one(filed, "channel_token")
    assert canary_tree_digest(canary) == before
    assert not (secrets.root / linked).is_symlink()
    assert secrets.read(linked, "api_key") == "sk-linked"
    assert secrets.read(filed, "api_key") == "sk-second"
    secrets.remove(linked)
    secrets.remove(filed)
    assert canary_tree_digest(canary) == before


def test_atomic_write_replaces_a_link_rather_than_writing_through_it(
    tmp_path: Path, canary: Path
) -> None:
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "token").symlink_to(canary / "secret")
    before = canary_tree_digest(canary)
    atomic_write(folder, "token", b"ours\n", uid=os.getuid(), gid=os.getgid())
    assert canary_tree_digest(canary) == before
    assert not (folder / "token").is_symlink()
    assert (folder / "token").read_bytes() == b"ours\n"


def test_an_export_takes_only_the_bots_own_regular_files(
    services: Services, tmp_path: Path, canary: Path
) -> None:
    """A bot's export (and a backup: the same code) skips links, FIFOs, devices and hard
    links to other files, and does not hang on a FIFO."""
    record = services.store.insert_bot(
        bot_id=str(uuid.uuid4()),
        name="planted",
        provider="openai",
        model="gpt-5.1",
        channel="telegram",
        image=services.settings.bot_image,
        uid_base=services.settings.bot_uid_base,
        fixed_uid=BOT_UID,
    )
    services.store.update_bot(record.id, state="ready")
    state = services.bots.state.write(record.id, RENDERED, uid=BOT_UID)
    (state / "linked-folder").symlink_to(canary / "folder")
    (state / "linked-file").symlink_to(canary / "secret")
    os.link(canary / "secret", state / "hard-link")
    os.mkfifo(state / "fifo", 0o600)
    os.mknod(state / "device", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    (state / "own.txt").write_bytes(b"the bot's own file\n")
    before = canary_tree_digest(canary)
    archive = tmp_path / "bot.tar.gz"
    export_bot(services, record.id, archive)
    assert canary_tree_digest(canary) == before
    with tarfile.open(archive) as tar:
        members: dict[str, Any] = {
            m.name.rpartition("/state/")[2]: tar.extractfile(m)
            for m in tar
            if m.isfile() and "/state/" in m.name
        }
        contents = {name: handle.read() for name, handle in members.items() if handle}
    assert all(CANARY_SECRET not in data for data in contents.values())
    assert contents == {**RENDERED, "own.txt": b"the bot's own file\n"}


def test_a_deeply_nested_tree_is_read_and_removed(store: StateStore, bot_id: str) -> None:
    """A bot nesting folders thousands deep exhausts neither the stack nor descriptors."""
    state = store.write(bot_id, RENDERED, uid=BOT_UID)
    fd = os.open(state, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1500):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    try:
        assert {name for name, _ in store.files(bot_id)} == set(RENDERED)
    finally:  # left behind, the tree would break pytest's rmtree of old temp folders
        store.remove(bot_id)
    assert not store.bot_folder(bot_id).exists()
