"""The keyring process's settings, read from an environment mapping.

``botmaker keyring serve`` reads them from its own environment; BotMaker, when it
starts the keyring itself, builds that environment (see
``botmaker.services.keyring``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from botmaker.config import ConfigError, parse_float, parse_int, parse_size


def _listen(text: str, name: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{name}: use host:port, got {text!r}", field=name)
    return host.strip("[]"), parse_int(port, name, 0, 65535)


_HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def _hostnames(text: str, name: str) -> tuple[str, ...]:
    """Comma-separated DNS names (``keyring``, ``keyring.internal``), lowercased."""
    names = [item.strip().lower() for item in text.split(",")]
    for item in names:
        if len(item) > 253 or not _HOSTNAME.fullmatch(item):
            raise ConfigError(f"{name}: not a host name: {item!r}", field=name)
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class KeyringSettings:
    dir: Path = Path("data/keyring")
    master_key_file: Path = Path("secrets/.keyring/master.key")
    passphrase_file: Path | None = None
    admin_token_file: Path = Path("data/keyring/admin.token")
    data_listen: tuple[str, int] = ("127.0.0.1", 7180)  # where bots call the proxy
    admin_listen: tuple[str, int] = ("127.0.0.1", 7181)  # where BotMaker manages it
    max_body_bytes: int = 32 * 1024**2
    connect_timeout: float = 10.0
    read_timeout: float = 600.0  # between two chunks of an upstream response
    flush_seconds: float = 1.0  # how often usage counters reach SQLite
    listen_wait: float = 0.0  # seconds to wait for a listen address to exist on this host
    data_hosts: tuple[str, ...] = ()  # DNS names bots reach the data plane by (Host check)

    @property
    def db_path(self) -> Path:
        return self.dir / "keyring.db"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KeyringSettings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        data_dir = Path(get("BOTMAKER_DATA_DIR") or "data")
        secrets_dir = Path(get("BOTMAKER_SECRETS_DIR") or "secrets")
        folder = Path(get("BOTMAKER_KEYRING_DIR") or data_dir / "keyring")
        kwargs: dict[str, object] = {
            "dir": folder,
            "master_key_file": Path(
                get("BOTMAKER_KEYRING_MASTER_KEY_FILE") or secrets_dir / ".keyring" / "master.key"
            ),
            "admin_token_file": Path(
                get("BOTMAKER_KEYRING_ADMIN_TOKEN_FILE") or folder / "admin.token"
            ),
        }
        if (v := get("BOTMAKER_KEYRING_PASSPHRASE_FILE")) is not None:
            kwargs["passphrase_file"] = Path(v)
        if (v := get("BOTMAKER_KEYRING_LISTEN")) is not None:
            kwargs["data_listen"] = _listen(v, "BOTMAKER_KEYRING_LISTEN")
        if (v := get("BOTMAKER_KEYRING_ADMIN_LISTEN")) is not None:
            kwargs["admin_listen"] = _listen(v, "BOTMAKER_KEYRING_ADMIN_LISTEN")
        if (v := get("BOTMAKER_KEYRING_MAX_BODY")) is not None:
            size = parse_size(v, "BOTMAKER_KEYRING_MAX_BODY")
            if size < 1024:
                raise ConfigError(
                    "BOTMAKER_KEYRING_MAX_BODY: at least 1k", field="BOTMAKER_KEYRING_MAX_BODY"
                )
            kwargs["max_body_bytes"] = size
        if (v := get("BOTMAKER_KEYRING_CONNECT_TIMEOUT")) is not None:
            kwargs["connect_timeout"] = parse_float(v, "BOTMAKER_KEYRING_CONNECT_TIMEOUT", 0.1, 300)
        if (v := get("BOTMAKER_KEYRING_READ_TIMEOUT")) is not None:
            kwargs["read_timeout"] = parse_float(v, "BOTMAKER_KEYRING_READ_TIMEOUT", 1, 86400)
        if (v := get("BOTMAKER_KEYRING_FLUSH")) is not None:
            kwargs["flush_seconds"] = parse_float(v, "BOTMAKER_KEYRING_FLUSH", 0.05, 3600)
        if (v := get("BOTMAKER_KEYRING_LISTEN_WAIT")) is not None:
            kwargs["listen_wait"] = parse_float(v, "BOTMAKER_KEYRING_LISTEN_WAIT", 0, 3600)
        if (v := get("BOTMAKER_KEYRING_HOSTS")) is not None:
            kwargs["data_hosts"] = _hostnames(v, "BOTMAKER_KEYRING_HOSTS")
        return cls(**kwargs)  # type: ignore[arg-type]
