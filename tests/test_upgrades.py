"""Image upgrades on the real engine: to a second stand-in image, and a rollback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.runtime.policy import container_name
from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import logged_in
from tests.support.fixtures import MakeServices
from tests.support.images import STANDIN_REPO, TEST_IMAGE_LABEL, inspect_image, rootfs_tar
from tests.support.server import ServerThread

UPGRADE_TIMEOUT = 6.0


def _import(api: docker.APIClient, tag: str, entrypoint: str) -> str:
    api.import_image_from_data(
        rootfs_tar(),
        repository=STANDIN_REPO,
        tag=tag,
        changes=[
            f"ENTRYPOINT {entrypoint}",
            "ENV STANDIN_IGNORE_TERM=0 PATH=/bin",
            f"LABEL {TEST_IMAGE_LABEL}=true",
            f"LABEL botmaker.test-upgrade={tag}",
        ],
    )
    return f"{STANDIN_REPO}:{tag}"


@pytest.fixture(scope="module")
def upgrade_images(docker_api: docker.APIClient) -> dict[str, str]:
    """A second working stand-in (another image id) and one whose entrypoint exits 1."""
    return {
        "next": _import(docker_api, "upgrade-next", '["/bin/sh", "/entrypoint.sh"]'),
        "broken": _import(docker_api, "upgrade-broken", '["/bin/sh", "-c", "exit 1"]'),
    }


@pytest.fixture
def app(settings: Settings, make_services: Any) -> Iterator[tuple[httpx.Client, Services]]:
    svc: Services = make_services(settings, upgrade_timeout=UPGRADE_TIMEOUT)
    svc.upgrades.settle = 2.0
    with ServerThread(create_app(svc.settings, svc)) as url, logged_in(url, ADMIN_PASSWORD) as c:
        yield c, svc


def _running_image(api: docker.APIClient, bot_id: str) -> tuple[str, str]:
    info = api.inspect_container(f"botmaker-{bot_id}")
    return str(info["State"]["Status"]), str(info["Config"]["Image"])


def test_upgrade_to_another_image_records_its_digest(
    app: tuple[httpx.Client, Services],
    upgrade_images: dict[str, str],
    docker_api: docker.APIClient,
    standin_image: str,
) -> None:
    client, svc = app
    bot = svc.bots.create(BotCreate.model_validate(bot_body("alpha"))).record
    target = upgrade_images["next"]

    response = client.post("/api/bots/alpha/image", json={"image": target}, timeout=60)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "upgraded", result
    assert result["rolled_back"] is False
    assert result["previous_image"] == standin_image
    assert result["image"] == target
    expected = inspect_image(docker_api, target)["Id"]
    assert result["digest"] == expected

    # Created from the digest resolved after the pull; the bot keeps the reference given.
    assert _running_image(docker_api, bot.id) == ("running", expected)
    shown = client.get("/api/bots/alpha").json()
    assert shown["image"] == target
    assert shown["image_digest"] == expected
    kinds = [e["kind"] for e in client.get("/api/bots/alpha/events").json()["events"]]
    assert "upgraded" in kinds

    # The fleet form, back to the first image: all bots when "bots" is null.
    fleet = client.post("/api/image/upgrade", json={"image": standin_image}, timeout=60)
    assert fleet.status_code == 200, fleet.text
    body = fleet.json()
    assert body["summary"] == {"upgraded": 1}, body
    assert body["results"][0]["previous_image"] == target
    standin_id = inspect_image(docker_api, standin_image)["Id"]
    assert body["digest"] == standin_id
    assert _running_image(docker_api, bot.id) == ("running", standin_id)
    assert client.get("/api/bots/alpha").json()["image"] == standin_image


def test_an_image_that_does_not_come_up_is_rolled_back(
    app: tuple[httpx.Client, Services],
    upgrade_images: dict[str, str],
    docker_api: docker.APIClient,
    standin_image: str,
) -> None:
    client, svc = app
    bot = svc.bots.create(BotCreate.model_validate(bot_body("alpha"))).record

    response = client.post(
        "/api/image/upgrade",
        json={"image": upgrade_images["broken"], "bots": ["alpha"]},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["status"] == "rolled_back", result
    assert result["rolled_back"] is True
    assert "rolled back to " + standin_image in result["detail"]
    assert result["digest"] == inspect_image(docker_api, standin_image)["Id"]

    assert _running_image(docker_api, bot.id) == ("running", standin_image)
    shown = client.get("/api/bots/alpha").json()
    assert shown["image"] == standin_image
    assert shown["status"]["running"] is True
    kinds = [e["kind"] for e in client.get("/api/bots/alpha/events").json()["events"]]
    assert "upgrade_rolled_back" in kinds


def test_bad_requests_change_nothing(app: tuple[httpx.Client, Services]) -> None:
    client, svc = app
    svc.bots.create(BotCreate.model_validate(bot_body("alpha")))
    assert client.post("/api/bots/alpha/image", json={"image": ""}).status_code == 422
    assert client.post("/api/bots/alpha/image", json={"image": "a b"}).status_code == 422
    for bad in ("AsMr", "c_", "qFN@zPFs.ik2gj", "a:", "-x"):  # not references Docker accepts
        refused = client.post("/api/bots/alpha/image", json={"image": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["error"]["field"] == "image"
    assert client.post("/api/bots/nobody/image", json={"image": "x:1"}).status_code == 404
    missing = client.post(
        "/api/bots/alpha/image", json={"image": "127.0.0.1:9/botmaker/none:1"}, timeout=60
    )
    assert missing.status_code >= 400, missing.text
    assert client.get("/api/bots/alpha").json()["image"] == svc.settings.bot_image


class _ReconcileMidRecreate:
    """At the step before a bot's container is recreated, do what the Docker runtime's
    recreate does first (remove the old container) and run a reconciler pass from its
    own thread, as the background reconciler could at that moment."""

    def __init__(self) -> None:
        self.svc: Services | None = None
        self.actions: list[dict[str, Any]] | None = None

    def step(self, name: str, bot_id: str) -> None:
        if name != "recreate" or self.svc is None or self.actions is not None:
            return
        svc = self.svc
        svc.runtime.remove(container_name(bot_id))
        found: list[dict[str, Any]] = []
        thread = threading.Thread(target=lambda: found.extend(svc.reconciler.run_once()))
        thread.start()
        thread.join(timeout=60)
        self.actions = found


def test_the_reconciler_leaves_a_bot_alone_while_it_is_upgraded(
    settings: Settings,
    make_services: MakeServices,
    upgrade_images: dict[str, str],
    docker_api: docker.APIClient,
) -> None:
    observer = _ReconcileMidRecreate()
    svc: Services = make_services(settings, steps=observer, upgrade_timeout=UPGRADE_TIMEOUT)
    svc.upgrades.settle = 1.0
    bot = svc.bots.create(BotCreate.model_validate(bot_body("alpha"))).record
    observer.svc = svc

    result = svc.upgrades.upgrade(bot.id, upgrade_images["next"])

    assert observer.actions == [], "the reconciler acted on a bot being upgraded"
    assert result["status"] == "upgraded", result
    assert _running_image(docker_api, bot.id) == ("running", result["digest"])
    assert svc.store.get_bot(bot.id).image == upgrade_images["next"]
