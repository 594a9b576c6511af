"""Typed settings read from an environment mapping (``os.environ`` by default).

Nothing here reads the process environment at import time: ``Settings.from_env``
takes the mapping to read, so tests pass their own.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from botmaker.errors import BotMakerError

#: The official OpenClaw image, pinned to a release (never ``latest``).
DEFAULT_BOT_IMAGE = "ghcr.io/openclaw/openclaw:2026.9.6"

#: Passwords that must never protect a real install.
PLACEHOLDER_PASSWORDS = frozenset({"changethis", "changeme", "admin", "password", "botmaker"})
MIN_PASSWORD_LENGTH = 12


class ConfigError(BotMakerError):
    code = "config"


class Secret:
    """A string that never shows itself when printed or logged."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_SIZE = re.compile(r"^(\d+)([kmg]?)b?$", re.IGNORECASE)


def parse_size(text: str, name: str) -> int:
    """Parse ``512m`` / ``1g`` / ``65536`` into bytes."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ConfigError(f"{name}: not a size: {text!r} (use e.g. 512m, 1g)", field=name)
    number, unit = int(match.group(1)), match.group(2).lower()
    return number * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def _bool(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}: expected true or false, got {text!r}", field=name)


def parse_int(text: str, name: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}: not an integer: {text!r}", field=name) from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: must be between {low} and {high}", field=name)
    return value


def parse_float(text: str, name: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}: not a number: {text!r}", field=name) from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: must be between {low} and {high}", field=name)
    return value


@dataclass(frozen=True)
class BotLimits:
    memory_bytes: int = 1536 * 1024**2
    cpus: float = 1.0
    pids: int = 512
    tmp_bytes: int = 64 * 1024**2
    log_max_size: str = "10m"
    log_max_file: int = 3


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 7100
    # Proxies whose X-Forwarded-For/-Proto name the client (IP networks); none: ignored.
    trusted_proxies: tuple[str, ...] = ()
    data_dir: Path = Path("data")
    secrets_dir: Path = Path("secrets")
    admin_password: Secret | None = None
    bot_image: str = DEFAULT_BOT_IMAGE
    docker_host: str | None = None
    docker_api_version: str = "1.41"
    docker_timeout: float = 5.0
    pull_timeout: float = 600.0
    instance: str = "default"
    network: str = "botmaker-bots"
    network_internal: bool = False
    network_subnet: str | None = None  # IPv4 subnet BotMaker gives the bots' network it creates
    # Host TCP ports bots may connect to besides the keyring's data plane (host guard).
    bot_host_ports: tuple[int, ...] = ()
    bot_uid_base: int = 200_000
    stop_timeout: int = 10
    limits: BotLimits = field(default_factory=BotLimits)
    token_ttl_seconds: int = 12 * 3600
    max_body_bytes: int = 256 * 1024
    login_max_failures: int = 5
    login_window_seconds: int = 300
    sse_ping_seconds: float = 15.0
    validate_config: str = "auto"  # auto|always|never: run OpenClaw's validator before start
    validate_timeout: float = 60.0
    health_interval: float = 10.0
    stats_interval: float = 10.0  # seconds between resource samples of the running bots
    reconcile_interval: float = 30.0  # seconds between reconciliation passes
    stats_history_interval: float = 60.0  # seconds per aggregated row kept 24 h in the store
    upgrade_timeout: float = 120.0  # seconds an upgraded bot has to become healthy
    keyring: str = "auto"  # auto: BotMaker runs the keyring proxy | external | off
    keyring_url: str | None = None  # external: the keyring's admin API
    keyring_proxy_url: str | None = None  # external: the data plane as bots reach it
    keyring_port: int = 7180  # auto: data plane port on the bots' network gateway
    keyring_admin_port: int = 7181  # auto: admin API port on 127.0.0.1
    keyring_token_path: Path | None = None  # the keyring admin token (default in keyring_dir)
    smtp_password_file: Path | None = None  # the SMTP password for email alerts (never stored)
    keyring_dir_path: Path | None = None  # the keyring's folder (default data_dir/keyring)
    runtime: str = "docker"  # docker: one container per bot | swarm: one Swarm service per bot
    swarm_constraints: tuple[str, ...] = ()  # extra placement constraints of every bot service
    swarm_encrypt_network: bool = True  # each bot's overlay network encrypted (IPsec)
    # Swarm services cannot set no-new-privileges (API 1.41): unless the engine sets it
    # for every container (dockerd --no-new-privileges), swarm mode refuses to run bots.
    swarm_allow_new_privileges: bool = False

    @property
    def keyring_dir(self) -> Path:
        return self.keyring_dir_path or self.data_dir / "keyring"

    @property
    def network_gateway_hint(self) -> str | None:
        """The bots' network gateway implied by ``network_subnet`` (its first address)."""
        if self.network_subnet is None:
            return None
        return str(next(ipaddress.IPv4Network(self.network_subnet).hosts()))

    @property
    def keyring_admin_token_file(self) -> Path:
        return self.keyring_token_path or self.keyring_dir / "admin.token"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "botmaker.db"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        kwargs: dict[str, object] = {}
        if (v := get("BOTMAKER_HOST")) is not None:
            kwargs["host"] = v
        if (v := get("BOTMAKER_PORT")) is not None:
            kwargs["port"] = parse_int(v, "BOTMAKER_PORT", 1, 65535)
        if (v := get("BOTMAKER_TRUSTED_PROXIES")) is not None:
            kwargs["trusted_proxies"] = _networks(v, "BOTMAKER_TRUSTED_PROXIES")
        if (v := get("BOTMAKER_DATA_DIR")) is not None:
            kwargs["data_dir"] = Path(v)
        if (v := get("BOTMAKER_SECRETS_DIR")) is not None:
            kwargs["secrets_dir"] = Path(v)
        kwargs["admin_password"] = _admin_password(env)
        if (v := get("BOTMAKER_BOT_IMAGE")) is not None:
            kwargs["bot_image"] = v
        kwargs["docker_host"] = get("DOCKER_HOST")
        if (v := get("BOTMAKER_DOCKER_API_VERSION")) is not None:
            kwargs["docker_api_version"] = v
        if (v := get("BOTMAKER_DOCKER_TIMEOUT")) is not None:
            kwargs["docker_timeout"] = parse_float(v, "BOTMAKER_DOCKER_TIMEOUT", 0.5, 300)
        if (v := get("BOTMAKER_PULL_TIMEOUT")) is not None:
            kwargs["pull_timeout"] = parse_float(v, "BOTMAKER_PULL_TIMEOUT", 1, 86400)
        if (v := get("BOTMAKER_INSTANCE")) is not None:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,62}", v):
                raise ConfigError("BOTMAKER_INSTANCE: use lowercase letters, digits, - _ .")
            kwargs["instance"] = v
        if (v := get("BOTMAKER_NETWORK")) is not None:
            kwargs["network"] = v
        if (v := get("BOTMAKER_NETWORK_INTERNAL")) is not None:
            kwargs["network_internal"] = _bool(v, "BOTMAKER_NETWORK_INTERNAL")
        if (v := get("BOTMAKER_NETWORK_SUBNET")) is not None:
            kwargs["network_subnet"] = _subnet(v, "BOTMAKER_NETWORK_SUBNET")
        if (v := get("BOTMAKER_BOT_HOST_PORTS")) is not None:
            kwargs["bot_host_ports"] = _ports(v, "BOTMAKER_BOT_HOST_PORTS")
        if (v := get("BOTMAKER_BOT_UID_BASE")) is not None:
            kwargs["bot_uid_base"] = parse_int(v, "BOTMAKER_BOT_UID_BASE", 1000, 2**31 - 2**20)
        if (v := get("BOTMAKER_STOP_TIMEOUT")) is not None:
            kwargs["stop_timeout"] = parse_int(v, "BOTMAKER_STOP_TIMEOUT", 0, 600)
        if (v := get("BOTMAKER_TOKEN_TTL")) is not None:
            kwargs["token_ttl_seconds"] = parse_int(v, "BOTMAKER_TOKEN_TTL", 60, 30 * 86400)
        if (v := get("BOTMAKER_MAX_BODY")) is not None:
            max_body = parse_size(v, "BOTMAKER_MAX_BODY")
            if max_body < 1024:
                raise ConfigError("BOTMAKER_MAX_BODY: at least 1k", field="BOTMAKER_MAX_BODY")
            kwargs["max_body_bytes"] = max_body
        if (v := get("BOTMAKER_SSE_PING")) is not None:
            kwargs["sse_ping_seconds"] = parse_float(v, "BOTMAKER_SSE_PING", 0.1, 3600)
        if (v := get("BOTMAKER_VALIDATE_CONFIG")) is not None:
            if v not in {"auto", "always", "never"}:
                raise ConfigError(
                    "BOTMAKER_VALIDATE_CONFIG: use auto, always or never",
                    field="BOTMAKER_VALIDATE_CONFIG",
                )
            kwargs["validate_config"] = v
        if (v := get("BOTMAKER_HEALTH_INTERVAL")) is not None:
            kwargs["health_interval"] = parse_float(v, "BOTMAKER_HEALTH_INTERVAL", 0.5, 3600)
        if (v := get("BOTMAKER_STATS_INTERVAL")) is not None:
            kwargs["stats_interval"] = parse_float(v, "BOTMAKER_STATS_INTERVAL", 0.5, 3600)
        if (v := get("BOTMAKER_RECONCILE_INTERVAL")) is not None:
            kwargs["reconcile_interval"] = parse_float(v, "BOTMAKER_RECONCILE_INTERVAL", 0.5, 86400)
        if (v := get("BOTMAKER_UPGRADE_TIMEOUT")) is not None:
            kwargs["upgrade_timeout"] = parse_float(v, "BOTMAKER_UPGRADE_TIMEOUT", 5, 3600)
        if (v := get("BOTMAKER_SMTP_PASSWORD_FILE")) is not None:
            kwargs["smtp_password_file"] = _readable_file(v, "BOTMAKER_SMTP_PASSWORD_FILE")
        kwargs.update(_keyring(get))
        kwargs.update(_runtime(get))
        kwargs["limits"] = _limits(get)
        return cls(**kwargs)  # type: ignore[arg-type]


