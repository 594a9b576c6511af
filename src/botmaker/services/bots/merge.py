"""An edit as a full create request: the stored bot with the patch applied.

Secrets the edit does not give stand as ``"(unchanged)"`` placeholders, so the
create checks (``check_and_build``) judge the edited bot as a whole.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from botmaker.errors import InvalidInput
from botmaker.openclaw.catalog import CHANNELS
from botmaker.openclaw.render import secret_file_for
from botmaker.services.schemas import BotCreate, BotSecretsUpdate, BotUpdate
from botmaker.store import BotRecord


def merged(record: BotRecord, patch: BotUpdate, present: set[str]) -> BotCreate:
    """The bot as a full create request with the patch applied (secrets as placeholders)."""
    spec = record.spec
    channel = (spec.get("channels") or [{}])[0]
    if len(spec.get("channels") or []) > 1:
        return _merged_multi(record, patch, present)
    given = patch.secrets or BotSecretsUpdate()
    placeholder = "(unchanged)"
    extra = {
        name.removeprefix("channel_"): placeholder
        for name in present
        if name.startswith("channel_") and name not in ("channel_token", "channel_config")
    }
    extra.update({k: v.get_secret_value() for k, v in given.channel_credentials.items()})
    secrets_in: dict[str, Any] = {"channel_credentials": extra}
    for name in ("api_key", "channel_token"):
        value = getattr(given, name)
        if value is not None:
            secrets_in[name] = value.get_secret_value()
        elif name in present:
            secrets_in[name] = placeholder
    body = {
        **_patched_common(record, patch),
        "channel": record.channel,
        "secrets": secrets_in,
        "dm_policy": patch.dm_policy or channel.get("dm_policy"),
        "allow_from": channel.get("allow_from", [])
        if patch.allow_from is None
        else patch.allow_from,
        "channel_settings": channel.get("settings", {})
        if patch.channel_settings is None
        else patch.channel_settings,
    }
    try:
        return BotCreate.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from None


def _merged_multi(record: BotRecord, patch: BotUpdate, present: set[str]) -> BotCreate:
    """Like ``merged`` for a bot with several channels: only non-channel fields change."""
    channel_fields = ("dm_policy", "allow_from", "channel_settings")
    touched = [f for f in channel_fields if getattr(patch, f) is not None]
    if patch.secrets and (patch.secrets.channel_token or patch.secrets.channel_credentials):
        touched.append("secrets.channel_token")
    if touched:
        raise InvalidInput(
            "this bot has several channels; change them by creating the bot anew",
            field=touched[0],
        )
    spec = record.spec
    channels = []
    for index, entry in enumerate(spec["channels"]):
        channel = CHANNELS[entry["type"]]
        credentials = {
            c.name: "(unchanged)"
            for c in channel.credentials
            if c.secret and secret_file_for(channel, c.name, index) in present
        }
        channels.append(
            {
                "type": entry["type"],
                "credentials": credentials,
                "settings": entry.get("settings", {}),
                "dm_policy": entry.get("dm_policy"),
                "allow_from": entry.get("allow_from", []),
            }
        )
    api_key = patch.secrets.api_key if patch.secrets else None
    body = {
        **_patched_common(record, patch),
        "channels": channels,
        "secrets": {"api_key": api_key.get_secret_value()}
        if api_key
        else ({"api_key": "(unchanged)"} if "api_key" in present else {}),
    }
    return BotCreate.model_validate(body)


def _patched_common(record: BotRecord, patch: BotUpdate) -> dict[str, Any]:
    """The fields every edit may change, with the patch applied to the stored values."""
    spec = record.spec
    persona: dict[str, Any] | None = spec.get("persona")
    if patch.persona is not None:
        persona = patch.persona.model_dump()
    elif patch.template is not None:
        persona = None
    fallbacks = spec.get("fallbacks") or []
    return {
        "name": record.name,
        "provider": record.provider,
        "model": patch.model or record.model,
        "template": patch.template if persona is None else None,
        "persona": persona,
        "fallbacks": fallbacks if patch.fallbacks is None else patch.fallbacks,
        "base_url": patch.base_url if patch.base_url is not None else spec.get("base_url"),
        "base_url_private": bool(spec.get("base_url_private")),
        "heartbeat": bool(spec.get("heartbeat")) if patch.heartbeat is None else patch.heartbeat,
        "budget": patch.budget.model_dump() if patch.budget is not None else spec.get("budget"),
        "key_tags": spec.get("key_tags") or [],
    }


def secret_files_of(patch: BotUpdate) -> dict[str, str]:
    if patch.secrets is None:
        return {}
    files = {
        name: value.get_secret_value()
        for name, value in (
            ("api_key", patch.secrets.api_key),
            ("channel_token", patch.secrets.channel_token),
        )
        if value is not None
    }
    for name, value in patch.secrets.channel_credentials.items():
        files[f"channel_{name}"] = value.get_secret_value()
    return files
