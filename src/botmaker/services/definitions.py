"""A bot's definition: checked against the catalogs, stored as JSON, turned into a BotConfig.

Cross-field rules live here (which credentials a channel needs, which DM policy
it accepts, whether a provider needs a key or a base URL), so the API, the CLI
and the dashboard all refuse the same things with the same field names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botmaker.errors import InvalidInput
from botmaker.keyring.netpolicy import check_base_url
from botmaker.openclaw.catalog import CHANNELS, PROVIDERS, Channel
from botmaker.openclaw.render import (
    BotConfig,
    ChannelConfig,
    Persona,
    primary_credential,
    secret_file_for,
)
from botmaker.openclaw.templates import TEMPLATES
from botmaker.services.schemas import BotCreate
from botmaker.store import BotRecord

DEFAULT_TEMPLATE = "assistant"


@dataclass(frozen=True)
class ChannelRequest:
    """One channel of a create request, whichever form it came in."""

    type: str
    secrets: dict[str, bool]  # credential name -> given
    settings: dict[str, str]
    dm_policy: str | None
    allow_from: list[str]
    secret_field: Callable[[str], str]  # credential name -> API field
    field: Callable[[str], str]  # "dm_policy" etc. -> API field


def channel_requests(request: BotCreate) -> list[ChannelRequest]:
    if request.channels is not None:
        if request.channel is not None:
            raise InvalidInput("give channel or channels, not both", field="channel")
        if request.secrets.channel_token or request.secrets.channel_credentials:
            raise InvalidInput(
                "with channels, give each channel's credentials in channels[].credentials",
                field="secrets.channel_token",
            )
        if not request.channels:
            raise InvalidInput("at least one channel is needed", field="channels")
        seen: set[str] = set()
        result = []
        for i, item in enumerate(request.channels):
            if item.type in seen:
                raise InvalidInput(f"channel {item.type} is listed twice", field=f"channels.{i}")
            seen.add(item.type)
            result.append(
                ChannelRequest(
                    type=item.type,
                    secrets=dict.fromkeys(item.credentials, True),
                    settings=dict(item.settings),
                    dm_policy=item.dm_policy,
                    allow_from=list(item.allow_from),
                    secret_field=_prefixed(f"channels.{i}.credentials."),
                    field=_prefixed(f"channels.{i}."),
                )
            )
        return result
    if request.channel is None:
        raise InvalidInput("choose a channel (or give channels)", field="channel")
    channel = CHANNELS[request.channel]
    primary = primary_credential(channel)
    given = dict.fromkeys(request.secrets.channel_credentials, True)
    for name in given:
        if name == primary:
            raise InvalidInput(
                f"send {name} as secrets.channel_token",
                field=f"secrets.channel_credentials.{name}",
            )
    if primary is not None and request.secrets.channel_token is not None:
        given[primary] = True

    def secret_field(name: str) -> str:
        return "secrets.channel_token" if name == primary else f"secrets.channel_credentials.{name}"

    return [
        ChannelRequest(
            type=channel.id,
            secrets=given,
            settings=dict(request.channel_settings),
            dm_policy=request.dm_policy,
            allow_from=list(request.allow_from),
            secret_field=secret_field,
            field=lambda f: "channel_settings" if f == "settings" else f,
        )
    ]


def _prefixed(prefix: str) -> Callable[[str], str]:
    def field(name: str) -> str:
        return prefix + name

    return field


def check_channel(item: ChannelRequest) -> dict[str, Any]:
    channel = CHANNELS[item.type]
    known = {c.name for c in channel.credentials if c.secret}
    for name in item.secrets:
        if name not in known:
            raise InvalidInput(
                f"channel {channel.id} has no credential {name!r}", field=item.secret_field(name)
            )
    allowed_settings = {c.name for c in channel.credentials if not c.secret}
    if channel.id == "telegram":
        allowed_settings.add("api_root")
    choices = {c.name: c.choices for c in channel.credentials if c.choices}
    settings_field = item.field("settings")
    for name, value in item.settings.items():
        if name not in allowed_settings:
            raise InvalidInput(
                f"channel {channel.id} has no setting {name!r}", field=f"{settings_field}.{name}"
            )
        if name in choices and value not in choices[name]:
            raise InvalidInput(
                f"{name} must be one of: {', '.join(choices[name])}",
                field=f"{settings_field}.{name}",
            )
    for credential in channel.credentials:
        if not credential.required:
            continue
        if credential.secret and credential.name not in item.secrets:
            label = (
                channel.token_label
                if credential.name == primary_credential(channel)
                else credential.label
            )
            raise InvalidInput(
                f"channel {channel.id} needs its {label}",
                field=item.secret_field(credential.name),
            )
        if not credential.secret and not item.settings.get(credential.name):
            raise InvalidInput(
                f"channel {channel.id} needs {credential.label}",
                field=f"{settings_field}.{credential.name}",
            )
    dm_policy = item.dm_policy or _default_policy(channel)
    if channel.dm_policies and dm_policy not in channel.dm_policies:
        raise InvalidInput(
            f"dm_policy must be one of: {', '.join(channel.dm_policies)}",
            field=item.field("dm_policy"),
        )
    if dm_policy == "allowlist" and not item.allow_from:
        raise InvalidInput(
            "an allowlist policy needs allow_from entries", field=item.field("allow_from")
        )
    return {
        "type": channel.id,
        "dm_policy": dm_policy,
        "allow_from": item.allow_from,
        "settings": item.settings,
    }


def check_and_build(request: BotCreate, *, keyring: bool = False) -> dict[str, Any]:
    """Validate what pydantic cannot see alone; return the definition to store.

    ``keyring``: provider keys live in the keyring proxy, so a provider that needs a
    key may do without ``secrets.api_key`` (a shared keyring key is used).
    """
    provider = PROVIDERS[request.provider]
    if provider.key_required and request.secrets.api_key is None and not keyring:
        raise InvalidInput(f"provider {provider.id} needs an API key", field="secrets.api_key")
    if provider.base_url_required and not request.base_url:
        raise InvalidInput(f"provider {provider.id} needs a base URL", field="base_url")
    if request.base_url and keyring:  # the keyring connects there: no private ranges unasked
        check_base_url(request.base_url, allow_private=request.base_url_private)
    if not keyring and (request.budget is not None or request.key_tags):
        field = "budget" if request.budget is not None else "key_tags"
        raise InvalidInput("budgets and key tags need the keyring proxy", field=field)
    channels = [check_channel(item) for item in channel_requests(request)]
    definition: dict[str, Any] = {
        "persona": _persona(request),
        "template": request.template,
        "fallbacks": list(request.fallbacks),
        "base_url": request.base_url,
        "heartbeat": request.heartbeat,
        "channels": channels,
    }
    if request.base_url_private:
        definition["base_url_private"] = True
    if keyring:
        definition["keyring"] = True
        definition["budget"] = request.budget.model_dump() if request.budget else {}
        definition["key_tags"] = list(request.key_tags)
    return definition


def secret_files(request: BotCreate) -> dict[str, str]:
    """Every secret file of a create request, by file name."""
    files = request.secrets.files()
    for index, item in enumerate(request.channels or []):
        channel = CHANNELS[item.type]
        for name, value in item.credentials.items():
            files[secret_file_for(channel, name, index)] = value.get_secret_value()
    return files


def _default_policy(channel: Channel) -> str:
    if "pairing" in channel.dm_policies:
        return "pairing"
    return channel.dm_policies[0] if channel.dm_policies else ""


def _persona(request: BotCreate) -> dict[str, str]:
    if request.persona is not None:
        return request.persona.model_dump()
    template = TEMPLATES[request.template or DEFAULT_TEMPLATE]
    name = request.name if request.template is None else template.persona_name
    return {"name": name, "emoji": template.emoji, "soul": template.soul, "user_notes": ""}


def bot_config(
    record: BotRecord, secret_files: frozenset[str], *, proxy_base: str | None = None
) -> BotConfig:
    """The renderer's view of a stored bot (``proxy_base``: its keyring proxy URL)."""
    spec = record.spec
    persona = Persona(**spec.get("persona", {"name": record.name}))
    channels = []
    for index, entry in enumerate(spec.get("channels") or [{"type": record.channel}]):
        settings = dict(entry.get("settings") or {})
        api_root = settings.pop("api_root", None)
        channels.append(
            ChannelConfig(
                type=entry["type"],
                dm_policy=entry.get("dm_policy") or _default_policy(CHANNELS[entry["type"]]),
                allow_from=tuple(entry.get("allow_from") or ()),
                settings=settings,
                api_root=api_root,
                index=index,
            )
        )
    return BotConfig(
        id=record.id,
        name=record.name,
        provider=record.provider,
        model=record.model,
        persona=persona,
        fallbacks=tuple(spec.get("fallbacks") or ()),
        base_url=spec.get("base_url"),
        heartbeat=bool(spec.get("heartbeat")),
        channels=tuple(channels),
        secret_files=secret_files,
        proxy_base=proxy_base,
    )
