"""End to end with the real OpenClaw image, on an internal network, in both layouts.

BotMaker creates a bot whose provider points at a fake OpenAI-compatible upstream
and whose Telegram channel points at a fake Bot API server (both real HTTP servers
on the test network's gateway address). The main test runs on the official layout
(package in /app, no ``openclaw`` on PATH) and on the PATH layout: a config OpenClaw
rejects is refused with OpenClaw's message, the container comes up healthy; an agent
turn driven through the gateway and a Telegram message must both reach the fake
upstream with the expected model and key, and the reply must come back. (The fakes
stand in for the internet: their ports are let past BotMaker's host guard.) Costs
(time to healthy, memory) are printed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD
from tests.support.bots import exec_in
from tests.support.checks import log_in
from tests.support.fake_openai import REPLY, FakeOpenAI
from tests.support.fake_telegram import FakeTelegram
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import LAYOUTS, OpenClawImage, build
from tests.support.openclaw_lab import (
    API_KEY,
    LIMITS,
    TG_TOKEN,
    Lab,
    assert_refused_by_openclaw,
    gateway_ip,
    memory_mib,
    openclaw_lab,
    telegram_bot,
    wait_healthy,
    wait_reported_healthy,
)
from tests.support.server import ServerThread


@pytest.fixture(scope="module", params=LAYOUTS)
def real_image(request: pytest.FixtureRequest, docker_api: docker.APIClient) -> OpenClawImage:
    """The pinned OpenClaw version in each layout (each built once per run)."""
    return build(docker_api, layout=request.param)


@pytest.fixture
def official(docker_api: docker.APIClient) -> OpenClawImage:
    """The pinned OpenClaw version in the official layout, the one users pull."""
    return build(docker_api)


@pytest.fixture
def openclaw(
    settings: Settings,
    make_services: MakeServices,
    real_image: OpenClawImage,
    docker_api: docker.APIClient,
) -> Iterator[Lab]:
    with openclaw_lab(settings, make_services, real_image.reference, docker_api) as lab:
        yield lab


def test_real_openclaw_bot_answers_through_gateway_and_telegram(
    openclaw: Lab, real_image: OpenClawImage, docker_api: docker.APIClient, settings: Settings
) -> None:
    client, upstream, telegram = openclaw.client, openclaw.upstream, openclaw.telegram
    # OpenClaw's own validation runs on this layout: a config it rejects is refused with
    # its message, before anything is made.
    refused = client.post(
        "/api/bots",
        json=telegram_bot(openclaw, "bad-bot", channel_settings={"api_root": "not a url"}),
    )
    assert_refused_by_openclaw(refused)
    assert client.get("/api/bots").json() == {"bots": []}

    created_at = time.monotonic()
    response = client.post("/api/bots", json=telegram_bot(openclaw, "real-bot"))
    assert response.status_code == 201, response.text
    bot = response.json()
    create_seconds = time.monotonic() - created_at
    name = f"botmaker-{bot['id']}"
    to_healthy = wait_healthy(docker_api, name, settings.network)
    wait_reported_healthy(client, bot["id"])
    listed = {b["id"]: b for b in client.get("/api/bots").json()["bots"]}
    assert listed[bot["id"]]["status"]["summary"] == "healthy"

    # The rendered configuration holds references, never values.
    state = openclaw.svc.settings.data_dir / "bots" / bot["id"] / "state"
    rendered = (state / "openclaw.json").read_text()
    assert API_KEY not in rendered
    assert TG_TOKEN not in rendered
    assert json.loads(rendered)["gateway"]["bind"] == "lan"
    assert (state / "workspace" / "SOUL.md").is_file()

    # 1. An agent turn through the gateway (the CLI inside the container).
    result = exec_in(
        docker_api, name, real_image.shell("agent --message 'Say hello' --session-id e2e --json")
    )
    assert result.code == 0, result.out + result.err
    assert REPLY in result.out
    chat = [r for r in upstream.requests if r.path.endswith("/chat/completions")]
    assert chat, "the fake upstream saw no completion request"
    assert chat[-1].body["model"] == "fake-model"
    assert chat[-1].headers["authorization"] == f"Bearer {API_KEY}"

    # 2. A Telegram user message goes to the model and the reply comes back.
    before = len(chat)
    telegram.say("hello bot")
    deadline = time.monotonic() + 120
    while not telegram.sent and time.monotonic() < deadline:
        time.sleep(0.5)
    assert telegram.sent, f"no reply sent; calls: {[c[0] for c in telegram.calls][-20:]}"
    assert REPLY in telegram.sent[-1]["text"]
    assert str(telegram.sent[-1]["chat_id"]) == "424242"
    assert len([r for r in upstream.requests if r.path.endswith("/chat/completions")]) > before

    memory = memory_mib(docker_api, name)
    print(
        f"\n[openclaw e2e {real_image.layout}] create {create_seconds:.1f} s, "
        f"healthy after {to_healthy:.1f} s, memory {memory:.0f} MiB"
    )

    # 3. Edit: a new persona is rendered, the bot restarts and is healthy again.
    edited = client.patch(
        f"/api/bots/{bot['id']}",
        json={"persona": {"name": "Marvin", "emoji": "🤖", "soul": "You are Marvin."}},
    )
    assert edited.status_code == 200, edited.text
    wait_healthy(docker_api, name, settings.network)
    soul = exec_in(docker_api, name, "cat /state/workspace/SOUL.md")
    assert "You are Marvin." in soul.out
    # An edit OpenClaw rejects is refused on its field and changes nothing.
    container_id = docker_api.inspect_container(name)["Id"]
    rendered_before = (state / "openclaw.json").read_text()
    refused = client.patch(
        f"/api/bots/{bot['id']}", json={"channel_settings": {"api_root": "not a url"}}
    )
    assert_refused_by_openclaw(refused)
    assert (state / "openclaw.json").read_text() == rendered_before
    assert docker_api.inspect_container(name)["Id"] == container_id
    assert docker_api.inspect_container(name)["State"]["Running"] is True

    # 4. Delete: nothing is left behind, and it does not wait for a stop timeout.
    started = time.monotonic()
    assert client.delete(f"/api/bots/{bot['id']}").status_code == 204
    assert time.monotonic() - started < 5
    assert docker_api.containers(all=True, filters={"name": name}) == []
    assert not state.parent.exists()
    assert not (settings.secrets_dir / bot["id"]).exists()


def test_a_channel_whose_plugin_the_image_lacks_is_refused_at_create(
    openclaw: Lab, docker_api: docker.APIClient, settings: Settings
) -> None:
    client = openclaw.client
    response = client.post(
        "/api/bots",
        json={
            "name": "zalo-bot",
            "provider": "custom",
            "model": "fake-model",
            "base_url": openclaw.upstream.base_url,
            "channel": "zalo",
            "secrets": {"channel_token": "zalo-token"},
        },
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "channel"
    assert "@openclaw/zalo" in error["message"]
    assert client.get("/api/bots").json() == {"bots": []}
    assert (
        docker_api.containers(all=True, filters={"label": f"botmaker.instance={settings.instance}"})
        == []
    )
    bots_dir = settings.data_dir / "bots"
    assert not (bots_dir.exists() and any(bots_dir.iterdir()))
    assert not any(settings.secrets_dir.iterdir())


def _keyed_services(
    settings: Settings, make_services: MakeServices, image: OpenClawImage
) -> Services:
    """Services with BotMaker's own keyring on free ports, OpenClaw's validation forced
    on, and room for real OpenClaw bots."""
    return make_services(
        settings,
        bot_image=image.reference,
        validate_config="always",
        health_interval=1.0,
        stop_timeout=5,
        keyring="auto",
        keyring_port=0,
        keyring_admin_port=0,
        limits=LIMITS,
    )


def test_real_openclaw_bot_calls_the_model_through_the_keyring(
    settings: Settings,
    make_services: MakeServices,
    official: OpenClawImage,
    docker_api: docker.APIClient,
) -> None:
    """bot → keyring proxy → fake upstream: the upstream sees the real key, the bot only
    its token, and the keyring records the turn's usage (official layout)."""
    svc = _keyed_services(settings, make_services, official)
    svc.runtime.ensure_network()
    gateway = gateway_ip(docker_api, settings.network)
    with (
        FakeOpenAI(host="127.0.0.1") as upstream,  # only the keyring (on the host) reaches it
        FakeTelegram(token=TG_TOKEN, host=gateway) as telegram,
        ServerThread(create_app(svc.settings, svc)) as url,
        httpx.Client(base_url=url, timeout=180) as client,
    ):
        svc.runtime.allow_host_port(telegram.port)  # a stand-in for the internet's Telegram
        log_in(client, ADMIN_PASSWORD)
        response = client.post(
            "/api/bots",
            json={
                "name": "keyed-bot",
                "provider": "custom",
                "model": "fake-model",
                "base_url": upstream.base_url,
                "base_url_private": True,
                "channel": "telegram",
                "dm_policy": "open",
                "channel_settings": {"api_root": telegram.api_root},
                "secrets": {"api_key": API_KEY, "channel_token": TG_TOKEN},
            },
        )
        assert response.status_code == 201, response.text
        bot = response.json()
        assert bot["keyring"] is True
        name = f"botmaker-{bot['id']}"
        wait_healthy(docker_api, name, settings.network)

        secrets = exec_in(docker_api, name, "ls /run/secrets; cat /run/secrets/* | wc -c")
        assert "keyring_token" in secrets.out
        assert "api_key" not in secrets.out
        found = exec_in(docker_api, name, f"grep -rl '{API_KEY}' /run /state /tmp 2>/dev/null")
        assert found.out == "", found.out  # the key is nowhere the bot can read

        result = exec_in(
            docker_api, name, official.shell("agent --message 'Say hello' --session-id kr --json")
        )
        assert result.code == 0, result.out + result.err
        assert REPLY in result.out
        chat = [r for r in upstream.requests if r.path.endswith("/chat/completions")]
        assert chat, "the fake upstream saw no completion request"
        assert chat[-1].headers["authorization"] == f"Bearer {API_KEY}"
        bot_token = (settings.secrets_dir / bot["id"] / "keyring_token").read_text().strip()
        assert all(bot_token not in json.dumps(r.headers) for r in upstream.requests)

        usage = client.get("/api/usage").json()["bots"][bot["id"]]
        assert usage["today"]["requests"] >= 1, usage
        assert usage["today"]["input_tokens"] >= 10, usage
        assert usage["today"]["output_tokens"] >= 6, usage

        assert client.delete(f"/api/bots/{bot['id']}").status_code == 204
        assert client.get("/api/keys").json()["keys"] == []


