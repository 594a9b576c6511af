"""The image-pull path, against a real local registry (``docker-registry`` on loopback).

Each pushed image is the stand-in bot plus a unique marker file, so its one layer
exists nowhere on the engine once the local copy is removed: the pull really
downloads it and progress has a layer and bytes to count. (A plain re-tag of the
stand-in would share its layer with ``botmaker-standin:test``, and the engine would
pull only the manifest, with no layer progress at all.)
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
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import assert_error, assert_nothing_left, logged_in
from tests.support.fakeimages import image_exists, remove_image, unique_standin
from tests.support.fixtures import MakeServices
from tests.support.registry import LocalRegistry
from tests.support.server import ServerThread

REPOSITORY = "botmaker/standin"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    local = LocalRegistry(tmp_path_factory.mktemp("registry"))
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def pushed(
    registry: LocalRegistry, docker_api: docker.APIClient, standin_image: str
) -> Iterator[Callable[[], str]]:
    """``pushed()`` → a reference that is in the registry and not on the engine."""
    made: list[str] = []

    def push() -> str:
        reference = f"{registry.host}/{REPOSITORY}:{uuid.uuid4().hex[:12]}"
        made.append(reference)
        unique_standin(docker_api, reference, marker=reference)
        repository, tag = reference.rsplit(":", 1)
        events = list(docker_api.push(repository, tag=tag, stream=True, decode=True))
        errors = [e for e in events if "error" in e]
        assert not errors, errors
        assert tag in registry.tags(REPOSITORY)
        docker_api.remove_image(reference)
        assert not image_exists(docker_api, reference)
        return reference

    yield push
    for reference in made:
        remove_image(docker_api, reference)
    for reference in made:
        assert not image_exists(docker_api, reference), reference


@pytest.fixture
def serve(make_services: MakeServices, settings: Settings) -> Iterator[Callable[[str], Any]]:
    """``serve(image)`` → (logged-in client, services) for a server using that bot image."""
    with contextlib.ExitStack() as stack:

        def start(image: str) -> tuple[httpx.Client, Services]:
            svc: Services = make_services(settings, bot_image=image)
            url = stack.enter_context(ServerThread(create_app(svc.settings, svc)))
            return stack.enter_context(logged_in(url, ADMIN_PASSWORD, timeout=60)), svc

        yield start


def assert_pulled(pull: dict[str, Any], image: str) -> None:
    assert pull["image"] == image
    assert pull["status"] == "done", pull
    assert pull["error"] is None
    assert pull["layers"] >= 1, pull
    assert pull["total_bytes"] > 0, pull
    assert 0 < pull["current_bytes"] <= pull["total_bytes"], pull


def wait_for_pull(client: httpx.Client, timeout: float = 60) -> tuple[dict[str, Any], list[str]]:
    """Poll GET /api/image until the pull ends; return the last answer and statuses seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/api/image")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        status = body["pull"]["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in {"done", "failed"}:
            return body, seen
        assert time.monotonic() < deadline, f"pull still {status} after {timeout}s"
        time.sleep(0.05)


def test_create_pulls_a_missing_image_from_the_registry(
    pushed: Callable[[], str], serve: Any, docker_api: docker.APIClient
) -> None:
    image = pushed()
    client, services = serve(image)
    before = client.get("/api/image").json()
    assert before == {"image": image, "present": False, "pull": None}

    response = client.post("/api/bots", json=bot_body("alpha"))
    assert response.status_code == 201, response.text
    bot = response.json()
    assert bot["image"] == image
    assert bot["status"]["state"] == "running"
    info = docker_api.inspect_container(bot["container_name"])
    assert info["Config"]["Image"] == image
    assert info["State"]["Running"] is True

    after = client.get("/api/image").json()
    assert after["present"] is True
    assert_pulled(after["pull"], image)
    assert image_exists(docker_api, image)

    # A second bot uses the image already there: no new pull.
    second = client.post("/api/bots", json=bot_body("bravo"))
    assert second.status_code == 201, second.text
    assert client.get("/api/image").json()["pull"] == after["pull"]
    assert {b.name for b in services.store.list_bots()} == {"alpha", "bravo"}


def test_background_pull_reports_progress_until_done(
    pushed: Callable[[], str], serve: Any, docker_api: docker.APIClient
) -> None:
    image = pushed()
    client, _ = serve(image)
    response = client.post("/api/image/pull")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["image"] == image
    assert accepted["status"] in {"pending", "pulling"}

    body, seen = wait_for_pull(client)
    assert seen[-1] == "done", seen
    assert set(seen) <= {"pending", "pulling", "done"}, seen
    assert body["present"] is True
    assert_pulled(body["pull"], image)
    assert image_exists(docker_api, image)

    # Asking again for an image already present is accepted and done at once.
    again = client.post("/api/image/pull")
    assert again.status_code == 202, again.text
    body, _ = wait_for_pull(client, timeout=10)
    assert body["pull"]["status"] == "done"

    # And a create needs no pull now.
    created = client.post("/api/bots", json=bot_body("alpha"))
    assert created.status_code == 201, created.text
    assert created.json()["status"]["state"] == "running"


def test_pull_of_a_tag_not_in_the_registry_fails_clearly_and_rolls_back(
    registry: LocalRegistry, pushed: Callable[[], str], serve: Any, docker_api: docker.APIClient
) -> None:
    pushed()  # the repository exists; only the tag is missing
    image = f"{registry.host}/{REPOSITORY}:not-there-{uuid.uuid4().hex[:8]}"
    client, services = serve(image)

    response = client.post("/api/bots", json=bot_body("alpha"))
    error = assert_error(response, 502, "image_unavailable")
    assert image in error["message"], error
    assert "not found" in error["message"], error
    assert_nothing_left(services, docker_api)
    assert not image_exists(docker_api, image)

    status = client.get("/api/image").json()
    assert status["present"] is False
    assert status["pull"]["status"] == "failed"
    assert "not found" in status["pull"]["error"]

    # The background pull fails the same way, and says so.
    assert client.post("/api/image/pull").status_code == 202
    body, seen = wait_for_pull(client, timeout=30)
    assert seen[-1] == "failed", seen
    assert "not found" in body["pull"]["error"]
    assert_nothing_left(services, docker_api)

    # The name was freed: the same create fails the same way again, not with a 409.
    assert_error(client.post("/api/bots", json=bot_body("alpha")), 502, "image_unavailable")
    assert_nothing_left(services, docker_api)
