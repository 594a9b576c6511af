"""The Docker engine backend (docker-py's low-level ``APIClient``).

docker-py and requests exceptions are converted here into BotMaker's errors: an
engine that is down or too slow is ``EngineUnavailable`` (503), never a traceback.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.client import RemoteDisconnected
from typing import Any, ParamSpec, TypeVar, cast

import docker
import docker.errors
import requests
from docker.types import IPAMConfig, IPAMPool, LogConfig
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError
from urllib3.util.retry import Retry

from botmaker.config import Settings
from botmaker.errors import (
    BotMakerError,
    Conflict,
    EngineUnavailable,
    ImageUnavailable,
    NotFound,
    RuntimeFailure,
)
from botmaker.runtime.base import (
    MISSING,
    ContainerSpec,
    LogChunk,
    ManagedContainer,
    ProgressCallback,
    RuntimeEvent,
    RuntimeStatus,
    StatsSample,
)
from botmaker.runtime.hostguard import HostGuard, bridge_of
from botmaker.runtime.policy import LABEL_BOT_ID, LABEL_CHECK_FOR, managed_labels

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
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


def _engine_errors(what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Convert docker-py / requests exceptions raised by ``what`` into ours."""

    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return func(*args, **kwargs)
            except BotMakerError:
                raise
            except docker.errors.NotFound as exc:
                raise NotFound(f"{what}: {_explain(exc)}") from None
            except docker.errors.APIError as exc:
                if exc.status_code == 409:
                    raise Conflict(f"{what}: {_explain(exc)}") from None
                raise RuntimeFailure(f"{what}: {_explain(exc)}") from None
            except (requests.exceptions.RequestException, OSError) as exc:
                raise EngineUnavailable(
                    f"the Docker engine does not answer ({what}): {_reason(exc)}"
                ) from None
            except docker.errors.DockerException as exc:
                raise RuntimeFailure(f"{what}: {exc}") from None

        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        return wrapper

    return decorate


def _explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    text = str(exc)
    for marker in ("Connection refused", "No such file or directory", "Connection reset"):
        if marker in text:
            return marker.lower()
    return text[:200] or type(exc).__name__


