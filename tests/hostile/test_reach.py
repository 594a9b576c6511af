"""A hostile bot tries to connect to everything around it; only its keyring data plane answers.

From inside real bot containers (both runtimes, see ``BOTH_RUNTIMES``): BotMaker's API,
the keyring's admin API, the Docker engine's TCP ports and socket, Swarm's manager
ports, listeners the test opens on the host (0.0.0.0 and 127.0.0.1), the gateway's
other ports and another bot: none may accept a connection. Every probe batch carries
its positive controls (the bot's own listeners, and on Docker the keyring's data plane
on the gateway), so a probe that could never connect proves nothing and fails.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import docker
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.runtime.hostguard import HostGuard, bridge_of, prune
from botmaker.runtime.swarm import bot_network
from botmaker.services import Services
from tests.support.attacks import defended
from tests.support.bots import (
    RunningBot,
    create_bot,
    exec_in,
    is_swarm,
    resolve_container,
    wait_serving,
)
from tests.support.fixtures import MakeServices
from tests.support.reach import HostHTTPListener, Reach, Target, connect_probes, host_addresses
from tests.support.server import ServerThread

#: Ports nobody should offer bots: ssh, dns, http(s), Docker's TCP API, Swarm's manager
#: and gossip ports, BotMaker's and the keyring's default ports, the engine's metrics.
OTHER_PORTS = (22, 53, 80, 443, 2375, 2376, 2377, 7946, 7100, 7180, 7181, 8080, 9323)


@dataclass(frozen=True)
class Scene:
    svc: Services
    bot: RunningBot
    own_ip: str
    gateways: list[str]  # where the bot's traffic to the host goes
    botmaker_port: int
    admin_port: int
    data_plane: Target


def _ip_of(api: docker.APIClient, bot: RunningBot) -> tuple[str, str]:
    """The bot's (address, gateway) on its only network."""
    container = resolve_container(api, bot.container)
    networks = api.inspect_container(container)["NetworkSettings"]["Networks"]
    (endpoint,) = networks.values()
    return str(endpoint["IPAddress"]), str(endpoint.get("Gateway") or "")


@pytest.fixture
def scene(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> Iterator[Scene]:
    svc: Services = make_services(
        replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0)
    )
    proxy = urlsplit(svc.keyring.proxy_base("openai"))
    admin_port = urlsplit(svc.keyring.client.url).port
    assert proxy.hostname
    assert proxy.port
    assert admin_port
    with ServerThread(create_app(svc.settings, svc)) as url:
        bot = create_bot(svc, "alpha")
        wait_serving(docker_api, bot)
        own_ip, gateway = _ip_of(docker_api, bot)
        gateways = [g for g in dict.fromkeys([gateway, svc.runtime.network_gateway()]) if g]
        port = urlsplit(url).port
        assert port
        yield Scene(svc, bot, own_ip, gateways, port, admin_port, (proxy.hostname, proxy.port))


def _probe(api: docker.APIClient, scene: Scene, targets: Iterable[Target]) -> dict[Target, Reach]:
    """Probe ``targets`` plus the positive controls; assert the controls connected."""
    controls: list[Target] = [("127.0.0.1", 8080), (scene.own_ip, 8080)]
    if not is_swarm(scene.svc):  # the keyring's data plane: the one host service for bots
        controls.append(scene.data_plane)
    found = connect_probes(api, scene.bot.container, [*controls, *targets])
    for target in controls:
        assert found[target].connected, ("positive control", found[target])
    inconclusive = [r for r in found.values() if not r.conclusive]
    assert not inconclusive, inconclusive
    return {t: r for t, r in found.items() if t not in controls}


def _record(attack: str, results: Iterable[Reach]) -> None:
    """One ledger row for an attack tried on several addresses: held if none connected."""
    results = list(results)
    assert results
    got_in = [f"{r.host}:{r.port}" for r in results if r.connected]
    outcomes = sorted({r.outcome for r in results})
    outcome = f"connected to {', '.join(got_in)}" if got_in else "/".join(outcomes)
    defended("reach", f"{attack} ({len(results)} targets)", outcome, not got_in)


