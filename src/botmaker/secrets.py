"""Per-bot secret folders: ``<secrets dir>/<bot id>/``, 0700, files 0600, atomic writes.

The folder and its files are owned by the bot's own uid (when BotMaker runs as
root), so the bot's non-root user can read them and no other bot's uid can. The
folder is bind-mounted read-only at ``/run/secrets`` in that bot's container only.
Values never leave this module except as file contents.
"""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from botmaker.errors import BotMakerError, StorageFull
from botmaker.fsutil import atomic_write as _atomic_write
from botmaker.fsutil import chown_if_root, is_bot_id
from botmaker.fsutil import fsync_dir as _fsync_dir

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
            folder.mkdir(mode=0o700, exist_ok=True)
            folder.chmod(0o700)
            chown_if_root(folder, uid, gid)
            for name, value in values.items():
                _atomic_write(folder, name, value.encode("utf-8"), uid=uid, gid=gid)
            _fsync_dir(self.root)
        except OSError as exc:
            # The message names the path and the error, never a value.
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"no space left on the disk holding {self.root}") from None
            raise SecretsError(f"cannot write secrets for bot {bot_id}: {exc.strerror}") from None
        return folder

    def names(self, bot_id: str) -> list[str]:
        folder = self.folder(bot_id)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if valid_secret_name(p.name))

    def read(self, bot_id: str, name: str) -> str | None:
        """One secret's value, for BotMaker's own use (rollback); never for a response."""
        if not valid_secret_name(name):
            raise SecretsError(f"unknown secret name: {name!r}")
        path = self.folder(bot_id) / name
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def remove_one(self, bot_id: str, name: str) -> None:
        if not valid_secret_name(name):
            raise SecretsError(f"unknown secret name: {name!r}")
        try:
            (self.folder(bot_id) / name).unlink()
        except FileNotFoundError:
            return

    def exists(self, bot_id: str) -> bool:
        return self.folder(bot_id).is_dir()

    def remove(self, bot_id: str) -> None:
        folder = self.folder(bot_id)
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SecretsError(f"cannot remove secrets for bot {bot_id}: {exc.strerror}") from None
        with contextlib.suppress(OSError):
            _fsync_dir(self.root)
