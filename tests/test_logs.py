"""GET /api/bots/{id}/logs: Server-Sent Events from a real container, through a real server."""

from __future__ import annotations

import re
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.bots import resolve_container
from tests.support.checks import logged_in
from tests.support.flood import FLOOD_LINES, FLOOD_PAD, build_flood, trigger
from tests.support.server import ServerThread
from tests.support.sse import Comment, Event, parse_sse
from tests.support.waiting import wait_for

STDERR_LINE = "standin: a line on stderr"
TICK = re.compile(r"^standin: tick (\d+)$")


def create_bot(client: httpx.Client, name: str = "alpha") -> dict[str, Any]:
    response = client.post("/api/bots", json=bot_body(name))
    assert response.status_code == 201, response.text
    bot: dict[str, Any] = response.json()
    return bot


def engine_log(docker_api: docker.APIClient, bot: dict[str, Any]) -> str:
    """The container's log as the engine has it (both streams), read directly; a Swarm
    bot's service log (``docker service logs``)."""
    name = bot["container_name"]
    if docker_api.containers(all=True, filters={"name": f"^/{name}$"}):
        data: bytes = docker_api.logs(name, stdout=True, stderr=True)
    else:
        swarm: Any = docker_api
        data = b"".join(swarm.service_logs(name, stdout=True, stderr=True, is_tty=False))
    return data.decode()


def wait_for_tick(docker_api: docker.APIClient, bot: dict[str, Any], n: int) -> None:
    wait_for(lambda: f"standin: tick {n}\n" in engine_log(docker_api, bot), timeout=20)


def ticks(events: list[Event]) -> list[int]:
    return [int(m.group(1)) for e in events if (m := TICK.match(e.data))]


def read_all(client: httpx.Client, bot_id: str, **params: str) -> tuple[httpx.Response, list[Any]]:
    with client.stream("GET", f"/api/bots/{bot_id}/logs", params=params) as response:
        items = list(parse_sse(response.iter_lines()))
    return response, items


def test_history_is_an_event_stream_with_stdout_and_stderr_apart_ending_with_end(
    client: httpx.Client, docker_api: docker.APIClient
) -> None:
    bot = create_bot(client)
    wait_for_tick(docker_api, bot, 2)
    response, items = read_all(client, bot["id"], follow="false")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    events = [item for item in items if isinstance(item, Event)]
    # The stream ends, and says so, when follow=false.
    assert events[-1].event == "end"
    assert [e.event for e in events].count("end") == 1
    body = events[:-1]
    assert {e.event for e in body} == {"stdout", "stderr"}
    stderr = [e.data for e in body if e.event == "stderr"]
    stdout = [e.data for e in body if e.event == "stdout"]
    assert stderr == [STDERR_LINE]  # demultiplexed: the stderr line only on stderr
    assert STDERR_LINE not in stdout
    assert stdout[0].startswith("standin: uid=")
    assert "standin: secret api_key present (11 bytes)" in stdout
    assert all(line.startswith("standin: ") for line in stdout)  # whole lines, no frame junk
    seen = ticks(body)
    assert seen[:2] == [1, 2]
    assert seen == list(range(1, len(seen) + 1))
    assert all(e.event == "stdout" for e in body if TICK.match(e.data))


def test_tail_limits_the_history(client: httpx.Client, docker_api: docker.APIClient) -> None:
    bot = create_bot(client)
    wait_for_tick(docker_api, bot, 3)  # 7 lines at least: uid, 2 secrets, stderr, 3 ticks
    # Stop it, so that the log no longer changes and the engine's own tail is the reference.
    assert client.post(f"/api/bots/{bot['id']}/stop").status_code == 200
    log_lines = engine_log(docker_api, bot).splitlines()
    assert len(log_lines) >= 8  # and "standin: stopping"
    for tail in (0, 1, 3, 5, 100):
        _, items = read_all(client, bot["id"], follow="false", tail=str(tail))
        events = [item for item in items if isinstance(item, Event)]
        assert events[-1].event == "end"
        lines = [e.data for e in events[:-1]]
        assert len(lines) == min(tail, len(log_lines)), tail
        # Exactly the newest lines, as the engine itself has them.
        assert lines == (log_lines[-tail:] if tail else []), tail