def test_a_bot_connects_to_no_host_service_but_the_keyring_data_plane(
    scene: Scene, docker_api: docker.APIClient
) -> None:
    hosts = list(dict.fromkeys([*scene.gateways, *host_addresses()]))
    with HostHTTPListener("0.0.0.0") as anywhere, HostHTTPListener("127.0.0.1") as loopback:
        attacks: dict[str, list[Target]] = {
            "BotMaker API (bound to 127.0.0.1)": [(h, scene.botmaker_port) for h in hosts],
            "keyring admin API (bound to 127.0.0.1)": [(h, scene.admin_port) for h in hosts],
            "host listener bound to 0.0.0.0": [(h, anywhere.port) for h in hosts],
            "host listener bound to 127.0.0.1": [(h, loopback.port) for h in hosts],
            "Docker engine TCP API (2375, 2376)": [(h, p) for h in hosts for p in (2375, 2376)],
            "gateway's and host's other ports": [
                (h, p)
                for h in hosts
                for p in (*OTHER_PORTS, scene.data_plane[1])
                if (h, p) != scene.data_plane
            ],
        }
        found = _probe(docker_api, scene, [t for ts in attacks.values() for t in ts])
        accepted = anywhere.accepted, loopback.accepted
    for attack, targets in attacks.items():
        _record(attack, (found[t] for t in targets))
    # The host's own view: no connection from the bot ever reached the listeners.
    defended("reach", "host listeners: connections accepted", f"{accepted}", accepted == (0, 0))


def test_a_bot_reaches_neither_another_bot_nor_the_docker_engine(
    services: Services, docker_api: docker.APIClient
) -> None:
    alpha = create_bot(services, "alpha")
    bravo = create_bot(services, "bravo")
    wait_serving(docker_api, alpha)
    wait_serving(docker_api, bravo)
    alpha_ip, _ = _ip_of(docker_api, alpha)
    bravo_ip, _ = _ip_of(docker_api, bravo)
    if is_swarm(services):
        assert bot_network(services.settings, alpha.id) != bot_network(services.settings, bravo.id)

    # Positive control: bravo's own ports answer on bravo's address, seen from bravo.
    own = connect_probes(docker_api, bravo.container, [(bravo_ip, 8080)])
    assert own[(bravo_ip, 8080)].connected, own
    ports = (8080, 18789, 22, 80, 443)  # the stand-in's httpd, OpenClaw's gateway, others
    found = connect_probes(
        docker_api, alpha.container, [(alpha_ip, 8080)] + [(bravo_ip, p) for p in ports]
    )
    assert found[(alpha_ip, 8080)].connected, found  # positive control from alpha
    for port in ports:
        result = found[(bravo_ip, port)]
        assert result.conclusive, result
        defended("reach", f"another bot's port {port}", result.outcome, not result.connected)

    # The engine's socket: not mounted, not anywhere in the bot's filesystem.
    inside = exec_in(
        docker_api,
        alpha.container,
        "for p in /var/run/docker.sock /run/docker.sock; do"
        ' [ -e "$p" ] && echo "present $p"; done;'
        " find / \\( -path /proc -o -path /sys \\) -prune"
        " -o \\( -type s -o -name entrypoint.sh \\) -print;"
        " grep -c docker.sock /proc/self/mountinfo",
    )
    lines = inside.out.split()
    assert "/entrypoint.sh" in lines, inside  # positive control: the search sees files
    sockets = [line for line in lines if line not in ("/entrypoint.sh", "0")]
    defended(
        "reach",
        "find the Docker socket (or any unix socket) in the bot",
        "none found" if not sockets else f"found {sockets}",
        not sockets and lines[-1] == "0",
    )


def _chains() -> str:
    return subprocess.run(
        ["iptables", "-w", "-S"], capture_output=True, text=True, check=True
    ).stdout


def test_the_host_guard_follows_its_network_and_goes_with_it(docker_api: docker.APIClient) -> None:
    """Each bots' bridge gets its own INPUT chain; a removed network's chain is pruned, so
    rules do not pile up as networks come and go."""
    name = f"bmguard-{uuid.uuid4().hex[:8]}"
    network = docker_api.create_network(name, driver="bridge", internal=True)
    try:
        guard = HostGuard(bridge_of(docker_api.inspect_network(network["Id"])))
        assert guard.apply([7180, 7180, 9999]), "the guard could not be installed"
        rules = _chains()
        assert f"-A INPUT -i {guard.bridge} -j {guard.chain}" in rules
        assert rules.count(f"-j {guard.chain}") == 1
        assert f"-A {guard.chain} -p tcp -m tcp --dport 9999 -j RETURN" in rules
        assert guard.apply([7180])  # replaced, not added to
        rules = _chains()
        assert "--dport 9999" not in rules.split(guard.chain, 1)[1]
        assert rules.count(f"-A INPUT -i {guard.bridge} -j {guard.chain}") == 1
        assert guard.chain not in prune()  # a live bridge keeps its chain
        assert guard.chain in _chains()
    finally:
        docker_api.remove_network(network["Id"])
    assert guard.chain in prune()
    assert guard.chain not in _chains()
