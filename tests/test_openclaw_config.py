"""Rendered configuration: no secrets in any file, and real OpenClaw accepts it.

One ``openclaw.json`` holding every provider's block and every channel's block is
validated by ``openclaw config validate --json`` inside the real bot image, in the
official layout (``node /app/openclaw.mjs``; one container run instead of one per
combination). Each bot's own rendering is checked
for secret values without an engine in ``tests/unit/test_render.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import docker

from botmaker.config import Settings
from botmaker.openclaw.catalog import PROVIDERS
from botmaker.openclaw.render import render_config
from tests.support.botconfigs import CANARY, CREDENTIAL_CHANNELS, bot
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import build


def combined_config() -> dict[str, Any]:
    """Every provider and every credential channel in one document."""
    base = render_config(bot("openai", CREDENTIAL_CHANNELS))
    for provider in PROVIDERS:
        rendered = render_config(bot(provider, []))
        base["models"]["providers"].update(rendered["models"]["providers"])
        base["secrets"]["providers"].update(rendered["secrets"]["providers"])
    return base


def test_real_openclaw_accepts_every_provider_and_channel(
    docker_api: docker.APIClient, tmp_path: Path
) -> None:
    image = build(docker_api)
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
        image.reference,
        entrypoint=list(image.cli),
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
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    """A config OpenClaw rejects stops the create, with the message on a field."""
    from botmaker.openclaw.check import field_for_config_path

    assert field_for_config_path("models.providers.openai.api") == "provider"
    assert field_for_config_path("channels.telegram.dmPolicy") == "dm_policy"
    assert field_for_config_path("agents.defaults.model.fallbacks.0") == "fallbacks"
