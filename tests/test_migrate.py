"""Moving bots from Docker containers to Swarm services and back, keeping their state.

Real engine (a single-node swarm), real BotMaker services and CLI; the bot writes a
file into its state folder from inside its container on one runtime and reads it
back on the other.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import docker
import docker.errors
import pytest

from botmaker.config import ConfigError, Settings
from botmaker.runtime.policy import STATE_TARGET, container_name
from botmaker.services import Services, build_services
from botmaker.services.migrate import migrate_runtime
from tests.support.bots import RunningBot, create_bot, exec_in
from tests.support.fixtures import MakeServices


@pytest.fixture
def both(
    settings: Settings, make_services: MakeServices, swarm_manager: str
) -> tuple[Settings, Settings]:
    """One install's settings on each runtime; the fixture removes what either made."""
    docker_settings = replace(settings, runtime="docker", swarm_allow_new_privileges=True)
    swarm_settings = replace(docker_settings, runtime="swarm")
    make_services(swarm_settings).close()  # registered for clean-up only (no bots yet)
    return docker_settings, swarm_settings


def read_state(api: docker.APIClient, bot: RunningBot, name: str) -> str:
    done = exec_in(api, container_name(bot.id), f"cat {STATE_TARGET}/{name}")
    assert done.code == 0, done.err
    return done.out.strip()


def write_state(api: docker.APIClient, bot: RunningBot, name: str, text: str) -> None:
    done = exec_in(api, container_name(bot.id), f"echo {text} > {STATE_TARGET}/{name}")
    assert done.code == 0, done.err


def is_service(api: docker.APIClient, bot_id: str) -> bool:
    swarm: Any = api
    return bool(swarm.services(filters={"name": container_name(bot_id)}))


def test_bots_move_to_swarm_and_back_with_their_state(
    both: tuple[Settings, Settings], make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    docker_settings, swarm_settings = both
    svc: Services = make_services(docker_settings)
    alpha = create_bot(svc, "alpha")
    bravo = create_bot(svc, "bravo")
    svc.bots.stop(bravo.id)  # a stopped bot stays stopped on the other side
    write_state(docker_api, alpha, "marker", "from-docker")
    svc.close()  # BotMaker is stopped for the move

    # Started on the other runtime without moving: refused, naming the setting.
    with pytest.raises(ConfigError) as refused:
        build_services(swarm_settings)
    assert refused.value.field == "BOTMAKER_RUNTIME"
    assert "migrate-runtime swarm" in refused.value.message

    moved = migrate_runtime(docker_settings, "swarm")
    assert [(r["name"], r["result"], r["to"]) for r in moved] == [
        ("alpha", "moved", "swarm"),
        ("bravo", "moved", "swarm"),
    ]
    on_swarm: Services = make_services(swarm_settings)
    assert is_service(docker_api, alpha.id)
    with pytest.raises(docker.errors.NotFound):
        docker_api.inspect_container(container_name(alpha.id))  # no plain container left
    assert on_swarm.bots.get(alpha.id).status.running
    assert on_swarm.bots.get(bravo.id).status.state != "running"
    assert read_state(docker_api, alpha, "marker") == "from-docker"
    write_state(docker_api, alpha, "marker2", "from-swarm")
    on_swarm.close()
    with pytest.raises(ConfigError):
        build_services(docker_settings)

    back = migrate_runtime(swarm_settings, "docker")
    assert [r["result"] for r in back] == ["moved", "moved"]
    home: Services = make_services(docker_settings)
    assert not is_service(docker_api, alpha.id)
    assert home.bots.get(alpha.id).status.running
    assert home.bots.get(bravo.id).status.state == "created"
    assert read_state(docker_api, alpha, "marker") == "from-docker"
    assert read_state(docker_api, alpha, "marker2") == "from-swarm"
    assert migrate_runtime(docker_settings, "docker") == []  # already there: nothing to do
