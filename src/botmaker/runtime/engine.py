"""One Docker engine, as both runtimes use it (docker-py's low-level ``APIClient``).

Both backends run on a Docker engine and need the same things from it: the
connection, images and pulls, plain containers (a Docker bot's; a config check's,
in either runtime; a Swarm task's, which the monitor inspects and reads the logs
of), the event stream, stats and the engine's facts. Each backend holds one
``Engine``; neither inherits the other.

docker-py and requests exceptions are converted here into BotMaker's errors: an
engine that is down or too slow is ``EngineUnavailable`` (503), never a traceback.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.client import RemoteDisconnected
from typing import Any, ParamSpec, TypeVar, cast

import docker
import docker.errors
import requests
from docker.types import LogConfig
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
    EXEC_OUTPUT_LIMIT,
    MISSING,
    ContainerSpec,
    ExecResult,
    ExecStream,
    ImageConfig,
    LogChunk,
    ManagedContainer,
    ProgressCallback,
    RuntimeStatus,
    StatsSample,
)
from botmaker.runtime.policy import LABEL_BOT_ID, LABEL_CHECK_FOR, managed_filters
from botmaker.runtime.streams import (
    DockerEventStream,
    DockerExecOutput,
    DockerLogStream,
    response_socket,
    stats_sample,
)

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def engine_errors(what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Convert docker-py / requests exceptions raised by ``what`` into ours."""

    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return func(*args, **kwargs)
            except BotMakerError:
                raise
            except docker.errors.NotFound as exc:
                raise NotFound(f"{what}: {explain(exc)}") from None
            except docker.errors.APIError as exc:
                if exc.status_code == 409:
                    raise Conflict(f"{what}: {explain(exc)}") from None
                raise RuntimeFailure(f"{what}: {explain(exc)}") from None
            except (requests.exceptions.RequestException, OSError) as exc:
                raise unavailable(what, exc) from None
            except docker.errors.DockerException as exc:
                raise RuntimeFailure(f"{what}: {exc}") from None

        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        return wrapper

    return decorate


def explain(exc: docker.errors.APIError) -> str:
    """The engine's own words for a refused request."""
    return str(exc.explanation or exc)


