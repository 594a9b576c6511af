"""Egress on the real OpenClaw image: a bot reaches the fake Telegram Bot API through
BotMaker's egress proxy only while its allowlist names it; a refusal is an event within
2 s; "allow this host" lets it through again; with ``none`` it still reaches its model
through the keyring; and it cannot go around the proxy (internal network, host guard)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from botmaker.config import Settings
from botmaker.runtime.docker import DockerBackend
from botmaker.runtime.policy import container_name
from tests.support.fake_openai import REPLY
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import OpenClawImage, build
from tests.support.openclaw_lab import (
    Lab,
    gateway_ip,
    openclaw_lab,
    telegram_bot,
    wait_reported_healthy,
)
from tests.support.sse import Event, parse_sse
from tests.support.waiting import wait_for


@pytest.fixture
def official(docker_api: docker.APIClient) -> OpenClawImage:
    return build(docker_api)


@pytest.fixture
def lab(
    settings: Settings,
    make_services: MakeServices,
    official: OpenClawImage,
    docker_api: docker.APIClient,
) -> Iterator[Lab]:
    DockerBackend(settings).ensure_network()  # its gateway: where the fakes listen
    gateway = gateway_ip(docker_api, settings.network)
    with openclaw_lab(
        settings,
        make_services,
        official.reference,
        docker_api,
        open_ports=False,  # the fakes stand for the internet: reached through the proxy
        egress="auto",
        egress_allow_private=(f"{gateway}/32",),
        keyring="auto",
        keyring_port=0,
        keyring_admin_port=0,
    ) as lab:
        yield lab


def _get_updates(lab: Lab) -> int:
    return sum(1 for method, _ in lab.telegram.calls if method == "getUpdates")


def _denied(client: httpx.Client, bot_id: str) -> list[dict[str, Any]]:
    events = client.get(f"/api/bots/{bot_id}/events").json()["events"]
    return [e for e in events if e["kind"] == "egress_denied"]


def _probe(docker_api: docker.APIClient, bot_id: str, targets: list[tuple[str, int]]) -> str:
    """From inside the bot's container (its own user, Node), a direct TCP connection to
    each target: what happened to each."""
    script = (
        "const net=require('net');"
        f"for (const [h,p] of {json.dumps(targets)})"
        "{const s=net.connect({host:h,port:p,timeout:4000});"
        "s.on('connect',()=>{console.log('open',h);s.destroy()});"
        "s.on('timeout',()=>{console.log('timeout',h);s.destroy()});"
        "s.on('error',e=>console.log('refused',h,e.code))}"
    )
    created = docker_api.exec_create(container_name(bot_id), ["node", "-e", script])
    output = docker_api.exec_start(created["Id"])
    return output.decode(errors="replace")


def _chat(client: httpx.Client, bot_id: str, message: str) -> str:
    with client.stream("POST", f"/api/bots/{bot_id}/chat", json={"message": message}) as r:
        assert r.status_code == 200, r.read()
        events = [e for e in parse_sse(r.iter_lines()) if isinstance(e, Event)]
    assert events[-1].event == "done", events
    return "".join(json.loads(e.data)["text"] for e in events if e.event == "delta")


def test_a_bot_reaches_only_its_allowlist_through_the_egress_proxy(
    lab: Lab, docker_api: docker.APIClient
) -> None:
    client = lab.client
    gateway = gateway_ip(docker_api, lab.svc.settings.network)
    telegram = f"{gateway}:{lab.telegram.port}"
    body = telegram_bot(lab, "egress-bot", base_url_private=True)
    created = client.post("/api/bots", json=body)
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]

    # 1. The default: an allowlist of the bot's channel hosts (its model is the keyring's).
    policy = client.get(f"/api/bots/{bot_id}/egress").json()
    expected = ("allowlist", ["api.telegram.org", telegram], True)  # catalog's and api_root's
    assert (policy["mode"], policy["allow"], policy["enforced"]) == expected
    wait_reported_healthy(client, bot_id, timeout=150)
    wait_for(lambda: _get_updates(lab) >= 1, timeout=60)
    assert lab.svc.egress.status()["tunnels"] >= 1  # it came through the proxy

    # 2. No way around the proxy: the fake Telegram directly (host guard) and the
    # internet (internal network) are both out of reach.
    probed = _probe(docker_api, bot_id, [(gateway, lab.telegram.port), ("1.1.1.1", 443)])
    assert "open" not in probed, probed
    assert f"refused {gateway}" in probed, probed
    assert "1.1.1.1" in probed, probed

    # 3. Taken off the list: the next poll is refused, an event within 2 s of it.
    put = client.put(f"/api/bots/{bot_id}/egress", json={"mode": "allowlist", "allow": []})
    assert put.status_code == 200, put.text
    assert put.json()["allow"] == []
    seen = wait_for(lambda: _denied(client, bot_id), timeout=90, interval=0.1)
    noticed = time.time()
    assert noticed - seen[0]["at"] < 2.0, (noticed, seen[0])
    assert telegram in seen[0]["detail"]
    refusals = client.get(f"/api/bots/{bot_id}/egress").json()["refusals"]
    assert refusals[0]["host"] == telegram
    polls = _get_updates(lab)
    time.sleep(3)
    assert _get_updates(lab) == polls  # nothing got through meanwhile

    # 4. One click: "allow this host" — and the polls come through again.
    allowed = client.post(f"/api/bots/{bot_id}/egress/allow", json={"host": refusals[0]["host"]})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["allow"] == [telegram]
    wait_for(lambda: _get_updates(lab) > polls, timeout=90)

    # 5. none: the channel is cut off, the model (through the keyring) still answers.
    assert client.put(f"/api/bots/{bot_id}/egress", json={"mode": "none"}).status_code == 200
    before = len(_denied(client, bot_id))
    wait_for(lambda: len(_denied(client, bot_id)) > before, timeout=90, interval=0.2)
    assert _chat(client, bot_id, "Say hello") == REPLY
    audit = [e["action"] for e in client.get("/api/audit").json()["entries"]]
    assert {"bot.egress", "bot.egress_allow"} <= set(audit)


def test_an_egress_policy_is_checked_and_a_bad_one_leaves_nothing_behind(
    lab: Lab, docker_api: docker.APIClient
) -> None:
    """Bad input names its field; no row, no container. (No OpenClaw bot is started.)"""
    client = lab.client
    for egress, words in (
        ({"mode": "sometimes"}, "egress.mode"),
        ({"allow": ["https://example.com/"]}, "egress.allow"),
        ({"allow": ["*.1.2.3.4"]}, "egress.allow"),
    ):
        body = telegram_bot(lab, "bad-egress", base_url_private=True, egress=egress)
        response = client.post("/api/bots", json=body)
        assert response.status_code == 422, response.text
        assert words in response.text, response.text
    assert client.get("/api/bots").json()["bots"] == []
    missing = client.put("/api/bots/nobody/egress", json={"mode": "none"})
    assert missing.status_code == 404
    bad = client.post("/api/bots/nobody/egress/allow", json={"host": ""})
    assert bad.status_code in (404, 422)
