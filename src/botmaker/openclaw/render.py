"""Render a bot's OpenClaw state folder: ``openclaw.json`` and its workspace files.

Pure functions from a :class:`BotConfig` to file contents. Every credential is a
SecretRef to a file under ``/run/secrets`` (OpenClaw's ``file`` secret provider in
``singleValue`` mode) or a path OpenClaw reads itself (``tokenFile``), so nothing
rendered here ever contains a secret value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botmaker.openclaw.catalog import CHANNELS, PROVIDERS, Channel

SECRETS_DIR = "/run/secrets"
STATE_DIR = "/state"  # the bot's state folder inside its container (bind-mounted rw)
CONFIG_PATH = f"{STATE_DIR}/openclaw.json"
WORKSPACE = f"{STATE_DIR}/workspace"
GATEWAY_PORT = 18789

#: The header BotMaker sets (and strips from what a browser sent) naming who is at
#: the gateway: ``user:<name>`` for a person through the Control UI proxy,
#: ``botmaker`` for BotMaker's own calls (health, admin RPC, chat).
USER_HEADER = "x-botmaker-user"
#: The admin HTTP RPC route of OpenClaw's bundled ``admin-http-rpc`` plugin.
ADMIN_RPC_PATH = "/api/v1/admin/rpc"

API_KEY_FILE = "api_key"
KEYRING_TOKEN_FILE = "keyring_token"  # noqa: S105 - a file name: the bot's keyring token
GATEWAY_TOKEN_FILE = "gateway_token"  # noqa: S105 - a file name

#: Where signal-cli keeps a bot's Signal accounts (its ``--config``): in the state folder,
#: so an account linked from BotMaker (services/gateway/signal_link.py) survives restarts
#: and recreations. signal-cli's own default, ``~/.local/share/signal-cli``, is on the
#: container's tmpfs home.
SIGNAL_CLI_DATA = f"{STATE_DIR}/signal-cli"
#: The first ``@openclaw/signal`` release that reads signal-cli's settings (``cliPath``,
#: ``configPath``...) from ``channels.signal.transport``; earlier ones read them from
#: ``channels.signal`` itself. Both refuse the other shape.
SIGNAL_TRANSPORT_SINCE = (2026, 9, 3)
_RELEASE = re.compile(r"v?(\d{4})\.(\d{1,2})\.(\d{1,3})(?![\d.])")


def primary_credential(channel: Channel) -> str | None:
    """The channel credential sent as ``secrets.channel_token`` (its first secret one)."""
    for credential in channel.credentials:
        if credential.secret:
            return credential.name
    return None


def secret_file_for(channel: Channel, credential: str, index: int = 0) -> str:
    """The file under /run/secrets holding one credential of a bot's index-th channel."""
    if index > 0:
        return f"channel_{channel.id.replace('-', '_')}_{credential}"
    if credential == primary_credential(channel):
        return "channel_token"
    return f"channel_{credential}"


@dataclass(frozen=True)
class Persona:
    name: str
    emoji: str = ""
    soul: str = ""
    user_notes: str = ""


@dataclass(frozen=True)
class ChannelConfig:
    type: str
    dm_policy: str = "pairing"
    allow_from: tuple[str, ...] = ()
    settings: Mapping[str, str] = field(default_factory=dict)  # non-secret values
    api_root: str | None = None  # Telegram: a self-hosted (or test) Bot API root
    index: int = 0  # position among the bot's channels (names its secret files)


def ui_base_path(bot_id: str) -> str:
    """Where BotMaker serves a bot's Control UI (and so the UI's own base path)."""
    return f"/bots/{bot_id}/ui"


@dataclass(frozen=True)
class GatewayAccess:
    """How people and BotMaker reach a bot's gateway: only through BotMaker.

    The gateway trusts identity headers (``USER_HEADER``) from ``trusted_proxies`` only
    (BotMaker's address on the bots' network: nothing else there can reach a bot), its
    Control UI lives under ``base_path`` and accepts browsers from ``origins``. The
    gateway token becomes the gateway's password, for OpenClaw's own CLI inside the
    container; no browser ever holds it.
    """

    trusted_proxies: tuple[str, ...]
    origins: tuple[str, ...]
    base_path: str