def unavailable(what: str, exc: BaseException) -> EngineUnavailable:
    """The error for an engine that does not answer (a short reason, never a traceback)."""
    return EngineUnavailable(f"the Docker engine does not answer ({what}): {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    text = str(exc)
    for marker in ("Connection refused", "No such file or directory", "Connection reset"):
        if marker in text:
            return marker.lower()
    return text[:200] or type(exc).__name__


class Engine:
    """The connection to one Docker engine and what both runtimes ask of it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = settings.docker_host or DEFAULT_SOCKET
        self.api = self.client(settings.docker_timeout)
        self._node_name: str | None = None

    def client(self, timeout: float) -> docker.APIClient:
        """A new connection (a pull's or an event stream's own, with its own timeout)."""
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

    def hostname(self) -> str | None:
        """The engine's hostname (asked once)."""
        if self._node_name is None:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                self._node_name = str(self.api.info().get("Name") or "") or None
        return self._node_name

    @engine_errors("ping")
    def ping(self) -> None:
        self.api.ping()

    @engine_errors("engine info")
    def info(self) -> dict[str, Any]:
        """The engine: version, API version, OS, kernel, CPUs, memory, containers, storage."""
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

    # -- images -----------------------------------------------------------------------

    def _inspect_image(self, image: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = self.api.inspect_image(image)  # type: ignore[no-untyped-call]
        except docker.errors.ImageNotFound:
            return None
        return info

    @engine_errors("image inspect")
    def image_present(self, image: str) -> bool:
        return self._inspect_image(image) is not None

    @engine_errors("image inspect")
    def image_digest(self, image: str) -> str | None:
        """The image's registry digest (``RepoDigests[0]``), else its local Id; None if absent."""
        info = self._inspect_image(image)
        if info is None:
            return None
        digests = info.get("RepoDigests") or []
        return str(digests[0]) if digests else str(info.get("Id") or "") or None

    @engine_errors("image inspect")
    def image_config(self, image: str) -> ImageConfig | None:
        info = self._inspect_image(image)
        if info is None:
            return None
        config = info.get("Config") or {}
        return ImageConfig(
            id=str(info.get("Id") or image),
            entrypoint=tuple(str(a) for a in config.get("Entrypoint") or ()),
            cmd=tuple(str(a) for a in config.get("Cmd") or ()),
            workdir=str(config.get("WorkingDir") or ""),
            labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
        )

    def image_id(self, reference: str) -> str:
        """The local image id (``reference`` itself when absent)."""
        info = self._inspect_image(reference)
        return str(info.get("Id") or reference) if info else reference

    def pull(self, image: str, progress: ProgressCallback) -> None:
        repository, tag = split_image(image)
        client = self.client(self.settings.pull_timeout)
        try:
            for event in client.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise ImageUnavailable(
                        f"cannot pull image {image}: {event['error']}", field="image"
                    )
                progress(event)
        except docker.errors.APIError as exc:
            raise ImageUnavailable(f"cannot pull image {image}: {explain(exc)}") from None
        except (requests.exceptions.RequestException, OSError) as exc:
            raise unavailable("pull", exc) from None
        finally:
            client.close()
        if not self.image_present(image):
            raise ImageUnavailable(f"pull of {image} finished but the image is not there")

    # -- plain containers ---------------------------------------------------------------

    @engine_errors("create container")
    def create_container(self, spec: ContainerSpec) -> str:
        """A plain container on this engine (a Docker bot's, or a config check's)."""
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

    @engine_errors("start container")
    def start(self, container: str) -> None:
        self.api.start(container)

    @engine_errors("stop container")
    def stop(self, container: str, timeout: int) -> None:
        self.api.stop(container, timeout=timeout)

    @engine_errors("restart container")
    def restart(self, container: str, timeout: int) -> None:
        self.api.restart(container, timeout=timeout)

    @engine_errors("remove container")
    def remove(self, container: str) -> None:
        """Kill and remove at once: never waits for a bot that ignores SIGTERM."""
        try:
            self.api.remove_container(container, force=True, v=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and "already in progress" in explain(exc):
                return
            raise

    @engine_errors("inspect container")
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
            node=self.hostname(),
        )

    @engine_errors("list containers")
    def managed_containers(self) -> builtins.list[ManagedContainer]:
        """Every container with this instance's labels (bots and config checks)."""
        found: builtins.list[ManagedContainer] = []
        for item in self.api.containers(all=True, filters=managed_filters(self.settings)):
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

    @engine_errors("run check")
    def run_once(self, spec: ContainerSpec, timeout: float) -> tuple[int, str] | None:
        """Run a one-off container (no network, no restarts) and collect its output.

        None when the container cannot start at all (no such command, or the image
        cannot run with this spec); the caller decides whether that is an error.
        """
        container = self.create_container(spec)
        try:
            try:
                self.api.start(container)
            except docker.errors.APIError as exc:
                log.info("check container did not start: %s", explain(exc)[:200])
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

    @engine_errors("exec")
    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        timeout: float,
        limit: int = EXEC_OUTPUT_LIMIT,
    ) -> ExecResult:
        """Run ``argv`` in a running plain container (``docker exec``): the container's
        own user, no TTY, no stdin. Output past ``limit`` bytes, or a command still
        running after ``timeout`` seconds, is ``RuntimeFailure``; the connection is then
        dropped (the command itself ends when it next writes, or by itself)."""
        stream = self._exec_start(container, argv, timeout)
        out, err, size = bytearray(), bytearray(), 0
        try:
            for chunk in stream:
                size += len(chunk.data)
                if size > limit:
                    raise RuntimeFailure(f"exec: the command printed more than {limit} bytes")
                (err if chunk.stream == "stderr" else out).extend(chunk.data)
        finally:
            stream.close()
        if stream.expired:
            raise RuntimeFailure(f"exec: the command did not finish within {timeout:.0f} s")
        code = self.api.exec_inspect(stream.exec_id).get("ExitCode")
        return ExecResult(
            exit_code=int(code) if isinstance(code, int) else -1,
            stdout=out.decode("utf-8", errors="replace"),
            stderr=err.decode("utf-8", errors="replace"),
        )

    @engine_errors("exec")
    def exec_stream(self, container: str, argv: Sequence[str], *, timeout: float) -> ExecStream:
        """Start ``argv`` as ``exec`` does; its output is read by the caller as it
        comes, until the command ends or ``timeout`` seconds pass (then the reading
        ends; the command goes on unless the caller ends it)."""
        return self._exec_start(container, argv, timeout)

    def _exec_start(self, container: str, argv: Sequence[str], timeout: float) -> EngineExec:
        if not argv:
            raise RuntimeFailure("exec: no command")
        try:
            created = self.api.exec_create(
                container, list(argv), stdout=True, stderr=True, stdin=False, tty=False
            )
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # "container ... is not running" (or paused)
                raise Conflict(f"{container} is not running", field="bot") from None
            raise
        exec_id = str(created["Id"])
        client = self.client(timeout + self.settings.docker_timeout)
        try:
            response = client.post(
                f"{client.base_url}/v{client.api_version}/exec/{exec_id}/start",
                json={"Detach": False, "Tty": False},
                stream=True,
                timeout=(self.settings.docker_timeout, timeout + self.settings.docker_timeout),
            )
        except BaseException:
            client.close()
            raise
        if response.status_code >= 400:
            text = response.text[:300]
            response.close()
            client.close()
            raise RuntimeFailure(f"exec: {text}")
        return EngineExec(DockerExecOutput(response, client), self.api, exec_id, timeout)

    # -- monitoring -------------------------------------------------------------------

    def events(self, since: float | None) -> DockerEventStream:
        """The engine's event stream, filtered to this instance's containers.

        A dedicated connection: the answer's headers must come within the engine
        timeout (a hung engine is ``EngineUnavailable``), then reads wait forever
        (``close`` from another thread ends them).
        """
        filters = {"type": ["container"], **managed_filters(self.settings)}
        params: dict[str, str] = {"filters": json.dumps(filters)}
        if since is not None:
            params["since"] = f"{since:.9f}"
        client = self.client(self.settings.docker_timeout)
        try:
            response = client.get(
                f"{client.base_url}/v{client.api_version}/events",
                params=params,
                stream=True,
                timeout=(self.settings.docker_timeout, self.settings.docker_timeout),
            )
        except (requests.exceptions.RequestException, OSError) as exc:
            client.close()
            raise unavailable("events", exc) from None
        if response.status_code >= 400:
            text = response.text[:300]
            response.close()
            client.close()
            raise RuntimeFailure(f"events: {text}")
        sock = response_socket(response)
        if sock is not None:
            sock.settimeout(None)  # the stream may stay quiet for hours
        return DockerEventStream(response, client)

    @engine_errors("stats")
    def stats(self, container: str) -> StatsSample | None:
        """One one-shot reading (no two-sample wait); None if the container is not running."""
        try:
            raw = self.api.stats(container, stream=False, one_shot=True)
        except docker.errors.NotFound:
            return None
        return stats_sample(raw)

    @engine_errors("logs")
    def logs(
        self,
        path: str,
        *,
        tail: int,
        follow: bool,
        until: float | None = None,
        since: float | None = None,
        timestamps: bool = False,
    ) -> DockerLogStream:
        """``GET /<path>/logs`` (``containers/<id>``, ``services/<name>``; TTY off);
        ``until``/``since``: only lines logged before / from that time (seconds since
        the epoch); ``timestamps``: each line prefixed with its RFC 3339 time."""
        params: dict[str, str | int] = {"stdout": 1, "stderr": 1, "follow": int(follow)}
        params["tail"] = str(tail)
        if until is not None:
            params["until"] = f"{until:.9f}"
        if since is not None:
            params["since"] = f"{since:.9f}"
        if timestamps:
            params["timestamps"] = 1
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


class EngineBackend:
    """The part of a backend that is its engine's as it is: the ``Engine`` it holds (made
    here, or shared), and the operations both runtimes forward to it unchanged. The
    backends add their own way of running bots; neither inherits the other."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or Engine(settings)

    def close(self) -> None:
        self.engine.close()

    def ping(self) -> None:
        self.engine.ping()

    def info(self) -> dict[str, Any]:
        return self.engine.info()

    def image_present(self, image: str) -> bool:
        return self.engine.image_present(image)

    def image_digest(self, image: str) -> str | None:
        return self.engine.image_digest(image)

    def image_config(self, image: str) -> ImageConfig | None:
        return self.engine.image_config(image)

    def pull(self, image: str, progress: ProgressCallback) -> None:
        self.engine.pull(image, progress)

    def run_once(self, spec: ContainerSpec, timeout: float) -> tuple[int, str] | None:
        """A config check: a one-off plain container on this engine, in either runtime."""
        return self.engine.run_once(spec, timeout)

    def events(self, since: float | None) -> DockerEventStream:
        """The engine's events about this instance's containers (a Swarm bot's task
        containers carry its labels too)."""
        return self.engine.events(since)


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


def split_image(image: str) -> tuple[str, str]:
    """``repo:tag`` or ``repo@digest`` as (repository, tag or digest); ``latest`` if none."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"


def ipv4_gateway(network: Mapping[str, Any], *, implied: bool = False) -> str | None:
    """A network's IPv4 gateway; with ``implied``, the subnet's ``.1`` when Docker leaves
    the gateway unsaid (as it does for ``docker_gwbridge``)."""
    for config in (network.get("IPAM") or {}).get("Config") or []:
        gateway = config.get("Gateway")
        if gateway and ":" not in gateway:
            return str(gateway)
        subnet = str(config.get("Subnet") or "")
        if implied and subnet and ":" not in subnet:
            return f"{subnet.split('/', 1)[0].rsplit('.', 1)[0]}.1"
    return None


def _zero_time(value: object) -> str | None:
    if not value or str(value).startswith("0001-01-01"):
        return None
    return str(value)


class EngineExec:
    """A ``docker exec`` under way: its output chunks as they come (``ExecStream``).
    The reading ends after ``timeout`` seconds (``expired``), or when closed."""

    def __init__(
        self, stream: DockerExecOutput, api: docker.APIClient, exec_id: str, timeout: float
    ) -> None:
        self._stream = stream
        self._api = api
        self._exec_id = exec_id
        self._expired = threading.Event()
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()

    @property
    def exec_id(self) -> str:
        return self._exec_id

    @property
    def expired(self) -> bool:
        return self._expired.is_set()

    def _expire(self) -> None:
        self._expired.set()
        self._stream.close()

    def __iter__(self) -> Iterator[LogChunk]:
        try:
            yield from self._stream
        finally:
            self._timer.cancel()

    def close(self) -> None:
        self._timer.cancel()
        self._stream.close()

    def exit_code(self) -> int | None:
        try:
            state = self._api.exec_inspect(self._exec_id)
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
            return None
        if state.get("Running"):  # the output ended a moment before the engine noted it
            time.sleep(0.1)
            with contextlib.suppress(Exception):
                state = self._api.exec_inspect(self._exec_id)
            if state.get("Running"):
                return None
        code = state.get("ExitCode")
        return code if isinstance(code, int) else None