class DockerBackend:
    """Bots as containers on one Docker engine."""

    #: After a container event, one inspect tells the bot's whole status, so statuses can
    #: be kept from the event stream (see services/statuses.py).
    status_follows_events = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = settings.docker_host or DEFAULT_SOCKET
        self.api = self._client(settings.docker_timeout)
        self._network_ready = False
        self._gateway: str | None = None
        self._network_lock = threading.Lock()
        self._node_name: str | None = None
        self._guard: HostGuard | None = None
        # the host ports bots may reach: the operator's own, then the keyring's data plane
        self._host_ports: set[int] = set(settings.bot_host_ports)

    def _client(self, timeout: float) -> docker.APIClient:
        try:
            client = docker.APIClient(
                base_url=self.base_url,
                version=self.settings.docker_api_version,
                timeout=cast(int, timeout),
            )
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"cannot use DOCKER_HOST={self.base_url}: {exc}") from None
        for adapter in client.adapters.values():
            if isinstance(adapter, HTTPAdapter):
                adapter.max_retries = _RetryStaleReads()
        return client

    def close(self) -> None:
        self.api.close()

    def _hostname(self) -> str | None:
        """The engine's hostname (asked once)."""
        if self._node_name is None:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                self._node_name = str(self.api.info().get("Name") or "") or None
        return self._node_name

    @_engine_errors("ping")
    def ping(self) -> None:
        self.api.ping()

    # -- network ----------------------------------------------------------------------

    @_engine_errors("bot network")
    def ensure_network(self) -> None:
        """Create the bots' network: bridge, no inter-container traffic (ICC off)."""
        with self._network_lock:
            if self._network_ready:
                return
            name = self.settings.network
            try:
                info = self.api.inspect_network(name)
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
                    self.api.create_network(
                        name,
                        driver="bridge",
                        internal=self.settings.network_internal,
                        options={"com.docker.network.bridge.enable_icc": "false"},
                        labels=managed_labels(self.settings),
                        ipam=ipam,
                        check_duplicate=True,
                    )
                except docker.errors.APIError as exc:
                    if exc.status_code != 409:
                        raise
                info = self.api.inspect_network(name)
            options = info.get("Options") or {}
            if options.get("com.docker.network.bridge.enable_icc") != "false":
                raise RuntimeFailure(
                    f"network {name!r} exists but lets containers reach each other "
                    "(enable_icc is not false); remove it or choose BOTMAKER_NETWORK"
                )
            self._gateway = _gateway_of(info)
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

    # -- images -----------------------------------------------------------------------

    @_engine_errors("image inspect")
    def image_present(self, image: str) -> bool:
        try:
            self.api.inspect_image(image)  # type: ignore[no-untyped-call]
        except docker.errors.ImageNotFound:
            return False
        return True

    @_engine_errors("image inspect")
    def image_digest(self, image: str) -> str | None:
        """The image's registry digest (``RepoDigests[0]``), else its local Id; None if absent."""
        try:
            info = self.api.inspect_image(image)  # type: ignore[no-untyped-call]
        except docker.errors.ImageNotFound:
            return None
        digests = info.get("RepoDigests") or []
        return str(digests[0]) if digests else str(info.get("Id") or "") or None

    def pull(self, image: str, progress: ProgressCallback) -> None:
        repository, tag = _split_image(image)
        client = self._client(self.settings.pull_timeout)
        try:
            for event in client.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise ImageUnavailable(
                        f"cannot pull image {image}: {event['error']}", field="image"
                    )
                progress(event)
        except docker.errors.APIError as exc:
            raise ImageUnavailable(f"cannot pull image {image}: {_explain(exc)}") from None
        except (requests.exceptions.RequestException, OSError) as exc:
            raise EngineUnavailable(
                f"the Docker engine does not answer (pull): {_reason(exc)}"
            ) from None
        finally:
            client.close()
        if not self.image_present(image):
            raise ImageUnavailable(f"pull of {image} finished but the image is not there")

    # -- containers -------------------------------------------------------------------

    @_engine_errors("create container")
    def create(self, spec: ContainerSpec) -> str:
        return self._create_container(spec)

    def recreate(self, spec: ContainerSpec) -> str:
        """Remove the old container, create the new one (not started)."""
        self.remove(spec.name)
        return self.create(spec)

    def _create_container(self, spec: ContainerSpec) -> str:
        """A plain container on this engine (a bot's, here; a config check's, always)."""
        api = self.api
        host_config = api.create_host_config(
            binds={
                m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
                for m in spec.mounts
            },
            tmpfs=dict(spec.tmpfs),
            read_only=spec.read_only_rootfs,
            cap_drop=list(spec.cap_drop),
            cap_add=list(spec.cap_add) or None,
            security_opt=list(spec.security_opt),
            mem_limit=spec.memory_bytes,
            memswap_limit=spec.memory_swap_bytes,
            nano_cpus=spec.nano_cpus,
            pids_limit=spec.pids_limit,
            log_config=LogConfig(type=spec.log_driver, config=dict(spec.log_options)),
            restart_policy={"Name": spec.restart_policy},
            network_mode=spec.network,
            init=spec.init,
            port_bindings={c: ("127.0.0.1", h) for c, h in spec.published_ports.items()} or None,
            ipc_mode="private",
        )
        result = api.create_container(
            spec.image,
            command=list(spec.command) if spec.command else None,
            entrypoint=list(spec.entrypoint) if spec.entrypoint else None,
            name=spec.name,
            hostname=spec.hostname,
            user=spec.user,
            environment=dict(spec.env),
            labels=dict(spec.labels),
            host_config=host_config,
            ports=list(spec.published_ports) or None,
            stop_timeout=spec.stop_timeout,
            networking_config=api.create_networking_config(
                {spec.network: api.create_endpoint_config()}  # type: ignore[arg-type]
            ),
        )
        return str(result["Id"])

    @_engine_errors("start container")
    def start(self, container: str) -> None:
        self.api.start(container)

    @_engine_errors("stop container")
    def stop(self, container: str, timeout: int) -> None:
        self.api.stop(container, timeout=timeout)

    @_engine_errors("restart container")
    def restart(self, container: str, timeout: int) -> None:
        self.api.restart(container, timeout=timeout)

    @_engine_errors("remove container")
    def remove(self, container: str) -> None:
        """Kill and remove at once: never waits for a bot that ignores SIGTERM."""
        try:
            self.api.remove_container(container, force=True, v=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and "already in progress" in _explain(exc):
                return
            raise

    @_engine_errors("inspect container")
    def status(self, container: str) -> RuntimeStatus:
        try:
            info = self.api.inspect_container(container)
        except docker.errors.NotFound:
            return MISSING
        state = info.get("State") or {}
        health = (state.get("Health") or {}).get("Status")
        name = str(state.get("Status", "unknown"))
        networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
        return RuntimeStatus(
            state=name,
            container_id=str(info["Id"]),
            exit_code=int(state["ExitCode"]) if name in {"exited", "dead"} else None,
            health=health,
            started_at=_zero_time(state.get("StartedAt")),
            finished_at=_zero_time(state.get("FinishedAt")),
            oom_killed=bool(state.get("OOMKilled")),
            detail=state.get("Error") or None,
            address=(networks.get(self.settings.network) or {}).get("IPAddress") or None,
            restart_count=int(info.get("RestartCount") or 0),
            node=self._hostname(),
        )

    @_engine_errors("list containers")
    def list(self) -> dict[str, RuntimeStatus]:
        """Every managed container of this instance, by bot id, in one engine call."""
        filters = {"label": [f"{k}={v}" for k, v in managed_labels(self.settings).items()]}
        result: dict[str, RuntimeStatus] = {}
        for item in self.api.containers(all=True, filters=filters):
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

    @_engine_errors("list containers")
    def managed_containers(self) -> builtins.list[ManagedContainer]:
        """Every container with this instance's labels (bots and config checks)."""
        filters = {"label": [f"{k}={v}" for k, v in managed_labels(self.settings).items()]}
        found: builtins.list[ManagedContainer] = []
        for item in self.api.containers(all=True, filters=filters):
            labels = item.get("Labels") or {}
            names = item.get("Names") or []
            found.append(
                ManagedContainer(
                    id=str(item["Id"]),
                    name=str(names[0]).lstrip("/") if names else str(item["Id"])[:12],
                    bot_id=labels.get(LABEL_BOT_ID) or labels.get(LABEL_CHECK_FOR) or None,
                    state=str(item.get("State", "unknown")),
                    created=float(item.get("Created") or 0),
                )
            )
        return found

    # -- monitoring -------------------------------------------------------------------

    def events(self, since: float | None) -> DockerEventStream:
        """The engine's event stream, filtered to this instance's bot containers.

        A dedicated connection: the answer's headers must come within the engine
        timeout (a hung engine is ``EngineUnavailable``), then reads wait forever
        (``close`` from another thread ends them).
        """
        filters = {
            "type": ["container"],
            "label": [f"{k}={v}" for k, v in managed_labels(self.settings).items()],
        }
        params: dict[str, str] = {"filters": json.dumps(filters)}
        if since is not None:
            params["since"] = f"{since:.9f}"
        client = self._client(self.settings.docker_timeout)
        try:
            response = client.get(
                f"{client.base_url}/v{client.api_version}/events",
                params=params,
                stream=True,
                timeout=(self.settings.docker_timeout, self.settings.docker_timeout),
            )
        except (requests.exceptions.RequestException, OSError) as exc:
            client.close()
            raise EngineUnavailable(
                f"the Docker engine does not answer (events): {_reason(exc)}"
            ) from None
        if response.status_code >= 400:
            text = response.text[:300]
            response.close()
            client.close()
            raise RuntimeFailure(f"events: {text}")
        sock = _response_socket(response)
        if sock is not None:
            sock.settimeout(None)  # the stream may stay quiet for hours
        return DockerEventStream(response, client)

    @_engine_errors("stats")
    def stats(self, container: str) -> StatsSample | None:
        """One one-shot reading (no two-sample wait); None if the container is not running."""
        try:
            raw = self.api.stats(container, stream=False, one_shot=True)
        except docker.errors.NotFound:
            return None
        return stats_sample(raw)

    @_engine_errors("engine info")
    def info(self) -> dict[str, Any]:
        info = self.api.info()
        version = self.api.version()
        return {
            "ok": True,
            "engine_version": version.get("Version") or info.get("ServerVersion"),
            "api_version": version.get("ApiVersion"),
            "api_version_used": self.api.api_version,
            "min_api_version": version.get("MinAPIVersion"),
            "os": info.get("OperatingSystem"),
            "os_type": info.get("OSType"),
            "architecture": info.get("Architecture"),
            "kernel": info.get("KernelVersion"),
            "cpus": info.get("NCPU"),
            "memory_bytes": info.get("MemTotal"),
            "containers": {
                "running": info.get("ContainersRunning"),
                "paused": info.get("ContainersPaused"),
                "stopped": info.get("ContainersStopped"),
                "total": info.get("Containers"),
            },
            "images": info.get("Images"),
            "storage_driver": info.get("Driver"),
            "cgroup_version": info.get("CgroupVersion"),
            "cgroup_driver": info.get("CgroupDriver"),
        }

    @_engine_errors("nodes")
    def nodes(self) -> builtins.list[dict[str, Any]]:
        """The one local engine, as a node."""
        info = self.api.info()
        filters = {
            "label": [f"{k}={v}" for k, v in managed_labels(self.settings).items()],
            "status": ["running"],
        }
        running = self.api.containers(filters=filters)
        return [
            {
                "id": str(info.get("ID") or ""),
                "hostname": str(info.get("Name") or ""),
                "role": "standalone",
                "state": "ready",
                "availability": "active",
                "leader": True,
                "cpus": info.get("NCPU"),
                "memory_bytes": info.get("MemTotal"),
                "engine_version": info.get("ServerVersion"),
                "bots": sum(1 for c in running if (c.get("Labels") or {}).get(LABEL_BOT_ID)),
            }
        ]

    @_engine_errors("run check")
    def run_once(self, spec: ContainerSpec, timeout: float) -> tuple[int, str] | None:
        """Run a one-off container (no network, no restarts) and collect its output.

        None when the container cannot start at all (no such command, or the image
        cannot run with this spec); the caller decides whether that is an error.
        """
        container = self._create_container(spec)
        try:
            try:
                self.api.start(container)
            except docker.errors.APIError as exc:
                log.info("check container did not start: %s", _explain(exc)[:200])
                return None
            try:
                result = self.api.wait(container, timeout=cast(int, timeout))
            except requests.exceptions.ReadTimeout:
                raise RuntimeFailure(f"the check did not finish within {timeout:.0f} s") from None
            output = self.api.logs(container, stdout=True, stderr=True)
            return int(result.get("StatusCode", -1)), output.decode("utf-8", errors="replace")
        finally:
            with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
                self.api.remove_container(container, force=True, v=True)

    @_engine_errors("logs")
    def logs(self, container: str, *, tail: int, follow: bool) -> DockerLogStream:
        return self._log_stream(f"containers/{container}", tail=tail, follow=follow)

    def _log_stream(self, path: str, *, tail: int, follow: bool) -> DockerLogStream:
        """``GET /<path>/logs`` (a container's, a service's or a task's; TTY off) as a stream."""
        params: dict[str, str | int] = {"stdout": 1, "stderr": 1, "follow": int(follow)}
        params["tail"] = str(tail)
        response = self.api.get(
            f"{self.api.base_url}/v{self.api.api_version}/{path}/logs",
            params=params,
            stream=True,
            timeout=(
                self.settings.docker_timeout,
                None if follow else self.settings.docker_timeout,
            ),
        )
        if response.status_code == 404:
            response.close()
            raise NotFound(f"{path.replace('/', ' ', 1)} not found")
        if response.status_code >= 400:
            text = response.text[:300]
            response.close()
            raise RuntimeFailure(f"logs: {text}")
        return DockerLogStream(response)


class _RetryStaleReads(Retry):
    """Retry a GET once when a pooled keep-alive connection turns out to be dead.

    After the engine restarts, the pool still holds connections to the old one;
    the first request on one fails with "connection aborted". Nothing else is
    retried: a refused connection (engine down) or a read timeout (engine hung)
    must answer 503 at once, not after a second attempt.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("total", 1)
        kwargs.setdefault("connect", 0)
        kwargs.setdefault("read", 1)
        kwargs.setdefault("status", 0)
        kwargs.setdefault("redirect", 0)
        kwargs.setdefault("allowed_methods", frozenset({"GET", "HEAD"}))
        kwargs.setdefault("raise_on_status", False)
        super().__init__(**kwargs)

    def increment(self, *args: Any, **kwargs: Any) -> Retry:  # type: ignore[override]
        error = kwargs.get("error")
        cause = error.args[1] if isinstance(error, ProtocolError) and len(error.args) > 1 else None
        if not isinstance(cause, RemoteDisconnected | ConnectionResetError | BrokenPipeError):
            raise error if isinstance(error, Exception) else ProtocolError("no retry")
        return super().increment(*args, **kwargs)


class DockerLogStream:
    """Demultiplexes Docker's log stream (8-byte frame headers) into stdout/stderr chunks.

    ``close`` may be called from another thread: it shuts the socket down, which
    wakes a reader blocked waiting for the next frame.
    """

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self._closed = False

    def __iter__(self) -> Iterator[LogChunk]:
        buffer = bytearray()
        try:
            # Whatever the engine has sent (up to 64 KiB) at a time, not two reads per line.
            for data in self._response.raw.stream(1 << 16, decode_content=False):
                if self._closed:
                    return
                buffer += data
                yield from _frames(buffer)
        except (requests.exceptions.RequestException, OSError, ValueError, AttributeError):
            if not self._closed:
                raise EngineUnavailable("the Docker engine closed the log stream") from None
        finally:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _close_streamed(self._response)


def _frames(buffer: bytearray) -> Iterator[LogChunk]:
    """Take the whole frames (8-byte header, then the payload) off the front of ``buffer``.

    Consecutive frames of the same stream come out as one chunk.
    """
    pos, end = 0, len(buffer)
    run: list[bytes] = []
    run_kind = 0
    while end - pos >= 8:
        kind, length = struct.unpack_from(">BxxxL", buffer, pos)
        if end - pos - 8 < length:
            break
        if run and kind != run_kind:
            yield LogChunk("stderr" if run_kind == 2 else "stdout", b"".join(run))
            run = []
        run_kind = kind
        run.append(bytes(buffer[pos + 8 : pos + 8 + length]))
        pos += 8 + length
    del buffer[:pos]
    if run:
        yield LogChunk("stderr" if run_kind == 2 else "stdout", b"".join(run))


def _close_streamed(response: requests.Response) -> None:
    """End a streamed response now: shutting its socket down wakes a blocked reader."""
    sock = _response_socket(response)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


def _response_socket(response: requests.Response) -> socket.socket | None:
    """The socket under a streamed response (urllib3 keeps it a few layers down)."""
    candidate: Any = getattr(response.raw, "_fp", None)
    for attr in ("fp", "raw", "_sock"):
        if isinstance(candidate, socket.socket):
            return candidate
        candidate = getattr(candidate, attr, None)
    return candidate if isinstance(candidate, socket.socket) else None


class DockerEventStream:
    """Docker's event stream (one JSON object per line) as ``RuntimeEvent``s.

    Events without a bot id (config checks) and exec events are skipped. ``close``
    may be called from another thread: it shuts the socket down, which wakes the
    reader. A stream the engine ends (it went away) simply stops iterating.
    """

    def __init__(self, response: requests.Response, client: docker.APIClient) -> None:
        self._response = response
        self._client = client
        self._closed = False

    def __iter__(self) -> Iterator[RuntimeEvent]:
        try:
            for line in self._response.iter_lines(chunk_size=None):
                if self._closed:
                    return
                if not line:
                    continue
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue
                event = runtime_event(raw) if isinstance(raw, dict) else None
                if event is not None:
                    yield event
        except (requests.exceptions.RequestException, OSError, ValueError, AttributeError):
            if not self._closed:
                raise EngineUnavailable("the Docker engine closed the event stream") from None
        finally:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _close_streamed(self._response)
        with contextlib.suppress(Exception):
            self._client.close()


def runtime_event(raw: dict[str, Any]) -> RuntimeEvent | None:
    """A Docker event as a ``RuntimeEvent``; None for events that are not a bot's."""
    actor = raw.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    bot_id = attributes.get(LABEL_BOT_ID)
    action = str(raw.get("Action") or raw.get("status") or "")
    if not bot_id or not action or action.startswith("exec_"):
        return None
    health: str | None = None
    if action.startswith("health_status"):
        action, _, value = action.partition(":")
        health = value.strip() or None
    time_ns = int(raw.get("timeNano") or int(raw.get("time") or 0) * 1_000_000_000)
    exit_code = attributes.get("exitCode")
    return RuntimeEvent(
        bot_id=str(bot_id),
        action=action,
        container_id=str(actor.get("ID") or raw.get("id") or ""),
        at=time_ns / 1e9 if time_ns else time.time(),
        time_ns=time_ns,
        exit_code=int(exit_code)
        if exit_code is not None and str(exit_code).lstrip("-").isdigit()
        else None,
        signal=attributes.get("signal"),
        health=health,
    )


def stats_sample(raw: dict[str, Any]) -> StatsSample | None:
    """A one-shot stats answer as a ``StatsSample``; None for a container not running."""
    read = str(raw.get("read") or "")
    memory = raw.get("memory_stats") or {}
    cpu = raw.get("cpu_stats") or {}
    if not read or read.startswith("0001-01-01") or not memory or not cpu.get("system_cpu_usage"):
        return None
    usage = int(memory.get("usage") or 0)
    counters = memory.get("stats") or {}
    # As ``docker stats``: the page cache that can be dropped is not counted.
    inactive = counters.get("total_inactive_file", counters.get("inactive_file", 0))
    if 0 < int(inactive or 0) < usage:
        usage -= int(inactive)
    networks = raw.get("networks") or {}
    cpu_usage = cpu.get("cpu_usage") or {}
    online = cpu.get("online_cpus") or len(cpu_usage.get("percpu_usage") or ()) or 1
    try:
        at = datetime.fromisoformat(read).timestamp()
    except ValueError:
        at = time.time()
    return StatsSample(
        at=at,
        cpu_total_ns=int(cpu_usage.get("total_usage") or 0),
        system_cpu_ns=int(cpu.get("system_cpu_usage") or 0),
        online_cpus=int(online),
        memory_bytes=usage,
        memory_limit=int(memory.get("limit") or 0),
        rx_bytes=sum(int(n.get("rx_bytes") or 0) for n in networks.values()),
        tx_bytes=sum(int(n.get("tx_bytes") or 0) for n in networks.values()),
        pids=(raw.get("pids_stats") or {}).get("current"),
    )


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


def _split_image(image: str) -> tuple[str, str]:
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"


def _zero_time(value: object) -> str | None:
    if not value or str(value).startswith("0001-01-01"):
        return None
    return str(value)


def _gateway_of(info: dict[str, Any]) -> str | None:
    for config in (info.get("IPAM") or {}).get("Config") or []:
        gateway = config.get("Gateway")
        if gateway and ":" not in gateway:
            return str(gateway)
    return None
