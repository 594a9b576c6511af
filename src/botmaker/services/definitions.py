"""A bot's definition: checked against the catalogs, stored as JSON, turned into a BotConfig.

Cross-field rules live here (which credentials a channel needs, which DM policy
it accepts, whether a provider needs a key or a base URL), so the API, the CLI
and the dashboard all refuse the same things with the same field names.
"""

from __future__ import annotations

from typing import Any

from botmaker.errors import InvalidInput
from botmaker.openclaw.catalog import CHANNELS, PROVIDERS, Channel
from botmaker.openclaw.render import BotConfig, ChannelConfig, Persona, primary_credential
from botmaker.openclaw.templates import TEMPLATES
from botmaker.services.schemas import BotCreate
from botmaker.store import BotRecord

DEFAULT_TEMPLATE = "assistant"


def check_and_build(request: BotCreate) -> dict[str, Any]:
    """Validate what pydantic cannot see alone; return the definition to store."""
    provider = PROVIDERS[request.provider]
    channel = CHANNELS[request.channel]
    secrets = request.secrets
    if provider.key_required and secrets.api_key is None:
        raise InvalidInput(f"provider {provider.id} needs an API key", field="secrets.api_key")
    if provider.base_url_required and not request.base_url:
        raise InvalidInput(f"provider {provider.id} needs a base URL", field="base_url")
    primary = primary_credential(channel)
    if (
        primary is not None
        and secrets.channel_token is None
        and any(c.name == primary and c.required for c in channel.credentials)
    ):
        raise InvalidInput(
            f"channel {channel.id} needs its {channel.token_label}", field="secrets.channel_token"
        )
    known = {c.name for c in channel.credentials}
    for name in secrets.channel_credentials:
        if name == primary or name not in known:
            raise InvalidInput(
                f"channel {channel.id} has no extra credential {name!r}",
                field=f"secrets.channel_credentials.{name}",
            )
    allowed_settings = {c.name for c in channel.credentials if not c.secret}
    if channel.id == "telegram":
        allowed_settings.add("api_root")
    choices = {c.name: c.choices for c in channel.credentials if c.choices}
    for name, value in request.channel_settings.items():
        if name in choices and value not in choices[name]:
            raise InvalidInput(
                f"{name} must be one of: {', '.join(choices[name])}",
                field=f"channel_settings.{name}",
            )
        if name not in allowed_settings:
            raise InvalidInput(
                f"channel {channel.id} has no setting {name!r}", field=f"channel_settings.{name}"
            )
    for credential in channel.credentials:
        if not credential.required:
            continue
        if credential.secret and credential.name == primary:
            continue  # secrets.channel_token is checked by the request model
        if credential.secret and credential.name not in secrets.channel_credentials:
            raise InvalidInput(
                f"channel {channel.id} needs {credential.label}",
                field=f"secrets.channel_credentials.{credential.name}",
            )
        if not credential.secret and not request.channel_settings.get(credential.name):
            raise InvalidInput(
                f"channel {channel.id} needs {credential.label}",
                field=f"channel_settings.{credential.name}",
            )
    dm_policy = request.dm_policy or _default_policy(channel)
    if channel.dm_policies and dm_policy not in channel.dm_policies:
        raise InvalidInput(
            f"dm_policy must be one of: {', '.join(channel.dm_policies)}", field="dm_policy"
        )
    if dm_policy == "allowlist" and not request.allow_from:
        raise InvalidInput("an allowlist policy needs allow_from entries", field="allow_from")
    return {
        "persona": _persona(request),
        "template": request.template,
        "fallbacks": list(request.fallbacks),
        "base_url": request.base_url,
        "heartbeat": request.heartbeat,
        "channels": [
            {
                "type": channel.id,
                "dm_policy": dm_policy,
                "allow_from": list(request.allow_from),
                "settings": dict(request.channel_settings),
            }
        ],
    }


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


def bot_config(record: BotRecord, secret_files: frozenset[str]) -> BotConfig:
    """The renderer's view of a stored bot."""
    spec = record.spec
    persona = Persona(**spec.get("persona", {"name": record.name}))
    channels = []
    for entry in spec.get("channels") or [{"type": record.channel}]:
        settings = dict(entry.get("settings") or {})
        api_root = settings.pop("api_root", None)
        channels.append(
            ChannelConfig(
                type=entry["type"],
                dm_policy=entry.get("dm_policy") or _default_policy(CHANNELS[entry["type"]]),
                allow_from=tuple(entry.get("allow_from") or ()),
                settings=settings,
                api_root=api_root,
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
    )