def test_real_openclaw_bots_of_several_providers_through_the_keyring_become_healthy(
    settings: Settings,
    make_services: MakeServices,
    official: OpenClawImage,
    docker_api: docker.APIClient,
) -> None:
    """OpenAI and Anthropic bots on the official layout, keyed by the keyring (shared
    keys), are validated by OpenClaw and reach healthy on a network with no route out:
    the OpenAI gateway's fetch of its codex plugin from npm fails at once (npm runs
    offline there) instead of holding the gateway for minutes."""
    svc = _keyed_services(settings, make_services, official)
    with (
        ServerThread(create_app(svc.settings, svc)) as url,
        httpx.Client(base_url=url, timeout=180) as client,
    ):
        log_in(client, ADMIN_PASSWORD)
        models = {"openai": "gpt-5.5", "anthropic": "claude-sonnet-5"}
        for provider in models:
            key = f"sk-ant-{API_KEY}-x" if provider == "anthropic" else f"{API_KEY}-x"
            added = client.post("/api/keys", json={"provider": provider, "key": key})
            assert added.status_code == 201, added.text
        bots = []
        for provider, model in models.items():
            response = client.post(
                "/api/bots",
                json={
                    "name": f"{provider}-bot",
                    "provider": provider,
                    "model": model,
                    "channel": "telegram",
                    "secrets": {"channel_token": TG_TOKEN},
                },
            )
            assert response.status_code == 201, response.text
            assert response.json()["keyring"] is True
            bots.append(response.json())
        for bot in bots:
            name = f"botmaker-{bot['id']}"
            seconds = wait_healthy(docker_api, name, settings.network, timeout=150)
            print(f"\n[openclaw e2e] {bot['name']} healthy in {seconds:.1f} s")
            wait_reported_healthy(client, bot["id"])
            secrets = exec_in(docker_api, name, "ls /run/secrets")
            assert "keyring_token" in secrets.out
            assert "api_key" not in secrets.out
            detail = client.get(f"/api/bots/{bot['id']}").json()
            assert detail["openclaw"]["cli"] == "node /app/openclaw.mjs"
            assert client.delete(f"/api/bots/{bot['id']}").status_code == 204
