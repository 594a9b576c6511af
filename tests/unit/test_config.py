"""Settings from an environment mapping (never the process environment)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import botmaker.config
from botmaker.config import (
    DEFAULT_BOT_IMAGE,
    SETTINGS,
    BotLimits,
    ConfigError,
    Secret,
    Settings,
    Var,
    parse_size,
)
from botmaker.keyring.settings import KEYRING, KeyringSettings

MiB = 1024**2

#: variable -> (a valid value, how to read it back, what it must become)
GOOD: dict[str, tuple[str, Callable[[Settings], Any], Any]] = {
    "BOTMAKER_HOST": ("0.0.0.0", lambda s: s.host, "0.0.0.0"),
    "BOTMAKER_PORT": ("8123", lambda s: s.port, 8123),
    "BOTMAKER_TRUSTED_PROXIES": (
        "127.0.0.1, 10.0.0.0/8",
        lambda s: s.trusted_proxies,
        ("127.0.0.1/32", "10.0.0.0/8"),
    ),
    "BOTMAKER_DATA_DIR": ("/srv/bm/data", lambda s: s.data_dir, Path("/srv/bm/data")),
    "BOTMAKER_SECRETS_DIR": ("/srv/bm/secrets", lambda s: s.secrets_dir, Path("/srv/bm/secrets")),
    "BOTMAKER_ADMIN_PASSWORD": (
        "a real password!",
        lambda s: s.admin_password and s.admin_password.reveal(),
        "a real password!",
    ),
    "BOTMAKER_BOT_IMAGE": ("example.org/bot:1.2.3", lambda s: s.bot_image, "example.org/bot:1.2.3"),
    "DOCKER_HOST": ("tcp://127.0.0.1:2375", lambda s: s.docker_host, "tcp://127.0.0.1:2375"),
    "BOTMAKER_DOCKER_API_VERSION": ("1.43", lambda s: s.docker_api_version, "1.43"),
    "BOTMAKER_DOCKER_TIMEOUT": ("7.5", lambda s: s.docker_timeout, 7.5),
    "BOTMAKER_PULL_TIMEOUT": ("120", lambda s: s.pull_timeout, 120.0),
    "BOTMAKER_INSTANCE": ("prod-2.a_b", lambda s: s.instance, "prod-2.a_b"),
    "BOTMAKER_NETWORK": ("bm-net", lambda s: s.network, "bm-net"),
    "BOTMAKER_NETWORK_INTERNAL": ("yes", lambda s: s.network_internal, True),
    "BOTMAKER_NETWORK_SUBNET": (
        "172.31.250.0/24",
        lambda s: s.network_gateway_hint,
        "172.31.250.1",
    ),
    "BOTMAKER_BOT_HOST_PORTS": ("11434, 8000,11434", lambda s: s.bot_host_ports, (11434, 8000)),
    "BOTMAKER_BOT_UID_BASE": ("300000", lambda s: s.bot_uid_base, 300_000),
    "BOTMAKER_STOP_TIMEOUT": ("20", lambda s: s.stop_timeout, 20),
    "BOTMAKER_TOKEN_TTL": ("3600", lambda s: s.token_ttl_seconds, 3600),
    "BOTMAKER_MAX_BODY": ("1m", lambda s: s.max_body_bytes, MiB),
    "BOTMAKER_SSE_PING": ("2.5", lambda s: s.sse_ping_seconds, 2.5),
    "BOTMAKER_BOT_MEMORY": ("512m", lambda s: s.limits.memory_bytes, 512 * MiB),
    "BOTMAKER_BOT_CPUS": ("1.5", lambda s: s.limits.cpus, 1.5),
    "BOTMAKER_BOT_PIDS": ("256", lambda s: s.limits.pids, 256),
    "BOTMAKER_BOT_TMP_SIZE": ("32m", lambda s: s.limits.tmp_bytes, 32 * MiB),
    "BOTMAKER_LOG_MAX_SIZE": ("20m", lambda s: s.limits.log_max_size, "20m"),
    "BOTMAKER_LOG_MAX_FILE": ("5", lambda s: s.limits.log_max_file, 5),
    "BOTMAKER_VALIDATE_CONFIG": ("never", lambda s: s.validate_config, "never"),
    "BOTMAKER_HEALTH_INTERVAL": ("30", lambda s: s.health_interval, 30.0),
    "BOTMAKER_STATS_INTERVAL": ("2.5", lambda s: s.stats_interval, 2.5),
    "BOTMAKER_RECONCILE_INTERVAL": ("5", lambda s: s.reconcile_interval, 5.0),
    "BOTMAKER_UPGRADE_TIMEOUT": ("30", lambda s: s.upgrade_timeout, 30.0),
    "BOTMAKER_OPENCLAW_CHANNEL": ("2026.9.6", lambda s: s.openclaw_channel, "2026.9.6"),
    "BOTMAKER_KEYRING": ("off", lambda s: s.keyring, "off"),
    "BOTMAKER_PUBLIC_URL": (
        "https://bots.example.com/",
        lambda s: s.public_url,
        "https://bots.example.com",
    ),
    "BOTMAKER_UI_URL": ("https://*.ui.example.com", lambda s: s.ui_url, "https://*.ui.example.com"),
    "BOTMAKER_KEYRING_URL": (
        "http://10.0.0.5:7181/",
        lambda s: s.keyring_url,
        "http://10.0.0.5:7181",
    ),
    "BOTMAKER_KEYRING_PROXY_URL": (
        "http://keyring:7180",
        lambda s: s.keyring_proxy_url,
        "http://keyring:7180",
    ),
    "BOTMAKER_KEYRING_PORT": ("7280", lambda s: s.keyring_port, 7280),
    "BOTMAKER_KEYRING_ADMIN_PORT": ("7281", lambda s: s.keyring_admin_port, 7281),
    "BOTMAKER_KEYRING_ADMIN_TOKEN_FILE": (
        "/run/secrets/keyring-admin",
        lambda s: s.keyring_token_path,
        Path("/run/secrets/keyring-admin"),
    ),
    "BOTMAKER_KEYRING_DIR": ("/srv/keyring", lambda s: s.keyring_dir_path, Path("/srv/keyring")),
    "BOTMAKER_RUNTIME": ("swarm", lambda s: s.runtime, "swarm"),
    "BOTMAKER_SWARM_CONSTRAINTS": (
        "node.labels.bots==true,node.role!=manager",
        lambda s: s.swarm_constraints,
        ("node.labels.bots==true", "node.role!=manager"),
    ),
    "BOTMAKER_SWARM_ENCRYPT_NETWORK": ("false", lambda s: s.swarm_encrypt_network, False),
    "BOTMAKER_SWARM_ALLOW_NEW_PRIVILEGES": ("yes", lambda s: s.swarm_allow_new_privileges, True),
    "BOTMAKER_OIDC_ISSUER": (
        "https://login.example.com/realms/x",
        lambda s: s.oidc_issuer,
        "https://login.example.com/realms/x",
    ),
    "BOTMAKER_OIDC_CLIENT_ID": ("botmaker", lambda s: s.oidc_client_id, "botmaker"),
    "BOTMAKER_OIDC_CLIENT_SECRET": (
        "a-client-secret",
        lambda s: s.oidc_client_secret and s.oidc_client_secret.reveal(),
        "a-client-secret",
    ),
    "BOTMAKER_OIDC_NAME": ("Keycloak", lambda s: s.oidc_name, "Keycloak"),
    "BOTMAKER_OIDC_SCOPES": ("openid email", lambda s: s.oidc_scopes, "openid email"),
    "BOTMAKER_OIDC_GROUPS_CLAIM": ("roles", lambda s: s.oidc_groups_claim, "roles"),
    "BOTMAKER_OIDC_ROLES": (
        "ops=admin, support = operator",
        lambda s: s.oidc_roles,
        (("ops", "admin"), ("support", "operator")),
    ),
    "BOTMAKER_OIDC_DEFAULT_ROLE": ("viewer", lambda s: s.oidc_default_role, "viewer"),
    "BOTMAKER_EGRESS": ("off", lambda s: s.egress, "off"),
    "BOTMAKER_EGRESS_PORT": ("7282", lambda s: s.egress_port, 7282),
    "BOTMAKER_EGRESS_ADMIN_PORT": ("7283", lambda s: s.egress_admin_port, 7283),
    "BOTMAKER_EGRESS_DNS": (
        "10.0.0.2, 1.1.1.1:5353",
        lambda s: s.egress_dns,
        ("10.0.0.2", "1.1.1.1:5353"),
    ),
    "BOTMAKER_EGRESS_ALLOW_PRIVATE": (
        "192.168.1.20, 10.8.0.0/16",
        lambda s: s.egress_allow_private,
        ("192.168.1.20/32", "10.8.0.0/16"),
    ),
    "BOTMAKER_METRICS_TOKEN": (
        "a-scrape-token-of-32-characters!",
        lambda s: s.metrics_token and s.metrics_token.reveal(),
        "a-scrape-token-of-32-characters!",
    ),
    "OTEL_EXPORTER_OTLP_ENDPOINT": (
        "http://otel:4318",
        lambda s: s.otel_endpoint,
        "http://otel:4318",
    ),
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": (
        "http://otel:4318/v1/traces",
        lambda s: s.otel_traces_endpoint,
        "http://otel:4318/v1/traces",
    ),
    "OTEL_SERVICE_NAME": ("bm-east", lambda s: s.otel_service_name, "bm-east"),
    "OTEL_SDK_DISABLED": ("true", lambda s: s.otel_disabled, True),
}
#: read from a file rather than parsed (see test_auth for its checks)
ALSO_READ = {
    "BOTMAKER_ADMIN_PASSWORD_FILE",
    "BOTMAKER_SMTP_PASSWORD_FILE",
    "BOTMAKER_OIDC_CLIENT_SECRET_FILE",
    "BOTMAKER_METRICS_TOKEN_FILE",
}
#: variables that are only valid with others (the single sign-on client)
COMPANIONS = {
    "BOTMAKER_OIDC_ISSUER": {
        "BOTMAKER_OIDC_CLIENT_ID": "botmaker",
        "BOTMAKER_OIDC_CLIENT_SECRET": "a-client-secret",
    }
}

#: variable -> values that must be refused with a ConfigError naming the variable
BAD: dict[str, list[str]] = {
    "BOTMAKER_PORT": ["http", "0", "65536", "-1", "80.5"],
    "BOTMAKER_TRUSTED_PROXIES": ["*", "proxy.example", "10.0.0.0/33", "127.0.0.1,,::1"],
    "BOTMAKER_DOCKER_TIMEOUT": ["fast", "0.1", "301"],
    "BOTMAKER_PULL_TIMEOUT": ["x", "0.5", "86401"],
    "BOTMAKER_INSTANCE": ["Bad Name", "-x", "UPPER", "a" * 64, "a/b"],
    "BOTMAKER_NETWORK_INTERNAL": ["maybe", "2"],
    "BOTMAKER_NETWORK_SUBNET": ["172.31.250.1/24", "10.0.0.0/30", "fd00::/64", "net"],
    "BOTMAKER_BOT_HOST_PORTS": ["0", "65536", "http", "80,,81", "80-90"],
    "BOTMAKER_BOT_UID_BASE": ["999", "x", str(2**31)],
    "BOTMAKER_STOP_TIMEOUT": ["-1", "601", "soon"],
    "BOTMAKER_TOKEN_TTL": ["59", "x", str(30 * 86400 + 1)],
    "BOTMAKER_MAX_BODY": ["big", "-1", "1t", "1.5m", "0", "100"],
    "BOTMAKER_SSE_PING": ["0", "x", "0.05"],
    "BOTMAKER_BOT_MEMORY": ["5m", "lots", "1t"],
    "BOTMAKER_BOT_CPUS": ["0", "x", "2000"],
    "BOTMAKER_BOT_PIDS": ["7", "x"],
    "BOTMAKER_BOT_TMP_SIZE": ["x", "-1", "0", "512k"],
    "BOTMAKER_LOG_MAX_SIZE": ["ten", "10 megabytes"],
    "BOTMAKER_LOG_MAX_FILE": ["0", "101", "x"],
    "BOTMAKER_ADMIN_PASSWORD": ["changeme", "short"],
    "BOTMAKER_VALIDATE_CONFIG": ["sometimes", "yes"],
    "BOTMAKER_HEALTH_INTERVAL": ["0", "x", "3601"],
    "BOTMAKER_STATS_INTERVAL": ["0", "0.4", "x", "3601"],
    "BOTMAKER_RECONCILE_INTERVAL": ["0", "0.4", "x", "86401"],
    "BOTMAKER_UPGRADE_TIMEOUT": ["0", "4", "x", "3601"],
    "BOTMAKER_OPENCLAW_CHANNEL": ["stable", "Latest", "v2026.9.6", "2026", "2026.9.6 ", "x:1"],
    "BOTMAKER_KEYRING": ["on", "yes", "embedded"],
    "BOTMAKER_PUBLIC_URL": ["bots.example.com", "ftp://x"],
    "BOTMAKER_UI_URL": ["ui.example.com", "https://ui.example.com", "https://*.x/path"],
    "BOTMAKER_KEYRING_URL": ["ftp://keyring", "keyring:7181", "http://a b"],
    "BOTMAKER_KEYRING_PROXY_URL": ["keyring:7180", "http://x/?q=1"],
    "BOTMAKER_KEYRING_PORT": ["x", "65536", "-1"],
    "BOTMAKER_KEYRING_ADMIN_PORT": ["x", "70000"],
    "BOTMAKER_RUNTIME": ["kubernetes", "Docker", "compose"],
    "BOTMAKER_SWARM_CONSTRAINTS": ["node.labels.x", "a==b c", "==x"],
    "BOTMAKER_SWARM_ENCRYPT_NETWORK": ["maybe"],
    "BOTMAKER_SWARM_ALLOW_NEW_PRIVILEGES": ["2"],
    "BOTMAKER_OIDC_ISSUER": ["login.example.com", "ftp://x"],
    "BOTMAKER_OIDC_ROLES": ["ops", "ops=root", "=admin"],
    "BOTMAKER_OIDC_DEFAULT_ROLE": ["root", "Admin"],
    "BOTMAKER_EGRESS": ["on", "allowlist"],
    "BOTMAKER_EGRESS_PORT": ["x", "65536"],
    "BOTMAKER_EGRESS_ADMIN_PORT": ["-1"],
    "BOTMAKER_EGRESS_DNS": ["dns.example", "10.0.0.2:99999", "1.1.1.1,,8.8.8.8"],
    "BOTMAKER_EGRESS_ALLOW_PRIVATE": ["*", "lan", "10.0.0.0/33"],
    "BOTMAKER_METRICS_TOKEN": ["short", "a token with spaces in it"],
    "OTEL_EXPORTER_OTLP_ENDPOINT": ["otel:4318", "ftp://otel"],
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ["otel:4318/v1/traces"],
    "OTEL_SDK_DISABLED": ["maybe"],
}
#: free-form strings: nothing to refuse here (Docker or the OS judges them)
FREE_FORM = {
    "BOTMAKER_HOST",
    "BOTMAKER_DATA_DIR",
    "BOTMAKER_SECRETS_DIR",
    "BOTMAKER_BOT_IMAGE",
    "DOCKER_HOST",
    "BOTMAKER_DOCKER_API_VERSION",
    "BOTMAKER_NETWORK",
    "BOTMAKER_KEYRING_ADMIN_TOKEN_FILE",
    "BOTMAKER_KEYRING_DIR",
    "BOTMAKER_OIDC_CLIENT_ID",
    "BOTMAKER_OIDC_CLIENT_SECRET",
    "BOTMAKER_OIDC_NAME",
    "BOTMAKER_OIDC_SCOPES",
    "BOTMAKER_OIDC_GROUPS_CLAIM",
    "OTEL_SERVICE_NAME",
}


def test_every_variable_in_the_table_is_covered_here() -> None:
    table = [var.name for var in SETTINGS]
    assert len(table) >= 20
    assert len(set(table)) == len(table), "a variable has two rows"
    assert set(table) == set(GOOD) | ALSO_READ, "a new variable needs a row in GOOD (and BAD)"
    assert set(BAD) | FREE_FORM == set(GOOD)
    assert not set(BAD) & FREE_FORM
    # Nothing reads a variable around the table.
    source = inspect.getsource(botmaker.config)
    quoted = set(re.findall(r'"((?:BOTMAKER|DOCKER|OTEL)_[A-Z_]+)"', source))
    assert quoted == set(table)


def test_defaults() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1"  # loopback unless asked otherwise
    assert settings.port == 7100
    assert settings.data_dir == Path("data")
    assert settings.secrets_dir == Path("secrets")
    assert settings.db_path == Path("data/botmaker.db")
    assert settings.admin_password is None
    assert settings.docker_host is None
    assert settings.network_internal is False
    assert settings.limits == BotLimits()
    # An empty environment gives exactly the defaults.
    assert Settings.from_env({}) == settings
    # Empty values count as unset.
    assert Settings.from_env(dict.fromkeys(GOOD, "")) == settings


def test_the_default_image_is_pinned() -> None:
    image = Settings().bot_image
    assert image == DEFAULT_BOT_IMAGE
    last = image.rsplit("/", 1)[-1]
    if "@" in image:
        assert re.fullmatch(r".+@sha256:[0-9a-f]{64}", image)
    else:
        assert ":" in last, "the default image has no tag (that means latest)"
        tag = last.rsplit(":", 1)[1]
        assert tag != "latest"
        assert re.search(r"\d", tag), f"tag {tag!r} is not a version"


@pytest.mark.parametrize("name", sorted(GOOD))
def test_each_variable_is_parsed(name: str) -> None:
    value, read, expected = GOOD[name]
    companions = COMPANIONS.get(name, {})
    settings = Settings.from_env({name: value, **companions})
    assert read(settings) == expected
    assert type(read(settings)) is type(expected)
    # Only that setting changed.
    defaults = Settings()
    for other, (_, other_read, _) in GOOD.items():
        if other != name and other != "BOTMAKER_ADMIN_PASSWORD" and other not in companions:
            assert other_read(settings) == other_read(defaults), other


def test_single_sign_on_needs_its_client() -> None:
    for given in ({}, {"BOTMAKER_OIDC_CLIENT_ID": "botmaker"}):
        with pytest.raises(ConfigError) as raised:
            Settings.from_env({"BOTMAKER_OIDC_ISSUER": "https://login.example.com", **given})
        assert raised.value.field == "BOTMAKER_OIDC_CLIENT_ID"
        assert "BOTMAKER_OIDC_CLIENT_SECRET_FILE" in raised.value.message


def test_all_variables_together() -> None:
    settings = Settings.from_env({name: value for name, (value, _, _) in GOOD.items()})
    for name, (_, read, expected) in GOOD.items():
        assert read(settings) == expected, name


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in BAD.items() for value in values]
)
def test_bad_values_are_a_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({name: value})
    error = raised.value
    assert error.code == "config"
    assert error.field == name
    if name != "BOTMAKER_ADMIN_PASSWORD":  # the message never repeats a password
        assert name in error.message


#: Settings fields documented by what they default to: the property that shows it.
DERIVED = {"keyring_token_path": "keyring_admin_token_file", "keyring_dir_path": "keyring_dir"}


def documented(default: str) -> str:
    """A documented default with each ``$VARIABLE`` replaced by that one's default."""
    rows = {var.name: var.default for var in (*SETTINGS, *KEYRING)}
    return re.sub(r"\$([A-Z_]+)", lambda m: documented(str(rows[m.group(1)])), default)


