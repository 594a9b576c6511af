"""Bots are isolated from each other and from BotMaker itself, on the real engine.

Every "cannot" is paired with a "can" from the same probe (positive control): a
probe that never succeeds would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.runtime.policy import SECRETS_TARGET
from botmaker.runtime.swarm import bot_network
from botmaker.services import Services
from tests.support.bots import (
    NO_CONNECTION,
    RunningBot,
    blocked_probe,
    create_bot,
    exec_in,
    http_probe,
    is_swarm,
    resolve_container,
    wait_serving,
)
from tests.support.fixtures import MakeServices
from tests.support.reach import HostHTTPListener
from tests.support.server import ServerThread


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Network tests: Docker on a plain and an internal bridge; Swarm on internal overlay
    networks only (test bots never reach outside this machine)."""
    if "internal" in metafunc.fixturenames:
        metafunc.parametrize(
            ("runtime", "internal"),
            [("docker", False), ("docker", True), ("swarm", True)],
            ids=["bridge", "internal", "swarm"],
            indirect=["runtime"],
        )


def bot_pair(services: Services, api: docker.APIClient) -> tuple[RunningBot, RunningBot]:
    alpha = create_bot(
        services, "alpha", {"api_key": "sk-alpha-only", "channel_token": "tg-alpha-only"}
    )
    bravo = create_bot(
        services, "bravo", {"api_key": "sk-bravo-only", "channel_token": "tg-bravo-only"}
    )
    wait_serving(api, alpha)
    wait_serving(api, bravo)
    return alpha, bravo


def network_of(api: docker.APIClient, bot: RunningBot, network: str) -> dict[str, Any]:
    container = resolve_container(api, bot.container)
    networks = api.inspect_container(container)["NetworkSettings"]["Networks"]
    assert list(networks) == [network]
    endpoint: dict[str, Any] = networks[network]
    assert endpoint["IPAddress"]
    return endpoint


