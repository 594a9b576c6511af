"""PATCH /api/bots/{bot}: re-render, recreate, start; refused or failed edits change nothing."""

from __future__ import annotations

import json

import docker
import httpx

from botmaker.services import Services
from tests.conftest import bot_body


def state_file(services: Services, bot_id: str, relative: str) -> str:
    return (services.settings.data_dir / "bots" / bot_id / "state" / relative).read_text()


def test_patch_persona_and_model_rerenders_and_recreates(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    bot = client.post("/api/bots", json=bot_body("alpha")).json()
    before = docker_api.inspect_container(f"botmaker-{bot['id']}")["Id"]
    response = client.patch(
        f"/api/bots/{bot['id']}",
        json={
            "model": "gpt-5.1-mini",
            "fallbacks": ["gpt-5.1"],
            "persona": {"name": "Marvin", "emoji": "🤖", "soul": "You are Marvin, gloomy."},
            "heartbeat": True,
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["model"] == "gpt-5.1-mini"
    assert updated["status"]["state"] == "running"
    after = docker_api.inspect_container(f"botmaker-{bot['id']}")
    assert after["Id"] != before  # recreated with the new settings
    assert "BOTMAKER_MODEL=gpt-5.1-mini" in after["Config"]["Env"]
    assert "Marvin" in state_file(services, bot["id"], "workspace/SOUL.md")
    assert "Marvin" in state_file(services, bot["id"], "workspace/IDENTITY.md")
    config = json.loads(state_file(services, bot["id"], "openclaw.json"))
    assert config["agents"]["defaults"]["model"] == {
        "primary": "openai/gpt-5.1-mini",
        "fallbacks": ["openai/gpt-5.1"],
    }
    assert config["agents"]["defaults"]["heartbeat"]["every"] == "30m"
    # The previous rendering is kept aside.
    previous = services.settings.data_dir / "bots" / bot["id"] / "previous" / "openclaw.json"
    assert 'openai/gpt-5.1"' in previous.read_text()


def test_patch_rotates_a_secret_without_showing_it(
    client: httpx.Client, services: Services
) -> None:
    bot = client.post("/api/bots", json=bot_body("alpha")).json()
    response = client.patch(f"/api/bots/{bot['id']}", json={"secrets": {"api_key": "sk-rotated"}})
    assert response.status_code == 200, response.text
    assert "sk-rotated" not in response.text
    folder = services.settings.secrets_dir / bot["id"]
    assert (folder / "api_key").read_text() == "sk-rotated"
    assert (folder / "channel_token").read_text() == "123:telegram-token"


def test_refused_patch_changes_nothing(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    bot = client.post("/api/bots", json=bot_body("alpha")).json()
    container = docker_api.inspect_container(f"botmaker-{bot['id']}")["Id"]
    config = state_file(services, bot["id"], "openclaw.json")
    for body, field in [
        ({"dm_policy": "everyone"}, "dm_policy"),
        ({"model": "bad model"}, "model"),
        ({"template": "nope"}, "template"),
        ({"provider": "nobody"}, "provider"),
        ({"provider": "anthropic"}, "model"),  # a new provider needs its model (and key)
        ({"secrets": {"api_key": ""}}, "secrets.api_key"),
        ({"channel_settings": {"bogus": "x"}}, "channel_settings.bogus"),
    ]:
        response = client.patch(f"/api/bots/{bot['id']}", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field, body
    assert docker_api.inspect_container(f"botmaker-{bot['id']}")["Id"] == container
    assert state_file(services, bot["id"], "openclaw.json") == config
    assert (services.settings.secrets_dir / bot["id"] / "api_key").read_text() == "sk-test-key"
    assert client.get(f"/api/bots/{bot['id']}").json()["model"] == "gpt-5.1"


def test_failed_start_rolls_the_update_back(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    """The new container cannot start (its image vanished): the old bot comes back."""
    bot = client.post("/api/bots", json=bot_body("alpha")).json()
    name = f"botmaker-{bot['id']}"
    image = services.settings.bot_image
    # Make the recreate fail: point the bot at an image tag that does not exist.
    services.store.update_bot(bot["id"], image="botmaker-standin:does-not-exist")
    response = client.patch(f"/api/bots/{bot['id']}", json={"model": "gpt-5.1-mini"})
    assert response.status_code >= 400
    services.store.update_bot(bot["id"], image=image)
    got = client.get(f"/api/bots/{bot['id']}").json()
    assert got["model"] == "gpt-5.1"
    config = json.loads(state_file(services, bot["id"], "openclaw.json"))
    assert config["agents"]["defaults"]["model"]["primary"] == "openai/gpt-5.1"
    assert client.post(f"/api/bots/{bot['id']}/start").json()["status"]["state"] == "running"
    assert docker_api.inspect_container(name)["State"]["Running"] is True


def test_patch_replaces_existing_fallbacks(client: httpx.Client, services: Services) -> None:
    body = bot_body("alpha", fallbacks=["gpt-5.1-mini"])
    bot = client.post("/api/bots", json=body).json()
    response = client.patch(f"/api/bots/{bot['id']}", json={"fallbacks": ["gpt-5.5"]})
    assert response.status_code == 200, response.text
    config = json.loads(state_file(services, bot["id"], "openclaw.json"))
    assert config["agents"]["defaults"]["model"]["fallbacks"] == ["openai/gpt-5.5"]


def test_several_channels_each_with_their_credentials(
    client: httpx.Client, services: Services
) -> None:
    body = bot_body("multi")
    del body["channel"]
    body["secrets"] = {"api_key": "sk-test-key"}
    body["channels"] = [
        {"type": "telegram", "credentials": {"bot_token": "tg-token"}, "dm_policy": "open"},
        {
            "type": "discord",
            "credentials": {"bot_token": "discord-token"},
            "dm_policy": "allowlist",
            "allow_from": ["123456789"],
        },
    ]
    response = client.post("/api/bots", json=body)
    assert response.status_code == 201, response.text
    bot = response.json()
    assert bot["channel"] == "telegram"
    folder = services.settings.secrets_dir / bot["id"]
    assert (folder / "channel_token").read_text() == "tg-token"
    assert (folder / "channel_discord_bot_token").read_text() == "discord-token"
    rendered = state_file(services, bot["id"], "openclaw.json")
    assert "discord-token" not in rendered
    assert "tg-token" not in rendered
    channels = json.loads(rendered)["channels"]
    assert channels["telegram"]["dmPolicy"] == "open"
    assert channels["discord"]["dmPolicy"] == "allowlist"
    assert channels["discord"]["allowFrom"] == ["123456789"]
    assert channels["discord"]["token"]["provider"] == "bm_channel_discord_bot_token"
    # Non-channel edits work; channel edits on a multi-channel bot are refused clearly.
    assert client.patch(f"/api/bots/{bot['id']}", json={"model": "gpt-5.5"}).status_code == 200
    refused = client.patch(f"/api/bots/{bot['id']}", json={"dm_policy": "open"})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "dm_policy"
    assert (folder / "channel_discord_bot_token").read_text() == "discord-token"


def test_several_channels_bad_input_names_the_field(client: httpx.Client) -> None:
    base = bot_body("multi")
    del base["channel"]
    base["secrets"] = {"api_key": "sk-test-key"}
    cases = [
        ([{"type": "telegram"}], "channels.0.credentials.bot_token"),
        (
            [
                {"type": "telegram", "credentials": {"bot_token": "x"}},
                {"type": "telegram", "credentials": {"bot_token": "y"}},
            ],
            "channels.1",
        ),
        (
            [{"type": "slack", "credentials": {"bot_token": "x"}}],
            "channels.0.credentials.app_token",
        ),
        ([{"type": "nope"}], "channels.0.type"),
        ([], "channels"),
        (
            [{"type": "discord", "credentials": {"bot_token": "x"}, "dm_policy": "maybe"}],
            "channels.0.dm_policy",
        ),
    ]
    for channels, field in cases:
        response = client.post("/api/bots", json={**base, "channels": channels})
        assert response.status_code == 422, (channels, response.text)
        assert response.json()["error"]["field"] == field, channels
    both = client.post("/api/bots", json={**base, "channel": "telegram", "channels": []})
    assert both.status_code == 422
    assert client.get("/api/bots").json() == {"bots": []}
