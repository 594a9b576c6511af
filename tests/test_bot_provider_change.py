"""Changing a bot's provider with ``PATCH /api/bots/{bot}`` (and its preview), through
the real API on a real engine with the stand-in image: the row, the rendered
openclaw.json (provider block and its SecretRef), the key file, the container and the
events follow; a change without its model or its key is refused on that field and
changes nothing; the egress allowlist gains the new provider's host; with the keyring
on, the bot's own key moves to the new provider (or a shared key is used) and a failed
change leaves the keyring as it was."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.errors import InvalidInput
from botmaker.services import Services
from botmaker.services.configdiff import CONFIG_FILE
from botmaker.services.schemas import BotUpdate
from tests.conftest import ADMIN_PASSWORD
from tests.support.bots import create_bot, resolve_container
from tests.support.checks import assert_error, logged_in
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.waiting import wait_for

NEW_KEY = "sk-ant-new-provider-key-0123456789"


def _config(client: httpx.Client, bot_id: str) -> dict[str, Any]:
    response = client.get(f"/api/bots/{bot_id}/openclaw-config")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _snapshot(services: Services, bot_id: str) -> tuple[Any, ...]:
    record = services.store.get_bot(bot_id)
    return (
        record.provider,
        record.model,
        record.stored,
        record.container_id,
        services.deploy.state.read(bot_id, CONFIG_FILE),
        sorted(services.bots.secrets.names(bot_id)),
        services.bots.secrets.read(bot_id, "api_key"),
    )


def test_a_provider_change_with_a_new_key_follows_everywhere(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    bot = create_bot(services, "switcher", fallbacks=["gpt-5.1-mini"])
    container = services.store.get_bot(bot.id).container_id
    body = {"provider": "anthropic", "model": "claude-sonnet-4-5", "secrets": {"api_key": NEW_KEY}}

    preview = client.post(f"/api/bots/{bot.id}/preview", json=body)
    assert preview.status_code == 200, preview.text
    changes = {c["field"]: (c["before"], c["after"]) for c in preview.json()["changes"]}
    assert changes["provider"] == ("openai", "anthropic")
    assert changes["model"] == ("gpt-5.1", "claude-sonnet-4-5")
    assert changes["fallbacks"] == (["gpt-5.1-mini"], [])  # they were openai models
    assert preview.json()["secrets"] == ["api_key"]
    assert "anthropic" in preview.json()["config_diff"]
    assert services.store.get_bot(bot.id).provider == "openai"  # a preview writes nothing

    patched = client.patch(f"/api/bots/{bot.id}", json=body)
    assert patched.status_code == 200, patched.text
    record = services.store.get_bot(bot.id)
    assert (record.provider, record.model) == ("anthropic", "claude-sonnet-4-5")
    assert record.definition.fallbacks == ()
    shown = client.get(f"/api/bots/{bot.id}").json()
    assert (shown["provider"], shown["model"]) == ("anthropic", "claude-sonnet-4-5")

    config = _config(client, bot.id)
    assert list(config["config"]["models"]["providers"]) == ["anthropic"]
    block = config["config"]["models"]["providers"]["anthropic"]
    assert block["baseUrl"] == "https://api.anthropic.com"
    assert config["config"]["agents"]["defaults"]["model"]["primary"] == (
        "anthropic/claude-sonnet-4-5"
    )
    refs = {r["path"] for r in config["secret_refs"]}
    assert "/models/providers/anthropic/apiKey" in refs
    assert "/models/providers/openai/apiKey" not in refs
    assert services.bots.secrets.read(bot.id, "api_key") == NEW_KEY
    assert NEW_KEY not in str(config)

    assert record.container_id != container  # recreated with the new configuration
    info = docker_api.inspect_container(resolve_container(docker_api, bot.container))
    assert info["State"]["Running"]
    assert "BOTMAKER_PROVIDER=anthropic" in info["Config"]["Env"]

    def caused() -> bool:
        events = client.get(f"/api/bots/{bot.id}/events").json()["events"]
        return any(
            "provider" in (e.get("cause") or "") and "api_key (rotated)" in e["cause"]
            for e in events
        )

    wait_for(caused, timeout=10)


def test_a_provider_change_needs_its_model_and_its_key_and_a_known_provider(
    client: httpx.Client, services: Services
) -> None:
    bot = create_bot(services, "steady")
    before = _snapshot(services, bot.id)
    refused = [
        ({"provider": "anthropic", "secrets": {"api_key": NEW_KEY}}, "model"),
        ({"provider": "anthropic", "model": "claude-sonnet-4-5"}, "secrets.api_key"),
        ({"provider": "nobody", "model": "x"}, "provider"),
        ({"provider": "custom", "model": "m", "secrets": {"api_key": NEW_KEY}}, "base_url"),
    ]
    for body, field in refused:
        for method, route in (("PATCH", ""), ("POST", "/preview")):
            response = client.request(method, f"/api/bots/{bot.id}{route}", json=body)
            error = assert_error(response, 422, "invalid", field)
            assert error["message"], error
    missing_model = client.patch(f"/api/bots/{bot.id}", json=refused[0][0])
    assert "model" in missing_model.json()["error"]["message"]
    assert _snapshot(services, bot.id) == before  # files, row, container: as they were
    # The same provider again is no change of provider: no key or model needed.
    same = client.patch(f"/api/bots/{bot.id}", json={"provider": "openai"})
    assert same.status_code == 200, same.text
    assert services.bots.secrets.read(bot.id, "api_key") == bot.secrets["api_key"]


def test_a_keyless_provider_drops_the_old_key_and_the_allowlist_gains_its_host(
    client: httpx.Client, services: Services
) -> None:
    bot = create_bot(
        services,
        "local",
        egress={"mode": "allowlist", "allow": ["api.telegram.org", "example.org"]},
    )
    body = {"provider": "ollama", "model": "llama3.3", "base_url": "http://ollama.example:11434"}
    preview = client.post(f"/api/bots/{bot.id}/preview", json=body)
    assert preview.status_code == 200, preview.text
    changes = {c["field"]: c["after"] for c in preview.json()["changes"]}
    assert changes["egress.allow"] == ["api.telegram.org", "example.org", "ollama.example:11434"]

    patched = client.patch(f"/api/bots/{bot.id}", json=body)
    assert patched.status_code == 200, patched.text
    policy = client.get(f"/api/bots/{bot.id}/egress").json()
    assert policy["mode"] == "allowlist"
    assert policy["allow"] == ["api.telegram.org", "example.org", "ollama.example:11434"]
    # The openai key is not handed to the new provider: the file is gone, no SecretRef.
    assert "api_key" not in services.bots.secrets.names(bot.id)
    config = _config(client, bot.id)
    block = config["config"]["models"]["providers"]["ollama"]
    assert block["baseUrl"] == "http://ollama.example:11434"
    assert "apiKey" not in block

    # Back to a keyed provider (no base URL given: the old one was ollama's): the
    # provider's host is added, none taken away.
    back = client.patch(
        f"/api/bots/{bot.id}",
        json={"provider": "openai", "model": "gpt-5.1", "secrets": {"api_key": "sk-again-123"}},
    )
    assert back.status_code == 200, back.text
    assert services.store.get_bot(bot.id).definition.base_url is None
    allow = client.get(f"/api/bots/{bot.id}/egress").json()["allow"]
    assert allow == ["api.telegram.org", "example.org", "ollama.example:11434", "api.openai.com"]


class _FailAt:
    """Fails the step ``name`` while armed: a change that breaks after it wrote."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.armed = False

    def step(self, name: str, bot_id: str) -> None:
        if self.armed and name == self.name:
            raise InvalidInput("the engine said no", field="config")


