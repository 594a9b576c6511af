"""Input rules for bots, shared by the API, the CLI and (later) the dashboard."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from botmaker.definition import EgressModeName
from botmaker.egress.rules import MAX_PATTERNS, parse_patterns
from botmaker.keyring.model import BudgetIn, Tag
from botmaker.openclaw.catalog import CHANNELS, PROVIDERS, key_format_problem
from botmaker.openclaw.templates import TEMPLATES

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
MAX_SECRET_BYTES = 16 * 1024
MAX_CHANNEL_CONFIG_BYTES = 64 * 1024

SecretValue = Annotated[SecretStr, Field(min_length=1, max_length=MAX_SECRET_BYTES)]
AllowEntry = Annotated[str, Field(min_length=1, max_length=200)]  # one allow_from sender
SettingValue = Annotated[str, Field(max_length=500)]  # a non-secret channel setting


def _known_channel(value: str) -> str:
    if value not in CHANNELS:
        raise ValueError(f"unknown channel; choose one of: {', '.join(sorted(CHANNELS))}")
    return value


def _clean_secret(value: SecretStr | None, limit: int) -> SecretStr | None:
    if value is None:
        return None
    raw = value.get_secret_value()
    if "\x00" in raw:
        raise ValueError("must not contain NUL characters")
    if not raw.strip():
        raise ValueError("must not be blank")
    if len(raw.encode("utf-8")) > limit:
        raise ValueError(f"must be at most {limit} bytes")
    return value


class BotSecretsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretValue | None = None
    channel_token: SecretValue | None = Field(
        default=None, description="the channel's main credential (e.g. the Telegram bot token)"
    )
    channel_config: Annotated[SecretStr, Field(min_length=1)] | None = None
    channel_credentials: dict[str, SecretValue] = Field(
        default_factory=dict,
        description="further channel credentials by name (e.g. Slack's app_token)",
        max_length=16,
    )

    @field_validator("channel_credentials")
    @classmethod
    def _credentials(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in value.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                raise ValueError(f"{name!r} is not a credential name")
            _clean_secret(secret, MAX_SECRET_BYTES)
        return value

    @field_validator("api_key", "channel_token")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _clean_secret(value, MAX_SECRET_BYTES)

    @field_validator("channel_config")
    @classmethod
    def _config(cls, value: SecretStr | None) -> SecretStr | None:
        return _clean_secret(value, MAX_CHANNEL_CONFIG_BYTES)

    def files(self) -> dict[str, str]:
        """The secret files to write, by file name."""
        values = {
            "api_key": self.api_key,
            "channel_token": self.channel_token,
            "channel_config": self.channel_config,
            **{f"channel_{name}": secret for name, secret in self.channel_credentials.items()},
        }
        return {k: v.get_secret_value() for k, v in values.items() if v is not None}


class ChannelIn(BaseModel):
    """One of several channels (``channels``), with its own credentials and policy."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="a channel id from GET /api/channels")
    credentials: dict[str, SecretValue] = Field(default_factory=dict, max_length=16)
    settings: dict[str, SettingValue] = Field(default_factory=dict, max_length=16)
    dm_policy: str | None = None
    allow_from: list[AllowEntry] = Field(default_factory=list, max_length=200)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return _known_channel(value)

    @field_validator("credentials")
    @classmethod
    def _credentials(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        return BotSecretsIn._credentials(value)


class PersonaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    emoji: str = Field(default="", max_length=16)
    soul: str = Field(default="", max_length=20_000, description="SOUL.md: who the bot is")
    user_notes: str = Field(default="", max_length=4_000, description="USER.md: about its users")


class EgressIn(BaseModel):
    """A bot's egress policy: where it may connect through the egress proxy."""

    model_config = ConfigDict(extra="forbid")

    mode: EgressModeName = Field(
        default="allowlist",
        description="open: any public host; allowlist: only the hosts in allow; none: nothing "
        "(the keyring, for model calls, is always reachable)",
    )
    allow: list[Annotated[str, Field(max_length=260)]] | None = Field(
        default=None,
        max_length=MAX_PATTERNS,
        description="host patterns: example.com, *.example.com, host:port; at create, omitted "
        "means the bot's channel and provider hosts",
    )

    @field_validator("allow")
    @classmethod
    def _allow(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        try:
            return [str(p) for p in parse_patterns(value)]
        except ValueError as exc:
            raise ValueError(str(exc)) from None


class BotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="1-63 lowercase letters, digits and hyphens, starting with a letter",
        json_schema_extra={"pattern": NAME_PATTERN, "minLength": 1, "maxLength": 63},
    )
    provider: str = Field(description="a provider id from GET /api/providers")
    model: str = Field(min_length=1, max_length=200)
    channel: str | None = Field(
        default=None, description="a channel id from GET /api/channels (or give channels)"
    )
    channels: list[ChannelIn] | None = Field(
        default=None, max_length=8, description="several channels, each with its credentials"
    )
    secrets: BotSecretsIn
    template: str | None = Field(default=None, description="a template id from GET /api/templates")
    persona: PersonaIn | None = None
    fallbacks: list[str] = Field(default_factory=list, max_length=5)
    base_url: str | None = Field(
        default=None, max_length=500, description="override the provider's API base URL"
    )
    base_url_private: bool = Field(
        default=False,
        description="allow a base_url on a private or loopback network (e.g. a LAN Ollama)",
    )
    heartbeat: bool = False
    budget: BudgetIn | None = Field(
        default=None, description="token/request budget and rate limit, enforced by the keyring"
    )
    key_tags: list[Tag] = Field(
        default_factory=list,
        max_length=16,
        description="prefer keyring keys with these tags (then untagged keys)",
    )
    dm_policy: str | None = Field(default=None, description="who may message the bot directly")
    allow_from: list[AllowEntry] = Field(default_factory=list, max_length=200)
    team: str | None = Field(
        default=None,
        max_length=64,
        description="the team (id or name) the bot belongs to; its members reach it",
    )
    channel_settings: dict[str, SettingValue] = Field(
        default_factory=dict,
        max_length=16,
        description="non-secret channel settings by name (e.g. Matrix homeserver, api_root)",
    )
    egress: EgressIn | None = Field(
        default=None,
        description="where the bot may connect; default: allowlist of its channel's and "
        "provider's hosts",
    )

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and value not in TEMPLATES:
            raise ValueError(f"unknown template; choose one of: {', '.join(sorted(TEMPLATES))}")
        return value

    @field_validator("fallbacks")
    @classmethod
    def _fallbacks(cls, value: list[str]) -> list[str]:
        for model in value:
            if not _MODEL.fullmatch(model):
                raise ValueError(f"{model!r}: use letters, digits and . _ : / @ + - (no spaces)")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(NAME_PATTERN, value):
            raise ValueError(
                "must be 1-63 lowercase letters, digits and hyphens, starting with a letter"
            )
        return value

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider; choose one of: {', '.join(sorted(PROVIDERS))}")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return None if value is None else _known_channel(value)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not _MODEL.fullmatch(value):
            raise ValueError("use letters, digits and . _ : / @ + - (no spaces)")
        return value


class BotSecretsUpdate(BaseModel):
    """Secrets to replace; those not given keep their current value."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretValue | None = None
    channel_token: SecretValue | None = None
    channel_credentials: dict[str, SecretValue] = Field(default_factory=dict, max_length=16)

    @field_validator("api_key", "channel_token")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _clean_secret(value, MAX_SECRET_BYTES)

    @field_validator("channel_credentials")
    @classmethod
    def _credentials(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        return BotSecretsIn._credentials(value)


#: Bounds of a bot's own container limits (``limits`` of an edit).
MIN_MEMORY, MAX_MEMORY = 64 * 1024**2, 64 * 1024**3


class LimitsIn(BaseModel):
    """A bot's own container limits; a field set to null goes back to the server's."""

    model_config = ConfigDict(extra="forbid")

    memory: str | None = Field(
        default=None,
        max_length=20,
        description="memory limit, e.g. 512m or 2g (no swap on top); null: BOTMAKER_BOT_MEMORY",
    )
    cpus: float | None = Field(
        default=None, ge=0.05, le=64, description="CPU limit (1.0 = one core); null: the server's"
    )
    pids: int | None = Field(
        default=None, ge=32, le=65_536, description="process/thread limit; null: the server's"
    )

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None:
            _memory_size(value)
        return value

    def memory_bytes(self) -> int | None:
        return None if self.memory is None else _memory_size(self.memory)


def _memory_size(text: str) -> int:
    match = re.fullmatch(r"(\d{1,12})\s*([kmg]?)b?", text.strip(), re.IGNORECASE)
    if not match:
        raise ValueError("use a size such as 512m or 2g")
    unit = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]
    size = int(match.group(1)) * unit
    if not MIN_MEMORY <= size <= MAX_MEMORY:
        raise ValueError("must be between 64m and 64g")
    return size


class BotUpdate(BaseModel):
    """``PATCH /api/bots/{bot}``: what may change on a bot without recreating it."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(
        default=None,
        description="a provider id from GET /api/providers; a change needs model too, and a "
        "key for the new provider (secrets.api_key, or a shared keyring key)",
    )
    model: str | None = Field(default=None, min_length=1, max_length=200)
    fallbacks: list[str] | None = Field(default=None, max_length=5)
    template: str | None = None
    persona: PersonaIn | None = None
    base_url: str | None = Field(default=None, max_length=500)
    base_url_private: bool | None = Field(
        default=None,
        description="allow base_url on a private or loopback network (e.g. a LAN Ollama; "
        "the keyring connects there); a change of provider without it: false",
    )
    heartbeat: bool | None = None
    budget: BudgetIn | None = None
    channel: str | None = Field(
        default=None,
        description="a channel id from GET /api/channels: another channel for a bot with one "
        "(needs that channel's credentials and settings; its DM policy and allow list start anew)",
    )
    dm_policy: str | None = None
    allow_from: list[AllowEntry] | None = Field(default=None, max_length=200)
    channel_settings: dict[str, SettingValue] | None = Field(default=None, max_length=16)
    secrets: BotSecretsUpdate | None = None
    egress: EgressIn | None = None
    limits: LimitsIn | None = Field(
        default=None, description="the bot's own container limits (fields not given: kept)"
    )

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: str | None) -> str | None:
        return None if value is None else BotCreate._provider(value)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        return None if value is None else BotCreate._model(value)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return BotCreate._channel(value)

    @field_validator("fallbacks")
    @classmethod
    def _fallbacks(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else BotCreate._fallbacks(value)

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return BotCreate._template(value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return BotCreate._base_url(value)


class KeyCreate(BaseModel):
    """``POST /api/keys``: a provider key for the keyring, shared by bots using the provider."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(description="a provider id from GET /api/providers")
    key: SecretValue
    label: str = Field(default="", max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=16)

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: str) -> str:
        return BotCreate._provider(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        checked = _clean_secret(value, MAX_SECRET_BYTES)
        assert checked is not None
        raw = checked.get_secret_value()
        if raw != raw.strip() or any(c in raw for c in "\r\n"):
            raise ValueError("must be one line without surrounding spaces")
        provider = info.data.get("provider")  # absent when it was invalid itself
        problem = key_format_problem(provider, raw) if provider else None
        if problem:
            raise ValueError(problem)
        return checked


class KeyTest(BaseModel):
    """``POST /api/keys/test``: a key to try once against its provider, kept nowhere."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(description="a provider id from GET /api/providers")
    key: SecretValue
    base_url: str | None = Field(
        default=None,
        max_length=500,
        description="the API base URL the key is for, if not the "
        "provider's own (a custom or local provider)",
    )
    base_url_private: bool = Field(
        default=False, description="base_url may be on a private or loopback network"
    )

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: str) -> str:
        return BotCreate._provider(value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return BotCreate._base_url(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        return KeyCreate._key(value, info)  # the rules of POST /api/keys: no call for "abc"