@dataclass(frozen=True)
class BotConfig:
    id: str
    name: str
    provider: str
    model: str
    persona: Persona
    fallbacks: tuple[str, ...] = ()
    base_url: str | None = None
    heartbeat: bool = False
    channels: tuple[ChannelConfig, ...] = ()
    secret_files: frozenset[str] = frozenset()  # names present under /run/secrets
    proxy_base: str | None = None  # the keyring proxy's URL for this provider, if keyed there
    access: GatewayAccess | None = None  # None: token auth only (no Control UI proxy)
    #: The OpenClaw release the bot runs (its image's ``--version``, else its tag), for
    #: config keys whose place moved between releases; None: unknown (the newest shape).
    openclaw_version: str | None = None


def _file_ref(provider: str) -> dict[str, str]:
    return {"source": "file", "provider": provider, "id": "value"}


def _provider_alias(secret_file: str) -> str:
    return "bm_" + secret_file.replace("-", "_")


def model_ref(provider: str, model: str) -> str:
    return model if model.startswith(f"{provider}/") else f"{provider}/{model}"


def render_config(bot: BotConfig) -> dict[str, Any]:
    """The ``openclaw.json`` document for ``bot`` (no secret values, only references)."""
    provider = PROVIDERS[bot.provider]
    secret_providers: dict[str, Any] = {}

    def ref(secret_file: str) -> dict[str, str]:
        alias = _provider_alias(secret_file)
        secret_providers[alias] = {
            "source": "file",
            "path": f"{SECRETS_DIR}/{secret_file}",
            "mode": "singleValue",
        }
        return _file_ref(alias)

    provider_block: dict[str, Any] = {
        "baseUrl": bot.proxy_base or bot.base_url or provider.base_url,
        "api": provider.api,
        "models": [{"id": m, "name": m} for m in _models_of(bot)],
    }
    if bot.proxy_base is not None and KEYRING_TOKEN_FILE in bot.secret_files:
        provider_block["apiKey"] = ref(KEYRING_TOKEN_FILE)  # the proxy swaps it for the key
    elif API_KEY_FILE in bot.secret_files:
        provider_block["apiKey"] = ref(API_KEY_FILE)

    channels: dict[str, Any] = {}
    for channel in bot.channels:
        channels[channel.type] = _channel_block(channel, ref, bot.secret_files)
        if channel.type == "signal":
            channels[channel.type].update(signal_data_block(bot.openclaw_version))

    config: dict[str, Any] = {
        "gateway": _gateway_block(bot.access, ref(GATEWAY_TOKEN_FILE)),
        "models": {
            "mode": "merge",
            "providers": {provider.id: provider_block},
            "catalogRefresh": {"enabled": False},
        },
        "agents": {
            "defaults": {
                "model": {
                    "primary": model_ref(provider.id, bot.model),
                    "fallbacks": [model_ref(provider.id, m) for m in bot.fallbacks],
                },
                "workspace": WORKSPACE,
                "heartbeat": {"every": "30m" if bot.heartbeat else "0m"},
            }
        },
        "channels": channels,
        "update": {"checkOnStart": False},
        "secrets": {"providers": secret_providers},
    }
    if bot.access is not None:
        config["plugins"] = {"entries": {"admin-http-rpc": {"enabled": True}}}
    return config


