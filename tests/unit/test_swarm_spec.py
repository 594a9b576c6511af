"""Swarm mode's pure parts: its settings, the translation of a container spec into a
service spec (every hardening field kept), and the mapping of task states onto the
Docker backend's states. The same on a real swarm: tests/test_swarm.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from botmaker.config import ConfigError, Settings
from botmaker.errors import BotMakerError
from botmaker.runtime.base import ContainerSpec
from botmaker.runtime.swarm import service_spec, service_status


def test_runtime_settings_are_read_and_checked() -> None:
    assert Settings.from_env({}).runtime == "docker"
    env = {
        "BOTMAKER_RUNTIME": "swarm",
        "BOTMAKER_SWARM_CONSTRAINTS": "node.labels.bots==true, node.role != manager",
        "BOTMAKER_SWARM_ENCRYPT_NETWORK": "false",
        "BOTMAKER_SWARM_ALLOW_NEW_PRIVILEGES": "true",
    }
    settings = Settings.from_env(env)
    assert settings.runtime == "swarm"
    assert settings.swarm_constraints == ("node.labels.bots==true", "node.role != manager")
    assert settings.swarm_encrypt_network is False
    assert settings.swarm_allow_new_privileges is True
    for name, value in (
        ("BOTMAKER_RUNTIME", "kubernetes"),
        ("BOTMAKER_SWARM_CONSTRAINTS", "node.labels.bots"),
        ("BOTMAKER_SWARM_CONSTRAINTS", "a==b; rm -rf /"),
        ("BOTMAKER_SWARM_ENCRYPT_NETWORK", "maybe"),
    ):
        with pytest.raises(ConfigError) as raised:
            Settings.from_env({name: value})
        assert raised.value.field == name, (name, value)


def test_the_translation_keeps_every_hardening_field() -> None:
    spec = ContainerSpec(
        name="botmaker-x",
        image="img",
        hostname="bot",
        labels={"botmaker.managed": "true"},
        env={"A": "1"},
        user="200001:200001",
        network="n",
        mounts=(),
        tmpfs={"/tmp": "rw,size=1024,uid=200001"},
        read_only_rootfs=True,
        cap_drop=("ALL",),
        cap_add=(),
        security_opt=("no-new-privileges:true",),
        memory_bytes=64 * 1024**2,
        memory_swap_bytes=64 * 1024**2,
        nano_cpus=500_000_000,
        pids_limit=64,
        log_driver="json-file",
        log_options={"max-size": "10m", "max-file": "3"},
        restart_policy="unless-stopped",
        init=True,
        stop_timeout=7,
    )
    body = service_spec(
        spec, image="sha256:abc", network="net", secret_refs=(), constraints=["c"], replicas=0
    )
    template = body["TaskTemplate"]
    container = template["ContainerSpec"]
    assert container["CapabilityDrop"] == ["ALL"]
    assert "CapabilityAdd" not in container
    assert container["ReadOnly"] is True
    assert container["Init"] is True
    assert container["User"] == "200001:200001"
    assert container["StopGracePeriod"] == 7_000_000_000
    assert container["Labels"] == body["Labels"] == spec.labels
    assert template["Resources"]["Limits"] == {
        "NanoCPUs": 500_000_000,
        "MemoryBytes": 64 * 1024**2,
        "Pids": 64,
    }
    assert template["LogDriver"] == {
        "Name": "json-file",
        "Options": {"max-size": "10m", "max-file": "3"},
    }
    assert template["RestartPolicy"]["Condition"] == "any"
    assert template["Placement"] == {"Constraints": ["c"]}
    (tmp,) = container["Mounts"]
    assert tmp["Target"] == "/tmp"
    assert tmp["VolumeOptions"]["DriverConfig"]["Options"]["o"] == "rw,size=1024,uid=200001"
    with pytest.raises(BotMakerError):
        service_spec(
            replace(spec, cap_add=("NET_ADMIN",)),
            image="i",
            network="n",
            secret_refs=(),
            constraints=(),
            replicas=0,
        )


def task(state: str, created: str, *, code: int | None = None, cid: str = "c1") -> dict[str, Any]:
    """A task as the engine lists it (the fields ``service_status`` reads)."""
    return {
        "ID": f"t-{created}",
        "CreatedAt": created,
        "NodeID": "n1",
        "Status": {
            "State": state,
            "Timestamp": created,
            "ContainerStatus": {"ContainerID": cid, "ExitCode": code},
        },
        "NetworksAttachments": [
            {"Network": {"Spec": {"Name": "net"}}, "Addresses": ["10.0.9.4/24"]}
        ],
    }


def test_task_states_map_to_the_docker_backends_states() -> None:
    def service(replicas: int) -> dict[str, Any]:
        return {"Spec": {"Mode": {"Replicated": {"Replicas": replicas}}}}

    nodes = {"n1": "host-a"}

    def status(replicas: int, *tasks: dict[str, Any], **kwargs: Any) -> Any:
        return service_status(service(replicas), tasks, network="net", nodes=nodes, **kwargs)

    assert status(0).state == "created"  # never started
    running = status(1, task("running", "2026-01-01T00:00:01.5Z"))
    assert (running.state, running.node, running.address) == ("running", "host-a", "10.0.9.4")
    assert running.started_at == "2026-01-01T00:00:01.5Z"
    assert running.restart_count == 0
    on_host = status(
        1, task("running", "2026-01-01T00:00:01Z"), host_addresses={"c1": "172.19.0.3"}
    )
    assert on_host.address == "172.19.0.3"  # where the host reaches it (docker_gwbridge)
    stopped = status(0, task("shutdown", "2026-01-01T00:00:01Z", code=143))
    assert (stopped.state, stopped.exit_code, stopped.summary) == ("exited", 143, "stopped")
    # It ended by itself (exit 1) and Swarm starts a new task: restarting, one restart.
    # The timestamps differ in their digits: the newest is found by time, not by text.
    back = status(
        1,
        task("failed", "2026-01-01T00:00:01.123456789Z", code=1),
        task("ready", "2026-01-01T00:00:02Z", cid=""),
    )
    assert (back.state, back.restart_count) == ("restarting", 1)
    # Started again after a stop: created (starting), not a restart.
    again = status(
        1,
        task("shutdown", "2026-01-01T00:00:01Z", code=0),
        task("starting", "2026-01-01T00:00:03Z"),
    )
    assert (again.state, again.restart_count) == ("created", 0)
    ended = status(0, task("complete", "2026-01-01T00:00:01Z", code=0))
    assert (ended.state, ended.exit_code) == ("exited", 0)
