"""Per-bot secret folders: ``<secrets dir>/<bot id>/``, 0700, files 0600, atomic writes.

The folder and its files are owned by the bot's own uid (when BotMaker runs as
root), so the bot's non-root user can read them and no other bot's uid can. The
folder is bind-mounted read-only at ``/run/secrets`` in that bot's container only.
Values never leave this module except as file contents.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from botmaker.errors import BotMakerError, StorageFull
from botmaker.fsutil import Folder, is_bot_id

#: The secret files a bot may have: fixed names, plus ``channel_<credential>``.
SECRET_NAMES = ("api_key", "gateway_token", "keyring_token", "channel_token", "channel_config")
_SECRET_NAME = re.compile(r"^(api_key|gateway_token|keyring_token|channel_[a-z][a-z0-9_]{0,39})$")


def valid_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.fullmatch(name))


class SecretsError(BotMakerError):
    code = "secrets_error"


class SecretStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)

    def folder(self, bot_id: str) -> Path:
        if not is_bot_id(bot_id):  # never let an id walk out of the root
            raise SecretsError(f"not a bot id: {bot_id!r}")
        return self.root / bot_id

    def write_all(self, bot_id: str, values: Mapping[str, str], *, uid: int, gid: int) -> Path:
        """Create the bot's folder (if needed) and atomically write each secret."""
        unknown = {name for name in values if not valid_secret_name(name)}
        if unknown:
            raise SecretsError(f"unknown secret names: {sorted(unknown)}")
        folder = self.folder(bot_id)
        try:
            self.ensure_root()
            with (
                Folder.open(self.root, create=True) as root,
                root.sub(bot_id, create=True, owner=(uid, gid)) as opened,
            ):
                for name, value in values.items():
                    opened.write(name, value.encode("utf-8"), owner=(uid, gid))
                os.fsync(root.fd)
        except OSError as exc:
            # The message names the path and the error, never a value.
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"no space left on the disk holding {self.root}") from None
            raise SecretsError(f"cannot write secrets for bot {bot_id}: {exc.strerror}") from None
        return folder

    @contextlib.contextmanager
    def _opened(self, bot_id: str) -> Iterator[Folder | None]:
        """The bot's folder opened (never through a link); None when it is not there."""
        self.folder(bot_id)
        if not self.root.is_dir():
            yield None
            return
        with Folder.open(self.root) as root:
            found = root.find([bot_id])
        if found is None:
            yield None
            return
        with found:
            yield found

    def names(self, bot_id: str) -> list[str]:
        with self._opened(bot_id) as folder:
            return [n for n in folder.names() if valid_secret_name(n)] if folder else []

    def read(self, bot_id: str, name: str) -> str | None:
        """One secret's value, for BotMaker's own use (rollback); never for a response."""
        if not valid_secret_name(name):
            raise SecretsError(f"unknown secret name: {name!r}")
        with self._opened(bot_id) as folder:
            data = folder.read(name) if folder else None
        return data.decode("utf-8") if data is not None else None

    def values(self, bot_id: str) -> list[str]:
        """Every secret value of the bot, only to redact them from text BotMaker shows
        (log lines in alerts, config diffs); never for a response."""
        with self._opened(bot_id) as folder:
            if folder is None:
                return []
            found = (folder.read(n) for n in folder.names() if valid_secret_name(n))
            return [data.decode("utf-8", errors="replace") for data in found if data]

    def remove_one(self, bot_id: str, name: str) -> None:
        if not valid_secret_name(name):
            raise SecretsError(f"unknown secret name: {name!r}")
        with self._opened(bot_id) as folder:
            if folder is not None:
                folder.remove(name)

    def exists(self, bot_id: str) -> bool:
        folder = self.folder(bot_id)
        return folder.is_dir() and not folder.is_symlink()

    def remove(self, bot_id: str) -> None:
        self.folder(bot_id)
        if not self.root.is_dir():
            return
        try:
            with Folder.open(self.root) as root:
                root.remove(bot_id)
                os.fsync(root.fd)
        except OSError as exc:
            raise SecretsError(f"cannot remove secrets for bot {bot_id}: {exc.strerror}") from None
