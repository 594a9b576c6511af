"""A create that fails half-way is undone completely: no row, no folder, no container.

Each failure happens after the bot's row and secrets folder were written: while
getting the image, while preparing the network, and after the container exists
(the engine refuses to start it). The name is free again afterwards.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.runtime.policy import LABEL_BOT_ID, LABEL_INSTANCE
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import assert_error, assert_nothing_left, logged_in
from tests.support.fakeimages import image_exists, import_image, remove_image, tar_of
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread

#: The ``serve`` fixture: ``serve(**setting_changes)`` → (logged-in client, services).
Serve = Callable[..., tuple[httpx.Client, Services]]
UNPULLABLE = "127.0.0.1:1/nope/missing:1"  # a registry address nothing listens on


@pytest.fixture
def serve(make_services: MakeServices, settings: Settings) -> Iterator[Serve]:
    """``serve(**setting_changes)`` → (logged-in client, services) on a fresh server."""
    with contextlib.ExitStack() as stack:

        def start(**changes: Any) -> tuple[httpx.Client, Services]:
            svc: Services = make_services(settings, **changes)
            url = stack.enter_context(ServerThread(create_app(svc.settings, svc)))
            return stack.enter_context(logged_in(url, ADMIN_PASSWORD)), svc

        yield start


@pytest.fixture
def broken_image(docker_api: docker.APIClient) -> Iterator[str]:
    """An image the engine creates a container from but cannot start.

    Its entrypoint does not exist and ``/tmp`` is a file, so mounting the bot's
    private tmpfs there fails when the container starts. (A missing entrypoint
    alone is not enough: bots run under ``init``, which starts and then exits.)
    """
    reference = f"botmaker-broken:{uuid.uuid4().hex[:12]}"
    import_image(
        docker_api,
        reference,
        tar_of([("tmp", b"a file where a folder belongs\n"), ("hello", b"hi\n")]),
        ['ENTRYPOINT ["/nonexistent"]'],
    )
    yield reference
    remove_image(docker_api, reference)
    assert not image_exists(docker_api, reference)


def container_events(
    api: docker.APIClient, services: Services, since: float, until: float
) -> list[tuple[str, str]]:
    """(action, bot id) of this instance's bot-container events in [since, until].

    The short-lived config-check containers (labelled botmaker.check-for) are left out.
    """
    engine: Any = api  # the engine takes fractional times; docker-py's stubs say int
    events = engine.events(
        since=since,
        until=until,
        filters={"type": "container", "label": f"{LABEL_INSTANCE}={services.settings.instance}"},
        decode=True,
    )
    return [
        (e["Action"], e["Actor"]["Attributes"].get(LABEL_BOT_ID, ""))
        for e in events
        if "botmaker.check-for" not in e["Actor"]["Attributes"]
    ]


def test_missing_unpullable_image_is_502_and_rolls_back(
    serve: Serve, docker_api: docker.APIClient
) -> None:
    assert not image_exists(docker_api, UNPULLABLE)
    client, services = serve(bot_image=UNPULLABLE)
    started = time.monotonic()
    response = client.post("/api/bots", json=bot_body("alpha"))
    assert time.monotonic() - started < 10
    error = assert_error(response, 502, "image_unavailable")
    assert UNPULLABLE in error["message"]
    assert "pull" in error["message"]
    assert "sk-test-key" not in response.text
    assert_nothing_left(services, docker_api)
    assert client.get("/api/bots").json() == {"bots": []}

    image = client.get("/api/image").json()
    assert image["present"] is False
    assert image["pull"]["status"] == "failed"
    assert image["pull"]["error"]

    # The name is free: the same request fails the same way again, not with a 409.
    again = client.post("/api/bots", json=bot_body("alpha"))
    assert_error(again, 502, "image_unavailable")
    assert_nothing_left(services, docker_api)


def test_start_failure_after_the_container_exists_rolls_back(
    serve: Serve,
    docker_api: docker.APIClient,
    broken_image: str,
    standin_image: str,
) -> None:
    client, services = serve(bot_image=broken_image)
    since = time.time() - 1
    response = client.post("/api/bots", json=bot_body("alpha"))
    error = assert_error(response, 502, "runtime_error")
    assert "start container" in error["message"]
    assert "sk-test-key" not in response.text
    assert_nothing_left(services, docker_api)

    # The container did exist (created), and the rollback removed it (destroyed).
    events = container_events(docker_api, services, since, time.time() + 0.2)
    actions = [action for action, _ in events]
    assert "create" in actions, events
    assert "destroy" in actions, events
    assert actions.index("create") < actions.index("destroy"), events
    bot_ids = {bot_id for _, bot_id in events}
    assert len(bot_ids) == 1, events
    assert bot_ids != {""}, events

    # Same name, same image reference, now a good image: the create succeeds.
    remove_image(docker_api, broken_image)
    repository, tag = broken_image.rsplit(":", 1)
    docker_api.tag(standin_image, repository, tag)
    retry = client.post("/api/bots", json=bot_body("alpha"))
    assert retry.status_code == 201, retry.text
    bot = retry.json()
    assert bot["name"] == "alpha"
    assert bot["status"]["state"] == "running"
    assert bot["id"] not in bot_ids  # a new bot, not the failed one come back
    assert [b.name for b in services.store.list_bots()] == ["alpha"]
    assert client.delete("/api/bots/alpha").status_code == 204
    assert_nothing_left(services, docker_api)


def test_network_failure_before_the_container_rolls_back(
    serve: Serve, settings: Settings, docker_api: docker.APIClient
) -> None:
    """The bots' network exists but lets containers talk to each other: refused, undone."""
    docker_api.create_network(settings.network, driver="bridge")  # ICC on: not acceptable
    try:
        client, services = serve()
        response = client.post("/api/bots", json=bot_body("alpha"))
        error = assert_error(response, 502, "runtime_error")
        assert settings.network in error["message"]
        assert_nothing_left(services, docker_api)
    finally:
        docker_api.remove_network(settings.network)
    retry = client.post("/api/bots", json=bot_body("alpha"))
    assert retry.status_code == 201, retry.text
    assert retry.json()["status"]["state"] == "running"