def _gateway_block(access: GatewayAccess | None, secret: dict[str, str]) -> dict[str, Any]:
    block: dict[str, Any] = {"mode": "local", "bind": "lan", "port": GATEWAY_PORT}
    if access is None:
        block["auth"] = {"mode": "token", "token": secret}
    else:
        block["trustedProxies"] = list(access.trusted_proxies)
        block["auth"] = {
            "mode": "trusted-proxy",
            "trustedProxy": {"userHeader": USER_HEADER},
            "password": secret,  # OpenClaw's own CLI in the container, over loopback
        }
        block["controlUi"] = {
            "enabled": True,
            "basePath": access.base_path,
            "allowedOrigins": list(access.origins),
        }
        # BotMaker's chat (the same agent run as `openclaw agent`), reachable only
        # by BotMaker: the UI proxy forwards nothing outside base_path.
        block["http"] = {"endpoints": {"chatCompletions": {"enabled": True}}}
    block["terminal"] = {"enabled": False}  # no operator shell into the bot
    return block


def _models_of(bot: BotConfig) -> list[str]:
    seen: list[str] = []
    for model in (bot.model, *bot.fallbacks):
        bare = model.removeprefix(f"{bot.provider}/")
        if bare not in seen:
            seen.append(bare)
    return seen


def _channel_block(
    channel: ChannelConfig, ref: Any, secret_files: frozenset[str]
) -> dict[str, Any]:
    spec = CHANNELS[channel.type]
    block: dict[str, Any] = {"enabled": True}
    for credential in spec.credentials:
        if credential.secret:
            secret_file = secret_file_for(spec, credential.name, channel.index)
            if secret_file not in secret_files:
                continue
            if credential.ref == "file":
                block[credential.config_key] = f"{SECRETS_DIR}/{secret_file}"
            else:
                block[credential.config_key] = ref(secret_file)
        elif credential.name in channel.settings:
            block[credential.config_key] = channel.settings[credential.name]
    if spec.dm_policies:
        block["dmPolicy"] = channel.dm_policy
        if channel.dm_policy == "open":
            block["allowFrom"] = ["*"]
        elif channel.allow_from:
            block["allowFrom"] = list(channel.allow_from)
    if channel.api_root and channel.type == "telegram":
        block["apiRoot"] = channel.api_root
    return block