def _keyring(get: Callable[[str], str | None]) -> dict[str, object]:
    values: dict[str, object] = {}
    mode = get("BOTMAKER_KEYRING")
    if mode is not None:
        if mode not in {"auto", "external", "off"}:
            raise ConfigError(
                "BOTMAKER_KEYRING: use auto, external or off", field="BOTMAKER_KEYRING"
            )
        values["keyring"] = mode
    for name, key in (
        ("BOTMAKER_KEYRING_URL", "keyring_url"),
        ("BOTMAKER_KEYRING_PROXY_URL", "keyring_proxy_url"),
    ):
        if (v := get(name)) is not None:
            if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", v):
                raise ConfigError(f"{name}: not an http(s) URL: {v!r}", field=name)
            values[key] = v.rstrip("/")
    if values.get("keyring") == "external" and not (
        values.get("keyring_url") and values.get("keyring_proxy_url")
    ):
        raise ConfigError(
            "BOTMAKER_KEYRING=external needs BOTMAKER_KEYRING_URL and BOTMAKER_KEYRING_PROXY_URL",
            field="BOTMAKER_KEYRING_URL",
        )
    if (v := get("BOTMAKER_KEYRING_ADMIN_TOKEN_FILE")) is not None:
        values["keyring_token_path"] = Path(v)
    if (v := get("BOTMAKER_KEYRING_DIR")) is not None:
        values["keyring_dir_path"] = Path(v)
    if (v := get("BOTMAKER_KEYRING_PORT")) is not None:
        values["keyring_port"] = parse_int(v, "BOTMAKER_KEYRING_PORT", 0, 65535)
    if (v := get("BOTMAKER_KEYRING_ADMIN_PORT")) is not None:
        values["keyring_admin_port"] = parse_int(v, "BOTMAKER_KEYRING_ADMIN_PORT", 0, 65535)
    return values


