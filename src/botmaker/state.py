"""Per-bot OpenClaw state folders: ``<data dir>/bots/<bot id>/state``.

Holds what BotMaker renders (``openclaw.json``, workspace persona files) and what
OpenClaw writes at run time. Owned by the bot's uid, 0700, mounted read-write at
``/state`` in that bot's container only. The previous rendering is kept in
``<bot id>/previous`` so a failed re-configuration can be rolled back.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Mapping
from pathlib import Path

from botmaker.errors import BotMakerError, StorageFull
from botmaker.fsutil import atomic_write, chown_if_root, is_bot_id


class StateError(BotMakerError):
    code = "state_error"


class StateStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def bot_folder(self, bot_id: str) -> Path:
        if not is_bot_id(bot_id):  # never let an id walk out of the root
            raise StateError(f"not a bot id: {bot_id!r}")
        return self.root / bot_id

    def folder(self, bot_id: str) -> Path:
        return self.bot_folder(bot_id) / "state"

    def write(self, bot_id: str, files: Mapping[str, bytes], *, uid: int) -> Path:
        """Write rendered files atomically, keeping the previous rendering aside."""
        base = self.bot_folder(bot_id)
        state = base / "state"
        previous = base / "previous"
        try:
            for folder in (self.root, base, state, previous):
                folder.mkdir(mode=0o700, exist_ok=True)
                folder.chmod(0o700)
                chown_if_root(folder, uid, uid)
            for relative, data in files.items():
                target = state / relative
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                chown_if_root(target.parent, uid, uid)
                if target.is_file():
                    keep = previous / relative
                    keep.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    atomic_write(keep.parent, keep.name, target.read_bytes(), uid=uid, gid=uid)
                atomic_write(target.parent, target.name, data, uid=uid, gid=uid)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"no space left on the disk holding {self.root}") from None
            raise StateError(f"cannot write state for bot {bot_id}: {exc.strerror}") from None
        return state

    def restore_previous(self, bot_id: str, *, uid: int) -> bool:
        previous = self.bot_folder(bot_id) / "previous"
        if not previous.is_dir():
            return False
        files = {
            str(p.relative_to(previous)): p.read_bytes() for p in previous.rglob("*") if p.is_file()
        }
        if not files:
            return False
        self.write(bot_id, files, uid=uid)
        return True

    def read(self, bot_id: str, relative: str) -> bytes | None:
        path = self.folder(bot_id) / relative
        return path.read_bytes() if path.is_file() else None

    def remove(self, bot_id: str) -> None:
        try:
            shutil.rmtree(self.bot_folder(bot_id))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"cannot remove state for bot {bot_id}: {exc.strerror}") from None
