"""The backend interface and the plain data it speaks.

``Backend`` is all the services may ask of a runtime (Docker containers or Swarm
services, see the package docstring); a bot's container is named by
``policy.container_name`` whatever the runtime, and the data here (``ContainerSpec``,
``RuntimeStatus``, ``RuntimeEvent``…) is the same for both.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

StreamName = Literal["stdout", "stderr"]


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a backend needs to run one bot, already hardened by ``policy``."""

    name: str
    image: str
    hostname: str
    labels: dict[str, str]
    env: dict[str, str]
    user: str
    network: str
    mounts: tuple[Mount, ...]
    tmpfs: dict[str, str]
    read_only_rootfs: bool
    cap_drop: tuple[str, ...]
    cap_add: tuple[str, ...]
    security_opt: tuple[str, ...]
    memory_bytes: int
    memory_swap_bytes: int
    nano_cpus: int
    pids_limit: int
    log_driver: str
    log_options: dict[str, str]
    restart_policy: str
    init: bool
    stop_timeout: int
    published_ports: dict[int, int] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RuntimeStatus:
    """What the engine says about a bot's container right now."""

    state: str  # created|running|restarting|paused|exited|dead|removing|missing
    container_id: str | None = None
    exit_code: int | None = None
    health: str | None = None  # starting|healthy|unhealthy (probes), crash_loop (monitor)
    started_at: str | None = None
    finished_at: str | None = None
    oom_killed: bool | None = None
    detail: str | None = None
    address: str | None = None  # the container's IP on the bots' network
    uptime_hint: float | None = None  # seconds up, at ``docker ps`` precision (from a list)
    restart_count: int | None = None  # restarts by the restart policy (from an inspect)
    node: str | None = None  # the hostname of the node running it, when known

    @property
    def summary(self) -> str:
        """created|starting|healthy|unhealthy|crash_loop|running|stopped|exited|restarting|…"""
        if self.health == "crash_loop":  # BotMaker's verdict, running or between restarts
            return self.health
        if self.state == "running":
            return self.health or "running"
        if self.state == "exited":
            return "stopped" if self.exit_code in (0, 143) else "exited"
        return self.state

    @property
    def running(self) -> bool:
        return self.state == "running"

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "summary": self.summary,
            "running": self.running,
            "container_id": self.container_id,
            "exit_code": self.exit_code,
            "health": self.health,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "oom_killed": self.oom_killed,
            "detail": self.detail,
            "node": self.node,
        }


MISSING = RuntimeStatus(state="missing", detail="no container")


@dataclass(frozen=True)
class LogChunk:
    stream: StreamName
    data: bytes


class LogStream(Protocol):
    """An iterator of log chunks that can be closed from another thread."""

    def __iter__(self) -> Iterator[LogChunk]: ...

    def close(self) -> None: ...


@dataclass
class PullProgress:
    """Live progress of one image pull, readable while it runs."""

    image: str
    status: str = "pending"  # pending|pulling|done|failed
    message: str = ""
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None

    @property
    def current_bytes(self) -> int:
        return sum(int(layer.get("current", 0)) for layer in self.layers.values())

    @property
    def total_bytes(self) -> int:
        return sum(int(layer.get("total", 0)) for layer in self.layers.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "status": self.status,
            "message": self.message,
            "layers": len(self.layers),
            "current_bytes": self.current_bytes,
            "total_bytes": self.total_bytes,
            "error": self.error,
        }


ProgressCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RuntimeEvent:
    """One engine event about a bot's container (create, start, die, oom, destroy…)."""

    bot_id: str
    action: str  # create|start|die|stop|kill|oom|destroy|restart|health_status|pause|…
    container_id: str
    at: float  # engine time, seconds since the epoch
    time_ns: int = 0  # the same in nanoseconds (orders events exactly)
    exit_code: int | None = None  # die
    signal: str | None = None  # kill
    health: str | None = None  # health_status: healthy|unhealthy|starting


class EventStream(Protocol):
    """An iterator of runtime events that can be closed from another thread.

    Iteration ends (or raises ``EngineUnavailable``) when the engine goes away.
    """

    def __iter__(self) -> Iterator[RuntimeEvent]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StatsSample:
    """One reading of a container's resource counters (one-shot, no CPU % yet)."""

    at: float
    cpu_total_ns: int  # cpu_usage.total_usage
    system_cpu_ns: int  # system_cpu_usage
    online_cpus: int
    memory_bytes: int  # usage without the page cache, as ``docker stats`` shows it
    memory_limit: int
    rx_bytes: int
    tx_bytes: int
    pids: int | None = None


@dataclass(frozen=True)
class ImageConfig:
    """What an image says about how it runs (``docker image inspect``'s ``Config``)."""

    id: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: str = ""
    labels: dict[str, str] = field(default_factory=dict)


