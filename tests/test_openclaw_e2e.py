"""End to end with the real OpenClaw image, on an internal network.

BotMaker creates a bot whose provider points at a fake OpenAI-compatible upstream
and whose Telegram channel points at a fake Bot API server (both real HTTP servers
on the test network's gateway address). The container must come up healthy; an
agent turn driven through the gateway and a Telegram message must both reach the
fake upstream with the expected model and key, and the reply must come back. (The
fakes stand in for the internet: their ports are let past BotMaker's host guard.)
Costs (time to healthy, memory) are printed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import BotLimits, Settings
from tests.conftest import ADMIN_PASSWORD
from tests.support.bots import exec_in
from tests.support.checks import log_in
from tests.support.fake_openai import REPLY, FakeOpenAI
from tests.support.fake_telegram import FakeTelegram
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import openclaw_image
from tests.support.server import ServerThread

API_KEY = "sk-e2e-upstream-key"
TG_TOKEN = "987654:E2E-telegram-token"


@pytest.fixture(scope="module")
def real_image(docker_api: docker.APIClient) -> str:
    return openclaw_image(docker_api)


def _gateway_ip(api: docker.APIClient, network: str) -> str:
    info = api.inspect_network(network)
    return str(info["IPAM"]["Config"][0]["Gateway"])


def _container_ip(api: docker.APIClient, name: str, network: str) -> str:
    info = api.inspect_container(name)
    return str(info["NetworkSettings"]["Networks"][network]["IPAddress"])


@pytest.fixture
def openclaw(
    settings: Settings, make_services: MakeServices, real_image: str, docker_api: docker.APIClient
) -> Iterator[dict[str, Any]]:
    svc = make_services(
        settings,
        bot_image=real_image,
        validate_config="always",
        health_interval=1.0,
        stop_timeout=5,
        limits=BotLimits(memory_bytes=1536 * 1024**2, cpus=1.0, pids=512, tmp_bytes=256 * 1024**2),
    )
    svc.runtime.ensure_network()
    gateway = _gateway_ip(docker_api, settings.network)
    with (
        FakeOpenAI(host=gateway) as upstream,
        FakeTelegram(token=TG_TOKEN, host=gateway) as telegram,
        ServerThread(create_app(svc.settings, svc)) as url,
        httpx.Client(base_url=url, timeout=180) as client,
    ):
        # Stand-ins for services on the internet: let the bots past the host guard.
        svc.runtime.allow_host_port(upstream.port)
        svc.runtime.allow_host_port(telegram.port)
        log_in(client, ADMIN_PASSWORD)
        yield {"svc": svc, "client": client, "upstream": upstream, "telegram": telegram}


def _wait_healthy(api: docker.APIClient, name: str, network: str, timeout: float = 120) -> float:
    ip = _container_ip(api, name, network)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            health = httpx.get(f"http://{ip}:18789/healthz", timeout=2).json()
            ready = httpx.get(f"http://{ip}:18789/readyz", timeout=2).json()
            if health.get("ok") and ready.get("ready"):
                return time.monotonic() - started
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    logs = api.logs(name, tail=40).decode(errors="replace")
    raise AssertionError(f"bot not healthy in {timeout}s; last logs:\n{logs}")


def _memory_mib(api: docker.APIClient, name: str) -> float:
    stats = api.stats(name, stream=False)
    return float(stats["memory_stats"].get("usage", 0)) / 1024**2


def test_real_openclaw_bot_answers_through_gateway_and_telegram(
    openclaw: dict[str, Any], docker_api: docker.APIClient, settings: Settings
) -> None:
    client: httpx.Client = openclaw["client"]
    upstream: FakeOpenAI = openclaw["upstream"]
    telegram: FakeTelegram = openclaw["telegram"]
    created_at = time.monotonic()
    response = client.post(
        "/api/bots",
        json={
            "name": "real-bot",
            "provider": "custom",
            "model": "fake-model",
            "base_url": upstream.base_url,
            "channel": "telegram",
            "dm_policy": "open",
            "channel_settings": {"api_root": telegram.api_root},
            "template": "assistant",
            "secrets": {"api_key": API_KEY, "channel_token": TG_TOKEN},
        },
    )
    assert response.status_code == 201, response.text
    bot = response.json()
    create_seconds = time.monotonic() - created_at
    name = f"botmaker-{bot['id']}"
    to_healthy = _wait_healthy(docker_api, name, settings.network)
    # BotMaker's own prober reports it healthy too (from the JSON bodies of the probes).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get(f"/api/bots/{bot['id']}").json()["status"]
        if status["summary"] == "healthy":
            break
        time.sleep(0.5)
    assert status["summary"] == "healthy", status
    listed = {b["id"]: b for b in client.get("/api/bots").json()["bots"]}
    assert listed[bot["id"]]["status"]["summary"] == "healthy"

    # The rendered configuration holds references, never values.
    state = openclaw["svc"].settings.data_dir / "bots" / bot["id"] / "state"
    rendered = (state / "openclaw.json").read_text()
    assert API_KEY not in rendered
    assert TG_TOKEN not in rendered
    assert json.loads(rendered)["gateway"]["bind"] == "lan"
    assert (state / "workspace" / "SOUL.md").is_file()

    # 1. An agent turn through the gateway (the CLI inside the container).
    result = exec_in(
        docker_api, name, "openclaw agent --message 'Say hello' --session-id e2e --json"
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

    memory = _memory_mib(docker_api, name)
    print(
        f"\n[openclaw e2e] create {create_seconds:.1f} s, healthy after {to_healthy:.1f} s, "
        f"memory {memory:.0f} MiB"
    )

    # 3. Edit: a new persona is rendered, the bot restarts and is healthy again.
    edited = client.patch(
        f"/api/bots/{bot['id']}",
        json={"persona": {"name": "Marvin", "emoji": "🤖", "soul": "You are Marvin."}},
    )
    assert edited.status_code == 200, edited.text
    _wait_healthy(docker_api, name, settings.network)
    soul = exec_in(docker_api, name, "cat /state/workspace/SOUL.md")
    assert "You are Marvin." in soul.out
    # An edit OpenClaw rejects is refused on its field and changes nothing.
    container_id = docker_api.inspect_container(name)["Id"]
    rendered_before = (state / "openclaw.json").read_text()
    refused = client.patch(
        f"/api/bots/{bot['id']}", json={"channel_settings": {"api_root": "not a url"}}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "channel"
    assert "apiRoot" in refused.json()["error"]["message"]
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
    openclaw: dict[str, Any], docker_api: docker.APIClient, settings: Settings
) -> None:
    client: httpx.Client = openclaw["client"]
    response = client.post(
        "/api/bots",
        json={
            "name": "zalo-bot",
            "provider": "custom",
            "model": "fake-model",
            "base_url": openclaw["upstream"].base_url,
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


def test_real_openclaw_bot_calls_the_model_through_the_keyring(
    settings: Settings, make_services: MakeServices, real_image: str, docker_api: docker.APIClient
) -> None:
    """bot → keyring proxy → fake upstream: the upstream sees the real key, the bot only
    its token, and the keyring records the turn's usage."""
    svc = make_services(
        settings,
        bot_image=real_image,
        validate_config="always",
        health_interval=1.0,
        stop_timeout=5,
        keyring="auto",
        keyring_port=0,
        keyring_admin_port=0,
        limits=BotLimits(memory_bytes=1536 * 1024**2, cpus=1.0, pids=512, tmp_bytes=256 * 1024**2),
    )
    svc.runtime.ensure_network()
    gateway = _gateway_ip(docker_api, settings.network)
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
        _wait_healthy(docker_api, name, settings.network)

        secrets = exec_in(docker_api, name, "ls /run/secrets; cat /run/secrets/* | wc -c")
        assert "keyring_token" in secrets.out
        assert "api_key" not in secrets.out
        found = exec_in(docker_api, name, f"grep -rl '{API_KEY}' /run /state /tmp 2>/dev/null")
        assert found.out == "", found.out  # the key is nowhere the bot can read

        result = exec_in(
            docker_api, name, "openclaw agent --message 'Say hello' --session-id kr --json"
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
