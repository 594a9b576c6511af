"""Render a bot's OpenClaw state folder: ``openclaw.json`` and its workspace files.

Pure functions from a :class:`BotConfig` to file contents. Every credential is a
SecretRef to a file under ``/run/secrets`` (OpenClaw's ``file`` secret provider in
``singleValue`` mode) or a path OpenClaw reads itself (``tokenFile``), so nothing
rendered here ever contains a secret value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botmaker.openclaw.catalog import CHANNELS, PROVIDERS, Channel

SECRETS_DIR = "/run/secrets"
STATE_DIR = "/state"  # the bot's state folder inside its container (bind-mounted rw)
CONFIG_PATH = f"{STATE_DIR}/openclaw.json"
WORKSPACE = f"{STATE_DIR}/workspace"
GATEWAY_PORT = 18789

API_KEY_FILE = "api_key"
KEYRING_TOKEN_FILE = "keyring_token"  # noqa: S105 - a file name: the bot's keyring token
GATEWAY_TOKEN_FILE = "gateway_token"  # noqa: S105 - a file name


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

    config: dict[str, Any] = {
        "gateway": {
            "mode": "local",
            "bind": "lan",
            "port": GATEWAY_PORT,
            "auth": {"mode": "token", "token": ref(GATEWAY_TOKEN_FILE)},
            "terminal": {"enabled": False},  # no operator shell into the bot
        },
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
    return config


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


def render_identity(persona: Persona) -> str:
    lines = ["# IDENTITY.md", "", f"- **Name:** {persona.name}"]
    if persona.emoji:
        lines.append(f"- **Emoji:** {persona.emoji}")
    return "\n".join(lines) + "\n"


def render_files(bot: BotConfig) -> dict[str, bytes]:
    """Every file of the state folder, by path relative to it."""
    persona = bot.persona
    files = {
        "openclaw.json": (json.dumps(render_config(bot), indent=2) + "\n").encode(),
        "workspace/IDENTITY.md": render_identity(persona).encode(),
        "workspace/SOUL.md": (persona.soul.strip() + "\n").encode() if persona.soul else b"",
    }
    if persona.user_notes:
        files["workspace/USER.md"] = ("# USER.md\n\n" + persona.user_notes.strip() + "\n").encode()
    return {path: data for path, data in files.items() if data}
