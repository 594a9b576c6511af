"""A user's stop and restart of a real OpenClaw bot (issue 18, item 1), official layout.

One Telegram bot on the fake Bot API. Stopped while healthy, then restarted and
stopped while its Bot API answers every call with 502 (Telegram unreachable): each
time the gateway shuts down on the SIGTERM in well under the stop timeout (30 s
here, so a SIGKILL would show as exit 137 after it), exits 0, and the bot's events
say ``stopped``, never ``died``.

Measured with 2026.9.6: the gateway logs ``received SIGTERM; shutting down`` and
``[shutdown] completed cleanly`` in 0.1-0.4 s in both cases; its drain budget is
315 s (``shutdown budget ... source=Gateway stop policy=330000ms``: no systemd or
launchd deadline in a container), so only active work still running at the stop
could hold it past Docker's timeout.
"""

from __future__ import annotations

import time
from typing import Any

import docker
import httpx

from botmaker.config import Settings
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import build
from tests.support.openclaw_lab import Lab, openclaw_lab, telegram_bot, wait_healthy

#: Long enough that a SIGKILL after it cannot pass for a clean stop.
STOP_TIMEOUT = 30
#: What a clean stop or restart may take through BotMaker (seconds).
CLEAN_WITHIN = 12


def _events(client: httpx.Client, bot_id: str) -> list[dict[str, Any]]:
    return list(client.get(f"/api/bots/{bot_id}/events").json()["events"])


def _wait_stopped_event(client: httpx.Client, bot_id: str, seen: int) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        exits = [e for e in _events(client, bot_id) if e["kind"] in ("stopped", "died")]
        if len(exits) > seen:
            return exits[0]
        time.sleep(0.3)
    raise AssertionError(f"no exit event: {_events(client, bot_id)[:5]}")


def _timed(lab: Lab, bot_id: str, action: str) -> float:
    started = time.monotonic()
    response = lab.client.post(f"/api/bots/{bot_id}/{action}")
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_a_user_stop_or_restart_is_clean_and_quick_even_with_telegram_down(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    image = build(docker_api)
    with openclaw_lab(
        settings, make_services, image.reference, docker_api, stop_timeout=STOP_TIMEOUT
    ) as lab:
        created = lab.client.post("/api/bots", json=telegram_bot(lab, "stop-bot"))
        assert created.status_code == 201, created.text
        bot_id = created.json()["id"]
        name = f"botmaker-{bot_id}"
        wait_healthy(docker_api, name, settings.network)

        # 1. Healthy: stop.
        elapsed = _timed(lab, bot_id, "stop")
        state = docker_api.inspect_container(name)["State"]
        assert elapsed < CLEAN_WITHIN, elapsed
        assert state["ExitCode"] == 0, state
        event = _wait_stopped_event(lab.client, bot_id, 0)
        assert (event["kind"], event["exit_code"]) == ("stopped", 0), event

        # 2. Telegram unreachable: restart, then stop.
        assert lab.client.post(f"/api/bots/{bot_id}/start").status_code == 200
        wait_healthy(docker_api, name, settings.network)
        lab.telegram.failing = 502
        deadline = time.monotonic() + 30
        while b"502" not in docker_api.logs(name, tail=50) and time.monotonic() < deadline:
            time.sleep(0.5)
        elapsed = _timed(lab, bot_id, "restart")
        assert elapsed < CLEAN_WITHIN, elapsed
        event = _wait_stopped_event(lab.client, bot_id, 1)
        assert (event["kind"], event["exit_code"]) == ("stopped", 0), event
        wait_healthy(docker_api, name, settings.network)
        time.sleep(3)  # the channel's calls fail again (502) before the stop

        elapsed = _timed(lab, bot_id, "stop")
        state = docker_api.inspect_container(name)["State"]
        logs = docker_api.logs(name, tail=30).decode(errors="replace")
        assert elapsed < CLEAN_WITHIN, (elapsed, logs)
        assert state["ExitCode"] == 0, (state, logs)
        assert "received SIGTERM; shutting down" in logs, logs
        event = _wait_stopped_event(lab.client, bot_id, 2)
        assert (event["kind"], event["exit_code"]) == ("stopped", 0), event
        assert not [e for e in _events(lab.client, bot_id) if e["kind"] == "died"]
