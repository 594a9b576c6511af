"""Sample bot configurations for the renderer: every provider, every credential channel.

Shared by the pure rendering tests (tests/unit/test_render.py) and the check that the
real OpenClaw accepts what we render (tests/test_openclaw_config.py).
"""

from __future__ import annotations

import uuid

from botmaker.openclaw.catalog import CHANNELS, PROVIDERS
from botmaker.openclaw.render import (
    API_KEY_FILE,
    GATEWAY_TOKEN_FILE,
    BotConfig,
    ChannelConfig,
    Persona,
    secret_file_for,
)
from botmaker.openclaw.templates import TEMPLATES

#: Written into the secret files; must never appear in a rendered file.
CANARY = "CANARY-" + uuid.uuid4().hex


def channel_config(channel_id: str) -> ChannelConfig:
    channel = CHANNELS[channel_id]
    settings = {
        c.name: c.choices[0] if c.choices else f"https://{c.name}.example.org"
        for c in channel.credentials
        if not c.secret
    }
    policy = "pairing" if "pairing" in channel.dm_policies else (channel.dm_policies or ("",))[0]
    return ChannelConfig(type=channel_id, dm_policy=policy, settings=settings)


def secret_files_for(channel_ids: list[str]) -> frozenset[str]:
    files = {API_KEY_FILE, GATEWAY_TOKEN_FILE}
    for cid in channel_ids:
        for credential in CHANNELS[cid].credentials:
            if credential.secret:
                files.add(secret_file_for(CHANNELS[cid], credential.name))
    return frozenset(files)


def bot(provider: str, channels: list[str]) -> BotConfig:
    spec = PROVIDERS[provider]
    return BotConfig(
        id=str(uuid.uuid4()),
        name=f"bot-{provider}",
        provider=provider,
        model=spec.default_model or "my-model",
        persona=Persona(name="Ada", emoji="🤖", soul=TEMPLATES["assistant"].soul),
        fallbacks=tuple(m for m in spec.models[1:2]),
        base_url="http://10.0.0.1:8000/v1" if spec.base_url_required else None,
        channels=tuple(channel_config(c) for c in channels),
        secret_files=secret_files_for(channels),
    )


CREDENTIAL_CHANNELS = sorted(c for c, spec in CHANNELS.items() if not spec.interactive_login)