@pytest.mark.parametrize("var", SETTINGS, ids=lambda var: var.name)
def test_the_documented_default_is_the_default(var: Var) -> None:
    """Setting a variable to the default the README shows changes nothing."""
    defaults = Settings()
    if var.name == "DOCKER_HOST":  # unset: Docker's own default, read by the Docker client
        assert defaults.docker_host is None
    elif var.default is None:  # shown as "—": unset means none
        assert getattr(defaults, var.field) in (None, ())
    elif var.field in DERIVED:
        settings = Settings.from_env({var.name: documented(var.default)})
        assert getattr(settings, DERIVED[var.field]) == getattr(defaults, DERIVED[var.field])
    else:
        assert Settings.from_env({var.name: documented(var.default)}) == defaults


@pytest.mark.parametrize("var", KEYRING, ids=lambda var: var.name)
def test_the_keyrings_documented_default_is_its_default(var: Var) -> None:
    defaults = KeyringSettings.from_env({})
    if var.default is None:
        assert getattr(defaults, var.field) in (None, ())
    else:
        assert KeyringSettings.from_env({var.name: documented(var.default)}) == defaults


BOOLEANS = [("1", True), ("true", True), ("YES", True), ("on", True)]
BOOLEANS += [("0", False), ("false", False), ("No", False), ("off", False)]


