"""BOTMAKER_RUNTIME=swarm on the real engine (a single-node swarm): settings, Swarm
secrets (never a value in an inspect, rotation by versions), clean deletes, placement,
nodes, events, and hardening parity with the Docker backend.

The lifecycle, isolation, logs and hardening suites also run on Swarm (see
``BOTH_RUNTIMES`` in conftest); this module covers what only Swarm has.
"""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import replace
from typing import Any

import docker
import pytest

from botmaker.api import create_app
from botmaker.config import ConfigError, Settings
from botmaker.errors import BotMakerError
from botmaker.runtime.base import RuntimeEvent
from botmaker.runtime.policy import LABEL_BOT_ID, LABEL_INSTANCE, SECRETS_TARGET
from botmaker.runtime.swarm import bot_network
from botmaker.services import Services, build_services
from tests.conftest import ADMIN_PASSWORD
from tests.support.bots import RunningBot, create_bot, exec_in, resolve_container, wait_serving
from tests.support.checks import logged_in
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.waiting import wait_for


def apart(settings: Settings, suffix: str, **changes: Any) -> Settings:
    """Another BotMaker instance beside ``settings``: its own folders, labels, network."""
    root = settings.data_dir.parent / suffix
    return replace(
        settings,
        data_dir=root / "data",
        secrets_dir=root / "secrets",
        instance=f"{settings.instance}-{suffix}",
        network=f"{settings.network}-{suffix}",
        **changes,
    )


@pytest.fixture
def swarm_settings(settings: Settings, swarm_manager: str) -> Settings:
    return apart(settings, "s", runtime="swarm")


@pytest.fixture
def swarm(swarm_settings: Settings, make_services: MakeServices) -> Services:
    svc: Services = make_services(swarm_settings)
    return svc


def sw(api: docker.APIClient) -> Any:
    """docker-py's swarm calls (untyped in its stubs)."""
    return api


