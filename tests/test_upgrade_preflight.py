"""Upgrades that cannot brick a bot, on real OpenClaw: the new image is tried first.

Before a bot's container is swapped, a throwaway container of the NEW image runs the
bot's config (a copy) through ``config validate``, ``doctor --fix`` and a gateway
start. Between two real OpenClaw releases (the pinned one and the suite's second,
ordered by version): a bot on the older moves to the newer after its preflight
passed; a bot on the newer is refused the older — its state database has a schema
the older build cannot open (OpenClaw 2026.8.2 supports schema 15, 2026.9.6 writes
18) — with OpenClaw's own words, and the bot is not touched at all.
"""

from __future__ import annotations

from typing import Any

import docker

from botmaker.config import Settings
from tests.support.fixtures import MakeServices
from tests.support.images import inspect_image
from tests.support.openclaw_image import PINNED, build, second_version
from tests.support.openclaw_lab import (
    API_KEY,
    TG_TOKEN,
    Lab,
    openclaw_lab,
    telegram_bot,
    wait_healthy,
    wait_reported_healthy,
)


def _pair(api: docker.APIClient) -> tuple[str, str, str]:
    """(older image, newer image, newer version): the pinned release and the second."""
    versions = sorted({PINNED, second_version()}, key=lambda v: tuple(map(int, v.split("."))))
    older, newer = (build(api, version).reference for version in versions)
    return older, newer, versions[-1]


def _events(lab: Lab, bot_id: str) -> list[dict[str, Any]]:
    return list(lab.client.get(f"/api/bots/{bot_id}/events").json()["events"])


def test_an_upgrade_runs_the_new_openclaw_on_a_copy_first_then_swaps(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    older, newer, newest = _pair(docker_api)
    with openclaw_lab(settings, make_services, older, docker_api) as lab:
        lab.svc.upgrades.timeout = 120
        created = lab.client.post("/api/bots", json=telegram_bot(lab, "moving"))
        assert created.status_code == 201, created.text
        bot = created.json()
        name = f"botmaker-{bot['id']}"
        wait_healthy(docker_api, name, settings.network)
        before = docker_api.inspect_container(name)

        response = lab.client.post(f"/api/bots/{bot['id']}/image", json={"image": newer})
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["status"] == "upgraded", result

        after = docker_api.inspect_container(name)
        assert after["Id"] != before["Id"]
        assert after["Image"] == inspect_image(docker_api, newer)["Id"]
        wait_reported_healthy(lab.client, bot["id"])
        upgraded = [e for e in _events(lab, bot["id"]) if e["kind"] == "upgraded"]
        assert upgraded, _events(lab, bot["id"])
        assert "preflight passed" in upgraded[-1]["detail"], upgraded
        assert "gateway ready after" in upgraded[-1]["detail"], upgraded
        # The preflight's copy is gone; nothing of it is left on the engine.
        assert not (lab.svc.bots.deploy.state.scratch(bot["id"])).exists()
        mine = ["botmaker.check-for", f"botmaker.instance={settings.instance}"]
        checks = docker_api.containers(all=True, filters={"label": mine})
        assert checks == []
        detail = lab.client.get(f"/api/bots/{bot['id']}").json()
        assert detail["openclaw"]["version"] == newest


def test_an_upgrade_the_new_openclaw_refuses_is_refused_before_the_bot_is_touched(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    other, current, _ = _pair(docker_api)
    with openclaw_lab(settings, make_services, current, docker_api) as lab:
        created = lab.client.post("/api/bots", json=telegram_bot(lab, "staying"))
        assert created.status_code == 201, created.text
        bot = created.json()
        name = f"botmaker-{bot['id']}"
        wait_healthy(docker_api, name, settings.network)  # its gateway wrote its state
        before = docker_api.inspect_container(name)
        config_before = lab.svc.bots.deploy.state.read(bot["id"], "openclaw.json")

        response = lab.client.post(f"/api/bots/{bot['id']}/image", json={"image": other})
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["status"] == "refused", result
        assert "refused before the bot was touched" in result["detail"]
        assert "OpenClaw rejects the configuration" in result["detail"], result["detail"]
        assert "cannot open your existing data" in result["detail"], result["detail"]
        assert TG_TOKEN not in result["detail"]
        assert API_KEY not in result["detail"]

        after = docker_api.inspect_container(name)
        for key in ("Id", "Created"):
            assert after[key] == before[key]
        assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
        assert after["RestartCount"] == before["RestartCount"]
        assert after["Image"] == before["Image"]
        assert lab.svc.bots.deploy.state.read(bot["id"], "openclaw.json") == config_before
        stored = lab.client.get(f"/api/bots/{bot['id']}").json()
        assert stored["image"] == current
        kinds = [e["kind"] for e in _events(lab, bot["id"])]
        assert "upgrade_refused" in kinds
        assert not {"upgraded", "upgrade_failed", "upgrade_rolled_back", "stopped"} & set(kinds)