#: The most output (stdout and stderr together) ``Backend.exec`` collects by default.
EXEC_OUTPUT_LIMIT = 1 << 20


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a running container printed, and how it ended."""

    exit_code: int
    stdout: str
    stderr: str


class ExecStream(Protocol):
    """A command running in a container, its output read as it comes (stdout and stderr
    chunks, in the engine's framing); closable from another thread. Closing stops the
    reading, not the command: end it inside the container (``kill``) first."""

    def __iter__(self) -> Iterator[LogChunk]: ...

    def close(self) -> None: ...

    def exit_code(self) -> int | None:
        """The command's exit code once it ended (None while it runs or when unknown)."""
        ...


@dataclass(frozen=True)
class ManagedContainer:
    """A container carrying this instance's labels (a bot's, or a config check's)."""

    id: str
    name: str
    bot_id: str | None  # the bot it belongs to (``botmaker.bot-id`` or ``botmaker.check-for``)
    state: str
    created: float  # seconds since the epoch


class Backend(Protocol):
    """The operations BotMaker needs from a container runtime.

    ``container`` arguments are a bot's container name (``botmaker-<id>``); the
    monitor and the orphans' clean-up also pass a plain container's id (a task's or a
    config check's), which every backend handles as a plain container.
    """

    #: Whether one inspect after each container event keeps a bot's status exact.
    status_follows_events: bool

    def ping(self) -> None: ...

    def close(self) -> None:
        """Release the engine connections (the backend is not used afterwards)."""
        ...

    def ensure_network(self) -> None: ...

    def network_gateway(self) -> str:
        """The host's address on the bots' network (where bots reach host services)."""
        ...

    def allow_host_port(self, port: int) -> None:
        """Let bots connect to this TCP port of the host; every other one stays closed
        where the backend guards the host (the Docker backend's bridge, not Swarm's)."""
        ...

    def guard_egress(self, addresses: Iterable[str]) -> None:
        """Bots at these addresses may not connect out around the egress proxy. The
        Docker backend's network is internal (nothing to do); Swarm's reach the host
        through ``docker_gwbridge``, which forwards them anywhere unless told not to."""
        return

    def image_present(self, image: str) -> bool: ...

    def pull(self, image: str, progress: ProgressCallback) -> None: ...

    def image_digest(self, image: str) -> str | None:
        """The image's registry digest (``RepoDigests[0]``), else its local Id."""
        ...

    def image_config(self, image: str) -> ImageConfig | None:
        """The local image's id, entrypoint, command and working directory; None if absent."""
        ...

    def create(self, spec: ContainerSpec) -> str: ...

    def recreate(self, spec: ContainerSpec) -> str:
        """Replace the bot's container by one made from ``spec`` (a changed configuration);
        the caller starts it."""
        ...

    def start(self, container: str) -> None: ...

    def stop(self, container: str, timeout: int) -> None: ...

    def restart(self, container: str, timeout: int) -> None: ...

    def remove(self, container: str) -> None: ...

    def status(self, container: str) -> RuntimeStatus: ...

    def list(self) -> dict[str, RuntimeStatus]: ...

    def logs(
        self,
        container: str,
        *,
        tail: int,
        follow: bool,
        until: float | None = None,
        since: float | None = None,
        timestamps: bool = False,
    ) -> LogStream:
        """``until``: only what was logged before that time (a run that died, not the
        restarted one's first lines); ``since``: only what was logged from that time on;
        ``timestamps``: each line starts with the engine's RFC 3339 time and a space."""
        ...

    def run_once(self, spec: ContainerSpec, timeout: float) -> tuple[int, str] | None:
        """Run ``spec`` to completion; (exit code, output), or None if it cannot exec."""
        ...

    def events(self, since: float | None) -> EventStream:
        """The engine's events about this instance's bot containers, from ``since`` on."""
        ...

    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        timeout: float,
        limit: int = EXEC_OUTPUT_LIMIT,
    ) -> ExecResult:
        """Run ``argv`` in the bot's RUNNING container, as the container's own user, with
        no TTY and no stdin; its output is bounded by ``limit`` bytes and its time by
        ``timeout`` seconds (``RuntimeFailure`` past either). ``Conflict`` when the
        container is not running (or, in Swarm, runs on another node)."""
        ...

    def exec_stream(self, container: str, argv: Sequence[str], *, timeout: float) -> ExecStream:
        """Start ``argv`` in the bot's RUNNING container as ``exec`` does, and hand its
        output over as it comes; the reading ends by itself after ``timeout`` seconds
        (the caller bounds how much it reads). ``Conflict`` when it is not running."""
        ...

    def stats(self, container: str) -> StatsSample | None:
        """One reading of a running container's counters; None if it is not running."""
        ...

    def info(self) -> dict[str, Any]:
        """The engine: version, API version, OS, kernel, CPUs, memory, containers, storage."""
        ...

    def managed_containers(self) -> builtins.list[ManagedContainer]:
        """Every container carrying this instance's labels, whatever its bot id."""
        ...

    def nodes(self) -> builtins.list[dict[str, Any]]:
        """The engines bots run on: id, hostname, role, state, availability, leader,
        cpus, memory_bytes, engine_version, bots (this instance's bots running there)."""
        ...