def release(version: str | None) -> tuple[int, int, int] | None:
    """``2026.9.6`` (or an image tag such as ``2026.9.6-path``) as numbers; None when
    ``version`` names no OpenClaw release."""
    match = _RELEASE.match(version or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def signal_data_block(version: str | None) -> dict[str, Any]:
    """The keys of ``channels.signal`` that make OpenClaw run signal-cli with its data
    in the state folder (``--config SIGNAL_CLI_DATA``), in the shape the bot's release
    reads: ``transport`` (a managed signal-cli daemon) since ``SIGNAL_TRANSPORT_SINCE``
    or when the release is unknown, a plain ``configPath`` before."""
    known = release(version)
    if known is not None and known < SIGNAL_TRANSPORT_SINCE:
        return {"configPath": SIGNAL_CLI_DATA}
    return {"transport": {"kind": "managed-native", "configPath": SIGNAL_CLI_DATA}}


def render_identity(persona: Persona) -> str:
    lines = ["# IDENTITY.md", "", f"- **Name:** {persona.name}"]
    if persona.emoji:
        lines.append(f"- **Emoji:** {persona.emoji}")
    return "\n".join(lines) + "\n"


def render_files(bot: BotConfig, current: bytes | None = None) -> dict[str, bytes]:
    """Every file of the state folder, by path relative to it; ``current``: the bot's
    ``openclaw.json`` as it is now, whose OpenClaw-owned parts are kept
    (:func:`merge_config`)."""
    persona = bot.persona
    config = merge_config(render_config(bot), current)
    files = {
        "openclaw.json": (json.dumps(config, indent=2) + "\n").encode(),
        "workspace/IDENTITY.md": render_identity(persona).encode(),
        "workspace/SOUL.md": (persona.soul.strip() + "\n").encode() if persona.soul else b"",
    }
    if persona.user_notes:
        files["workspace/USER.md"] = ("# USER.md\n\n" + persona.user_notes.strip() + "\n").encode()
    return {path: data for path, data in files.items() if data}


#: An ``openclaw.json`` larger than this is not merged from (a bot wrote it; BotMaker's
#: own renders are a few KiB).
MERGE_LIMIT = 1 << 20
#: Top-level sections BotMaker alone writes: replaced by each render.
_OWNED_SECTIONS = ("models", "secrets", "update")
_OWNED_GATEWAY = ("mode", "bind", "port", "auth", "trustedProxies", "controlUi", "http", "terminal")
_OWNED_AGENT_DEFAULTS = ("model", "workspace", "heartbeat")
_OWNED_CHANNEL = ("enabled", "dmPolicy", "allowFrom", "apiRoot")


def merge_config(rendered: Mapping[str, Any], current: bytes | None) -> dict[str, Any]:
    """``rendered`` laid over the bot's current ``openclaw.json``, keeping what OpenClaw
    itself wrote there: a first command owner from a pairing approval
    (``commands.ownerAllowFrom``), its ``meta``/``wizard`` stamps, agents and plugins it
    added, keys ``doctor --fix`` migrated, channels BotMaker does not know. What BotMaker
    renders (gateway access, models, credentials, DM policy, persona paths) always wins,
    and a channel BotMaker knows but no longer renders is removed.

    ``current`` is the bot's file, so hostile input: anything but a JSON object of at
    most ``MERGE_LIMIT`` bytes is ignored (the render alone is written)."""
    base = _json_object(current)
    if base is None:
        return dict(rendered)
    merged: dict[str, Any] = {k: v for k, v in base.items() if k not in _OWNED_SECTIONS}
    for key, value in rendered.items():
        if key == "gateway":
            merged[key] = _overlay(base.get(key), value, _OWNED_GATEWAY)
        elif key == "agents":
            agents = dict(base["agents"]) if isinstance(base.get("agents"), dict) else {}
            agents.update({k: v for k, v in value.items() if k != "defaults"})
            agents["defaults"] = _overlay(
                agents.get("defaults"), value.get("defaults", {}), _OWNED_AGENT_DEFAULTS
            )
            merged[key] = agents
        elif key == "channels":
            merged[key] = _merge_channels(base.get(key), value)
        elif key == "plugins":
            plugins = dict(base["plugins"]) if isinstance(base.get("plugins"), dict) else {}
            entries = plugins.get("entries")
            plugins["entries"] = {
                **(entries if isinstance(entries, dict) else {}),
                **value.get("entries", {}),
            }
            merged[key] = plugins
        else:
            merged[key] = value
    return merged


def _json_object(data: bytes | None) -> dict[str, Any] | None:
    if not data or len(data) > MERGE_LIMIT:
        return None
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _overlay(current: object, rendered: Mapping[str, Any], owned: tuple[str, ...]) -> Any:
    """``rendered`` over ``current`` with the ``owned`` keys only ever BotMaker's."""
    kept = {k: v for k, v in current.items() if k not in owned} if isinstance(current, dict) else {}
    return {**kept, **rendered}


def _merge_channels(current: object, rendered: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if isinstance(current, dict):
        for name, block in current.items():
            if name in CHANNELS and name not in rendered:
                continue  # BotMaker's channel, removed by the operator
            merged[name] = block
    for name, block in rendered.items():
        spec = CHANNELS[name]
        owned = _OWNED_CHANNEL + tuple(c.config_key for c in spec.credentials)
        current_block = merged.get(name)
        if (
            name == "signal"
            and isinstance(current_block, dict)
            and any(key in current_block for key in _SIGNAL_DATA_KEYS)
        ):
            # signal-cli's place is the bot's own once its file names one (an operator's
            # transport, doctor's migration to a newer shape): kept as it is.
            block = {k: v for k, v in block.items() if k not in _SIGNAL_DATA_KEYS}
        merged[name] = _overlay(current_block, block, owned)
    return merged


#: The keys of ``channels.signal`` that say where signal-cli runs and keeps its data.
_SIGNAL_DATA_KEYS = ("transport", "configPath")