@pytest.mark.parametrize(("text", "expected"), BOOLEANS)
def test_booleans(text: str, expected: bool) -> None:
    assert Settings.from_env({"BOTMAKER_NETWORK_INTERNAL": text}).network_internal is expected


SIZES = [("65536", 65536), ("64k", 64 * 1024), ("2m", 2 * MiB), (" 2M ", 2 * MiB)]
SIZES += [("1g", 1024**3), ("512mb", 512 * MiB), ("10KB", 10 * 1024), ("0", 0)]


@pytest.mark.parametrize(("text", "expected"), SIZES)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text, "X") == expected


def test_secret_never_shows_its_value() -> None:
    value = "hunter2-but-longer"
    secret = Secret(value)
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % (secret,)]  # noqa: UP031
    shown += [repr([secret]), repr({"k": secret}), format(secret, "")]
    for text in shown:
        assert value not in text
        assert "*" in text
    assert secret.reveal() == value
    settings = Settings(admin_password=secret)
    assert value not in repr(settings)
    assert value not in str(settings)
    assert Secret(value) == secret
    assert Secret("other value") != secret
    from_env = Settings.from_env({"BOTMAKER_ADMIN_PASSWORD": value})
    assert value not in repr(from_env)
    assert from_env.admin_password == secret


def test_an_external_keyring_needs_both_urls() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"BOTMAKER_KEYRING": "external", "BOTMAKER_KEYRING_URL": "http://k:1"})
    assert caught.value.field == "BOTMAKER_KEYRING_URL"
    settings = Settings.from_env(
        {
            "BOTMAKER_KEYRING": "external",
            "BOTMAKER_KEYRING_URL": "http://k:7181",
            "BOTMAKER_KEYRING_PROXY_URL": "http://k:7180",
        }
    )
    assert (settings.keyring, settings.keyring_url) == ("external", "http://k:7181")


