"""The Docker Swarm backend: each bot is a replicated service of one replica.

A bot ``botmaker-<id>`` is a service of that name (scaled to 0 while stopped), with
its own overlay network and its secret files as Swarm secrets. Everything else is
this node's engine's (``engine.Engine``, shared with the Docker backend): images,
events (task containers carry the bot's labels), config checks (one-off plain
containers on this node), engine errors. A name that is not a bot service's (a task's
or a check's container id, from the monitor or the orphans' clean-up) is a plain
container: see ``SwarmBackend._plain``.

What a service cannot express (API 1.41) is refused or documented, never dropped
silently: see ``service_spec`` and README's "Docker Swarm" section.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors

from botmaker.config import ConfigError, Settings
from botmaker.errors import Conflict, NotFound, RuntimeFailure
from botmaker.fsutil import atomic_write
from botmaker.runtime.base import (
    EXEC_OUTPUT_LIMIT,
    MISSING,
    ContainerSpec,
    ExecResult,
    ExecStream,
    ManagedContainer,
    RuntimeStatus,
    StatsSample,
)
from botmaker.runtime.engine import Engine, EngineBackend, engine_errors, explain, ipv4_gateway
from botmaker.runtime.hostguard import ForwardGuard
from botmaker.runtime.policy import LABEL_BOT_ID, SECRETS_TARGET, managed_filters, managed_labels
from botmaker.runtime.streams import DockerLogStream
from botmaker.secrets import valid_secret_name

log = logging.getLogger(__name__)

LABEL_SECRET_FILE = "botmaker.secret-file"  # noqa: S105 - a label name
LABEL_IMAGE = "botmaker.image"
TASK_LABEL = "com.docker.swarm.task.id"
SERVICE_LABEL = "com.docker.swarm.service.name"
GWBRIDGE = "docker_gwbridge"
RESTART_DELAY_NS = 2_000_000_000  # between a bot's exit and its next task
#: Task states before ``running`` (the task is being scheduled, pulled or started).
_PENDING = frozenset(
    {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
)
_SERVICE_NAME = re.compile(r"^botmaker-([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})$")
_FRACTION = re.compile(r"\.(\d+)")


def bot_network(settings: Settings, bot_id: str) -> str:
    """The bot's own overlay network."""
    return f"{settings.network}-{bot_id}"


