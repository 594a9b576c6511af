"""Settings read from the environment: the admin password and the trusted proxies.
(The table of every variable and its refusals is tests/unit/test_config.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from botmaker.config import ConfigError, Settings


@pytest.mark.parametrize(
    "password",
    ["changethis", "CHANGEME", "admin", "password", "botmaker", "short-11chr", ""],
)
def test_from_env_refuses_placeholder_and_short_passwords(password: str, tmp_path: Path) -> None:
    if password == "":
        # Empty means "unset": a password will be generated.
        assert Settings.from_env({"BOTMAKER_ADMIN_PASSWORD": ""}).admin_password is None
        return
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"BOTMAKER_ADMIN_PASSWORD": password})
    assert raised.value.field == "BOTMAKER_ADMIN_PASSWORD"
    assert "placeholder" in raised.value.message
    assert repr(password) not in raised.value.message  # the value is not echoed
    path = tmp_path / "password"
    path.write_text(password + "\n")
    with pytest.raises(ConfigError):
        Settings.from_env({"BOTMAKER_ADMIN_PASSWORD_FILE": str(path)})


def test_from_env_reads_the_password_file(tmp_path: Path) -> None:
    assert len("twelve-chars") == 12
    settings = Settings.from_env({"BOTMAKER_ADMIN_PASSWORD": "twelve-chars"})
    assert settings.admin_password is not None
    assert settings.admin_password.reveal() == "twelve-chars"
    path = tmp_path / "admin_password"
    path.write_text("a file-held password  \r\n")
    from_file = Settings.from_env({"BOTMAKER_ADMIN_PASSWORD_FILE": str(path)})
    assert from_file.admin_password is not None
    # The trailing newline goes; the rest (even spaces) is the password.
    assert from_file.admin_password.reveal() == "a file-held password  "
    with pytest.raises(ConfigError) as missing:
        Settings.from_env({"BOTMAKER_ADMIN_PASSWORD_FILE": str(tmp_path / "nope")})
    assert missing.value.field == "BOTMAKER_ADMIN_PASSWORD_FILE"
    assert "BOTMAKER_ADMIN_PASSWORD_FILE" in missing.value.message
    with pytest.raises(ConfigError) as both:
        Settings.from_env(
            {"BOTMAKER_ADMIN_PASSWORD": "twelve-chars", "BOTMAKER_ADMIN_PASSWORD_FILE": str(path)}
        )
    assert "not both" in both.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1/32",)),
        (" 10.0.0.0/8 , ::1 ", ("10.0.0.0/8", "::1/128")),
        ("172.31.250.1/24", ("172.31.250.0/24",)),
    ],
)
def test_trusted_proxies_are_read_as_addresses_and_networks(  # refused ones: test_config.py
    value: str, expected: tuple[str, ...], tmp_path: Path
) -> None:
    env = {"BOTMAKER_DATA_DIR": str(tmp_path), "BOTMAKER_TRUSTED_PROXIES": value}
    assert Settings.from_env(env).trusted_proxies == expected
