"""Per-bot OpenClaw state folders: ``<data dir>/bots/<bot id>/state``.

Holds what BotMaker renders (``openclaw.json``, workspace persona files) and what
OpenClaw writes at run time. Owned by the bot's uid, 0700, mounted read-write at
``/state`` in that bot's container only. The previous rendering is kept in
``<bot id>/previous`` (BotMaker's own, never mounted) so a failed re-configuration can
be rolled back. An upgrade's preflight works on a copy in ``<bot id>/scratch``, which
only that preflight's throwaway container mounts.

The bot controls everything inside ``state``, so every operation there goes through
:class:`botmaker.fsutil.Folder`: a link, hard link, FIFO or device the bot planted is
replaced or skipped, never followed, read or given away.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from botmaker.errors import BotMakerError, StorageFull
from botmaker.fsutil import Folder, TooLarge, is_bot_id
from botmaker.openclaw.render import MERGE_LIMIT

log = logging.getLogger(__name__)

#: The bot's ``openclaw.json`` (OpenClaw rewrites it; BotMaker renders it).
CONFIG_FILE = "openclaw.json"
#: The largest ``openclaw.json`` (or other rendered file) BotMaker reads back from a
#: bot's state folder (its own renders are a few KiB; the bot may have written anything).
CONFIG_LIMIT = MERGE_LIMIT
#: The largest file of a state folder a backup, export or preflight copies: what an
#: import takes (``services/backup.py``); larger ones are left out, never read whole.
FILE_LIMIT = 256 * 1024 * 1024


class StateError(BotMakerError):
    code = "state_error"


def _parts(relative: str) -> list[str]:
    """A relative path's names; anything that could walk out of the folder is refused."""
    parts = relative.split("/")
    if any(p in ("", ".", "..") or "\0" in p for p in parts):
        raise StateError(f"not a plain relative path: {relative!r}")
    return parts


class StateStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def bot_folder(self, bot_id: str) -> Path:
        if not is_bot_id(bot_id):  # never let an id walk out of the root
            raise StateError(f"not a bot id: {bot_id!r}")
        return self.root / bot_id

    def folder(self, bot_id: str) -> Path:
        return self.bot_folder(bot_id) / "state"

    @contextlib.contextmanager
    def _errors(self, bot_id: str, what: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"no space left on the disk holding {self.root}") from None
            raise StateError(f"cannot {what} state of bot {bot_id}: {exc.strerror}") from None

    @contextlib.contextmanager
    def _existing(self, bot_id: str, *parts: str) -> Iterator[Folder | None]:
        """The folder ``<bot id>/<parts>`` opened; None when it is not there."""
        self.bot_folder(bot_id)
        if not self.root.is_dir():
            yield None
            return
        with Folder.open(self.root) as root:
            found = root.find([bot_id, *parts])
        if found is None:
            yield None
            return
        with found:
            yield found

    def write(self, bot_id: str, files: Mapping[str, bytes], *, uid: int) -> Path:
        """Write rendered files atomically, keeping the previous rendering aside."""
        paths = {relative: _parts(relative) for relative in files}
        owner = (uid, uid)
        self.bot_folder(bot_id)
        with (
            self._errors(bot_id, "write"),
            Folder.open(self.root, create=True) as root,
            root.sub(bot_id, create=True) as base,
            base.sub("state", create=True, owner=owner) as state,
            base.sub("previous", create=True) as previous,
        ):
            for relative, data in files.items():
                *folders, name = paths[relative]
                with state.path(folders, create=True, owner=owner) as folder:
                    try:
                        old = folder.read(name, CONFIG_LIMIT)
                    except TooLarge as exc:  # the bot bloated it: nothing to go back to
                        log.warning(
                            "bot %s: its %s is %d bytes; not kept", bot_id, relative, exc.size
                        )
                        old = None
                    with previous.path(folders, create=True) as kept:
                        if old is not None:
                            kept.write(name, old)
                        else:  # an older rendering is not this one's previous
                            kept.remove(name)
                    folder.write(name, data, owner=owner)
        return self.folder(bot_id)

    def restore_previous(self, bot_id: str, *, uid: int) -> bool:
        """Put the previous rendering back; False when there is none."""
        with self._errors(bot_id, "read the previous"), self._existing(bot_id, "previous") as kept:
            files = dict(kept.files()) if kept is not None else {}
        if not files:
            return False
        self.write(bot_id, files, uid=uid)
        return True

    def read(self, bot_id: str, relative: str, limit: int | None = None) -> bytes | None:
        """One file of the state folder, if it is a regular file of the bot's own; with
        ``limit``, a larger one raises :class:`botmaker.fsutil.TooLarge` unread."""
        return self._read(bot_id, "state", relative, limit)

    def config(self, bot_id: str) -> bytes | None:
        """The bot's ``openclaw.json`` for a render to merge from: None when there is
        none, or when the bot made it larger than any config BotMaker would merge
        (:data:`CONFIG_LIMIT`; the render alone is then written over it)."""
        try:
            return self.read(bot_id, CONFIG_FILE, CONFIG_LIMIT)
        except TooLarge as exc:
            log.warning("bot %s: its %s is %d bytes; not merged", bot_id, CONFIG_FILE, exc.size)
            return None

    def _read(
        self, bot_id: str, area: str, relative: str, limit: int | None = None
    ) -> bytes | None:
        *folders, name = _parts(relative)
        with self._errors(bot_id, "read"), self._existing(bot_id, area, *folders) as folder:
            return folder.read(name, limit) if folder is not None else None

    def files(self, bot_id: str) -> Iterator[tuple[str, bytes]]:
        """The state folder's regular files with their relative paths, one at a time
        (what a backup or a preflight copies); links, FIFOs, devices and hard links are
        left out, and so are files over :data:`FILE_LIMIT`."""
        with self._errors(bot_id, "read"), self._existing(bot_id, "state") as state:
            if state is not None:
                yield from state.files(limit=FILE_LIMIT)

    def scratch(self, bot_id: str) -> Path:
        return self.bot_folder(bot_id) / "scratch"

    def copy_to_scratch(self, bot_id: str, files: Iterable[tuple[str, bytes]], *, uid: int) -> Path:
        """A fresh scratch folder (a previous one removed) holding ``files``, owned by
        the bot's uid: a copy a throwaway container may change."""
        owner = (uid, uid)
        self.bot_folder(bot_id)
        with (
            self._errors(bot_id, "copy"),
            Folder.open(self.root, create=True) as root,
            root.sub(bot_id, create=True) as base,
        ):
            base.remove("scratch")
            with base.sub("scratch", create=True, owner=owner) as scratch:
                for relative, data in files:
                    *folders, name = _parts(relative)
                    with scratch.path(folders, create=True, owner=owner) as folder:
                        folder.write(name, data, owner=owner)
        return self.scratch(bot_id)

    def read_scratch(self, bot_id: str, relative: str, limit: int | None = None) -> bytes | None:
        """One regular file of the scratch copy (what the throwaway container left)."""
        return self._read(bot_id, "scratch", relative, limit)

    def remove_scratch(self, bot_id: str) -> None:
        self.bot_folder(bot_id)
        with self._errors(bot_id, "remove"), self._existing(bot_id) as base:
            if base is not None:
                base.remove("scratch")

    def remove(self, bot_id: str) -> None:
        self.bot_folder(bot_id)
        if self.root.is_dir():
            with self._errors(bot_id, "remove"), Folder.open(self.root) as root:
                root.remove(bot_id)