def _swarm_duration(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def tmpfs_volume(spec: ContainerSpec, target: str) -> str:
    """The name of a bot's tmpfs volume for ``target`` (``/home/bot`` → ``…-home-bot``)."""
    return f"{spec.name}{target.replace('/', '-')}"


def service_spec(
    spec: ContainerSpec,
    *,
    image: str,
    network: str,
    secret_refs: Iterable[Mapping[str, Any]],
    constraints: Iterable[str],
    replicas: int,
) -> dict[str, Any]:
    """THE translation of the policy's hardened ``ContainerSpec`` to a Swarm service spec.

    Carried over: labels (service and container), env, user, hostname, read-only root,
    cap drop ALL / no cap add, init, tmpfs with its size (``noexec,nosuid,nodev`` are
    the engine's defaults for service tmpfs), memory, CPUs, pids, the json-file log
    driver with its rotation, a restart policy (``any``, as ``unless-stopped``), the
    stop grace period, the bot's writable state folder as a bind mount, and its tmpfs
    with the same mount options (as tmpfs-backed local volumes, see below).

    Not expressible for a service on API 1.41, and handled elsewhere: the secrets
    bind (replaced by Swarm secrets), ``no-new-privileges`` (the engine's own
    default must provide it, checked by ``SwarmBackend``), ``memory_swap`` (the
    engine derives it: twice the memory limit where swap is accounted), ``ipc=private``
    (the engine's default IPC mode, private) and published ports (bots publish none).
    """
    if spec.cap_add:
        raise RuntimeFailure("a bot service must not add capabilities")
    mounts: list[dict[str, Any]] = [
        {"Type": "bind", "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}
        for m in spec.mounts
        if m.target != SECRETS_TARGET  # Swarm secrets instead
    ]
    for target, options in spec.tmpfs.items():
        # A service tmpfs mount takes only a size and a mode, and runc then gives it the
        # image folder's owner and mode (root, 755: the bot could not write its HOME).
        # A local volume of type tmpfs takes the policy's options as they are (uid,
        # gid, mode, size, noexec...); NoCopy keeps the image's files and owner out. It
        # is mounted afresh for each task, and removed with the bot.
        mounts.append(
            {
                "Type": "volume",
                "Source": tmpfs_volume(spec, target),
                "Target": target,
                "VolumeOptions": {
                    "NoCopy": True,
                    "Labels": dict(spec.labels),
                    "DriverConfig": {
                        "Name": "local",
                        "Options": {"type": "tmpfs", "device": "tmpfs", "o": options},
                    },
                },
            }
        )
    container: dict[str, Any] = {
        "Image": image,
        "Labels": dict(spec.labels),
        "Hostname": spec.hostname,
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "User": spec.user,
        "ReadOnly": spec.read_only_rootfs,
        "CapabilityDrop": list(spec.cap_drop),
        "Init": spec.init,
        "Mounts": mounts,
        "Secrets": [dict(ref) for ref in secret_refs],
        "StopGracePeriod": _swarm_duration(spec.stop_timeout),
        "TTY": False,
    }
    if spec.command:
        container["Args"] = list(spec.command)
    if spec.entrypoint:
        container["Command"] = list(spec.entrypoint)
    return {
        "Name": spec.name,
        "Labels": dict(spec.labels),
        "TaskTemplate": {
            "ContainerSpec": container,
            "Resources": {
                "Limits": {
                    "NanoCPUs": spec.nano_cpus,
                    "MemoryBytes": spec.memory_bytes,
                    "Pids": spec.pids_limit,
                }
            },
            "RestartPolicy": {
                "Condition": "none" if spec.restart_policy == "no" else "any",
                "Delay": RESTART_DELAY_NS,
                "MaxAttempts": 0,
            },
            "Placement": {"Constraints": list(constraints)},
            "LogDriver": {"Name": spec.log_driver, "Options": dict(spec.log_options)},
            "Networks": [{"Target": network}],
            "ForceUpdate": 0,
        },
        "Mode": {"Replicated": {"Replicas": replicas}},
        "UpdateConfig": {"Parallelism": 1, "Order": "stop-first", "FailureAction": "pause"},
        "EndpointSpec": {"Mode": "vip"},
    }


def _time(text: object) -> float:
    """A Swarm timestamp (nanoseconds, any number of digits) in seconds; 0 if unknown."""
    value = str(text or "")
    if not value or value.startswith("0001-01-01"):
        return 0.0
    value = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _replicas(service: Mapping[str, Any]) -> int:
    mode = (service.get("Spec") or {}).get("Mode") or {}
    return int((mode.get("Replicated") or {}).get("Replicas") or 0)


def _task_state(task: Mapping[str, Any]) -> str:
    return str((task.get("Status") or {}).get("State") or "")


def _newest(tasks: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return max(tasks, key=lambda t: _time(t.get("CreatedAt")), default=None)


def _address(task: Mapping[str, Any], network: str) -> str | None:
    for attachment in task.get("NetworksAttachments") or ():
        name = ((attachment.get("Network") or {}).get("Spec") or {}).get("Name")
        addresses = attachment.get("Addresses") or ()
        if name == network and addresses:
            return str(addresses[0]).split("/", 1)[0]
    return None


def service_status(
    service: Mapping[str, Any],
    tasks: Iterable[Mapping[str, Any]],
    *,
    network: str,
    nodes: Mapping[str, str],
    host_addresses: Mapping[str, str] | None = None,
) -> RuntimeStatus:
    """A bot's status from its service and tasks, in the Docker backend's terms.

    No task yet: ``created``. The newest task running: ``running``; being scheduled
    or started: ``created`` (first start) or ``restarting`` (after the bot ended by
    itself). Scaled to 0 with the last task ended: ``exited`` with its exit code.
    A bot that ended while it should run (Swarm replaces it): ``restarting``.

    ``address`` is where the host reaches the task: its ``docker_gwbridge`` address
    (``host_addresses``, by container id, for tasks on this node), else its address
    on the bot's overlay network (which only other tasks on that network reach).
    """
    tasks = builtins.list(tasks)
    replicas = _replicas(service)
    ended_by_itself = [t for t in tasks if _task_state(t) in ("complete", "failed", "rejected")]
    restarts = len(ended_by_itself)
    newest = _newest(tasks)
    if newest is None:
        return RuntimeStatus(state="created", detail="not started", restart_count=0)
    status = newest.get("Status") or {}
    state = _task_state(newest)
    container = status.get("ContainerStatus") or {}
    exit_code = container.get("ExitCode")
    node = nodes.get(str(newest.get("NodeID") or ""))
    common: dict[str, Any] = {
        "container_id": str(container.get("ContainerID") or "") or None,
        "restart_count": restarts,
        "node": node,
        "detail": str(status.get("Err") or status.get("Message") or "") or None,
    }
    if state == "running":
        on_host = (host_addresses or {}).get(common["container_id"] or "")
        return RuntimeStatus(
            state="running",
            started_at=str(status.get("Timestamp") or "") or None,
            address=on_host or _address(newest, network),
            **common,
        )
    if state in _PENDING or state == "":
        previous = [t for t in tasks if t is not newest]
        came_back = bool(previous) and _task_state(_newest(previous) or {}) != "shutdown"
        return RuntimeStatus(state="restarting" if came_back else "created", **common)
    # The newest task ended: stopped by BotMaker (scaled to 0) or ended by itself.
    if replicas > 0 and state in ("complete", "failed", "rejected", "orphaned"):
        return RuntimeStatus(
            state="restarting", exit_code=_int(exit_code), finished_at=_stamp(status), **common
        )
    return RuntimeStatus(
        state="exited",
        exit_code=_int(exit_code) if exit_code is not None else 0,
        finished_at=_stamp(status),
        **common,
    )


def _int(value: object) -> int | None:
    return int(str(value)) if value is not None and str(value).lstrip("-").isdigit() else None


def _stamp(status: Mapping[str, Any]) -> str | None:
    return str(status.get("Timestamp") or "") or None


class SwarmBackend(EngineBackend):
    """Bots as one-replica services of the Swarm this engine manages."""

    #: A bot's status is its service's tasks, which the managers update after the task
    #: container's events (and a scale to 0 is a service event): every read lists.
    status_follows_events = False

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        super().__init__(settings, engine)
        self.api = self.engine.api
        self._node_id: str | None = None
        self._node_names: dict[str, str] = {}
        self._secret_key: bytes | None = None
        self._forward_guard: ForwardGuard | None = None
        self._guarded: builtins.list[str] = []
        self._host_ports: set[int] = set(settings.bot_host_ports)

    @property
    def _sw(self) -> Any:
        """The client, for docker-py's swarm calls (untyped in its stubs)."""
        return self.api

    @staticmethod
    def _plain(container: str) -> bool:
        """Not a bot service's name: a plain container's (a task's or a check's) name or id,
        which the engine handles as the Docker backend does."""
        return _SERVICE_NAME.match(container) is None

    # -- the swarm ----------------------------------------------------------------------

    @engine_errors("swarm")
    def check_swarm(self) -> str:
        """This engine's node id; ``ConfigError`` unless it is a swarm manager that can
        run bots with every hardening the policy asks for."""
        if self._node_id is not None:
            return self._node_id
        info = self.api.info()
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise ConfigError(
                "BOTMAKER_RUNTIME=swarm: this Docker engine is not a swarm manager "
                f"(swarm state: {swarm.get('LocalNodeState') or 'inactive'}); run "
                "`docker swarm init` on it (or join it to a swarm as a manager), "
                "or set BOTMAKER_RUNTIME=docker",
                field="BOTMAKER_RUNTIME",
            )
        options = " ".join(info.get("SecurityOptions") or ())
        if "no-new-privileges" not in options and not self.settings.swarm_allow_new_privileges:
            raise ConfigError(
                "BOTMAKER_RUNTIME=swarm: Swarm services cannot set no-new-privileges, so the "
                "engine must set it for every container: start dockerd with "
                '--no-new-privileges (or "no-new-privileges": true in daemon.json); '
                "BOTMAKER_SWARM_ALLOW_NEW_PRIVILEGES=true runs bots without it",
                field="BOTMAKER_RUNTIME",
            )
        self._node_id = str(swarm.get("NodeID"))
        return self._node_id

    def ensure_network(self) -> None:
        """Swarm mode: each bot gets its own network at create; here, check the swarm."""
        self.check_swarm()

    @staticmethod
    def forward_guard(settings: Settings) -> ForwardGuard:
        """The instance's chain keeping its bots from going around the egress proxy."""
        name = hashlib.sha256(settings.instance.encode()).hexdigest()[:12]
        return ForwardGuard(GWBRIDGE, name)

    def guard_egress(self, addresses: Iterable[str]) -> None:
        if self._forward_guard is None:
            self._forward_guard = self.forward_guard(self.settings)
        self._guarded = list(addresses)
        self._forward_guard.apply(self._guarded, self._host_ports)

    def allow_host_port(self, port: int) -> None:
        """One of the host ports bots may reach (keyring, egress proxy). Bots reach the
        host through ``docker_gwbridge``; with the egress proxy on, the instance's
        :class:`ForwardGuard` lets them reach these ports alone (README, *Egress*)."""
        self._host_ports.add(port)
        if self._forward_guard is not None:
            self._forward_guard.apply(self._guarded, self._host_ports)

    @engine_errors("bot network")
    def network_gateway(self) -> str:
        """The host's address on ``docker_gwbridge``, which every task container on a
        non-internal overlay network is attached to (ICC off): where bots reach host
        services such as the keyring proxy. Bots on internal networks reach nothing."""
        self.check_swarm()
        try:
            info = self.api.inspect_network(GWBRIDGE)
        except docker.errors.NotFound:
            with contextlib.suppress(docker.errors.APIError):
                self.api.create_network(
                    GWBRIDGE,
                    driver="bridge",
                    options={
                        "com.docker.network.bridge.name": GWBRIDGE,
                        "com.docker.network.bridge.enable_icc": "false",
                        "com.docker.network.bridge.enable_ip_masquerade": "true",
                    },
                )
            info = self.api.inspect_network(GWBRIDGE)
        gateway = ipv4_gateway(info, implied=True)
        if gateway is None:
            raise RuntimeFailure(f"{GWBRIDGE} has no IPv4 gateway")
        return gateway

    def _ensure_bot_network(self, bot_id: str) -> str:
        name = bot_network(self.settings, bot_id)
        try:
            self.api.inspect_network(name)
            return name
        except docker.errors.NotFound:
            pass
        options = {"encrypted": ""} if self.settings.swarm_encrypt_network else {}
        try:
            self.api.create_network(
                name,
                driver="overlay",
                attachable=True,
                internal=self.settings.network_internal,
                options=options,
                labels={**managed_labels(self.settings), LABEL_BOT_ID: bot_id},
                check_duplicate=True,
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
        return name

    # -- secrets ----------------------------------------------------------------------

    def _secret_digest(self, bot_id: str, name: str, value: bytes) -> str:
        """A keyed digest of a secret file: tells versions apart, reveals nothing."""
        if self._secret_key is None:
            folder = self.settings.data_dir
            path = folder / "swarm-secrets.key"
            try:
                self._secret_key = path.read_bytes()
            except FileNotFoundError:
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write(
                    folder, path.name, secrets.token_bytes(32), uid=os.getuid(), gid=os.getgid()
                )
                self._secret_key = path.read_bytes()
        message = b"\0".join((bot_id.encode(), name.encode(), value))
        return hmac.new(self._secret_key, message, hashlib.sha256).hexdigest()[:12]

    def _bot_secrets(self, bot_id: str) -> builtins.list[dict[str, Any]]:
        found: builtins.list[dict[str, Any]] = self._sw.secrets(
            filters={"label": [f"{LABEL_BOT_ID}={bot_id}"]}
        )
        return found

    def _ensure_secrets(
        self, spec: ContainerSpec, bot_id: str, uid: str
    ) -> builtins.list[dict[str, Any]]:
        """One Swarm secret per file of the bot's secrets folder (a new version when its
        content changed); the references the service needs."""
        folder = next((Path(m.source) for m in spec.mounts if m.target == SECRETS_TARGET), None)
        if folder is None or not folder.is_dir():
            return []
        existing = {str(s["Spec"]["Name"]): str(s["ID"]) for s in self._bot_secrets(bot_id)}
        refs: builtins.list[dict[str, Any]] = []
        for path in sorted(folder.iterdir()):
            if not valid_secret_name(path.name) or not path.is_file():
                continue
            value = path.read_bytes()
            digest = self._secret_digest(bot_id, path.name, value)
            name = f"botmaker-{bot_id[:8]}-{path.name[:30]}-{digest}"
            secret_id = existing.get(name)
            if secret_id is None:
                try:
                    secret_id = str(
                        self.api.create_secret(
                            name,
                            value,
                            labels={
                                **managed_labels(self.settings),
                                LABEL_BOT_ID: bot_id,
                                LABEL_SECRET_FILE: path.name,
                            },
                        )["ID"]
                    )
                except docker.errors.APIError as exc:
                    if exc.status_code != 409:
                        raise
                    secret_id = str(self.api.inspect_secret(name)["ID"])
            refs.append(
                {
                    "SecretID": secret_id,
                    "SecretName": name,
                    "File": {"Name": path.name, "UID": uid, "GID": uid, "Mode": 0o400},
                }
            )
        return refs

    def _remove_secrets(self, bot_id: str, keep: Iterable[str] = ()) -> None:
        kept = set(keep)
        for secret in self._bot_secrets(bot_id):
            if secret["ID"] in kept:
                continue
            for attempt in range(20):
                try:
                    self.api.remove_secret(secret["ID"])
                    break
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError as exc:  # still in use by a going service
                    if attempt == 19:
                        raise
                    log.debug("secret %s not removed yet: %s", secret["ID"], explain(exc))
                    time.sleep(0.25)

    # -- services ---------------------------------------------------------------------

    def _service(self, name: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = self._sw.inspect_service(name)
        except docker.errors.NotFound:
            return None
        return info

    def _service_tasks(self, service: Mapping[str, Any]) -> builtins.list[dict[str, Any]]:
        found: builtins.list[dict[str, Any]] = self._sw.tasks(filters={"service": service["ID"]})
        return [t for t in found if t.get("ServiceID") == service["ID"]]

    def _node_hostnames(self, refresh: bool = False) -> dict[str, str]:
        if refresh or not self._node_names:
            self._node_names = {
                str(n["ID"]): str((n.get("Description") or {}).get("Hostname") or "")
                for n in self.api.nodes()
            }
        return self._node_names

    def _hostnames_for(self, tasks: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        names = self._node_hostnames()
        if any(str(t.get("NodeID") or "") not in names for t in tasks if t.get("NodeID")):
            names = self._node_hostnames(refresh=True)
        return names

    def _host_addresses(self) -> dict[str, str]:
        """Task containers' addresses on this node's ``docker_gwbridge`` (where the host,
        and so the gateway health probes, reach them), by container id. Bots on internal
        networks have none (and the call is not made)."""
        if self.settings.network_internal:
            return {}
        try:
            info = self.api.inspect_network(GWBRIDGE)
        except docker.errors.NotFound:
            return {}
        return {
            str(key): str(endpoint.get("IPv4Address") or "").split("/", 1)[0]
            for key, endpoint in (info.get("Containers") or {}).items()
            if endpoint.get("IPv4Address")
        }

    def _constraints(self) -> builtins.list[str]:
        """Pinned to this node (the state folder is a bind mount here), plus the setting's."""
        return [f"node.id=={self.check_swarm()}", *self.settings.swarm_constraints]

    @engine_errors("create service")
    def create(self, spec: ContainerSpec) -> str:
        """The bot's service, scaled to 0 (``start`` scales it to 1).

        If the service exists (a create run again, or a changed configuration), it is
        updated in place: new secret versions first, then the service, then the old
        secret versions go.
        """
        bot_id = spec.labels.get(LABEL_BOT_ID)
        if not bot_id:
            return self.engine.create_container(spec)  # not a bot: a plain container
        network = self._ensure_bot_network(bot_id)
        refs = self._ensure_secrets(spec, bot_id, spec.user.split(":", 1)[0])
        current = self._service(spec.name)
        body = service_spec(
            spec,
            image=self.engine.image_id(spec.image),  # an id is never pulled (no registry)
            network=network,
            secret_refs=refs,
            constraints=self._constraints(),
            replicas=_replicas(current) if current else 0,
        )
        body["Labels"][LABEL_IMAGE] = spec.image
        if current is None:
            created = self._sw.create_service(
                body["TaskTemplate"],
                name=body["Name"],
                labels=body["Labels"],
                mode=body["Mode"],
                update_config=body["UpdateConfig"],
                endpoint_spec=body["EndpointSpec"],
            )
            service_id = str(created["ID"])
        else:
            service_id = str(current["ID"])
            before = _newest(self._service_tasks(current))
            self._in_sequence(spec.name, lambda service: self._update(service, body))
            if _replicas(current) > 0:  # the running task is replaced: wait for the new one
                previous = str(before["ID"]) if before else ""
                self._wait_started(spec.name, previous, self._start_timeout())
        self._remove_secrets(bot_id, keep={ref["SecretID"] for ref in refs})
        return service_id

    def recreate(self, spec: ContainerSpec) -> str:
        """A changed configuration: the service is updated in place (rotated secrets are
        new Swarm secret versions; the old versions are removed after the update)."""
        return self.create(spec)

    def _update(self, current: Mapping[str, Any], body: dict[str, Any]) -> None:
        force = int(((current.get("Spec") or {}).get("TaskTemplate") or {}).get("ForceUpdate") or 0)
        template = {**body["TaskTemplate"], "ForceUpdate": force + 1}  # a new task, always
        self._write(current, {**body, "TaskTemplate": template})

    def _write(self, current: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
        """Replace the service's spec (at the version ``current`` was read at)."""
        self.api.update_service(
            current["ID"],
            int(current["Version"]["Index"]),
            task_template=spec["TaskTemplate"],
            name=spec.get("Name"),
            labels=spec.get("Labels"),
            mode=spec.get("Mode"),
            update_config=spec.get("UpdateConfig"),
            endpoint_spec=spec.get("EndpointSpec"),
        )

    def _in_sequence(self, name: str, update: Callable[[dict[str, Any]], None]) -> None:
        """Run ``update`` on the service's current version; again (a few times) when the
        managers changed it in between ("update out of sequence": e.g. just after its
        create, while they allocate its addresses)."""
        for attempt in range(10):
            service = self._service(name)
            if service is None:
                raise NotFound(f"no service {name}")
            try:
                update(service)
                return
            except docker.errors.APIError as exc:
                if "out of sequence" not in explain(exc) or attempt == 9:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _change(self, name: str, *, replicas: int | None = None, force: bool = False) -> str:
        """Scale the service and/or force new tasks; returns the newest task id before."""
        service = self._service(name)
        if service is None:
            raise NotFound(f"no service {name}")
        before = _newest(self._service_tasks(service))
        self._in_sequence(name, lambda current: self._scale(current, replicas, force=force))
        return str(before["ID"]) if before else ""

    def _scale(self, service: Mapping[str, Any], replicas: int | None, *, force: bool) -> None:
        spec = dict(service["Spec"])
        template = dict(spec["TaskTemplate"])
        if force:
            template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
        spec["TaskTemplate"] = template
        if replicas is not None:
            spec["Mode"] = {"Replicated": {"Replicas": replicas}}
        self._write(service, spec)

    def _wait_started(self, name: str, previous: str, timeout: float) -> None:
        """Until a task newer than ``previous`` runs (or ended: the bot's own business,
        as with ``docker start``); a task Swarm cannot even start is an error."""
        deadline = time.monotonic() + timeout
        while True:
            service = self._service(name)
            if service is None:
                raise NotFound(f"service {name} went away while starting")
            newest = _newest(self._service_tasks(service))
            if newest is not None and newest["ID"] != previous:
                state = _task_state(newest)
                error = str((newest.get("Status") or {}).get("Err") or "")
                if state == "rejected" or (state == "pending" and "no suitable node" in error):
                    raise RuntimeFailure(f"start {name}: {error or state}")
                if state not in _PENDING:
                    return
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"start {name}: no task running after {timeout:.0f} s")
            time.sleep(0.1)

    def _start_timeout(self) -> float:
        return max(30.0, self.settings.docker_timeout * 6)

    @engine_errors("start service")
    def start(self, container: str) -> None:
        if self._plain(container):
            self.engine.start(container)
            return
        service = self._service(container)
        if service is None:
            raise NotFound(f"no service {container}")
        newest = _newest(self._service_tasks(service))
        if _replicas(service) >= 1 and newest is not None and _task_state(newest) == "running":
            return  # already running, as ``docker start`` on a running container
        before = self._change(container, replicas=1)
        self._wait_started(container, before, self._start_timeout())

    @engine_errors("stop service")
    def stop(self, container: str, timeout: int) -> None:
        """Scale to 0 and wait (bounded) until no task of it is left running."""
        if self._plain(container):
            self.engine.stop(container, timeout)
            return
        self._change(container, replicas=0)
        deadline = time.monotonic() + timeout + 15
        while time.monotonic() < deadline:
            service = self._service(container)
            if service is None:
                return
            tasks = self._service_tasks(service)
            if not any(_task_state(t) == "running" or _task_state(t) in _PENDING for t in tasks):
                return
            time.sleep(0.1)
        raise RuntimeFailure(f"stop {container}: a task still runs after {timeout + 15} s")

    @engine_errors("restart service")
    def restart(self, container: str, timeout: int) -> None:
        """A forced update: a new task replaces the running one."""
        if self._plain(container):
            self.engine.restart(container, timeout)
            return
        service = self._service(container)
        if service is None:
            raise NotFound(f"no service {container}")
        before = self._change(container, replicas=max(1, _replicas(service)), force=True)
        self._wait_started(container, before, self._start_timeout() + timeout)

    @engine_errors("remove service")
    def remove(self, container: str) -> None:
        """Remove the service at once (its task container killed, not stopped), then the
        bot's network and secrets. Idempotent."""
        service = self._service(container)
        bot_id: str | None = None
        if service is not None:
            labels = (service.get("Spec") or {}).get("Labels") or {}
            bot_id = labels.get(LABEL_BOT_ID)
            name = str((service.get("Spec") or {}).get("Name") or container)
            with contextlib.suppress(docker.errors.NotFound):
                self._sw.remove_service(service["ID"])
        else:
            match = _SERVICE_NAME.match(container)
            if match is None:
                self.engine.remove(container)  # a plain container (a config check's)
                return
            bot_id, name = match.group(1), container
        self._kill_tasks(name)
        if bot_id:
            self._remove_network(bot_network(self.settings, bot_id))
            self._remove_secrets(bot_id)
            self._remove_volumes(bot_id)

    def _remove_volumes(self, bot_id: str) -> None:
        """The bot's tmpfs volumes on this node (they hold nothing once unmounted)."""
        found = self.api.volumes(filters={"label": f"{LABEL_BOT_ID}={bot_id}"}) or {}
        for volume in found.get("Volumes") or ():
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_volume(volume["Name"], force=True)

    def _kill_tasks(self, service_name: str) -> None:
        """Remove the service's task containers on this node now (no stop timeout)."""
        filters = {"label": [f"{SERVICE_LABEL}={service_name}"]}
        for item in self.api.containers(all=True, filters=filters):
            with contextlib.suppress(docker.errors.NotFound, Conflict):
                self.engine.remove(str(item["Id"]))

    def _remove_network(self, name: str) -> None:
        deadline = time.monotonic() + 15
        while True:
            try:
                self.api.remove_network(name)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as exc:  # endpoints still being released
                if time.monotonic() > deadline:
                    raise
                log.debug("network %s not removed yet: %s", name, explain(exc))
                time.sleep(0.2)

    # -- status -------------------------------------------------------------------------

    @engine_errors("inspect service")
    def status(self, container: str) -> RuntimeStatus:
        if self._plain(container):
            return self.engine.status(container)  # a task's (or check's) container, by id
        service = self._service(container)
        if service is None:
            return MISSING
        tasks = self._service_tasks(service)
        bot_id = str(service["Spec"]["Labels"].get(LABEL_BOT_ID) or "")
        result = service_status(
            service,
            tasks,
            network=bot_network(self.settings, bot_id),
            nodes=self._hostnames_for(tasks),
            host_addresses=self._host_addresses(),
        )
        if result.container_id and result.state in ("running", "exited"):
            # On this node: the container's own exact times and OOM flag.
            with contextlib.suppress(docker.errors.NotFound):
                state = self.api.inspect_container(result.container_id).get("State") or {}
                oom = bool(state.get("OOMKilled"))
                started = str(state.get("StartedAt") or "") or result.started_at
                return RuntimeStatus(
                    **{**result.__dict__, "oom_killed": oom, "started_at": started}
                )
        return result

    @engine_errors("list services")
    def list(self) -> dict[str, RuntimeStatus]:
        """Every bot service of this instance, by bot id: services, tasks, and (bots on
        non-internal networks) docker_gwbridge; the nodes' names are cached."""
        filters = managed_filters(self.settings)
        services = [
            s for s in self._sw.services(filters=filters) if s["Spec"]["Labels"].get(LABEL_BOT_ID)
        ]
        if not services:
            return {}
        by_service: dict[str, builtins.list[dict[str, Any]]] = {s["ID"]: [] for s in services}
        tasks = self._sw.tasks(filters=filters)
        for task in tasks:
            if task.get("ServiceID") in by_service:
                by_service[task["ServiceID"]].append(task)
        nodes = self._hostnames_for(tasks)
        on_host = self._host_addresses()
        result: dict[str, RuntimeStatus] = {}
        for service in services:
            bot_id = str(service["Spec"]["Labels"][LABEL_BOT_ID])
            result[bot_id] = service_status(
                service,
                by_service[service["ID"]],
                network=bot_network(self.settings, bot_id),
                nodes=nodes,
                host_addresses=on_host,
            )
        return result

    @engine_errors("list services")
    def managed_containers(self) -> builtins.list[ManagedContainer]:
        """The instance's bot services (as their bots' "containers") and its plain
        containers (config checks); task containers belong to their services."""
        filters = managed_filters(self.settings)
        found = [
            ManagedContainer(
                id=str(s["ID"]),
                name=str(s["Spec"]["Name"]),
                bot_id=s["Spec"]["Labels"].get(LABEL_BOT_ID) or None,
                state="running" if _replicas(s) else "exited",
                created=_time(s.get("CreatedAt")),
            )
            for s in self._sw.services(filters=filters)
        ]
        plain = self.engine.managed_containers()
        task_filter = {"label": [*filters["label"], TASK_LABEL]}
        tasks = {str(c["Id"]) for c in self.api.containers(all=True, filters=task_filter)}
        return found + [c for c in plain if c.id not in tasks]

    # -- logs and stats -------------------------------------------------------------------

    @engine_errors("logs")
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
        """The service's logs (every task's, TTY off), demultiplexed like a container's."""
        kind = "containers" if self._plain(container) else "services"
        return self.engine.logs(
            f"{kind}/{container}",
            tail=tail,
            follow=follow,
            until=until,
            since=since,
            timestamps=timestamps,
        )

    @engine_errors("stats")
    def stats(self, container: str) -> StatsSample | None:
        """One reading of the running task's container (on this node)."""
        if not self._plain(container):
            current = self.status(container)
            if not current.running or not current.container_id:
                return None
            container = current.container_id
        return self.engine.stats(container)

    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        timeout: float,
        limit: int = EXEC_OUTPUT_LIMIT,
    ) -> ExecResult:
        """Run ``argv`` in the service's running task container, which must be on this
        node: the engine BotMaker talks to can reach no other node's containers."""
        if self._plain(container):
            return self.engine.exec(container, argv, timeout=timeout, limit=limit)
        task, elsewhere = self._task_here(container)
        try:
            return self.engine.exec(task, argv, timeout=timeout, limit=limit)
        except NotFound:
            raise elsewhere from None

    def exec_stream(self, container: str, argv: Sequence[str], *, timeout: float) -> ExecStream:
        """``exec_stream`` in the service's running task container, on this node."""
        if self._plain(container):
            return self.engine.exec_stream(container, argv, timeout=timeout)
        task, elsewhere = self._task_here(container)
        try:
            return self.engine.exec_stream(task, argv, timeout=timeout)
        except NotFound:
            raise elsewhere from None

    def _task_here(self, container: str) -> tuple[str, Conflict]:
        """The id of the service's running task container on this node, and the
        conflict to raise when it turns out to be elsewhere."""
        current = self.status(container)
        if not current.running or not current.container_id:
            raise Conflict(f"{container} is not running", field="bot")
        here = self.engine.hostname()
        elsewhere = Conflict(
            f"{container} runs on node {current.node or '(unknown)'}, not on this one "
            f"({here or 'unknown'}): BotMaker can run commands only in bots on its own node",
            field="bot",
        )
        if current.node and here and current.node != here:
            raise elsewhere
        return current.container_id, elsewhere

    @engine_errors("nodes")
    def nodes(self) -> builtins.list[dict[str, Any]]:
        """The swarm's nodes, with how many of this instance's bots run on each."""
        running: dict[str, int] = {}
        filters = {**managed_filters(self.settings), "desired-state": ["running"]}
        for task in self._sw.tasks(filters=filters):
            if _task_state(task) == "running":
                node_id = str(task.get("NodeID") or "")
                running[node_id] = running.get(node_id, 0) + 1
        result = []
        for node in self.api.nodes():
            description = node.get("Description") or {}
            resources = description.get("Resources") or {}
            spec = node.get("Spec") or {}
            result.append(
                {
                    "id": str(node["ID"]),
                    "hostname": description.get("Hostname"),
                    "role": spec.get("Role"),
                    "state": (node.get("Status") or {}).get("State"),
                    "availability": spec.get("Availability"),
                    "leader": bool((node.get("ManagerStatus") or {}).get("Leader")),
                    "cpus": int(resources.get("NanoCPUs") or 0) / 1e9,
                    "memory_bytes": resources.get("MemoryBytes"),
                    "engine_version": (description.get("Engine") or {}).get("EngineVersion"),
                    "bots": running.get(str(node["ID"]), 0),
                }
            )
        return result
