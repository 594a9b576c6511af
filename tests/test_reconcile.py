"""Reconciliation converges rows, labelled containers and folders (real engine).

A container removed by hand comes back (and runs); a row stuck ``creating`` is
undone; a row stuck ``deleting`` is finished; a config check's container left behind
goes; an unlabelled container and a bot something is working on right now are never
touched.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import httpx
import pytest

from botmaker.api import create_app
from botmaker.runtime.policy import LABEL_BOT_ID, LABEL_CHECK_FOR, container_name
from botmaker.services import Services
from botmaker.services.reconcile import Reconciler
from botmaker.services.schemas import BotCreate
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import assert_nothing_left, instance_containers, logged_in
from tests.support.server import ServerThread
from tests.support.waiting import wait_for


def _create(services: Services, name: str = "alpha") -> str:
    return services.bots.create(BotCreate.model_validate(bot_body(name))).record.id


def _running(api: docker.APIClient, bot_id: str) -> bool:
    return bool(api.inspect_container(container_name(bot_id))["State"]["Running"])


@pytest.fixture
def unlabelled(docker_api: docker.APIClient, standin_image: str) -> Iterator[str]:
    name = f"bm-unlabelled-{uuid.uuid4().hex[:8]}"
    docker_api.create_container(standin_image, name=name)
    yield name
    with contextlib.suppress(docker.errors.APIError):
        docker_api.remove_container(name, force=True)


def test_a_container_removed_by_hand_is_recreated_and_runs(
    services: Services, docker_api: docker.APIClient
) -> None:
    bot_id = _create(services)
    assert services.reconciler.run_once() == []  # converged: nothing to do
    docker_api.remove_container(container_name(bot_id), force=True)

    actions = services.reconciler.run_once()
    assert actions == [{"bot_id": bot_id, "name": "alpha", "action": "recreated_container"}]
    assert _running(docker_api, bot_id)
    assert services.bots.get(bot_id).status.running
    assert services.reconciler.run_once() == []


def test_a_stopped_bot_removed_by_hand_is_recreated_but_stays_stopped(
    services: Services, docker_api: docker.APIClient
) -> None:
    bot_id = _create(services)
    assert services.bots.stop(bot_id).to_dict()["desired"] == "stopped"
    docker_api.remove_container(container_name(bot_id), force=True)

    actions = services.reconciler.run_once()
    assert actions == [{"bot_id": bot_id, "name": "alpha", "action": "recreated_container"}]
    assert not _running(docker_api, bot_id)
    assert services.bots.get(bot_id).status.state == "created"
    # Started again, it is wanted running: the next removal comes back running.
    assert services.bots.start(bot_id).to_dict()["desired"] == "running"
    docker_api.remove_container(container_name(bot_id), force=True)
    services.reconciler.run_once()
    assert _running(docker_api, bot_id)


def test_unlabelled_and_other_instances_containers_are_never_touched(
    services: Services, docker_api: docker.APIClient, unlabelled: str, standin_image: str
) -> None:
    bot_id = _create(services)
    other = f"bm-other-{uuid.uuid4().hex[:8]}"
    docker_api.create_container(
        standin_image,
        name=other,
        labels={"botmaker.instance": "someone-else", "botmaker.bot-id": str(uuid.uuid4())},
    )
    try:
        reconciler = Reconciler(
            services.store, services.runtime, services.bots, services.orphans, interval=1, grace=0
        )
        assert reconciler.run_once(startup=True) == []
        docker_api.inspect_container(unlabelled)
        docker_api.inspect_container(other)
        assert _running(docker_api, bot_id)
    finally:
        docker_api.remove_container(other, force=True)


def test_orphans_are_removed_only_after_the_grace_period(
    services: Services, docker_api: docker.APIClient
) -> None:
    bot_id = _create(services)
    services.store.delete_bot(bot_id)  # as if a crash lost the row (it cannot, by order)
    assert services.reconciler.run_once() == []  # younger than two intervals: left alone
    assert len(services.orphans.report()["containers"]) == 1
    reconciler = Reconciler(
        services.store, services.runtime, services.bots, services.orphans, interval=1, grace=0
    )
    kinds = sorted(a["kind"] for a in reconciler.run_once() if a["action"] == "removed_orphan")
    assert kinds == ["containers", "secrets", "state"]
    assert_nothing_left(services, docker_api)


def test_a_config_checks_container_left_when_botmaker_stopped_is_removed(
    services: Services, docker_api: docker.APIClient, standin_image: str
) -> None:
    """BotMaker stopped between a check's end and its removal: the check's container
    goes once it has stayed for the grace period; one still running is left alone."""
    bot_id = _create(services)
    labels = dict(docker_api.inspect_container(container_name(bot_id))["Config"]["Labels"])
    labels.pop(LABEL_BOT_ID)
    labels[LABEL_CHECK_FOR] = bot_id

    def check(script: str) -> str:
        name = f"{container_name(bot_id)}-check-{uuid.uuid4().hex[:6]}"
        docker_api.create_container(
            standin_image,
            name=name,
            labels=labels,
            entrypoint=["/bin/sh", "-c", script],
            host_config=docker_api.create_host_config(network_mode="none"),  # as a check's
        )
        docker_api.start(name)
        return name

    ended, running = check("exit 0"), check("sleep 60")
    try:
        assert docker_api.wait(ended, timeout=30)["StatusCode"] == 0
        listed = {c["name"]: c["bot_id"] for c in services.orphans.report()["containers"]}
        assert listed == {ended: bot_id}
        reconciler = Reconciler(
            services.store, services.runtime, services.bots, services.orphans, interval=1, grace=0
        )
        removed = [a for a in reconciler.run_once() if a["action"] == "removed_orphan"]
        assert [(a["kind"], a["name"]) for a in removed] == [("containers", ended)]
        with pytest.raises(docker.errors.NotFound):
            docker_api.inspect_container(ended)
        assert docker_api.inspect_container(running)["State"]["Running"]
        assert _running(docker_api, bot_id)  # the bot itself is untouched
        assert services.orphans.report()["containers"] == []
    finally:
        for name in (ended, running):
            with contextlib.suppress(docker.errors.APIError):
                docker_api.remove_container(name, force=True)


def test_a_row_stuck_creating_is_undone(services: Services, docker_api: docker.APIClient) -> None:
    bot_id = _create(services)
    services.store.update_bot(bot_id, state="creating")  # as a crash mid-create leaves it
    # Later than start-up, a young creating row may be a create in another process.
    assert services.reconciler.run_once() == []
    # While something of this process works on the bot, the reconciler keeps away.
    with services.deploy.locks.hold(bot_id):
        assert services.reconciler.run_once(startup=True) == []
    assert services.store.get_bot(bot_id).state == "creating"
    # Seen at start-up, the row is stale for good: the next pass undoes it.
    actions = services.reconciler.run_once()
    assert actions == [{"bot_id": bot_id, "name": "alpha", "action": "undid_create"}]
    assert_nothing_left(services, docker_api)


def test_a_row_stuck_deleting_is_finished(services: Services, docker_api: docker.APIClient) -> None:
    keep = _create(services, "keeper")
    bot_id = _create(services)
    services.store.update_bot(bot_id, state="deleting")
    actions = services.reconciler.run_once()
    assert actions == [{"bot_id": bot_id, "name": "alpha", "action": "finished_delete"}]
    assert [r.id for r in services.store.list_bots()] == [keep]
    assert [c["Labels"]["botmaker.bot-id"] for c in instance_containers(docker_api, services)] == [
        keep
    ]
    assert not (services.settings.secrets_dir / bot_id).exists()
    # A delete can be re-run on a half-deleted bot: every step is idempotent.
    services.store.update_bot(keep, state="deleting")
    docker_api.remove_container(container_name(keep), force=True)
    services.bots.delete(keep)
    assert_nothing_left(services, docker_api)


def test_reconcile_over_the_api(services: Services, docker_api: docker.APIClient) -> None:
    bot_id = _create(services)
    with ServerThread(create_app(services.settings, services)) as url:
        wait_for(lambda: services.reconciler.passes >= 1)  # the start-up pass (then 30 s)
        docker_api.remove_container(container_name(bot_id), force=True)
        with logged_in(url, ADMIN_PASSWORD) as client:
            # GETs never change anything.
            assert client.get("/api/admin/orphans").status_code == 200
            assert client.get(f"/api/bots/{bot_id}").json()["status"]["state"] == "missing"
            response = client.post("/api/admin/reconcile")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            assert [a["action"] for a in body["actions"]] == ["recreated_container"]
        assert httpx.post(f"{url}/api/admin/reconcile").status_code == 401
    assert _running(docker_api, bot_id)
