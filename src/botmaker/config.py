"""Typed settings read from an environment mapping (``os.environ`` by default).

Every variable is one row of a declarative table (:data:`SETTINGS`; the keyring's
own is in ``botmaker.keyring.settings``): its name, the field it sets, the parser
that checks it (bounds included), its default as documented and its documentation.
One small reader (:func:`read`, :func:`build`) turns a table into settings, and
``botmaker.config_docs`` prints the README's configuration tables from the same rows,
so code and documentation cannot drift apart.

Nothing here reads the process environment at import time: ``Settings.from_env``
takes the mapping to read, so tests pass their own.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from botmaker.errors import BotMakerError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

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


_N = TypeVar("_N", int, float)


def _bounded(
    text: str, name: str, convert: Callable[[str], _N], what: str, low: _N, high: _N
) -> _N:
    try:
        value = convert(text)
    except ValueError:
        raise ConfigError(f"{name}: not {what}: {text!r}", field=name) from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: must be between {low} and {high}", field=name)
    return value


def parse_int(text: str, name: str, low: int, high: int) -> int:
    return _bounded(text, name, int, "an integer", low, high)


def parse_float(text: str, name: str, low: float, high: float) -> float:
    return _bounded(text, name, float, "a number", low, high)


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
    public_url: str | None = None  # the URL browsers open BotMaker's pages at
    ui_url: str | None = None  # the bots' Control UI origins: a pattern with one "*"
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
    stop_timeout: int = 30
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
    # pinned | latest | an OpenClaw version: the image upgrades go to when none is given
    openclaw_channel: str = "pinned"
    keyring: str = "auto"  # auto: BotMaker runs the keyring proxy | external | off
    keyring_url: str | None = None  # external: the keyring's admin API
    keyring_proxy_url: str | None = None  # external: the data plane as bots reach it
    keyring_port: int = 7180  # auto: data plane port on the bots' network gateway
    keyring_admin_port: int = 7181  # auto: admin API port on 127.0.0.1
    keyring_token_path: Path | None = None  # the keyring admin token (default in keyring_dir)
    smtp_password_file: Path | None = None  # the SMTP password for email alerts (never stored)
    keyring_dir_path: Path | None = None  # the keyring's folder (default data_dir/keyring)
    egress: str = "auto"  # auto: BotMaker runs the egress proxy | off: bots connect directly
    egress_port: int = 7182  # the egress proxy's port on the bots' network gateway
    egress_admin_port: int = 7183  # its admin API on 127.0.0.1
    egress_dns: tuple[str, ...] = ()  # DNS servers the egress proxy asks (default: the host's)
    egress_allow_private: tuple[str, ...] = ()  # private networks bots may reach through it
    runtime: str = "docker"  # docker: one container per bot | swarm: one Swarm service per bot
    swarm_constraints: tuple[str, ...] = ()  # extra placement constraints of every bot service
    swarm_encrypt_network: bool = True  # each bot's overlay network encrypted (IPsec)
    # Swarm services cannot set no-new-privileges (API 1.41): unless the engine sets it
    # for every container (dockerd --no-new-privileges), swarm mode refuses to run bots.
    swarm_allow_new_privileges: bool = False
    # Single sign-on with an OpenID Connect provider (off unless an issuer is set).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: Secret | None = None
    oidc_name: str = "single sign-on"
    oidc_scopes: str = "openid email profile groups"
    oidc_groups_claim: str = "groups"
    oidc_roles: tuple[tuple[str, str], ...] = ()  # (group, role), first match wins
    oidc_default_role: str | None = None  # role of a user no group maps; None: refused
    metrics_token: Secret | None = None  # GET /metrics' scrape token; None: loopback only
    # OpenTelemetry traces over OTLP/HTTP: off unless an endpoint is set (botmaker.tracing)
    otel_endpoint: str | None = None  # OTLP base URL; traces go to <it>/v1/traces
    otel_traces_endpoint: str | None = None  # the traces URL itself (wins over otel_endpoint)
    otel_service_name: str = "botmaker"
    otel_disabled: bool = False  # OTEL_SDK_DISABLED: the standard off switch

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
    def public_origin(self) -> str:
        """Where browsers open BotMaker's pages: ``public_url``'s origin, else the
        listen address's."""
        return _origin(self.public_url) if self.public_url else _listen_origin(self.host, self.port)

    def ui_origin(self, bot_id: str, port: int | None = None) -> str:
        """The origin a bot's Control UI is served at: ``ui_url`` with ``*`` replaced
        by the bot's id, else ``http://<id>.localhost:<port>`` (``port``: as the browser
        reached BotMaker; default the listen port). Its own origin per bot, so one
        bot's pages can reach neither BotMaker's pages nor another bot's UI."""
        if self.ui_url is not None:
            return _origin(self.ui_url.replace("*", bot_id, 1))
        return f"http://{bot_id}.localhost:{self.port if port is None else port}"

    @property
    def ui_host_suffix(self) -> str:
        """What a request's host name ends with when it is for a bot's Control UI:
        ``.localhost`` by default, else ``ui_url``'s host after the ``*``."""
        if self.ui_url is None:
            return ".localhost"
        host = urlsplit(self.ui_url).hostname or ""
        return host.partition("*")[2]

    @property
    def egress_admin_token_file(self) -> Path:
        return self.data_dir / "egress" / "admin.token"

    @property
    def bots_network_internal(self) -> bool:
        """The Docker runtime's bots' network is internal when asked for, and always with
        the egress proxy: its policies hold only if there is no other way out."""
        return self.network_internal or (self.egress != "off" and self.runtime == "docker")

    @property
    def keyring_admin_token_file(self) -> Path:
        return self.keyring_token_path or self.keyring_dir / "admin.token"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "botmaker.db"

    @property
    def otel_traces_url(self) -> str | None:
        """Where spans are exported; None: tracing is off."""
        return traces_url(self.otel_endpoint, self.otel_traces_endpoint, self.otel_disabled)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return _check(build(cls(), read(SETTINGS, environ)))