def test_with_the_keyring_the_key_moves_to_the_new_provider_or_a_shared_one_is_used(
    settings: Settings, make_services: MakeServices
) -> None:
    failing = _FailAt("recreate")
    keyed = make_services(
        replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0), steps=failing
    )
    bot = create_bot(keyed, "roamer", {"api_key": "sk-roamer-own-key-1234", "channel_token": "1:a"})
    keys = keyed.keyring.client
    own = keyed.store.get_bot(bot.id).definition.key_id
    assert own is not None
    with (
        ServerThread(create_app(keyed.settings, keyed)) as url,
        logged_in(url, ADMIN_PASSWORD, timeout=60) as client,
    ):
        # No own key and no shared key for the new provider: refused on the key.
        body = {"provider": "anthropic", "model": "claude-sonnet-4-5"}
        for method, route in (("PATCH", ""), ("POST", "/preview")):
            response = client.request(method, f"/api/bots/{bot.id}{route}", json=body)
            assert_error(response, 422, "invalid", "secrets.api_key")

        # A change that fails after it wrote: everything as it was, no key left behind.
        stored = keyed.store.get_bot(bot.id).stored
        failing.armed = True
        with pytest.raises(InvalidInput):
            keyed.bots.update(
                bot.id, BotUpdate.model_validate({**body, "secrets": {"api_key": NEW_KEY}})
            )
        failing.armed = False
        assert keyed.store.get_bot(bot.id).stored == stored
        assert [k.id for k in keys.list_keys(provider="anthropic")] == []
        assert keys.get_bot(bot.id)["providers"] == ["openai"]

        # Its own new key: kept in the keyring under the new provider; the old one gone.
        moved = client.patch(f"/api/bots/{bot.id}", json={**body, "secrets": {"api_key": NEW_KEY}})
        assert moved.status_code == 200, moved.text
        record = keyed.store.get_bot(bot.id)
        assert record.provider == "anthropic"
        (added,) = keys.list_keys(provider="anthropic")
        assert (added.id, added.bot_id) == (record.definition.key_id, bot.id)
        assert own not in [k.id for k in keys.list_keys()]
        assert keys.get_bot(bot.id)["providers"] == ["anthropic"]
        assert "api_key" not in keyed.bots.secrets.names(bot.id)  # never a file
        block = _config(client, bot.id)["config"]["models"]["providers"]["anthropic"]
        assert block["baseUrl"].endswith("/v1/anthropic")  # through the keyring

        # A shared key for the next provider: no own key needed; the own one is forgotten.
        shared = client.post(
            "/api/keys", json={"provider": "openai", "key": "sk-shared-openai-key-0123456789"}
        )
        assert shared.status_code == 201, shared.text
        back = client.patch(f"/api/bots/{bot.id}", json={"provider": "openai", "model": "gpt-5.1"})
        assert back.status_code == 200, back.text
        record = keyed.store.get_bot(bot.id)
        assert (record.provider, record.definition.key_id) == ("openai", None)
        assert keys.list_keys(provider="anthropic") == []
        assert keys.get_bot(bot.id)["providers"] == ["openai"]