def read_as(uid: int, folder: Path, name: str) -> subprocess.CompletedProcess[str]:
    """Read ``folder/name`` on the host as ``uid`` (no supplementary groups).

    The folder is opened by root and handed over as a file descriptor, so only the
    folder's and the file's own permissions are checked (not those of the parents,
    such as the 0700 secrets root).
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return subprocess.run(
            [shutil.which("cat") or "/bin/cat", f"/proc/self/fd/{fd}/{name}"],
            user=uid,
            group=uid,
            extra_groups=[],
            pass_fds=(fd,),
            cwd="/",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(fd)


def test_a_bot_cannot_read_another_bots_secrets(
    services: Services, docker_api: docker.APIClient
) -> None:
    alpha, bravo = bot_pair(services, docker_api)
    root = services.settings.secrets_dir
    a_folder, b_folder = root / alpha.id, root / bravo.id

    # Only its own folder is mounted into alpha; nothing of bravo's, not the root.
    mounts = docker_api.inspect_container(resolve_container(docker_api, alpha.container))["Mounts"]
    a_state = services.settings.data_dir / "bots" / alpha.id / "state"
    binds = sorted((Path(m["Source"]), m["Destination"]) for m in mounts if m["Type"] == "bind")
    if is_swarm(services):  # its own Swarm secrets instead of a bind of the folder
        assert binds == [(a_state.resolve(), "/state")]
        swarm: Any = docker_api
        service = swarm.inspect_service(alpha.container)
        refs = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
        labels = {s["ID"]: s["Spec"]["Labels"] for s in swarm.secrets()}
        assert refs, service
        assert {labels[ref["SecretID"]]["botmaker.bot-id"] for ref in refs} == {alpha.id}
    else:
        assert binds == sorted(
            [(a_folder.resolve(), SECRETS_TARGET), (a_state.resolve(), "/state")]
        )
    inside = exec_in(
        docker_api,
        alpha.container,
        f"cat {SECRETS_TARGET}/*; echo; ls -a {SECRETS_TARGET};"
        f" test -e {b_folder} && echo b-folder-visible;"
        f" test -e {root} && echo root-visible; echo done",
    )
    assert "sk-alpha-only" in inside.out  # positive control: alpha reads its own
    assert "tg-alpha-only" in inside.out
    assert "sk-bravo-only" not in inside.out
    assert "tg-bravo-only" not in inside.out
    assert "visible" not in inside.out
    assert inside.out.rstrip().endswith("done")

    # On the host each folder belongs to its own bot's uid, 0700, files 0600.
    assert alpha.uid != bravo.uid
    for bot, folder in ((alpha, a_folder), (bravo, b_folder)):
        info = folder.stat()
        assert (info.st_uid, info.st_gid) == (bot.uid, bot.uid)
        assert stat.S_IMODE(info.st_mode) == 0o700
        for path in folder.iterdir():
            assert (path.stat().st_uid, stat.S_IMODE(path.stat().st_mode)) == (bot.uid, 0o600)

    # So even if bravo's folder were mounted into alpha, alpha's uid could not read it.
    denied = read_as(alpha.uid, b_folder, "api_key")
    assert denied.returncode != 0
    assert "Permission denied" in denied.stderr
    assert "sk-bravo-only" not in denied.stdout
    allowed = read_as(alpha.uid, a_folder, "api_key")  # positive control
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == "sk-alpha-only"
    assert read_as(bravo.uid, b_folder, "api_key").stdout == "sk-bravo-only"


def test_a_bot_cannot_reach_another_bot_over_the_network(
    internal: bool, settings: Any, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    svc: Services = make_services(settings, network_internal=internal)
    alpha, bravo = bot_pair(svc, docker_api)
    if is_swarm(svc):  # each bot on its own overlay network
        a_net, b_net = (bot_network(svc.settings, bot.id) for bot in (alpha, bravo))
        for name in (a_net, b_net):
            network = docker_api.inspect_network(name)
            assert network["Driver"] == "overlay"
            assert network["Internal"] is True
            assert "encrypted" in network["Options"]
        network_of(docker_api, alpha, a_net)  # alpha is on its own network only
        b_ip = network_of(docker_api, bravo, b_net)["IPAddress"]
    else:
        network = docker_api.inspect_network(svc.settings.network)
        assert network["Internal"] is internal
        assert network["Options"]["com.docker.network.bridge.enable_icc"] == "false"
        b_ip = network_of(docker_api, bravo, svc.settings.network)["IPAddress"]

    # Positive controls: bravo's server answers on that very address, from bravo.
    own = http_probe(docker_api, bravo.container, b_ip, 8080)
    assert "HTTP/1.0 200" in own.out or "HTTP/1.1 200" in own.out, own
    assert "ok bravo" in own.out
    assert "ok alpha" in http_probe(docker_api, alpha.container, "127.0.0.1", 8080).out

    across = blocked_probe(docker_api, alpha.container, b_ip, 8080)
    assert "HTTP/1." not in across.out, across
    assert "ok bravo" not in across.out
    assert across.code != 0
    if is_swarm(svc):  # no route from alpha's network to bravo's; not a refusal by bravo
        assert any(word in across.err for word in NO_CONNECTION), across
        assert "refused" not in across.err, across
    else:
        # Dropped by the bridge (ICC off): nc times out; it is not a refusal by bravo.
        assert "timed out" in across.err or "Terminated" in across.err, across


def test_bots_cannot_reach_botmaker(
    internal: bool, settings: Any, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    # Positive control below: a host service on a port the operator opened to bots
    # (BOTMAKER_BOT_HOST_PORTS), seen by the very same probe.
    listener = HostHTTPListener("0.0.0.0")
    svc: Services = make_services(
        settings, network_internal=internal, bot_host_ports=(listener.port,)
    )
    with listener, ServerThread(create_app(svc.settings, svc)) as server:
        port = urlsplit(server).port
        assert port is not None
        # BotMaker is up and serving on its port (seen from the host).
        assert httpx.get(f"{server}/health", timeout=10).status_code == 200

        bot = create_bot(svc, "alpha")
        wait_serving(docker_api, bot)
        if is_swarm(svc):
            # An internal overlay network has no way to the host at all: not to
            # docker_gwbridge's gateway (where non-internal bots reach host services),
            # not to BotMaker. Positive control: the probe reaches the bot's own address.
            own = network_of(docker_api, bot, bot_network(svc.settings, bot.id))["IPAddress"]
            assert "ok alpha" in http_probe(docker_api, bot.container, own, 8080).out
            for host in (svc.runtime.network_gateway(), "127.0.0.1"):
                result = blocked_probe(docker_api, bot.container, host, port)
                assert "HTTP/1." not in result.out, (host, result)
                assert result.code != 0, (host, result)
                assert any(word in result.err for word in NO_CONNECTION), (host, result)
            return
        gateway = network_of(docker_api, bot, svc.settings.network)["Gateway"]
        assert gateway

        # Positive control: a host service bound where bots can reach it, on a port
        # the host guard lets them connect to (BOTMAKER_BOT_HOST_PORTS), is seen by the
        # very same probe, so a BotMaker listening there would fail this.
        reached = http_probe(docker_api, bot.container, gateway, listener.port)
        assert "host-listener" in reached.out, reached

        for host in (gateway, "127.0.0.1"):
            result = blocked_probe(docker_api, bot.container, host, port)
            assert "HTTP/1." not in result.out, (host, result)
            assert result.code != 0, (host, result)
            assert "refused" in result.err or "timed out" in result.err, (host, result)
