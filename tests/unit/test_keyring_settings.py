"""The keyring process's settings, from an environment mapping."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import botmaker.keyring.settings
from botmaker.config import SETTINGS, ConfigError
from botmaker.keyring.settings import KEYRING, KeyringSettings


def test_defaults_follow_botmakers_folders() -> None:
    settings = KeyringSettings.from_env(
        {"BOTMAKER_DATA_DIR": "/srv/bm/data", "BOTMAKER_SECRETS_DIR": "/srv/bm/secrets"}
    )
    assert settings.db_path == Path("/srv/bm/data/keyring/keyring.db")
    assert settings.master_key_file == Path("/srv/bm/secrets/.keyring/master.key")
    assert settings.admin_token_file == Path("/srv/bm/data/keyring/admin.token")
    assert settings.passphrase_file is None
    # Both listeners default to loopback; BotMaker moves the data plane to the gateway.
    assert settings.data_listen == ("127.0.0.1", 7180)
    assert settings.admin_listen == ("127.0.0.1", 7181)
    # The master key never sits next to the database it protects.
    assert settings.master_key_file.parent != settings.db_path.parent


def test_every_variable_is_read() -> None:
    settings = KeyringSettings.from_env(
        {
            "BOTMAKER_KEYRING_DIR": "/k",
            "BOTMAKER_KEYRING_MASTER_KEY_FILE": "/keys/master",
            "BOTMAKER_KEYRING_PASSPHRASE_FILE": "/keys/pass",
            "BOTMAKER_KEYRING_ADMIN_TOKEN_FILE": "/run/secrets/admin",
            "BOTMAKER_KEYRING_LISTEN": "172.18.0.1:7300",
            "BOTMAKER_KEYRING_ADMIN_LISTEN": "[::1]:7301",
            "BOTMAKER_KEYRING_MAX_BODY": "64m",
            "BOTMAKER_KEYRING_CONNECT_TIMEOUT": "3",
            "BOTMAKER_KEYRING_READ_TIMEOUT": "120",
            "BOTMAKER_KEYRING_FLUSH": "0.5",
            "BOTMAKER_KEYRING_LISTEN_WAIT": "30",
            "BOTMAKER_KEYRING_HOSTS": "keyring, Keyring.Internal,keyring",
        }
    )
    assert settings.db_path == Path("/k/keyring.db")
    assert settings.master_key_file == Path("/keys/master")
    assert settings.passphrase_file == Path("/keys/pass")
    assert settings.admin_token_file == Path("/run/secrets/admin")
    assert settings.data_listen == ("172.18.0.1", 7300)
    assert settings.admin_listen == ("::1", 7301)
    assert settings.max_body_bytes == 64 * 1024**2
    assert (settings.connect_timeout, settings.read_timeout) == (3.0, 120.0)
    assert settings.flush_seconds == 0.5
    assert settings.listen_wait == 30.0
    assert settings.data_hosts == ("keyring", "keyring.internal")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOTMAKER_KEYRING_LISTEN", "7180"),
        ("BOTMAKER_KEYRING_LISTEN", "host:port"),
        ("BOTMAKER_KEYRING_ADMIN_LISTEN", ":7181"),
        ("BOTMAKER_KEYRING_ADMIN_LISTEN", "127.0.0.1:70000"),
        ("BOTMAKER_KEYRING_MAX_BODY", "100"),
        ("BOTMAKER_KEYRING_MAX_BODY", "lots"),
        ("BOTMAKER_KEYRING_CONNECT_TIMEOUT", "0"),
        ("BOTMAKER_KEYRING_READ_TIMEOUT", "x"),
        ("BOTMAKER_KEYRING_FLUSH", "0"),
        ("BOTMAKER_KEYRING_LISTEN_WAIT", "-1"),
        ("BOTMAKER_KEYRING_HOSTS", "keyring:7180"),
        ("BOTMAKER_KEYRING_HOSTS", "keyring,,other"),
        ("BOTMAKER_KEYRING_HOSTS", "*.example"),
        ("BOTMAKER_KEYRING_HOSTS", "-keyring"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        KeyringSettings.from_env({name: value})
    assert caught.value.field == name


def test_the_keyring_waits_for_its_listen_address_only_as_long_as_told() -> None:
    import asyncio
    import time

    from botmaker.keyring.server import _wait_for_address

    started = time.monotonic()
    asyncio.run(_wait_for_address("127.0.0.1", 5))  # exists: no wait
    assert time.monotonic() - started < 1
    started = time.monotonic()
    asyncio.run(_wait_for_address("192.0.2.1", 1))  # TEST-NET-1: never on this host
    assert 0.9 < time.monotonic() - started < 3


def test_the_keyring_reads_its_variables_only_through_the_tables() -> None:
    source = inspect.getsource(botmaker.keyring.settings)
    quoted = set(re.findall(r'"((?:BOTMAKER|OTEL)_[A-Z_]+)"', source))
    own = {var.name for var in KEYRING if not var.name.startswith("OTEL_")}  # config.otel_vars
    assert own <= quoted
    assert quoted <= {var.name for var in (*KEYRING, *SETTINGS)}