def _ports(text: str, name: str) -> tuple[int, ...]:
    """Comma-separated TCP port numbers (``11434,8000``), each once, in order."""
    ports = [parse_int(item.strip(), name, 1, 65535) for item in text.split(",")]
    return tuple(dict.fromkeys(ports))


def _networks(text: str, name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``).

    Names and wildcards are refused: trusting a proxy lets it choose the client address
    the login limiter and the audit log see, so it must be exactly the proxy's address.
    """
    networks = []
    for item in text.split(","):
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise ConfigError(
                f"{name}: not an IP address or network: {item.strip()!r} "
                "(use e.g. 127.0.0.1 or 10.0.0.0/8, comma-separated)",
                field=name,
            ) from None
    return tuple(networks)


def _subnet(text: str, name: str) -> str:
    try:
        network = ipaddress.IPv4Network(text.strip(), strict=True)
    except ValueError:
        raise ConfigError(
            f"{name}: not an IPv4 subnet: {text!r} (use e.g. 172.31.250.0/24)", field=name
        ) from None
    if network.prefixlen > 29:
        raise ConfigError(f"{name}: too small (at most /29)", field=name)
    return str(network)


_CONSTRAINT = re.compile(r"^[A-Za-z0-9_.\-]+ *(==|!=) *[^\s,]+$")


def _runtime(get: Callable[[str], str | None]) -> dict[str, object]:
    values: dict[str, object] = {}
    if (v := get("BOTMAKER_RUNTIME")) is not None:
        if v not in {"docker", "swarm"}:
            raise ConfigError(
                f"BOTMAKER_RUNTIME: use docker or swarm, not {v!r}", field="BOTMAKER_RUNTIME"
            )
        values["runtime"] = v
    if (v := get("BOTMAKER_SWARM_CONSTRAINTS")) is not None:
        constraints = tuple(c.strip() for c in v.split(",") if c.strip())
        for constraint in constraints:
            if not _CONSTRAINT.fullmatch(constraint):
                raise ConfigError(
                    f"BOTMAKER_SWARM_CONSTRAINTS: not a placement constraint: {constraint!r} "
                    "(use e.g. node.labels.bots==true)",
                    field="BOTMAKER_SWARM_CONSTRAINTS",
                )
        values["swarm_constraints"] = constraints
    if (v := get("BOTMAKER_SWARM_ENCRYPT_NETWORK")) is not None:
        values["swarm_encrypt_network"] = _bool(v, "BOTMAKER_SWARM_ENCRYPT_NETWORK")
    if (v := get("BOTMAKER_SWARM_ALLOW_NEW_PRIVILEGES")) is not None:
        values["swarm_allow_new_privileges"] = _bool(v, "BOTMAKER_SWARM_ALLOW_NEW_PRIVILEGES")
    return values


def _limits(get: Callable[[str], str | None]) -> BotLimits:
    values: dict[str, object] = {}
    if (v := get("BOTMAKER_BOT_MEMORY")) is not None:
        memory = parse_size(v, "BOTMAKER_BOT_MEMORY")
        if memory < 6 * 1024**2:
            raise ConfigError("BOTMAKER_BOT_MEMORY: at least 6m", field="BOTMAKER_BOT_MEMORY")
        values["memory_bytes"] = memory
    if (v := get("BOTMAKER_BOT_CPUS")) is not None:
        values["cpus"] = parse_float(v, "BOTMAKER_BOT_CPUS", 0.01, 1024)
    if (v := get("BOTMAKER_BOT_PIDS")) is not None:
        values["pids"] = parse_int(v, "BOTMAKER_BOT_PIDS", 8, 1_000_000)
    if (v := get("BOTMAKER_BOT_TMP_SIZE")) is not None:
        tmp_bytes = parse_size(v, "BOTMAKER_BOT_TMP_SIZE")
        if tmp_bytes < 1024**2:
            raise ConfigError("BOTMAKER_BOT_TMP_SIZE: at least 1m", field="BOTMAKER_BOT_TMP_SIZE")
        values["tmp_bytes"] = tmp_bytes
    if (v := get("BOTMAKER_LOG_MAX_SIZE")) is not None:
        parse_size(v, "BOTMAKER_LOG_MAX_SIZE")
        values["log_max_size"] = v
    if (v := get("BOTMAKER_LOG_MAX_FILE")) is not None:
        values["log_max_file"] = parse_int(v, "BOTMAKER_LOG_MAX_FILE", 1, 100)
    return BotLimits(**values)  # type: ignore[arg-type]


def _readable_file(value: str, name: str) -> Path:
    """A secret's file: checked readable now (read again each time it is needed)."""
    path = Path(value)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {value}: {exc.strerror}", field=name) from None
    return path


def _admin_password(env: Mapping[str, str]) -> Secret | None:
    direct = env.get("BOTMAKER_ADMIN_PASSWORD") or None
    path = env.get("BOTMAKER_ADMIN_PASSWORD_FILE") or None
    if direct and path:
        raise ConfigError("set BOTMAKER_ADMIN_PASSWORD or BOTMAKER_ADMIN_PASSWORD_FILE, not both")
    if path:
        try:
            direct = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"BOTMAKER_ADMIN_PASSWORD_FILE: cannot read {path}: {exc.strerror}",
                field="BOTMAKER_ADMIN_PASSWORD_FILE",
            ) from None
    if direct is None:
        return None
    if direct.lower() in PLACEHOLDER_PASSWORDS or len(direct) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"the admin password is a placeholder or shorter than {MIN_PASSWORD_LENGTH} "
            "characters; choose a real one (or unset it to have one generated)",
            field="BOTMAKER_ADMIN_PASSWORD",
        )
    return Secret(direct)
