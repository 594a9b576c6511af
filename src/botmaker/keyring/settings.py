"""The keyring process's settings, read from an environment mapping.

``botmaker keyring serve`` reads them from its own environment; BotMaker, when it
starts the keyring itself, builds that environment (see
``botmaker.services.keyring``). The variables are one declarative table
(:data:`KEYRING`) read by the same reader as BotMaker's own settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from botmaker.config import (
    SETTINGS,
    ConfigError,
    Settings,
    Var,
    build,
    number,
    otel_vars,
    parse_int,
    path,
    read,
    size,
    traces_url,
)


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
    # OpenTelemetry traces of the data plane (botmaker.keyring.tracing): off without an endpoint
    otel_endpoint: str | None = None
    otel_traces_endpoint: str | None = None
    otel_service_name: str = "botmaker-keyring"
    otel_disabled: bool = False

    @property
    def db_path(self) -> Path:
        return self.dir / "keyring.db"

    @property
    def otel_traces_url(self) -> str | None:
        """Where spans are exported; None: tracing is off."""
        return traces_url(self.otel_endpoint, self.otel_traces_endpoint, self.otel_disabled)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KeyringSettings:
        # The folders follow BotMaker's, read by BotMaker's own rows (and only those:
        # a BotMaker variable the keyring does not use cannot stop it).
        folders = build(Settings(), read(_FOLDERS, environ))
        defaults: dict[str, object] = {
            "dir": folders.keyring_dir,
            "master_key_file": folders.secrets_dir / ".keyring" / "master.key",
            "admin_token_file": folders.keyring_admin_token_file,
        }
        return build(cls(), defaults | read(KEYRING, environ))


#: BotMaker's rows the keyring's default paths derive from.
_FOLDERS = tuple(
    var
    for var in SETTINGS
    if var.name
    in {
        "BOTMAKER_DATA_DIR",
        "BOTMAKER_SECRETS_DIR",
        "BOTMAKER_KEYRING_DIR",
        "BOTMAKER_KEYRING_ADMIN_TOKEN_FILE",
    }
)

#: The keyring's variables, in the order of the README's keyring table.
KEYRING: tuple[Var, ...] = (
    Var(
        "BOTMAKER_KEYRING_DIR",
        "dir",
        path,
        "$BOTMAKER_DATA_DIR/keyring",
        "Folder of `keyring.db` (BotMaker reads it too: `botmaker backup` and `restore` find "
        "the keyring there).",
    ),
    Var(
        "BOTMAKER_KEYRING_MASTER_KEY_FILE",
        "master_key_file",
        path,
        "$BOTMAKER_SECRETS_DIR/.keyring/master.key",
        "The master key (base64 of 32 bytes, must be 0600). Created on first start if the "
        "keyring is new.",
    ),
    Var(
        "BOTMAKER_KEYRING_PASSPHRASE_FILE",
        "passphrase_file",
        path,
        None,
        "Use a passphrase (argon2id) instead of a master key file.",
    ),
    Var(
        "BOTMAKER_KEYRING_ADMIN_TOKEN_FILE",
        "admin_token_file",
        path,
        "$BOTMAKER_KEYRING_DIR/admin.token",
        "The admin API token, created on first start.",
    ),
    Var(
        "BOTMAKER_KEYRING_LISTEN",
        "data_listen",
        _listen,
        "127.0.0.1:7180",
        "Data plane address (BotMaker sets the bots' gateway).",
    ),
    Var(
        "BOTMAKER_KEYRING_ADMIN_LISTEN",
        "admin_listen",
        _listen,
        "127.0.0.1:7181",
        "Admin API address.",
    ),
    Var(
        "BOTMAKER_KEYRING_MAX_BODY",
        "max_body_bytes",
        size(at_least="1k"),
        "32m",
        "Largest request body forwarded; larger gets 413.",
    ),
    Var(
        "BOTMAKER_KEYRING_CONNECT_TIMEOUT",
        "connect_timeout",
        number(0.1, 300),
        "10",
        "Seconds to connect to a provider (then the next key is tried).",
    ),
    Var(
        "BOTMAKER_KEYRING_READ_TIMEOUT",
        "read_timeout",
        number(1, 86400),
        "600",
        "Seconds a provider may stay silent mid-response.",
    ),
    Var(
        "BOTMAKER_KEYRING_FLUSH",
        "flush_seconds",
        number(0.05, 3600),
        "1",
        "Seconds between writes of usage counters to SQLite.",
    ),
    Var(
        "BOTMAKER_KEYRING_HOSTS",
        "data_hosts",
        _hostnames,
        None,
        "Comma-separated DNS names bots reach the data plane by (an external keyring given to"
        " bots as `http://keyring:7180` needs `keyring`). The data plane refuses a request "
        "whose `Host` is neither its own address nor one of these names.",
    ),
    Var(
        "BOTMAKER_KEYRING_LISTEN_WAIT",
        "listen_wait",
        number(0, 3600),
        "0",
        "Seconds to wait for a listen address to exist on this host before binding (compose: "
        "the bots' gateway appears once BotMaker has created the network).",
    ),
    *otel_vars("botmaker-keyring", "model calls through the data plane"),
)
