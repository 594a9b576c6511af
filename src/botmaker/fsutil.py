"""Careful file writes shared by the secrets and state folders."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path

_BOT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_bot_id(value: str) -> bool:
    """A bot id is a lowercase UUID: safe as a folder name, never a path."""
    return bool(_BOT_ID.fullmatch(value))


def running_as_root() -> bool:
    return os.geteuid() == 0


def chown_if_root(path: Path, uid: int, gid: int) -> None:
    """Give ``path`` to a bot's uid; without root, files stay BotMaker's own."""
    if running_as_root():
        os.chown(path, uid, gid)


def atomic_write(
    folder: Path, name: str, data: bytes, *, uid: int, gid: int, mode: int = 0o600
) -> None:
    """Temp file created with its final mode in the same folder, fsync, rename, fsync folder."""
    tmp = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        if running_as_root():
            os.fchown(fd, uid, gid)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    os.close(fd)
    os.replace(tmp, folder / name)
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
