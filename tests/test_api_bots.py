"""Bot CRUD and lifecycle through the real HTTP API, on a real Docker engine."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import docker
import httpx

from botmaker.config import Settings
from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from tests.conftest import bot_body
from tests.support.bots import resolve_container
from tests.support.checks import logged_in
from tests.support.fixtures import MakeServices
from tests.support.waiting import wait_for


def test_create_returns_bot_without_secrets_and_starts_it(
    client: httpx.Client, docker_api: docker.APIClient
) -> None:
    response = client.post("/api/bots", json=bot_body("alpha"))
    assert response.status_code == 201, response.text
    bot = response.json()
    assert bot["name"] == "alpha"
    assert bot["provider"] == "openai"
    assert bot["state"] == "ready"
    assert bot["status"]["state"] == "running"
    assert bot["secrets"] == ["api_key", "channel_token", "gateway_token"]
    assert "sk-test-key" not in response.text
    info = docker_api.inspect_container(resolve_container(docker_api, f"botmaker-{bot['id']}"))
    assert info["State"]["Running"] is True
    assert info["Config"]["Labels"]["botmaker.managed"] == "true"
    assert info["Config"]["Labels"]["botmaker.bot-id"] == bot["id"]


def test_list_reports_live_status_from_docker(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    a = client.post("/api/bots", json=bot_body("alpha")).json()
    b = client.post("/api/bots", json=bot_body("bravo")).json()
    if services.settings.runtime == "swarm":  # behind BotMaker's back: scaled to 0
        name = f"botmaker-{b['id']}"
        subprocess.run(["docker", "service", "scale", "-d", f"{name}=0"], check=True)

        def stopped() -> bool:
            return bool(services.runtime.list()[b["id"]].state == "exited")

        wait_for(stopped, timeout=30, interval=0.2)
    else:
        docker_api.stop(f"botmaker-{b['id']}", timeout=0)  # behind BotMaker's back

    def listed() -> dict[str, dict[str, Any]] | None:
        """The list once the engine's die event reached the status cache it reads."""
        found = {bot["name"]: bot for bot in client.get("/api/bots").json()["bots"]}
        return found if found["bravo"]["status"]["state"] == "exited" else None

    bots = wait_for(listed, timeout=10, interval=0.1)
    assert bots["alpha"]["status"]["state"] == "running"
    assert bots["bravo"]["status"]["state"] == "exited"
    assert bots["bravo"]["status"]["exit_code"] is not None
    assert bots["alpha"]["id"] == a["id"]


def test_stop_start_restart_and_get(client: httpx.Client) -> None:
    bot = client.post("/api/bots", json=bot_body("alpha")).json()
    stopped = client.post(f"/api/bots/{bot['id']}/stop")
    assert stopped.status_code == 200
    assert stopped.json()["status"]["state"] == "exited"
    started = client.post(f"/api/bots/{bot['id']}/start")
    assert started.json()["status"]["state"] == "running"
    first_start = started.json()["status"]["started_at"]
    restarted = client.post("/api/bots/alpha/restart")  # by name too
    assert restarted.json()["status"]["state"] == "running"
    assert restarted.json()["status"]["started_at"] != first_start
    got = client.get(f"/api/bots/{bot['id']}")
    assert got.status_code == 200
    assert got.json()["name"] == "alpha"


def test_delete_removes_container_secrets_and_row(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    bot = client.post("/api/bots", json=bot_body("alpha")).json()
    folder = services.settings.secrets_dir / bot["id"]
    assert folder.is_dir()
    response = client.delete(f"/api/bots/{bot['id']}")
    assert response.status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/bots/{bot['id']}").status_code == 404
    assert docker_api.containers(all=True, filters={"name": f"botmaker-{bot['id']}"}) == []
    assert services.store.list_bots() == []
    if services.settings.runtime == "swarm":  # no service, secret or network left
        swarm: Any = docker_api
        label = f"botmaker.bot-id={bot['id']}"
        assert swarm.services(filters={"name": f"botmaker-{bot['id']}"}) == []
        assert swarm.secrets(filters={"label": label}) == []
        wait_for(lambda: docker_api.networks(filters={"label": label}) == [], timeout=15)


def test_delete_does_not_wait_for_a_bot_ignoring_sigterm(
    make_services: MakeServices, settings: Settings, stubborn_image: str
) -> None:
    from botmaker.api import create_app
    from tests.conftest import ADMIN_PASSWORD
    from tests.support.server import ServerThread

    svc = make_services(settings, bot_image=stubborn_image, stop_timeout=10)
    with (
        ServerThread(create_app(svc.settings, svc)) as url,
        logged_in(url, ADMIN_PASSWORD) as c,
    ):
        bot = c.post("/api/bots", json=bot_body("stubborn")).json()
        assert bot["status"]["state"] == "running"
        started = time.monotonic()
        assert c.delete(f"/api/bots/{bot['id']}").status_code == 204
        elapsed = time.monotonic() - started
    assert elapsed < 3, f"delete took {elapsed:.1f}s (the stop timeout is 10s)"


def test_start_recreates_a_container_removed_by_hand(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    bot = client.post("/api/bots", json=bot_body("alpha")).json()
    if services.settings.runtime == "swarm":
        swarm: Any = docker_api
        swarm.remove_service(f"botmaker-{bot['id']}")
    else:
        docker_api.remove_container(f"botmaker-{bot['id']}", force=True)
    assert client.get(f"/api/bots/{bot['id']}").json()["status"]["state"] == "missing"
    started = client.post(f"/api/bots/{bot['id']}/start")
    assert started.status_code == 200
    assert started.json()["status"]["state"] == "running"


def test_unknown_bot_is_404_in_the_error_shape(client: httpx.Client) -> None:
    for method, path in [
        ("GET", "/api/bots/nope"),
        ("DELETE", "/api/bots/nope"),
        ("POST", "/api/bots/nope/start"),
        ("POST", "/api/bots/nope/stop"),
        ("POST", "/api/bots/nope/restart"),
        ("GET", "/api/bots/nope/logs"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"


def test_an_image_without_openclaw_is_checked_once_not_on_every_create(
    services: Services, docker_api: docker.APIClient
) -> None:
    """Validation 'auto': the first create learns the image cannot validate; later ones
    start no check container for that same image."""

    def checks_between(since: float, until: float) -> int:
        engine: Any = docker_api  # fractional times; docker-py's stubs say int
        events = engine.events(
            since=since,
            until=until,
            filters={
                "type": "container",
                "event": "create",
                "label": ["botmaker.check-for", f"botmaker.instance={services.settings.instance}"],
            },
            decode=True,
        )
        return sum(1 for _ in events)

    began = time.time()
    services.bots.create(BotCreate.model_validate(bot_body("first")))
    middle = time.time()
    services.bots.create(BotCreate.model_validate(bot_body("second")))
    ended = time.time() + 1
    assert checks_between(began - 1, middle) == 1
    assert checks_between(middle, ended) == 0
