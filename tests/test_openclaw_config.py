"""Rendered configuration: no secrets in any file, and real OpenClaw accepts it.

One ``openclaw.json`` holding every provider's block and every channel's block is
validated by ``openclaw config validate --json`` inside the real bot image (one
container run instead of one per combination); each bot's own rendering is
checked for secret values.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest

from botmaker.openclaw.catalog import CHANNELS, PROVIDERS
from botmaker.openclaw.render import (
    API_KEY_FILE,
    GATEWAY_TOKEN_FILE,
    BotConfig,
    ChannelConfig,
    Persona,
    render_config,
    render_files,
    secret_file_for,
)
from botmaker.openclaw.templates import TEMPLATES
from tests.support.openclaw_image import openclaw_image

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


def combined_config() -> dict[str, Any]:
    """Every provider and every credential channel in one document."""
    base = render_config(bot("openai", CREDENTIAL_CHANNELS))
    for provider in PROVIDERS:
        rendered = render_config(bot(provider, []))
        base["models"]["providers"].update(rendered["models"]["providers"])
        base["secrets"]["providers"].update(rendered["secrets"]["providers"])
    return base


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_rendered_files_hold_references_not_secrets(provider: str) -> None:
    config = bot(provider, CREDENTIAL_CHANNELS)
    files = render_files(config)
    text = b"".join(files.values()).decode()
    assert CANARY not in text
    document = json.loads(files["openclaw.json"])
    assert document["gateway"]["auth"]["token"]["source"] == "file"
    for alias, entry in document["secrets"]["providers"].items():
        assert entry["path"].startswith("/run/secrets/"), alias
        assert entry["mode"] == "singleValue"
    block = document["models"]["providers"][provider]
    if PROVIDERS[provider].key_required or "apiKey" in block:
        assert block["apiKey"] == {"source": "file", "provider": "bm_api_key", "id": "value"}
    assert document["agents"]["defaults"]["model"]["primary"].startswith(f"{provider}/")
    assert document["update"]["checkOnStart"] is False
    assert document["models"]["catalogRefresh"]["enabled"] is False
    assert "workspace/SOUL.md" in files
    assert "workspace/IDENTITY.md" in files


def test_real_openclaw_accepts_every_provider_and_channel(
    docker_api: docker.APIClient, tmp_path: Path
) -> None:
    image = openclaw_image(docker_api)
    state = tmp_path / "state"
    secrets = tmp_path / "secrets"
    state.mkdir()
    secrets.mkdir()
    document = combined_config()
    (state / "openclaw.json").write_text(json.dumps(document, indent=2))
    for entry in document["secrets"]["providers"].values():
        target = secrets / Path(entry["path"]).name
        target.write_text(CANARY)
        target.chmod(0o600)
    for folder in (state, secrets, tmp_path):
        os.chown(folder, 1000, 1000)
    for path in [*state.iterdir(), *secrets.iterdir()]:
        os.chown(path, 1000, 1000)
    container = docker_api.create_container(
        image,
        entrypoint=["openclaw"],
        command=["config", "validate", "--json"],
        user="1000:1000",
        environment={
            "OPENCLAW_STATE_DIR": "/state",
            "OPENCLAW_CONFIG_PATH": "/state/openclaw.json",
        },
        host_config=docker_api.create_host_config(
            network_mode="none",
            binds={
                str(state): {"bind": "/state", "mode": "rw"},
                str(secrets): {"bind": "/run/secrets", "mode": "ro"},
            },
        ),
    )
    try:
        docker_api.start(container)
        code = docker_api.wait(container, timeout=120)["StatusCode"]
        output = docker_api.logs(container).decode(errors="replace")
    finally:
        docker_api.remove_container(container, force=True)
    report = json.loads(output[output.find("{") : output.rfind("}") + 1])
    assert code == 0, json.dumps(report.get("issues"), indent=1)
    assert report["valid"] is True
    assert CANARY not in output


def test_real_openclaw_rejection_is_reported_on_the_field(
    settings: Any, make_services: Any, docker_api: docker.APIClient
) -> None:
    """A config OpenClaw rejects stops the create, with the message on a field."""
    from botmaker.services.bots import field_for_config_path

    assert field_for_config_path("models.providers.openai.api") == "provider"
    assert field_for_config_path("channels.telegram.dmPolicy") == "dm_policy"
    assert field_for_config_path("agents.defaults.model.fallbacks.0") == "fallbacks"