def test_the_smtp_password_file_is_checked_at_start_and_never_read_into_settings(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "smtp.password"
    secret.write_text("smtp-pa55-word\n")
    settings = Settings.from_env({"BOTMAKER_SMTP_PASSWORD_FILE": str(secret)})
    assert settings.smtp_password_file == secret
    assert "smtp-pa55-word" not in repr(settings)  # a path: read at each send, not kept
    assert Settings().smtp_password_file is None
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"BOTMAKER_SMTP_PASSWORD_FILE": str(tmp_path / "missing")})
    assert raised.value.field == "BOTMAKER_SMTP_PASSWORD_FILE"
    assert "BOTMAKER_SMTP_PASSWORD_FILE: cannot read" in raised.value.message


def test_origins_default_to_the_listen_address() -> None:
    settings = Settings(host="127.0.0.1", port=7100)
    assert settings.public_origin == "http://127.0.0.1:7100"
    assert settings.ui_origin("b-1") == "http://b-1.localhost:7100"
    assert settings.ui_origin("b-1", port=4242) == "http://b-1.localhost:4242"
    assert settings.ui_host_suffix == ".localhost"
    public = Settings(public_url="https://b.example:8443/x", ui_url="https://*.ui.b.example")
    assert public.public_origin == "https://b.example:8443"
    assert public.ui_origin("b-1") == "https://b-1.ui.b.example"
    assert public.ui_host_suffix == ".ui.b.example"