def cli_json(*args: str) -> Any:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def bot_secrets(api: docker.APIClient, bot_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sw(api).secrets(filters={"label": f"{LABEL_BOT_ID}={bot_id}"})
    return found


# -- settings (read from the environment: tests/unit/test_swarm_spec.py) ------------


def test_swarm_mode_refuses_to_drop_no_new_privileges(
    swarm_settings: Settings, docker_api: docker.APIClient
) -> None:
    engine_sets_it = "no-new-privileges" in " ".join(docker_api.info()["SecurityOptions"])
    strict = replace(swarm_settings, swarm_allow_new_privileges=False)
    if engine_sets_it:  # dockerd --no-new-privileges: every task container gets it
        build_services(strict).close()
        return
    with pytest.raises(ConfigError) as raised:
        build_services(strict)
    assert raised.value.field == "BOTMAKER_RUNTIME"
    assert "no-new-privileges" in raised.value.message
    assert "BOTMAKER_SWARM_ALLOW_NEW_PRIVILEGES" in raised.value.message


# -- secrets ----------------------------------------------------------------------------


def test_no_secret_value_in_secret_service_or_task_inspect(
    swarm: Services, docker_api: docker.APIClient
) -> None:
    values = {"api_key": "sk-swarm-only-value-1", "channel_token": "tg-swarm-only-value-2"}
    bot = create_bot(swarm, "alpha", values)
    wait_serving(docker_api, bot)
    gateway = swarm.bots.gateway_token(bot.id)
    secrets = bot_secrets(docker_api, bot.id)
    assert sorted(s["Spec"]["Labels"]["botmaker.secret-file"] for s in secrets) == [
        "api_key",
        "channel_token",
        "gateway_token",
    ]
    for secret in secrets:
        labels = secret["Spec"]["Labels"]
        assert labels[LABEL_INSTANCE] == swarm.settings.instance
        assert secret["Spec"]["Name"].startswith(f"botmaker-{bot.id[:8]}-")
    service = cli_json("service", "inspect", bot.container)
    task = docker_api.inspect_container(resolve_container(docker_api, bot.container))
    shown = json.dumps([cli_json("secret", "inspect", *[s["ID"] for s in secrets]), service, task])
    for value in [*values.values(), gateway]:
        assert value not in shown
    refs = service[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    for ref in refs:
        assert ref["File"] == {
            "Name": ref["File"]["Name"],
            "UID": str(bot.uid),
            "GID": str(bot.uid),
            "Mode": 0o400,
        }
    # Positive control: the bot reads them, as files on a tmpfs.
    inside = exec_in(docker_api, bot.container, f"cat {SECRETS_TARGET}/api_key")
    assert inside.out == values["api_key"]


def test_rotation_makes_a_new_version_and_removes_the_old(
    swarm: Services, docker_api: docker.APIClient
) -> None:
    bot = create_bot(swarm, "alpha")
    wait_serving(docker_api, bot)
    before = {
        s["Spec"]["Labels"]["botmaker.secret-file"]: s for s in bot_secrets(docker_api, bot.id)
    }
    service_id = sw(docker_api).inspect_service(bot.container)["ID"]
    with (
        ServerThread(create_app(swarm.settings, swarm)) as url,
        logged_in(url, ADMIN_PASSWORD, timeout=60) as client,
    ):
        response = client.patch(
            f"/api/bots/{bot.id}", json={"secrets": {"channel_token": "tg-rotated-value"}}
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"]["state"] == "running"
    after = {
        s["Spec"]["Labels"]["botmaker.secret-file"]: s for s in bot_secrets(docker_api, bot.id)
    }
    assert sorted(after) == sorted(before)
    # A new version of the rotated file; the old version is gone; the others untouched.
    assert after["channel_token"]["ID"] != before["channel_token"]["ID"]
    assert after["channel_token"]["Spec"]["Name"] != before["channel_token"]["Spec"]["Name"]
    for name in ("api_key", "gateway_token"):
        assert after[name]["ID"] == before[name]["ID"]
    all_ids = {s["ID"] for s in sw(docker_api).secrets()}
    assert before["channel_token"]["ID"] not in all_ids
    # The service was updated in place and its new task reads the new value.
    service = sw(docker_api).inspect_service(bot.container)
    assert service["ID"] == service_id
    refs = {
        r["File"]["Name"]: r["SecretID"]
        for r in service["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    }
    assert refs["channel_token"] == after["channel_token"]["ID"]
    wait_serving(docker_api, bot)
    inside = exec_in(docker_api, bot.container, f"cat {SECRETS_TARGET}/channel_token")
    assert inside.out == "tg-rotated-value"


def test_delete_leaves_no_service_secret_network_or_volume(
    swarm: Services, docker_api: docker.APIClient, stubborn_image: str, make_services: MakeServices
) -> None:
    bots = [create_bot(swarm, "alpha"), create_bot(swarm, "bravo")]
    for bot in bots:
        assert bot_secrets(docker_api, bot.id)
        assert docker_api.inspect_network(bot_network(swarm.settings, bot.id))
    swarm.bots.stop(bots[1].id)  # a stopped bot goes as cleanly
    for bot in bots:
        swarm.bots.delete(bot.id)
    label = f"{LABEL_INSTANCE}={swarm.settings.instance}"
    assert sw(docker_api).services(filters={"label": label}) == []
    assert sw(docker_api).secrets(filters={"label": label}) == []
    assert docker_api.containers(all=True, filters={"label": label}) == []
    assert (docker_api.volumes(filters={"label": label}) or {}).get("Volumes") in (None, [])
    wait_for(lambda: docker_api.networks(filters={"label": label}) == [], timeout=15)
    assert swarm.store.list_bots() == []


# -- placement, nodes, events -------------------------------------------------------------


def test_bots_are_pinned_to_this_node_plus_the_configured_constraints(
    swarm_settings: Settings,
    make_services: MakeServices,
    docker_api: docker.APIClient,
    swarm_manager: str,
) -> None:
    svc: Services = make_services(swarm_settings, swarm_constraints=("node.role==manager",))
    bot = create_bot(svc, "alpha")
    service = sw(docker_api).inspect_service(bot.container)
    assert service["Spec"]["TaskTemplate"]["Placement"]["Constraints"] == [
        f"node.id=={swarm_manager}",
        "node.role==manager",
    ]
    assert svc.bots.get(bot.id).status.node == docker_api.info()["Name"]

    # A constraint no node meets: the create fails at once, saying so, and leaves nothing.
    impossible = apart(swarm_settings, "x", swarm_constraints=("node.labels.botmaker-none==yes",))
    other: Services = make_services(impossible)
    with pytest.raises(BotMakerError) as raised:
        create_bot(other, "bravo")
    assert "no suitable node" in raised.value.message
    assert other.store.list_bots() == []
    label = f"{LABEL_INSTANCE}={other.settings.instance}"
    assert sw(docker_api).services(filters={"label": label}) == []
    assert sw(docker_api).secrets(filters={"label": label}) == []


def test_nodes_on_both_backends(
    swarm: Services, services: Services, docker_api: docker.APIClient, swarm_manager: str
) -> None:
    hostname = docker_api.info()["Name"]
    (local,) = services.runtime.nodes()
    assert local["hostname"] == hostname
    assert local["role"] == "standalone"
    assert local["bots"] == 0
    create_bot(swarm, "alpha")
    nodes = swarm.runtime.nodes()
    (node,) = [n for n in nodes if n["id"] == swarm_manager]
    assert node["hostname"] == hostname
    assert node["role"] == "manager"
    assert node["leader"] is True
    assert node["state"] == "ready"
    assert node["availability"] == "active"
    assert node["cpus"] >= 1
    assert node["memory_bytes"] > 0
    assert node["engine_version"]
    assert node["bots"] == 1
    keys = {
        "id",
        "hostname",
        "role",
        "state",
        "availability",
        "leader",
        "cpus",
        "memory_bytes",
        "engine_version",
        "bots",
    }
    assert set(node) == set(local) == keys


def test_get_api_nodes_and_each_bots_node(swarm: Services) -> None:
    bot = create_bot(swarm, "alpha")
    with (
        ServerThread(create_app(swarm.settings, swarm)) as url,
        logged_in(url, ADMIN_PASSWORD) as client,
    ):
        answer = client.get("/api/nodes").json()
        listed = {b["id"]: b for b in client.get("/api/bots").json()["bots"]}
    assert answer["runtime"] == "swarm"
    (manager,) = [n for n in answer["nodes"] if n["leader"]]
    assert manager["role"] == "manager"
    assert manager["bots"] == 1
    assert listed[bot.id]["status"]["node"] == manager["hostname"]


def test_events_of_task_containers_name_the_bot(
    swarm: Services, docker_api: docker.APIClient
) -> None:
    stream = swarm.runtime.events(None)
    seen: list[RuntimeEvent] = []

    def read() -> None:
        for event in stream:
            seen.append(event)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        bot = create_bot(swarm, "alpha")
        wait_for(lambda: any(e.bot_id == bot.id and e.action == "start" for e in seen), 20)
        swarm.bots.stop(bot.id)
        wait_for(lambda: any(e.bot_id == bot.id and e.action == "die" for e in seen), 20)
    finally:
        stream.close()
        reader.join(timeout=5)


# -- hardening parity ---------------------------------------------------------------------


def effective(api: docker.APIClient, bot: RunningBot) -> dict[str, Any]:
    """What the engine enforces on a bot's container, from ``docker inspect``, with
    the bot's own id and the backend's own tmpfs form made comparable."""
    info = api.inspect_container(resolve_container(api, bot.container))
    host, config = info["HostConfig"], info["Config"]
    tmpfs = dict(host.get("Tmpfs") or {})
    for mount in host.get("Mounts") or ():
        options = ((mount.get("VolumeOptions") or {}).get("DriverConfig") or {}).get(
            "Options"
        ) or {}
        if mount["Type"] == "volume" and options.get("type") == "tmpfs":
            tmpfs[mount["Target"]] = options["o"]
    binds = sorted(m["Destination"] for m in info["Mounts"] if m["Type"] == "bind")
    return {
        "CapDrop": host["CapDrop"],
        "CapAdd": host["CapAdd"] or [],
        "Privileged": host["Privileged"],
        "ReadonlyRootfs": host["ReadonlyRootfs"],
        "SecurityOpt": host["SecurityOpt"] or [],
        "Memory": host["Memory"],
        "MemorySwap": host["MemorySwap"],
        "NanoCpus": host["NanoCpus"],
        "PidsLimit": host["PidsLimit"],
        "LogConfig": host["LogConfig"],
        "User": config["User"],
        "Init": host["Init"],
        "Tmpfs": tmpfs,
        "Binds": binds,
        "IpcMode": host["IpcMode"],
        "PidMode": host["PidMode"],
        "PublishAllPorts": host["PublishAllPorts"],
        "Env": sorted(e.replace(bot.id, "<id>") for e in config["Env"]),
        "Hostname": config["Hostname"],
    }


def test_hardening_parity_with_the_docker_backend(
    services: Services, swarm: Services, docker_api: docker.APIClient
) -> None:
    assert services.settings.runtime == "docker"
    plain = create_bot(services, "twin")
    swarmed = create_bot(swarm, "twin")
    assert plain.uid == swarmed.uid  # the first bot of each instance
    wait_serving(docker_api, plain)
    wait_serving(docker_api, swarmed)
    docker_view = effective(docker_api, plain)
    swarm_view = effective(docker_api, swarmed)

    # What a Swarm service cannot carry, asserted exactly (never dropped unnoticed):
    engine_nnp = "no-new-privileges" in " ".join(docker_api.info()["SecurityOptions"])
    assert docker_view.pop("SecurityOpt") == ["no-new-privileges:true"]
    assert swarm_view.pop("SecurityOpt") == []  # from the engine default, if at all
    assert swarm.settings.swarm_allow_new_privileges or engine_nnp
    memory = services.settings.limits.memory_bytes
    assert docker_view.pop("MemorySwap") == memory
    assert swarm_view.pop("MemorySwap") in (2 * memory, 0, -1)  # the engine's default
    assert docker_view.pop("Binds") == [SECRETS_TARGET, "/state"]
    assert swarm_view.pop("Binds") == ["/state"]  # secrets: Swarm secrets, not a bind

    assert swarm_view == docker_view

    # And from inside: the same capabilities, user and cgroup limits.
    script = (
        "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|Uid|Gid):' /proc/1/status;"
        " cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
        " /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null"
        " || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max"
    )
    inside = [exec_in(docker_api, bot.container, script) for bot in (plain, swarmed)]
    assert inside[0].code == 0, inside[0]
    assert inside[0].out == inside[1].out