def test_follow_delivers_new_lines_and_keep_alive_comments(
    client: httpx.Client, docker_api: docker.APIClient, settings: Settings
) -> None:
    assert settings.sse_ping_seconds == 0.5
    bot = create_bot(client)
    wait_for_tick(docker_api, bot, 1)
    latest_before = max(
        ticks([Event("stdout", x) for x in engine_log(docker_api, bot).split("\n")])
    )
    received: list[Event] = []
    comments: list[Comment] = []
    started = time.monotonic()
    with client.stream("GET", f"/api/bots/{bot['id']}/logs") as response:  # follow by default
        assert response.status_code == 200
        for item in parse_sse(response.iter_lines()):
            if isinstance(item, Comment):
                comments.append(item)
            else:
                received.append(item)
            newest = ticks(received)
            if newest and newest[-1] >= latest_before + 2 and comments:
                break
            assert time.monotonic() - started < 15, "no new ticks arrived"
    elapsed = time.monotonic() - started
    numbers = ticks(received)
    # History first, then ticks printed after the request, in order, none lost or doubled.
    assert numbers[0] == 1
    assert numbers == list(range(1, numbers[-1] + 1))
    assert numbers[-1] >= latest_before + 2
    assert elapsed >= 1.0  # really waited for the container to print them
    assert "end" not in {e.event for e in received}
    assert comments, "no keep-alive comment line arrived"
    assert all(c.text.startswith("ping") for c in comments)


def test_client_disconnect_closes_the_engine_stream(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    bot = create_bot(client)
    wait_for_tick(docker_api, bot, 1)
    assert services.bots.open_log_streams == 0
    url = f"/api/bots/{bot['id']}/logs"
    with (
        client.stream("GET", url) as first,
        client.stream("GET", url, params={"tail": "0"}) as second,
    ):
        # Keep both readers referenced: dropping an httpx line iterator closes its response.
        readers = [parse_sse(response.iter_lines()) for response in (first, second)]
        for response, reader in zip((first, second), readers, strict=True):
            assert response.status_code == 200
            next(reader)  # something arrived: the engine stream is open and being read
        assert services.bots.open_log_streams == 2
    # Both clients left mid-stream (the readers were waiting for the next tick).
    wait_for(lambda: services.bots.open_log_streams == 0, timeout=5)
    # A stream that ends by itself (follow=false) releases its engine stream too.
    read_all(client, bot["id"], follow="false")
    wait_for(lambda: services.bots.open_log_streams == 0, timeout=5)
    # And the server is still fine afterwards.
    assert client.get(f"/api/bots/{bot['id']}").status_code == 200


@pytest.fixture
def flood_image(docker_api: docker.APIClient) -> str:
    return build_flood(docker_api)


@pytest.fixture
def flood_client(
    settings: Settings, make_services: Any, flood_image: str
) -> Iterator[tuple[httpx.Client, Services]]:
    # Log files large enough that the engine does not rotate during the flood.
    svc: Services = make_services(
        settings, bot_image=flood_image, limits=replace(settings.limits, log_max_size="100m")
    )
    with (
        ServerThread(create_app(svc.settings, svc)) as url,
        logged_in(url, ADMIN_PASSWORD) as c,
    ):
        yield c, svc


def test_slow_client_gets_back_pressure_not_an_unbounded_buffer(
    flood_client: tuple[httpx.Client, Services], docker_api: docker.APIClient
) -> None:
    client, svc = flood_client
    bot = create_bot(client, "flood")
    container = resolve_container(docker_api, bot["container_name"])
    wait_for(lambda: "flood: ready" in engine_log(docker_api, bot))
    produced = FLOOD_LINES * (FLOOD_PAD + len("flood 0000 \n"))
    pad = "0" * FLOOD_PAD
    with client.stream("GET", f"/api/bots/{bot['id']}/logs") as response:
        assert response.status_code == 200
        events = parse_sse(response.iter_lines())
        for item in events:
            if isinstance(item, Event) and item.data == "flood: ready":
                break
        # The client now stops reading while the bot writes ~16 MB of log lines.
        tracemalloc.start()
        try:
            baseline, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            trigger(docker_api, container)
            wait_for(lambda: b"flood: done" in docker_api.logs(container, tail=1), timeout=30)
            time.sleep(1.5)  # time for the server to pull whatever it would pull
            streams_while_stalled = svc.bots.open_log_streams
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        grown = peak - baseline
        # The server (in this process) held a bounded amount, not the flood.
        assert grown < produced / 8, f"Python memory grew by {grown} bytes during the stall"
        assert streams_while_stalled == 1
        # Reading resumes: every line arrives, whole and in order.
        expected = 1
        for item in events:
            if isinstance(item, Comment):
                continue
            if item.data == "flood: done":
                break
            assert item.event == "stdout"
            assert item.data == f"flood {expected} {pad}", f"line {expected} damaged or missing"
            expected += 1
        assert expected == FLOOD_LINES + 1
        assert svc.bots.open_log_streams == 1
    wait_for(lambda: svc.bots.open_log_streams == 0, timeout=5)
