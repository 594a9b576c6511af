"""A lab for real OpenClaw bots: BotMaker's API on loopback with a fake OpenAI-compatible
upstream and a fake Telegram Bot API on the bots' network (stand-ins for the internet,
let past BotMaker's host guard), and the waits the end-to-end tests share."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import docker
import httpx

from botmaker.api import create_app
from botmaker.config import BotLimits, Settings
from botmaker.services import Services
from botmaker.services.gateway.access import identity_headers
from tests.conftest import ADMIN_PASSWORD
from tests.support.checks import log_in
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_telegram import FakeTelegram
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread

API_KEY = "sk-e2e-upstream-key"
TG_TOKEN = "987654:E2E-telegram-token"
#: What a real OpenClaw bot gets in the tests: room for an agent turn.
LIMITS = BotLimits(memory_bytes=1536 * 1024**2, cpus=1.0, pids=512, tmp_bytes=256 * 1024**2)


@dataclass
class Lab:
    svc: Services
    client: httpx.Client
    upstream: FakeOpenAI
    telegram: FakeTelegram


def gateway_ip(api: docker.APIClient, network: str) -> str:
    info = api.inspect_network(network)
    return str(info["IPAM"]["Config"][0]["Gateway"])


def container_ip(api: docker.APIClient, name: str, network: str) -> str:
    info = api.inspect_container(name)
    return str(info["NetworkSettings"]["Networks"][network]["IPAddress"])


@contextmanager
def openclaw_lab(
    settings: Settings,
    make_services: MakeServices,
    image: str,
    api: docker.APIClient,
    *,
    open_ports: bool = True,
    **overrides: Any,
) -> Iterator[Lab]:
    """Services running ``image`` with OpenClaw's validation forced on, served on
    loopback, an admin logged in, the fakes up. ``open_ports``: bots reach the fakes
    directly (past the host guard); else only through the egress proxy."""
    svc = make_services(
        settings,
        **{
            "bot_image": image,
            "validate_config": "always",
            "health_interval": 1.0,
            "stop_timeout": 5,
            "limits": LIMITS,
            **overrides,
        },
    )
    svc.runtime.ensure_network()
    gateway = gateway_ip(api, settings.network)
    with (
        FakeOpenAI(host=gateway) as upstream,
        FakeTelegram(token=TG_TOKEN, host=gateway) as telegram,
        ServerThread(create_app(svc.settings, svc)) as url,
        httpx.Client(base_url=url, timeout=180) as client,
    ):
        if open_ports:
            svc.runtime.allow_host_port(upstream.port)
            svc.runtime.allow_host_port(telegram.port)
        log_in(client, ADMIN_PASSWORD)
        yield Lab(svc, client, upstream, telegram)


def telegram_bot(lab: Lab, name: str, **changes: Any) -> dict[str, Any]:
    """The create request of a Telegram bot on the lab's fakes (``changes`` applied)."""
    return {
        "name": name,
        "provider": "custom",
        "model": "fake-model",
        "base_url": lab.upstream.base_url,
        "channel": "telegram",
        "dm_policy": "open",
        "channel_settings": {"api_root": lab.telegram.api_root},
        "template": "assistant",
        "secrets": {"api_key": API_KEY, "channel_token": TG_TOKEN},
        **changes,
    }


def assert_refused_by_openclaw(response: httpx.Response) -> None:
    """A Telegram API root OpenClaw's schema rejects: 422 on the channel field, with
    OpenClaw's own message naming ``apiRoot``."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "channel", error
    assert "apiRoot" in error["message"], error


def wait_healthy(api: docker.APIClient, name: str, network: str, timeout: float = 120) -> float:
    """Seconds until the gateway answers ``/healthz`` ok and ``/readyz`` ready."""
    ip = container_ip(api, name, network)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            health = httpx.get(f"http://{ip}:18789/healthz", timeout=2).json()
            # BotMaker's identity: the gateway answers /readyz to its trusted proxy alone.
            ready = httpx.get(
                f"http://{ip}:18789/readyz", timeout=2, headers=identity_headers()
            ).json()
            if health.get("ok") and ready.get("ready"):
                return time.monotonic() - started
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    logs = api.logs(name, tail=40).decode(errors="replace")
    raise AssertionError(f"bot not healthy in {timeout}s; last logs:\n{logs}")


def wait_reported_healthy(client: httpx.Client, bot_id: str, timeout: float = 75) -> None:
    """BotMaker's own prober reports the bot healthy (from the probes' JSON bodies).

    Up to two rounds of channel reads (every 30 s): on a busy machine a gateway's own
    Telegram probe can time out (5 s), and the bot is truthfully ``degraded`` until the
    next read (seen with two bots starting at once)."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = client.get(f"/api/bots/{bot_id}").json()["status"]
        if status["summary"] == "healthy":
            return
        time.sleep(0.5)
    raise AssertionError(f"BotMaker never reported the bot healthy: {status}")


def memory_mib(api: docker.APIClient, name: str) -> float:
    stats = api.stats(name, stream=False)
    return float(stats["memory_stats"].get("usage", 0)) / 1024**2
