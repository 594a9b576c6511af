"""Careful file operations, safe in folders a bot may have tampered with.

A bot owns its state folder (mounted read-write at ``/state``) and BotMaker runs as
root, so a path inside that folder is never trusted: a bot can swap any file or
folder for a symlink to a host path, a hard link, a FIFO or a device node at any
moment. Every operation here therefore starts from a :class:`Folder` (an open folder
descriptor) and goes one name at a time, relative to it:

- a folder is opened with ``O_DIRECTORY | O_NOFOLLOW``; when one is to be made and
  something else has its name (a link, a file, a FIFO), that entry is unlinked (never
  followed) and the folder made;
- a file is written to a new temp file (``O_EXCL | O_NOFOLLOW``, final mode, owner set
  with ``fchown``) and renamed over its name, so a link, hard link or FIFO there is
  replaced, never written through;
- a file is read only when it is a regular file with exactly one link (a hard link
  may be another file's), opened ``O_NOFOLLOW | O_NONBLOCK``: a FIFO never blocks;
- a tree is removed by unlinking its entries, entering only real folders; folders
  nested deeper than :data:`MAX_DEPTH` are first moved up, so a bot's nesting cannot
  exhaust the stack or the descriptors. (Not ``shutil.rmtree``: on Python 3.11 its
  fd-based walk checks an entry, then opens it without ``O_NOFOLLOW``/``O_NONBLOCK``,
  so a folder swapped for a FIFO in between hangs it, and for a link fails it.)

The same rules serve the secrets folders and every other atomic write.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_BOT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: Folders nested deeper than this are moved up before they are removed, and not read.
MAX_DEPTH = 64

Owner = tuple[int, int]


class TooLarge(Exception):
    """A file larger than its reader takes (a bot can fill its folder with anything)."""

    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(f"{name} is {size} bytes, more than {limit}")
        self.name = name
        self.size = size
        self.limit = limit


def is_bot_id(value: str) -> bool:
    """A bot id is a lowercase UUID: safe as a folder name, never a path."""
    return bool(_BOT_ID.fullmatch(value))


def running_as_root() -> bool:
    return os.geteuid() == 0


def _own(fd: int, owner: Owner | None) -> None:
    """Give an open file to ``owner`` (BotMaker's own user when None); without root,
    files stay BotMaker's own."""
    if running_as_root():
        os.fchown(fd, *(owner or (os.geteuid(), os.getegid())))


class Folder:
    """An open folder; every operation is relative to it and never follows a link."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, path: Path, *, create: bool = False, mode: int = 0o700) -> Folder:
        """A folder BotMaker itself chose (its data, secrets or keyring folder), by path;
        the admin may have made it a link. With ``create`` it is made if missing and
        given ``mode`` and BotMaker's own user."""
        if create:
            path.mkdir(mode=mode, parents=True, exist_ok=True)
        folder = cls(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        if create:
            folder._settle(mode, None)
        return folder

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def _settle(self, mode: int, owner: Owner | None) -> None:
        os.fchmod(self.fd, mode)
        _own(self.fd, owner)

    def sub(
        self, name: str, *, create: bool = False, owner: Owner | None = None, mode: int = 0o700
    ) -> Folder:
        """The folder ``name`` in this one. With ``create`` it is made if missing (what
        else has the name is removed first) and given ``mode`` and ``owner``."""
        try:
            folder = Folder(os.open(name, _FOLDER, dir_fd=self.fd))
        except OSError as exc:
            if not create or exc.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                raise
            self.remove(name)
            os.mkdir(name, mode, dir_fd=self.fd)
            folder = Folder(os.open(name, _FOLDER, dir_fd=self.fd))
        if create:
            folder._settle(mode, owner)
        return folder

    def path(
        self, parts: Sequence[str], *, create: bool = False, owner: Owner | None = None
    ) -> Folder:
        """The folder ``parts`` down from this one (this one again, duplicated, for none)."""
        current = Folder(os.dup(self.fd))
        for part in parts:
            with current:
                current = current.sub(part, create=create, owner=owner)
        return current

    def find(self, parts: Sequence[str]) -> Folder | None:
        """The folder ``parts`` down from this one; None when it is missing or is not a
        folder (a link, a file, a FIFO)."""
        try:
            return self.path(parts)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None
            raise

    def names(self) -> list[str]:
        return sorted(os.listdir(self.fd))

    def write(
        self, name: str, data: bytes, *, owner: Owner | None = None, mode: int = 0o600
    ) -> None:
        """Atomically replace ``name`` with ``data``: temp file with its final mode and
        owner, fsync, rename over the name (a folder there is removed first), fsync."""
        tmp = f".{name[:64]}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, _CREATE, mode, dir_fd=self.fd)
        try:
            try:
                os.fchmod(fd, mode)
                _own(fd, owner)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
            except IsADirectoryError:
                self.remove(name)
                os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            self._unlink(tmp)
            raise
        os.fsync(self.fd)

    def read(self, name: str, limit: int | None = None) -> bytes | None:
        """``name``'s bytes if it is a regular file with one link; None for anything else.

        It is checked before it is opened (no device is ever opened) and again after
        (the same file, still regular, one link). With ``limit``, a file of more bytes
        (or one that grows past it while read) raises :class:`TooLarge`, and no more
        than ``limit + 1`` bytes are ever read.
        """
        try:
            seen = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            if not _single_file(seen):
                return None
            fd = os.open(name, _READ, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO, errno.ENOTDIR):
                return None  # gone, or swapped for a link or a FIFO meanwhile
            raise
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not _single_file(info) or (info.st_dev, info.st_ino) != (seen.st_dev, seen.st_ino):
                return None
            if limit is None:
                return handle.read()
            if info.st_size > limit:
                raise TooLarge(name, info.st_size, limit)
            data = handle.read(limit + 1)
            if len(data) > limit:
                raise TooLarge(name, len(data), limit)
            return data

    def files(self, depth: int = 0, limit: int | None = None) -> Iterator[tuple[str, bytes]]:
        """Every file :meth:`read` takes under this folder, by relative path; with
        ``limit``, files larger than that are left out (and logged)."""
        for name in self.names():
            try:
                data = self.read(name, limit)
            except TooLarge as exc:
                log.warning("skipped a file of %d bytes (more than %d)", exc.size, exc.limit)
                continue
            if data is not None:
                yield name, data
                continue
            try:
                inner = self.sub(name)
            except OSError:
                continue  # not a folder (a link, FIFO, device, hard link) or gone
            with inner:
                if depth >= MAX_DEPTH:
                    log.warning("skipped a folder nested deeper than %d levels", MAX_DEPTH)
                    continue
                for relative, data in inner.files(depth + 1, limit):
                    yield f"{name}/{relative}", data

    def _unlink(self, name: str) -> bool:
        """Unlink ``name`` unless it is a folder; True when nothing is left of it."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            return True
        except IsADirectoryError:
            return False
        return True

    def remove(self, name: str) -> None:
        """Remove ``name`` (a file, link, special file or whole folder); gone is fine."""
        if self._unlink(name):
            return
        with self.sub(name) as inner:
            inner._empty(inner, 0)
        os.rmdir(name, dir_fd=self.fd)

    def _empty(self, top: Folder, depth: int) -> None:
        names = self.names()
        while names:
            for name in names:
                if self._unlink(name):
                    continue
                if depth >= MAX_DEPTH:  # moved up into ``top``, removed from there
                    fresh = f".deep.{uuid.uuid4().hex}"
                    os.rename(name, fresh, src_dir_fd=self.fd, dst_dir_fd=top.fd)
                    continue
                with self.sub(name) as inner:
                    inner._empty(top, depth + 1)
                os.rmdir(name, dir_fd=self.fd)
            names = self.names() if self is top else []


def _single_file(info: os.stat_result) -> bool:
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def atomic_write(
    folder: Path, name: str, data: bytes, *, uid: int, gid: int, mode: int = 0o600
) -> None:
    """Temp file created with its final mode in the same folder, fsync, rename, fsync folder."""
    with Folder.open(folder) as opened:
        opened.write(name, data, owner=(uid, gid), mode=mode)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