# --- The table and its reader -------------------------------------------------------

#: Reads one variable's text (never empty); raises a ConfigError naming the variable.
Parser = Callable[[str, str], object]
_D = TypeVar("_D", bound="DataclassInstance")


@dataclass(frozen=True)
class Var:
    """One environment variable: the field it sets, how it is checked, its README row."""

    name: str
    #: attribute of the settings it sets; ``limits.cpus`` sets a field of a nested one
    field: str
    #: the parser, with its bounds (``integer(1, 65535)``)
    parse: Parser
    #: the default as the README shows it (None: unset); a test parses it back
    default: str | None
    doc: str


def read(table: Iterable[Var], environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The parsed value of each variable of ``table`` set in ``environ``, by field.

    ``environ`` defaults to the process environment. An empty value counts as unset.
    Two variables for one field (a password or the file holding it) cannot both be
    set: which one wins would be a guess.
    """
    env = os.environ if environ is None else environ
    chosen: dict[str, Var] = {}
    for var in table:
        if not env.get(var.name):
            continue
        if (other := chosen.get(var.field)) is not None:
            raise ConfigError(f"set {other.name} or {var.name}, not both", field=other.name)
        chosen[var.field] = var
    return {key: var.parse(env[var.name], var.name) for key, var in chosen.items()}


def build(base: _D, values: Mapping[str, object]) -> _D:
    """``base`` with ``values`` set (a dotted key sets a field of a nested dataclass)."""
    flat: dict[str, object] = {}
    nested: dict[str, dict[str, object]] = {}
    for key, value in values.items():
        head, dot, rest = key.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[key] = value
    for head, inner in nested.items():
        flat[head] = build(getattr(base, head), inner)
    return dataclasses.replace(base, **flat)


# --- Parsers --------------------------------------------------------------------------


def string(text: str, name: str) -> str:
    """Free-form text: Docker or the OS judges it."""
    return text


def path(text: str, name: str) -> Path:
    return Path(text)


def boolean(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}: expected true or false, got {text!r}", field=name)


def integer(low: int, high: int) -> Parser:
    return lambda text, name: parse_int(text, name, low, high)


def number(low: float, high: float) -> Parser:
    return lambda text, name: parse_float(text, name, low, high)


def size(at_least: str) -> Parser:
    """A size in bytes (``512m``), refused below ``at_least`` (itself a size)."""
    low = parse_size(at_least, "at_least")

    def parse(text: str, name: str) -> int:
        value = parse_size(text, name)
        if value < low:
            raise ConfigError(f"{name}: at least {at_least}", field=name)
        return value

    return parse


def choice(*options: str, echo: bool = False) -> Parser:
    """One of ``options``; ``echo`` repeats the refused value in the error."""
    listed = f"{', '.join(options[:-1])} or {options[-1]}"

    def parse(text: str, name: str) -> str:
        if text not in options:
            shown = f", not {text!r}" if echo else ""
            raise ConfigError(f"{name}: use {listed}{shown}", field=name)
        return text

    return parse


def _size_text(text: str, name: str) -> str:
    """A size kept as written (Docker's log options take ``10m`` as text)."""
    parse_size(text, name)
    return text


def _instance(text: str, name: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,62}", text):
        raise ConfigError(f"{name}: use lowercase letters, digits, - _ .", field=name)
    return text


def _url(text: str, name: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
        raise ConfigError(f"{name}: not an http(s) URL: {text!r}", field=name)
    return text.rstrip("/")


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


def _dns_servers(text: str, name: str) -> tuple[str, ...]:
    """Comma-separated ``ip`` or ``ip:port`` of DNS servers."""
    servers = []
    for item in (part.strip() for part in text.split(",")):
        host, sep, port = item.rpartition(":") if item.count(":") == 1 else (item, "", "")
        try:
            ipaddress.ip_address(host if sep else item)
            if sep:
                parse_int(port, name, 1, 65535)
        except ValueError:
            raise ConfigError(
                f"{name}: not a DNS server address: {item!r} (use e.g. 10.0.0.2 or 10.0.0.2:53)",
                field=name,
            ) from None
        servers.append(item)
    return tuple(dict.fromkeys(servers))


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


def _constraints(text: str, name: str) -> tuple[str, ...]:
    constraints = tuple(c.strip() for c in text.split(",") if c.strip())
    for constraint in constraints:
        if not _CONSTRAINT.fullmatch(constraint):
            raise ConfigError(
                f"{name}: not a placement constraint: {constraint!r} "
                "(use e.g. node.labels.bots==true)",
                field=name,
            )
    return constraints


def _read_file(value: str, name: str) -> str:
    try:
        return Path(value).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {value}: {exc.strerror}", field=name) from None


def _readable_file(value: str, name: str) -> Path:
    """A secret's file: checked readable now (read again each time it is needed)."""
    file = Path(value)
    try:
        with file.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {value}: {exc.strerror}", field=name) from None
    return file


def _ui_url(text: str, name: str) -> str:
    url = _url(text, name)
    host = urlsplit(url).hostname or ""
    if not host.startswith("*.") or host.count("*") != 1 or urlsplit(url).path not in ("", "/"):
        raise ConfigError(
            f"{name}: the host must start with '*.' and the URL have no path, e.g. "
            f"https://*.ui.example.com, not {text!r}",
            field=name,
        )
    return url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _listen_origin(host: str, port: int) -> str:
    return f"http://{host if ':' not in host else f'[{host}]'}:{port}"


def _password(text: str, name: str) -> Secret:
    if text.lower() in PLACEHOLDER_PASSWORDS or len(text) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"the admin password is a placeholder or shorter than {MIN_PASSWORD_LENGTH} "
            "characters; choose a real one (or unset it to have one generated)",
            field=name,
        )
    return Secret(text)


def _password_file(value: str, name: str) -> Secret:
    """The file's text without its trailing newline (spaces belong to the password)."""
    return _password(_read_file(value, name).rstrip("\r\n"), name)


#: An OpenClaw release as its images are tagged: ``2026.9.6``, ``2026.9.6-beta.1``.
_VERSION = re.compile(r"\d+(?:\.\d+){1,3}(?:-[0-9A-Za-z][0-9A-Za-z.-]{0,63})?")


def _channel(text: str, name: str) -> str:
    """``pinned``, ``latest`` or an OpenClaw version (a tag of the bot image's repository)."""
    if text in ("pinned", "latest") or _VERSION.fullmatch(text):
        return text
    raise ConfigError(
        f"{name}: use pinned, latest or an OpenClaw version such as 2026.9.6, not {text!r}",
        field=name,
    )


def traces_url(endpoint: str | None, traces_endpoint: str | None, disabled: bool) -> str | None:
    """The OTLP/HTTP traces URL as the OpenTelemetry specification derives it: the
    traces endpoint as given, else ``<endpoint>/v1/traces``; None when neither is set
    or the SDK is disabled (tracing off)."""
    if disabled:
        return None
    if traces_endpoint:
        return traces_endpoint
    if endpoint:
        return endpoint.rstrip("/") + "/v1/traces"
    return None


def _otlp_url(text: str, name: str) -> str:
    """An http(s) URL, kept as written (a traces endpoint is used verbatim)."""
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text.strip()):
        raise ConfigError(f"{name}: not an http(s) URL: {text!r}", field=name)
    return text.strip()


def _service_name(text: str, name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,126}", text.strip()):
        raise ConfigError(f"{name}: use letters, digits and _ . : / - (at most 127)", field=name)
    return text.strip()


def otel_vars(service: str, who: str) -> tuple[Var, ...]:
    """The standard OpenTelemetry variables a process reads (BotMaker's and the
    keyring's tables); ``service`` is the default service name."""
    return (
        Var(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "otel_endpoint",
            _otlp_url,
            None,
            f"Traces ({who}): the OTLP/HTTP collector's base URL, e.g. `http://otel:4318`; "
            "spans go to `<it>/v1/traces` (protobuf). Unset (and no traces endpoint): "
            "tracing is off and costs nothing. See *Tracing*.",
        ),
        Var(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "otel_traces_endpoint",
            _otlp_url,
            None,
            "The OTLP/HTTP traces URL itself, used as written (wins over the base URL).",
        ),
        Var(
            "OTEL_SERVICE_NAME",
            "otel_service_name",
            _service_name,
            service,
            "The `service.name` of the spans.",
        ),
        Var(
            "OTEL_SDK_DISABLED",
            "otel_disabled",
            boolean,
            "false",
            "`true`: no traces even with an endpoint set.",
        ),
    )


def _check(settings: Settings) -> Settings:
    """What no single variable can check: an external keyring needs both its URLs; single
    sign-on needs its client id and secret."""
    if settings.keyring == "external" and not (settings.keyring_url and settings.keyring_proxy_url):
        raise ConfigError(
            "BOTMAKER_KEYRING=external needs BOTMAKER_KEYRING_URL and BOTMAKER_KEYRING_PROXY_URL",
            field="BOTMAKER_KEYRING_URL",
        )
    if settings.oidc_issuer and not (settings.oidc_client_id and settings.oidc_client_secret):
        raise ConfigError(
            "BOTMAKER_OIDC_ISSUER needs BOTMAKER_OIDC_CLIENT_ID and "
            "BOTMAKER_OIDC_CLIENT_SECRET_FILE (or BOTMAKER_OIDC_CLIENT_SECRET)",
            field="BOTMAKER_OIDC_CLIENT_ID",
        )
    return settings


_ROLES = ("admin", "operator", "viewer")


def _role_map(text: str, name: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in (part.strip() for part in text.split(",")):
        group, sep, role = item.rpartition("=")
        if not item:
            continue
        if not sep or not group.strip() or role.strip() not in _ROLES:
            raise ConfigError(f"{name}: {item!r} is not group=admin|operator|viewer", field=name)
        pairs.append((group.strip(), role.strip()))
    return tuple(pairs)


def _client_secret(text: str, name: str) -> Secret:
    return Secret(text)


def _client_secret_file(value: str, name: str) -> Secret:
    return Secret(_read_file(value, name).strip())


def _metrics_token(text: str, name: str) -> Secret:
    if len(text) < 16 or any(c.isspace() for c in text):
        raise ConfigError(
            f"{name}: use at least 16 characters without spaces (e.g. openssl rand -hex 32)",
            field=name,
        )
    return Secret(text)


def _metrics_token_file(value: str, name: str) -> Secret:
    return _metrics_token(_read_file(value, name).strip(), name)


#: BotMaker's variables, in the order of the README's configuration table.
SETTINGS: tuple[Var, ...] = (
    Var(
        "BOTMAKER_HOST",
        "host",
        string,
        "127.0.0.1",
        "Address the API listens on. Keep it on loopback (or a private interface) — see "
        "*Operating safely*.",
    ),
    Var("BOTMAKER_PORT", "port", integer(1, 65535), "7100", "Port of the API."),
    Var(
        "BOTMAKER_TRUSTED_PROXIES",
        "trusted_proxies",
        _networks,
        None,
        "Comma-separated IP addresses or networks (e.g. `127.0.0.1`, `10.0.0.0/8`) of the "
        "reverse proxies in front of BotMaker. Only a request from one of them has its "
        "`X-Forwarded-For` (the client the login limit and the audit log see) and "
        "`X-Forwarded-Proto` (`https` makes the session cookie `Secure`) believed. Unset: "
        "both headers are ignored and the client is the TCP peer. A proxy on the same host "
        "(the compose deployment) connects from `127.0.0.1`: set `127.0.0.1` so each client "
        "has its own login limit — every local process can then claim any address.",
    ),
    Var(
        "BOTMAKER_PUBLIC_URL",
        "public_url",
        _url,
        None,
        "The URL browsers open BotMaker's pages at, e.g. `https://bots.example.com` behind "
        "a TLS proxy; the Control UI origin sends people there to sign in. Unset: "
        "`http://<BOTMAKER_HOST>:<BOTMAKER_PORT>`.",
    ),
    Var(
        "BOTMAKER_UI_URL",
        "ui_url",
        _ui_url,
        None,
        "Where each bot's own Control UI is served, behind BotMaker's login: a URL whose "
        "first host label is `*`, replaced by the bot's id, e.g. `https://*.ui.example.com` "
        "(a wildcard DNS name and certificate on the TLS proxy in front of BotMaker). Every "
        "bot gets its own origin, so a bot's pages can reach neither BotMaker's pages nor "
        "another bot's (see *Operating safely*). Unset: `http://*.localhost:<BOTMAKER_PORT>` "
        "(browsers resolve `*.localhost` to this machine).",
    ),
    Var(
        "BOTMAKER_DATA_DIR",
        "data_dir",
        path,
        "./data",
        "Folder (0700) of the SQLite store `botmaker.db` (0600).",
    ),
    Var(
        "BOTMAKER_SECRETS_DIR",
        "secrets_dir",
        path,
        "./secrets",
        "Folder (0700) of the per-bot secret folders.",
    ),
    Var(
        "BOTMAKER_ADMIN_PASSWORD",
        "admin_password",
        _password,
        None,
        "Admin password (at least 12 characters; placeholders such as `changethis` are refused).",
    ),
    Var(
        "BOTMAKER_ADMIN_PASSWORD_FILE",
        "admin_password",
        _password_file,
        None,
        "File holding the admin password (preferred over the variable). If neither is set, "
        "one is generated on first start.",
    ),
    Var(
        "BOTMAKER_BOT_IMAGE",
        "bot_image",
        string,
        DEFAULT_BOT_IMAGE,
        "Image for new bots, pinned to a release. Pulled if missing.",
    ),
    Var(
        "DOCKER_HOST",
        "docker_host",
        string,
        "unix:///var/run/docker.sock",
        "The Docker engine, as Docker itself reads it.",
    ),
    Var(
        "BOTMAKER_DOCKER_API_VERSION",
        "docker_api_version",
        string,
        "1.41",
        "Docker API version to speak (1.41 = engine 20.10; newer engines accept it).",
    ),
    Var(
        "BOTMAKER_DOCKER_TIMEOUT",
        "docker_timeout",
        number(0.5, 300),
        "5",
        "Seconds to wait for the engine before answering 503.",
    ),
    Var(
        "BOTMAKER_PULL_TIMEOUT",
        "pull_timeout",
        number(1, 86400),
        "600",
        "Seconds of silence tolerated while pulling an image.",
    ),
    Var(
        "BOTMAKER_INSTANCE",
        "instance",
        _instance,
        "default",
        "Name of this BotMaker installation; its containers carry `botmaker.instance=<name>`,"
        " so several installations can share an engine.",
    ),
    Var(
        "BOTMAKER_NETWORK",
        "network",
        string,
        "botmaker-bots",
        "Docker network of the bots (bridge, inter-container traffic disabled).",
    ),
    Var(
        "BOTMAKER_NETWORK_INTERNAL",
        "network_internal",
        boolean,
        "false",
        "Make that network `internal` (bots reach nothing outside the host; the test suite "
        "uses this). Bots then run npm offline (`npm_config_offline=true`): an OpenClaw "
        "gateway that would fetch a plugin (`@openclaw/codex` for `openai`) at start fails "
        "that at once instead of waiting minutes on a registry it cannot reach.",
    ),
    Var(
        "BOTMAKER_NETWORK_SUBNET",
        "network_subnet",
        _subnet,
        None,
        "IPv4 subnet (e.g. `172.31.250.0/24`) BotMaker gives the bots' network when it "
        "creates it; its first address is the gateway. A network that exists with another "
        "gateway is refused. The compose deployment fixes it so the keyring can listen on the"
        " gateway.",
    ),
    Var(
        "BOTMAKER_BOT_HOST_PORTS",
        "bot_host_ports",
        _ports,
        None,
        "Comma-separated TCP ports of the host that bots may connect to on the bots' network "
        "gateway, besides the keyring's data plane (e.g. `11434` for an Ollama server on the "
        "host with `BOTMAKER_KEYRING=off`). Every other host port is closed to bots by the "
        "host guard (see *Operating safely*).",
    ),
    Var(
        "BOTMAKER_BOT_UID_BASE",
        "bot_uid_base",
        integer(1000, 2**31 - 2**20),
        "200000",
        "Bot *n* runs as uid/gid `base + n` (when BotMaker runs as root).",
    ),
    Var(
        "BOTMAKER_STOP_TIMEOUT",
        "stop_timeout",
        integer(0, 600),
        "30",
        "Seconds a stop/restart waits after SIGTERM before SIGKILL. OpenClaw drains its "
        "in-flight work first (an outbound fetch times out after 5 s, then up to 5 s for "
        "open sockets): 3-8 s measured with a channel unreachable. A stop returns as soon "
        "as the bot exits; delete never waits.",
    ),
    Var(
        "BOTMAKER_BOT_MEMORY",
        "limits.memory_bytes",
        size(at_least="6m"),
        "1536m",
        "Memory limit per bot (no swap on top).",
    ),
    Var("BOTMAKER_BOT_CPUS", "limits.cpus", number(0.01, 1024), "1.0", "CPU limit per bot."),
    Var(
        "BOTMAKER_BOT_PIDS",
        "limits.pids",
        integer(8, 1_000_000),
        "512",
        "Process/thread limit per bot.",
    ),
    Var(
        "BOTMAKER_BOT_TMP_SIZE",
        "limits.tmp_bytes",
        size(at_least="1m"),
        "64m",
        "Size of each bot's tmpfs mounts (`/tmp`, `$HOME`).",
    ),
    Var(
        "BOTMAKER_LOG_MAX_SIZE",
        "limits.log_max_size",
        _size_text,
        "10m",
        "Container log rotation: size of one file.",
    ),
    Var(
        "BOTMAKER_LOG_MAX_FILE",
        "limits.log_max_file",
        integer(1, 100),
        "3",
        "Container log rotation: files kept.",
    ),
    Var(
        "BOTMAKER_TOKEN_TTL",
        "token_ttl_seconds",
        integer(60, 30 * 86400),
        "43200",
        "Seconds an API token / session lives.",
    ),
    Var(
        "BOTMAKER_MAX_BODY",
        "max_body_bytes",
        size(at_least="1k"),
        "256k",
        "Largest request body accepted (413 above).",
    ),
    Var(
        "BOTMAKER_SSE_PING",
        "sse_ping_seconds",
        number(0.1, 3600),
        "15",
        "Seconds between keep-alive comments on event streams.",
    ),
    Var(
        "BOTMAKER_VALIDATE_CONFIG",
        "validate_config",
        choice("auto", "always", "never"),
        "auto",
        "Run OpenClaw's own `config validate` in the bot image before a bot starts: `auto` "
        "(when the image carries OpenClaw: its CLI is found on PATH, from the image's "
        "CMD/ENTRYPOINT and WorkingDir, or as `node <WorkingDir>/openclaw.mjs`), `always` "
        "(refuse images without OpenClaw), `never`. Gateways are probed either way.",
    ),
    Var(
        "BOTMAKER_HEALTH_INTERVAL",
        "health_interval",
        number(0.5, 3600),
        "10",
        "Seconds between BotMaker's probes of each OpenClaw gateway's `/healthz` and `/readyz` "
        "(and `/startupz` while it is not ready).",
    ),
    Var(
        "BOTMAKER_RECONCILE_INTERVAL",
        "reconcile_interval",
        number(0.5, 86400),
        "30",
        "Seconds between reconciliation passes of the API server (one also runs at start-up)."
        " A pass undoes creates and finishes deletes cut short by a crash, recreates and "
        "starts the missing container of a bot, and removes this instance's labelled "
        "containers and bot folders that have no bot (after two intervals). Unlabelled "
        "containers are never touched.",
    ),
    Var(
        "BOTMAKER_STATS_INTERVAL",
        "stats_interval",
        number(0.5, 3600),
        "10",
        "Seconds between samples of the running bots' CPU, memory and network (one-shot "
        "Docker stats; the last hour is kept in memory).",
    ),
    Var(
        "BOTMAKER_UPGRADE_TIMEOUT",
        "upgrade_timeout",
        number(5, 3600),
        "120",
        "Seconds an upgraded bot (`POST /api/bots/{bot}/image`, `POST /api/image/upgrade`) "
        "has to become healthy before it is rolled back to its previous image.",
    ),
    Var(
        "BOTMAKER_OPENCLAW_CHANNEL",
        "openclaw_channel",
        _channel,
        "pinned",
        "The image an upgrade goes to when none is named (`POST /api/image/upgrade` without "
        "`image`, `botmaker upgrade` without `--image`): `pinned` (`BOTMAKER_BOT_IMAGE`, by "
        "default the release this BotMaker pins), `latest` (that image's repository with tag "
        "`latest`, pulled again each rollout) or an OpenClaw version such as `2026.9.6` (that "
        "repository with that tag).",
    ),
    Var(
        "BOTMAKER_KEYRING",
        "keyring",
        choice("auto", "external", "off"),
        "auto",
        "`auto`: BotMaker runs the keyring proxy (`botmaker keyring serve`) as a child "
        "process and bots get only a token for it. `external`: use a keyring running "
        "elsewhere (compose). `off`: bots hold their provider key themselves (not "
        "recommended).",
    ),
    Var(
        "BOTMAKER_KEYRING_URL",
        "keyring_url",
        _url,
        None,
        "`external` only: the keyring's admin API, e.g. `http://keyring:7181`.",
    ),
    Var(
        "BOTMAKER_KEYRING_PROXY_URL",
        "keyring_proxy_url",
        _url,
        None,
        "`external` only: the keyring's data plane as bots reach it, e.g. "
        "`http://keyring:7180` (a name: list it in the keyring's `BOTMAKER_KEYRING_HOSTS`).",
    ),
    Var(
        "BOTMAKER_KEYRING_PORT",
        "keyring_port",
        integer(0, 65535),
        "7180",
        "`auto`: port of the data plane, bound to the bots' network gateway address only.",
    ),
    Var(
        "BOTMAKER_KEYRING_ADMIN_PORT",
        "keyring_admin_port",
        integer(0, 65535),
        "7181",
        "`auto`: port of the keyring's admin API, bound to 127.0.0.1.",
    ),
    Var(
        "BOTMAKER_EGRESS",
        "egress",
        choice("auto", "off"),
        "auto",
        "`auto`: BotMaker runs the egress proxy (`botmaker egress serve`) and every bot's "
        "connections out go through it, under the bot's egress policy (`open`, `allowlist`, "
        "`none`; see *Egress*); the Docker runtime's bots' network is then always "
        "`internal`. `off`: no proxy; bots connect directly (as they did before it existed).",
    ),
    Var(
        "BOTMAKER_EGRESS_PORT",
        "egress_port",
        integer(0, 65535),
        "7182",
        "Port of the egress proxy on the bots' network gateway (the one other host port "
        "bots may reach besides the keyring's).",
    ),
    Var(
        "BOTMAKER_EGRESS_ADMIN_PORT",
        "egress_admin_port",
        integer(0, 65535),
        "7183",
        "Port of the egress proxy's admin API, bound to 127.0.0.1.",
    ),
    Var(
        "BOTMAKER_EGRESS_DNS",
        "egress_dns",
        _dns_servers,
        None,
        "DNS servers the egress proxy resolves bots' destinations with (`1.1.1.1` or "
        "`10.0.0.2:53`, comma-separated). Unset: the host's resolver.",
    ),
    Var(
        "BOTMAKER_EGRESS_ALLOW_PRIVATE",
        "egress_allow_private",
        _networks,
        None,
        "Private networks (`192.168.1.20/32, 10.8.0.0/16`) bots may reach through the egress "
        "proxy when their policy allows the host, e.g. a self-hosted Mattermost on the LAN. "
        "Unset: loopback, private, link-local and carrier-grade NAT addresses are refused "
        "after resolution; cloud metadata addresses always are.",
    ),
    Var(
        "BOTMAKER_RUNTIME",
        "runtime",
        choice("docker", "swarm", echo=True),
        "docker",
        "Where bots run: `docker` (one container per bot on this engine) or `swarm` (one "
        "Swarm service per bot; the engine must be a swarm manager — see *Docker Swarm*).",
    ),
    Var(
        "BOTMAKER_SWARM_CONSTRAINTS",
        "swarm_constraints",
        _constraints,
        None,
        "`swarm` only: extra placement constraints for every bot service, comma-separated, "
        "e.g. `node.labels.bots==true,node.role!=manager`. Bots are always also pinned to the"
        " node BotMaker runs on (`node.id==<this node>`), where their state folder is.",
    ),
    Var(
        "BOTMAKER_SWARM_ENCRYPT_NETWORK",
        "swarm_encrypt_network",
        boolean,
        "true",
        "`swarm` only: create each bot's overlay network with `encrypted` (IPsec between "
        "nodes). Set `false` where the kernel has no IPsec (ESP) support.",
    ),
    Var(
        "BOTMAKER_SWARM_ALLOW_NEW_PRIVILEGES",
        "swarm_allow_new_privileges",
        boolean,
        "false",
        "`swarm` only: a Swarm service cannot ask for `no-new-privileges` (API 1.41), so "
        "swarm mode refuses to start unless the engine sets it for every container (`dockerd "
        '--no-new-privileges`, or `"no-new-privileges": true` in `daemon.json`). `true` runs '
        "bots without it — all capabilities stay dropped.",
    ),
    Var(
        "BOTMAKER_KEYRING_ADMIN_TOKEN_FILE",
        "keyring_token_path",
        path,
        "$BOTMAKER_DATA_DIR/keyring/admin.token",
        "The keyring admin token (0600), created on first start and read by both processes.",
    ),
    Var(
        "BOTMAKER_KEYRING_DIR",
        "keyring_dir_path",
        path,
        "$BOTMAKER_DATA_DIR/keyring",
        "The keyring's folder (`keyring.db`): BotMaker passes it to the keyring it starts, "
        "and `botmaker backup` and `restore` find the keyring there.",
    ),
    Var(
        "BOTMAKER_SMTP_PASSWORD_FILE",
        "smtp_password_file",
        _readable_file,
        None,
        "File (keep it 0600) holding the SMTP password for email alerts when a username is "
        "set. Checked at start, read again at every send (rotate it without a restart); never"
        " stored in the database, never shown by the API or logged.",
    ),
    Var(
        "BOTMAKER_METRICS_TOKEN",
        "metrics_token",
        _metrics_token,
        None,
        "The scrape token of `GET /metrics` (Prometheus sends it as `Authorization: Bearer "
        "…`; at least 16 characters; prefer the file). Unset: only loopback clients may "
        "scrape without signing in.",
    ),
    Var(
        "BOTMAKER_METRICS_TOKEN_FILE",
        "metrics_token",
        _metrics_token_file,
        None,
        "File (0600) holding the scrape token, read at start.",
    ),
    Var(
        "BOTMAKER_OIDC_ISSUER",
        "oidc_issuer",
        _url,
        None,
        "Single sign-on: the OpenID Connect provider's issuer URL (its "
        "`/.well-known/openid-configuration` is read). Unset: no single sign-on. Register "
        "BotMaker there as a confidential client with the redirect URI "
        "`$BOTMAKER_PUBLIC_URL/login/oidc/callback`.",
    ),
    Var("BOTMAKER_OIDC_CLIENT_ID", "oidc_client_id", string, None, "Its client id."),
    Var(
        "BOTMAKER_OIDC_CLIENT_SECRET",
        "oidc_client_secret",
        _client_secret,
        None,
        "Its client secret (prefer the file).",
    ),
    Var(
        "BOTMAKER_OIDC_CLIENT_SECRET_FILE",
        "oidc_client_secret",
        _client_secret_file,
        None,
        "File (0600) holding the client secret.",
    ),
    Var(
        "BOTMAKER_OIDC_NAME",
        "oidc_name",
        string,
        "single sign-on",
        "The provider's name on the login page's button (\"Sign in with …\").",
    ),
    Var(
        "BOTMAKER_OIDC_SCOPES",
        "oidc_scopes",
        string,
        "openid email profile groups",
        "Scopes asked for (space-separated; `openid` and `email` are needed).",
    ),
    Var(
        "BOTMAKER_OIDC_GROUPS_CLAIM",
        "oidc_groups_claim",
        string,
        "groups",
        "The ID token claim listing the user's groups.",
    ),
    Var(
        "BOTMAKER_OIDC_ROLES",
        "oidc_roles",
        _role_map,
        None,
        "Group to role, comma-separated, first match wins: e.g. "
        "`bot-admins=admin,support=operator,staff=viewer`. A group with the name of a "
        "BotMaker team also makes the user a member of it (synced at each sign-in).",
    ),
    Var(
        "BOTMAKER_OIDC_DEFAULT_ROLE",
        "oidc_default_role",
        choice(*_ROLES),
        None,
        "Role of a user none of whose groups is mapped. Unset: such a user is refused.",
    ),
    *otel_vars("botmaker", "API requests"),
)
