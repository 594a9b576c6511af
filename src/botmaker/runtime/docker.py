"""The Docker backend: each bot is one container on one Docker engine.

The bots share one bridge network with inter-container traffic off, and the host
guard (``hostguard``) lets them reach no port of the host but the ones allowed (the
keyring's data plane). Containers, images, events, logs and stats are the engine's
(``engine.Engine``, which the Swarm backend uses too).
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any, cast

import docker
import docker.errors
from docker.types import IPAMConfig, IPAMPool

from botmaker.config import Settings
from botmaker.errors import RuntimeFailure
from botmaker.runtime.base import (
    EXEC_OUTPUT_LIMIT,
    ContainerSpec,
    ExecResult,
    ExecStream,
    ManagedContainer,
    RuntimeStatus,
    StatsSample,
)
from botmaker.runtime.engine import Engine, EngineBackend, engine_errors, ipv4_gateway
from botmaker.runtime.hostguard import HostGuard, bridge_of
from botmaker.runtime.policy import LABEL_BOT_ID, managed_filters, managed_labels
from botmaker.runtime.streams import DockerLogStream

log = logging.getLogger(__name__)

_EXIT_CODE = re.compile(r"^Exited \((-?\d+)\)")
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_UP = re.compile(
    r"^Up (?:(Less than a second)|(About an?) (minute|hour)|(\d+) (second|minute|hour|day|week"
    r"|month|year)s?)"
)
_UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}


class DockerBackend(EngineBackend):
    """Bots as containers on one Docker engine."""

    #: After a container event, one inspect tells the bot's whole status, so statuses can
    #: be kept from the event stream (see services/statuses.py).
    status_follows_events = True

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        super().__init__(settings, engine)
        self._network_ready = False
        self.network_internal: bool | None = None  # what the engine says, once checked
        self._gateway: str | None = None
        self._network_lock = threading.Lock()
        self._guard: HostGuard | None = None
        # the host ports bots may reach: the operator's own, then the keyring's data plane
        self._host_ports: set[int] = set(settings.bot_host_ports)

    # -- network ----------------------------------------------------------------------

    @engine_errors("bot network")
    def ensure_network(self) -> None:
        """Create the bots' network: bridge, no inter-container traffic (ICC off)."""
        with self._network_lock:
            if self._network_ready:
                return
            name = self.settings.network
            try:
                info = self.engine.api.inspect_network(name)
            except docker.errors.NotFound:
                ipam = None
                if self.settings.network_subnet is not None:
                    ipam = IPAMConfig(
                        pool_configs=[
                            IPAMPool(
                                subnet=self.settings.network_subnet,
                                gateway=self.settings.network_gateway_hint,
                            )
                        ]
                    )
                try:
                    self.engine.api.create_network(
                        name,
                        driver="bridge",
                        internal=self.settings.bots_network_internal,
                        options={"com.docker.network.bridge.enable_icc": "false"},
                        labels=managed_labels(self.settings),
                        ipam=ipam,
                        check_duplicate=True,
                    )
                except docker.errors.APIError as exc:
                    if exc.status_code != 409:
                        raise
                info = self.engine.api.inspect_network(name)
            options = info.get("Options") or {}
            if options.get("com.docker.network.bridge.enable_icc") != "false":
                raise RuntimeFailure(
                    f"network {name!r} exists but lets containers reach each other "
                    "(enable_icc is not false); remove it or choose BOTMAKER_NETWORK"
                )
            if self.settings.bots_network_internal and not info.get("Internal"):
                info = self._make_internal(info)
            self.network_internal = bool(info.get("Internal"))
            self._gateway = ipv4_gateway(info)
            wanted = self.settings.network_gateway_hint
            if wanted is not None and self._gateway != wanted:
                raise RuntimeFailure(
                    f"network {name!r} exists with gateway {self._gateway}, not {wanted} "
                    f"(BOTMAKER_NETWORK_SUBNET={self.settings.network_subnet}); remove it "
                    "or change BOTMAKER_NETWORK_SUBNET"
                )
            self._guard = HostGuard(bridge_of(info))
            self._guard.apply(self._host_ports)
            self._network_ready = True

    def _make_internal(self, info: dict[str, Any]) -> dict[str, Any]:
        """The bots' network made before the egress proxy, made again ``internal``: every
        attached container is disconnected, the network replaced (same name, options,
        subnet and labels) and each container connected again (new addresses)."""
        api = self.engine.api
        name = str(info["Name"])
        attached = list((info.get("Containers") or {}).keys())
        log.warning(
            "network %r is not internal: replacing it with an internal one (%d containers "
            "reconnected), so bots connect out only through the egress proxy",
            name,
            len(attached),
        )
        for container in attached:
            with contextlib.suppress(docker.errors.NotFound):
                api.disconnect_container_from_network(container, info["Id"], force=True)
        api.remove_network(info["Id"])
        pools = [
            IPAMPool(subnet=c.get("Subnet"), gateway=c.get("Gateway"))
            for c in ((info.get("IPAM") or {}).get("Config") or ())
            if c.get("Subnet")
        ]
        api.create_network(
            name,
            driver="bridge",
            internal=True,
            options=info.get("Options") or {"com.docker.network.bridge.enable_icc": "false"},
            labels=info.get("Labels") or managed_labels(self.settings),
            ipam=IPAMConfig(pool_configs=pools) if pools else None,
            check_duplicate=True,
        )
        for container in attached:
            with contextlib.suppress(docker.errors.NotFound):
                api.connect_container_to_network(container, name)
        return cast(dict[str, Any], api.inspect_network(name))

    def guard_egress(self, addresses: Iterable[str]) -> None:
        """Nothing to do: the bots' network is internal (no route out but the host)."""

    def allow_host_port(self, port: int) -> None:
        """Let bots connect to this TCP port of the host (the keyring's data plane): the
        one exception to the host guard (runtime/hostguard.py)."""
        with self._network_lock:
            self._host_ports.add(port)
            if self._guard is not None:
                self._guard.apply(self._host_ports)

    def network_gateway(self) -> str:
        self.ensure_network()
        if self._gateway is None:
            raise RuntimeFailure(f"network {self.settings.network!r} has no IPv4 gateway")
        return self._gateway

    # -- containers -------------------------------------------------------------------

    def create(self, spec: ContainerSpec) -> str:
        return self.engine.create_container(spec)

    def recreate(self, spec: ContainerSpec) -> str:
        """Remove the old container, create the new one (not started)."""
        self.remove(spec.name)
        return self.create(spec)

    def start(self, container: str) -> None:
        self.engine.start(container)

    def stop(self, container: str, timeout: int) -> None:
        self.engine.stop(container, timeout)

    def restart(self, container: str, timeout: int) -> None:
        self.engine.restart(container, timeout)

    def remove(self, container: str) -> None:
        self.engine.remove(container)

    def status(self, container: str) -> RuntimeStatus:
        return self.engine.status(container)

    def managed_containers(self) -> builtins.list[ManagedContainer]:
        return self.engine.managed_containers()

    def logs(
        self,
        container: str,
        *,
        tail: int,
        follow: bool,
        until: float | None = None,
        since: float | None = None,
        timestamps: bool = False,
    ) -> DockerLogStream:
        return self.engine.logs(
            f"containers/{container}",
            tail=tail,
            follow=follow,
            until=until,
            since=since,
            timestamps=timestamps,
        )

    def stats(self, container: str) -> StatsSample | None:
        return self.engine.stats(container)

    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        timeout: float,
        limit: int = EXEC_OUTPUT_LIMIT,
    ) -> ExecResult:
        return self.engine.exec(container, argv, timeout=timeout, limit=limit)

    def exec_stream(self, container: str, argv: Sequence[str], *, timeout: float) -> ExecStream:
        return self.engine.exec_stream(container, argv, timeout=timeout)

    @engine_errors("list containers")
    def list(self) -> dict[str, RuntimeStatus]:
        """Every managed container of this instance, by bot id, in one engine call."""
        result: dict[str, RuntimeStatus] = {}
        for item in self.engine.api.containers(all=True, filters=managed_filters(self.settings)):
            bot_id = (item.get("Labels") or {}).get(LABEL_BOT_ID)
            if not bot_id:
                continue
            status_text = str(item.get("Status") or "")
            exit_match = _EXIT_CODE.match(status_text)
            health_match = _HEALTH.search(status_text)
            health = health_match.group(1).replace("health: ", "") if health_match else None
            networks = (item.get("NetworkSettings") or {}).get("Networks") or {}
            address = (networks.get(self.settings.network) or {}).get("IPAddress") or None
            result[bot_id] = RuntimeStatus(
                state=str(item.get("State", "unknown")),
                container_id=str(item["Id"]),
                exit_code=int(exit_match.group(1)) if exit_match else None,
                health=health,
                detail=status_text or None,
                address=address,
                uptime_hint=uptime_of(status_text),
            )
        return result

    @engine_errors("nodes")
    def nodes(self) -> builtins.list[dict[str, Any]]:
        """The one local engine, as a node; ``bots``: how many of this instance's bots
        run on it (a stopped bot runs nowhere, as with the swarm runtime)."""
        info = self.engine.api.info()
        filters = {**managed_filters(self.settings), "status": ["running"]}
        running = self.engine.api.containers(filters=filters)
        return [
            {
                "id": str(info.get("ID") or ""),
                "hostname": str(info.get("Name") or ""),
                "role": "standalone",
                "state": "ready",
                "availability": "active",
                "leader": False,  # a swarm manager's role: a standalone engine has none
                "cpus": info.get("NCPU"),
                "memory_bytes": info.get("MemTotal"),
                "engine_version": info.get("ServerVersion"),
                "bots": sum(1 for c in running if (c.get("Labels") or {}).get(LABEL_BOT_ID)),
            }
        ]


def uptime_of(status_text: str) -> float | None:
    """Seconds up from a list's ``Up 5 minutes`` (as precise as ``docker ps``)."""
    match = _UP.match(status_text)
    if not match:
        return None
    less, about, about_unit, count, unit = match.groups()
    if less:
        return 0.0
    if about:
        return float(_UNIT_SECONDS[about_unit])
    return float(int(count) * _UNIT_SECONDS[unit])
