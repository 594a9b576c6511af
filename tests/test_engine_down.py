"""The Docker engine down or hung: fast, clear 503s, nothing half-made, and recovery.

BotMaker talks to the real engine through ``DockerRelay`` (a Unix-socket relay):
``down()`` refuses connections like a stopped dockerd, ``hang()`` accepts them and
never answers, ``up()`` relays again. The same server process runs throughout.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import (
    assert_error,
    assert_nothing_left,
    instance_containers,
    logged_in,
    secret_folders,
    timed,
)
from tests.support.dockerproxy import DockerRelay
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.sockets import IGNORE_UNCONNECTED, collect_unconnected_sockets

DOCKER_TIMEOUT = 2.0
MARGIN = 1.5  # a hung engine may cost one engine timeout, plus this
DOWN_LIMIT = 3.0  # a refused connection needs no timeout at all

# docker-py's UnixHTTPConnection.connect() does not close its socket when connect()
# fails (engine down), so such a socket is only closed by the garbage collector, with
# a ResourceWarning. It matches only a socket that never connected (no laddr/raddr);
# the fixture below collects them while this filter is on.
pytestmark = pytest.mark.filterwarnings(IGNORE_UNCONNECTED)


@pytest.fixture
def relay() -> Iterator[DockerRelay]:
    # A short path: Unix socket paths are limited to 107 bytes.
    with tempfile.TemporaryDirectory(prefix="bm-relay-") as folder:
        proxy = DockerRelay(Path(folder) / "docker.sock")
        try:
            yield proxy
        finally:
            proxy.close()
            collect_unconnected_sockets()


@pytest.fixture
def app(
    relay: DockerRelay, make_services: MakeServices, settings: Settings
) -> Iterator[tuple[httpx.Client, Services]]:
    """BotMaker pointed at the relay, started while the engine is down."""
    relay.down()
    svc: Services = make_services(settings, docker_host=relay.url, docker_timeout=DOCKER_TIMEOUT)
    started = time.monotonic()
    with ServerThread(create_app(svc.settings, svc)) as url:
        assert time.monotonic() - started < 10  # the lifespan tolerates a down engine
        with logged_in(url, ADMIN_PASSWORD) as client:
            yield client, svc


def assert_engine_unavailable(response: httpx.Response, reason: str) -> None:
    error = assert_error(response, 503, "engine_unavailable")
    assert "Docker engine does not answer" in error["message"], error
    assert reason in error["message"], error
    assert "Traceback" not in response.text


def assert_unhealthy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["store"] == {"ok": True}
    assert body["docker"]["ok"] is False
    assert "Docker engine does not answer" in body["docker"]["message"]


def check_refusals(
    client: httpx.Client,
    services: Services,
    docker_api: docker.APIClient,
    reason: str,
    low: float,
    high: float,
) -> None:
    """Every engine-bound endpoint answers 503 in [low, high) s and nothing is made.

    The calls run at once, each on its own connection: one stuck engine call must
    not hold up the others (and the hung case stays quick to test).
    """
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/bots", {}),
        ("POST", "/api/bots", {"json": bot_body("alpha")}),
        ("POST", "/api/bots", {"json": bot_body("bravo", provider="anthropic")}),
        ("GET", "/api/image", {}),
        ("GET", "/health", {}),
    ]

    def call(method: str, path: str, kwargs: dict[str, Any]) -> tuple[httpx.Response, float]:
        with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=30) as c:
            return timed(c, method, path, **kwargs)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call, *c) for c in calls]
        results = [future.result() for future in futures]
    for (method, path, _), (response, elapsed) in zip(calls, results, strict=True):
        assert low <= elapsed < high, (method, path, elapsed)
        if path == "/health":
            assert_unhealthy(response)
            assert reason in response.json()["docker"]["message"]
        else:
            assert_engine_unavailable(response, reason)
    assert_nothing_left(services, docker_api)
    # Requests that need no engine still work.
    assert client.get("/api/providers").status_code == 200
    assert client.get("/api/bots/nope").status_code == 404


def check_recovery(client: httpx.Client, services: Services, docker_api: docker.APIClient) -> None:
    """The engine is back: health, list, create and delete work, same server."""
    health = client.get("/health")
    assert health.status_code == 200, health.text
    assert health.json() == {"status": "ok", "store": {"ok": True}, "docker": {"ok": True}}
    assert client.get("/api/bots").json() == {"bots": []}
    created = client.post("/api/bots", json=bot_body("alpha"))
    assert created.status_code == 201, created.text
    bot = created.json()
    assert bot["status"]["state"] == "running"
    listed = client.get("/api/bots").json()["bots"]
    assert [(b["name"], b["status"]["state"]) for b in listed] == [("alpha", "running")]
    assert client.delete(f"/api/bots/{bot['id']}").status_code == 204
    assert_nothing_left(services, docker_api)


def test_engine_down_gives_fast_503_then_recovers(
    app: tuple[httpx.Client, Services], relay: DockerRelay, docker_api: docker.APIClient
) -> None:
    client, services = app
    check_refusals(client, services, docker_api, "no such file or directory", 0, DOWN_LIMIT)
    relay.up()
    check_recovery(client, services, docker_api)
    # Down again, after the connection pool has live connections to the engine.
    relay.down()
    check_refusals(client, services, docker_api, "no such file or directory", 0, DOWN_LIMIT)
    relay.up()
    check_recovery(client, services, docker_api)


def test_hung_engine_gives_503_within_the_timeout_then_recovers(
    app: tuple[httpx.Client, Services], relay: DockerRelay, docker_api: docker.APIClient
) -> None:
    client, services = app
    assert services.settings.docker_timeout == DOCKER_TIMEOUT
    relay.hang()
    # At least the timeout (the engine really was waited for), at most one timeout more.
    check_refusals(
        client, services, docker_api, "timed out", DOCKER_TIMEOUT * 0.9, DOCKER_TIMEOUT + MARGIN
    )
    relay.up()
    check_recovery(client, services, docker_api)


def test_engine_down_with_bots_keeps_them_whole(
    app: tuple[httpx.Client, Services], relay: DockerRelay, docker_api: docker.APIClient
) -> None:
    """A delete the engine cannot carry out removes nothing: row, folder, container stay."""
    client, services = app
    relay.up()
    bot = client.post("/api/bots", json=bot_body("alpha")).json()
    assert bot["status"]["state"] == "running"

    relay.down()
    response, elapsed = timed(client, "GET", f"/api/bots/{bot['id']}")
    assert elapsed < DOWN_LIMIT
    assert_engine_unavailable(response, "no such file or directory")
    for method, path in [
        ("DELETE", f"/api/bots/{bot['id']}"),
        ("POST", f"/api/bots/{bot['id']}/stop"),
        ("POST", f"/api/bots/{bot['id']}/restart"),
    ]:
        response, elapsed = timed(client, method, path)
        assert elapsed < DOWN_LIMIT, (method, path, elapsed)
        assert_engine_unavailable(response, "no such file or directory")
    assert [b.id for b in services.store.list_bots()] == [bot["id"]]
    assert secret_folders(services) == [bot["id"]]
    (container,) = instance_containers(docker_api, services)
    assert container["State"] == "running"
    duplicate = client.post("/api/bots", json=bot_body("alpha"))
    assert_error(duplicate, 409, "conflict", "name")  # the store still answers

    relay.up()
    listed = client.get("/api/bots").json()["bots"]
    assert [(b["id"], b["status"]["state"]) for b in listed] == [(bot["id"], "running")]
    assert client.delete(f"/api/bots/{bot['id']}").status_code == 204
    assert_nothing_left(services, docker_api)