def test_a_single_channel_bot_changes_its_channel_type(
    client: httpx.Client, services: Services
) -> None:
    made = client.post(
        "/api/bots",
        json={
            "name": "hopper",
            "provider": "openai",
            "model": "gpt-5.1",
            "channel": "slack",
            "secrets": {
                "api_key": "sk-hopper-key",
                "channel_token": "xoxb-slack-bot-token",
                "channel_credentials": {"app_token": "xapp-slack-app-token"},
            },
            "egress": {"mode": "allowlist", "allow": ["slack.com", "example.org"]},
        },
    )
    assert made.status_code == 201, made.text
    bot = services.store.get_bot(made.json()["id"])
    assert "channel_app_token" in services.bots.secrets.names(bot.id)
    before = _snapshot(services, bot.id)
    # The new channel's credential is needed; the old one's does not count.
    missing = client.patch(f"/api/bots/{bot.id}", json={"channel": "telegram"})
    assert_error(missing, 422, "invalid", "secrets.channel_token")
    assert_error(
        client.patch(f"/api/bots/{bot.id}", json={"channel": "carrier-pigeon"}),
        422,
        "invalid",
        "channel",
    )
    assert _snapshot(services, bot.id) == before

    body = {"channel": "telegram", "secrets": {"channel_token": "42:telegram-token"}}
    preview = client.post(f"/api/bots/{bot.id}/preview", json=body)
    assert preview.status_code == 200, preview.text
    changes = {c["field"]: c["after"] for c in preview.json()["changes"]}
    assert changes["channels.0.type"] == "telegram"
    assert changes["egress.allow"] == ["slack.com", "example.org", "api.telegram.org"]

    patched = client.patch(f"/api/bots/{bot.id}", json=body)
    assert patched.status_code == 200, patched.text
    record = services.store.get_bot(bot.id)
    assert record.channel == "telegram"
    assert client.get(f"/api/bots/{bot.id}").json()["channels"] == ["telegram"]
    names = set(services.bots.secrets.names(bot.id))
    assert "channel_app_token" not in names  # the Slack credential went with Slack
    assert services.bots.secrets.read(bot.id, "channel_token") == "42:telegram-token"
    config = _config(client, bot.id)["config"]
    assert list(config["channels"]) == ["telegram"]
    assert client.get(f"/api/bots/{bot.id}/egress").json()["allow"] == [
        "slack.com",
        "example.org",
        "api.telegram.org",
    ]
