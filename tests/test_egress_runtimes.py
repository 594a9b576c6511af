"""Egress on both runtimes with stand-in bots (busybox ``wget`` honours ``http_proxy``):
through the proxy only to allowed hosts, a refusal becomes an event, and no way around
the proxy — the Docker bots' network is internal; a Swarm bot's ``docker_gwbridge``
traffic is refused by the instance's ``DOCKER-USER`` chain (its counters prove it)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace

import docker
import pytest

from botmaker.config import Settings
from botmaker.runtime.docker import DockerBackend
from botmaker.runtime.swarm import SwarmBackend
from botmaker.services import Services
from tests.support.bots import RunningBot, create_bot, exec_in, wait_serving
from tests.support.fixtures import MakeServices
from tests.support.waiting import wait_for
from tests.test_egress_proxy import Site

pytestmark = pytest.mark.parametrize("runtime", ["docker", "swarm"], indirect=True)


@pytest.fixture
def gateway(settings: Settings, runtime: str) -> str:
    """Where bots reach the host: the bots' bridge's gateway, or docker_gwbridge's."""
    if runtime == "swarm":
        return SwarmBackend(replace(settings, network_internal=False)).network_gateway()
    backend = DockerBackend(replace(settings, egress="auto"))
    backend.ensure_network()
    return backend.network_gateway()


@pytest.fixture
def site(gateway: str) -> Iterator[Site]:
    """The internet's stand-in: an HTTP server on the host, where bots' traffic arrives."""
    served = Site(gateway)
    yield served
    served.close()


@pytest.fixture
def target(docker_api: docker.APIClient, standin_image: str) -> Iterator[str]:
    """A container on a network of its own that forwards (not internal): what a bot
    connecting around the proxy would reach. Its address."""
    name = f"bmtest-target-{uuid.uuid4().hex[:8]}"
    network = docker_api.create_network(name, driver="bridge", labels={"botmaker.test": "true"})
    container = docker_api.create_container(
        standin_image,
        name=name,
        host_config=docker_api.create_host_config(network_mode=name),
        environment={"BOTMAKER_BOT_NAME": "target"},
    )
    docker_api.start(container)
    info = docker_api.inspect_container(container)
    yield str(info["NetworkSettings"]["Networks"][name]["IPAddress"])
    docker_api.remove_container(container, force=True)
    docker_api.remove_network(network["Id"])


@pytest.fixture
def svc(settings: Settings, make_services: MakeServices, gateway: str, runtime: str) -> Services:
    services: Services = make_services(
        replace(
            settings,
            egress="auto",
            egress_allow_private=(f"{gateway}/32",),
            network_internal=runtime == "docker",  # Swarm bots reach the host by gwbridge
        )
    )
    return services


def _get(docker_api: docker.APIClient, bot: RunningBot, url: str, *, proxy: bool) -> str:
    """One HTTP GET from inside the bot with busybox ``nc``: to its ``http_proxy`` (the
    absolute URL, as every proxy client sends it), or straight to the URL's host."""
    authority = url.split("://", 1)[1].split("/", 1)[0]
    host, port = authority.rsplit(":", 1)
    if proxy:
        request = f"GET {url} HTTP/1.1\\r\\nHost: {authority}\\r\\n\\r\\n"
        connect = '{ p="${http_proxy#http://}"; timeout 8 nc -w 5 "${p%:*}" "${p##*:}"; }'
    else:
        request = f"GET /{url.split('/', 3)[-1]} HTTP/1.0\\r\\n\\r\\n"
        connect = f"timeout 8 nc -w 5 {host} {port}"
    result = exec_in(docker_api, bot.container, f"printf '{request}' | {connect} 2>&1")
    return f"{result.code} {result.out}{result.err}"


def test_a_bot_goes_out_only_through_the_proxy_and_only_where_allowed(
    svc: Services, docker_api: docker.APIClient, gateway: str, site: Site, target: str
) -> None:
    allowed = f"{gateway}:{site.port}"
    bot = create_bot(svc, "alpha", egress={"mode": "allowlist", "allow": [allowed]})
    wait_serving(docker_api, bot)
    svc.egress.start()
    url = f"http://{allowed}/hello"
    answers: list[str] = []

    def through() -> bool:
        answers.append(_get(docker_api, bot, url, proxy=True))
        return "/hello" in answers[-1]

    try:
        wait_for(through, timeout=30, interval=0.5)
    except AssertionError:
        raise AssertionError(answers[-3:]) from None

    svc.egress.set_policy(bot.id, "allowlist", [])
    wait_for(lambda: "403" in _get(docker_api, bot, url, proxy=True), timeout=10)
    events = wait_for(
        lambda: [e for e in svc.store.bot_events(bot.id) if e["kind"] == "egress_denied"],
        timeout=5,
    )
    assert allowed in events[0]["detail"]

    # Around the proxy: neither the host's server nor another network's container.
    rejected_before = _rejected(svc)
    for direct in (url, f"http://{target}:8080/"):
        answer = _get(docker_api, bot, direct, proxy=False)
        assert "/hello" not in answer, (direct, answer)
        assert "ok target" not in answer, (direct, answer)
    if svc.settings.runtime == "swarm":
        # The instance's DOCKER-USER chain refused it (not some other rule).
        assert _rejected(svc) > rejected_before
        rules = _chain(svc)
        address = svc.runtime.status(bot.container).address
        assert f"-A {SwarmBackend.forward_guard(svc.settings).chain} -s {address}/32" in rules


def _chain(svc: Services) -> str:
    chain = SwarmBackend.forward_guard(svc.settings).chain
    return subprocess.run(
        ["iptables", "-w", "-S", chain], capture_output=True, text=True, check=False
    ).stdout


def _rejected(svc: Services) -> int:
    """Packets the instance's forward chain refused so far (0 on Docker: no chain)."""
    chain = SwarmBackend.forward_guard(svc.settings).chain
    listing = subprocess.run(
        ["iptables", "-w", "-L", chain, "-v", "-x", "-n"], capture_output=True, text=True
    ).stdout
    return sum(int(line.split()[0]) for line in listing.splitlines()[2:] if line.strip())
