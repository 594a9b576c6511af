"""Request fields in words: ``secrets.api_key`` is "API key", ``fallbacks.1`` is
"Fallback models (entry 2)". Error messages name fields this way; the raw key travels
beside the message (``error.field``) for clients and for the pages to find the input.
"""

from __future__ import annotations

import re
from typing import Any

from botmaker.openclaw.catalog import CHANNELS

#: Fields whose words are not just their key with the underscores made spaces.
LABELS: dict[str, str] = {
    "name": "Bot name",
    "provider": "Provider",
    "model": "Model",
    "channel": "Chat channel",
    "channels": "Channels",
    "template": "Template",
    "persona": "Persona",
    "persona.name": "Persona name",
    "persona.emoji": "Emoji",
    "persona.soul": "SOUL.md",
    "persona.user_notes": "USER.md",
    "fallbacks": "Fallback models",
    "base_url": "Base URL",
    "base_url_private": "Private base URL",
    "heartbeat": "Heartbeat",
    "budget": "Budget",
    "key_tags": "Key tags",
    "dm_policy": "Direct message policy",
    "allow_from": "Allow list",
    "team": "Team",
    "channel_settings": "Channel settings",
    "egress": "Network access",
    "egress.mode": "Network access",
    "egress.allow": "Allowed hosts",
    "secrets": "Secrets",
    "secrets.api_key": "API key",
    "secrets.channel_token": "Channel token",
    "secrets.channel_config": "Channel configuration",
    "secrets.channel_credentials": "Channel credentials",
    "key": "Key",
    "secret": "Key",
    "label": "Label",
    "tags": "Tags",
    "webhook_url": "Webhook URL",
    "password": "Password",
    "current_password": "Current password",
    "new_password": "New password",
    "body": "Request body",
}

_INDEX = re.compile(r"^\d+$")


def _credential_label(name: str) -> str | None:
    """The catalog's label of a channel credential or setting called ``name``."""
    for channel in CHANNELS.values():
        for credential in channel.credentials:
            if credential.name == name:
                return credential.label
    return None


def _words(key: str) -> str:
    text = key.replace("_", " ").strip()
    text = re.sub(r"\burl\b", "URL", text)
    text = re.sub(r"\bdm\b", "direct message", text)
    return text[:1].upper() + text[1:]


def field_label(field: str | None) -> str:
    """``field`` (a dotted request path) in words, for a person."""
    if not field:
        return "Request"
    if field in LABELS:
        return LABELS[field]
    parts = field.split(".")
    # a list entry: "fallbacks.1" -> "Fallback models (entry 2)"
    if _INDEX.match(parts[-1]) and len(parts) > 1:
        return f"{field_label('.'.join(parts[:-1]))} (entry {int(parts[-1]) + 1})"
    # a channel credential or setting by name
    if len(parts) == 3 and parts[:2] == ["secrets", "channel_credentials"]:
        return _credential_label(parts[2]) or _words(parts[2])
    if len(parts) == 2 and parts[0] == "channel_settings":
        return _credential_label(parts[1]) or _words(parts[1])
    if len(parts) > 1 and parts[0] in LABELS and parts[0] not in ("secrets", "persona", "egress"):
        return f"{LABELS[parts[0]]}: {_words(parts[-1]).lower()}"
    return _words(parts[-1])


def in_words(field: str | None, message: str, *, prefix: bool = True) -> str:
    """``message`` about ``field`` with the field named in words: a message that begins
    with the raw key (``name: must be…``, ``base_url must start…``) gets the words
    instead; any other message is prefixed with them (unless not ``prefix``)."""
    if not field:
        return message
    label = field_label(field)
    for raw in (field, field.rsplit(".", 1)[-1]):
        for sep in (": ", " "):
            if message.startswith(raw + sep):
                rest = message[len(raw) + len(sep) :]
                return f"{label}: {rest}" if sep == ": " else f"{label} {rest}"
    if not prefix or message.startswith(label):
        return message
    return f"{label}: {message}"


def validation_message(error: dict[str, Any]) -> str:
    """pydantic's message for one error, in BotMaker's words (never the input value)."""
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "this field is required"
    if kind == "json_invalid":
        return "the body is not valid JSON"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")
