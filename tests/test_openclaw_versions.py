"""The version matrix: BotMaker works with a second OpenClaw release, not just the pinned one.

The second version is chosen in tests/support/openclaw_image.py (the newest the npm
registry serves, or the newest of the previous line when that is the pinned one). On
its official-layout image a config OpenClaw rejects is refused with its message, a
good one validates, the bot becomes healthy, and one agent turn reaches the fake
upstream and comes back.
"""

from __future__ import annotations

import time

import docker

from botmaker.config import Settings
from tests.support.bots import exec_in
from tests.support.fake_openai import REPLY
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import PINNED, build, second_version
from tests.support.openclaw_lab import (
    API_KEY,
    assert_refused_by_openclaw,
    openclaw_lab,
    telegram_bot,
    wait_healthy,
    wait_reported_healthy,
)


def test_the_second_openclaw_version_validates_serves_and_answers(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    version = second_version()
    assert version != PINNED
    image = build(docker_api, version)
    with openclaw_lab(settings, make_services, image.reference, docker_api) as lab:
        refused = lab.client.post(
            "/api/bots",
            json=telegram_bot(lab, "bad-bot", channel_settings={"api_root": "not a url"}),
        )
        assert_refused_by_openclaw(refused)

        started = time.monotonic()
        response = lab.client.post("/api/bots", json=telegram_bot(lab, "versioned-bot"))
        assert response.status_code == 201, response.text
        bot = response.json()
        name = f"botmaker-{bot['id']}"
        to_healthy = wait_healthy(docker_api, name, settings.network)
        wait_reported_healthy(lab.client, bot["id"])

        turn = exec_in(
            docker_api, name, image.shell("agent --message 'Say hello' --session-id v2 --json")
        )
        assert turn.code == 0, turn.out + turn.err
        assert REPLY in turn.out
        chat = [r for r in lab.upstream.requests if r.path.endswith("/chat/completions")]
        assert chat, "the fake upstream saw no completion request"
        assert chat[-1].body["model"] == "fake-model"
        assert chat[-1].headers["authorization"] == f"Bearer {API_KEY}"
        print(
            f"\n[openclaw {version}] created and healthy in {time.monotonic() - started:.1f} s "
            f"(gateway ready {to_healthy:.1f} s after create)"
        )
        assert lab.client.delete(f"/api/bots/{bot['id']}").status_code == 204
