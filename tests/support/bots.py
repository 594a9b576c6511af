"""Helpers for tests that look at running bots: create one, run commands inside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from botmaker.runtime.policy import container_name
from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from tests.support.waiting import wait_for


@dataclass(frozen=True)
class ExecResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass(frozen=True)
class RunningBot:
    id: str
    name: str
    uid: int
    container: str
    secrets: dict[str, str]


def is_swarm(services: Services) -> bool:
    return services.settings.runtime == "swarm"


def resolve_container(api: docker.APIClient, name: str) -> str:
    """The container behind ``name``: itself, or (Swarm) its service's running task's."""
    try:
        api.inspect_container(name)
    except docker.errors.NotFound:
        pass
    else:
        return name

    def running_task() -> str | None:
        found = api.containers(filters={"label": f"com.docker.swarm.service.name={name}"})
        return str(found[0]["Id"]) if found else None

    return wait_for(running_task, timeout=30, interval=0.1)


def exec_in(api: docker.APIClient, container: str, script: str, *, user: str = "") -> ExecResult:
    """Run ``sh -c script`` in the container (as its own user unless ``user`` is given);
    a bot's service name stands for its running task's container."""
    container = resolve_container(api, container)
    created = api.exec_create(container, ["/bin/sh", "-c", script], user=user)
    out, err = api.exec_start(created["Id"], demux=True)
    code = api.exec_inspect(created["Id"])["ExitCode"]
    return ExecResult(
        code=int(code),
        out=(out or b"").decode("utf-8", "replace"),
        err=(err or b"").decode("utf-8", "replace"),
    )


def http_probe(api: docker.APIClient, container: str, host: str, port: int) -> ExecResult:
    """From inside ``container``, send an HTTP request to host:port with busybox nc.

    ``nc -w 3`` gives up on a silent peer; ``timeout`` guards against nc hanging on
    a peer that accepts but never closes. A reachable HTTP server shows up as an
    ``HTTP/1.`` status line in ``out``.

    The request comes through a FIFO whose writer stays open for a while: busybox
    nc half-closes the connection at the end of its input, and some servers
    (uvicorn, hence BotMaker) drop a half-closed connection without answering.
    """
    return _nc_exchange(
        api, container, host, port, "printf 'GET / HTTP/1.0\\r\\nHost: probe\\r\\n\\r\\n'"
    )


def http_post(
    api: docker.APIClient,
    container: str,
    host: str,
    port: int,
    path: str,
    body: str,
    *,
    bearer_file: str | None = None,
) -> ExecResult:
    """POST ``body`` (JSON) from inside ``container`` with busybox nc (busybox-static's
    wget crashes resolving names); the Bearer token is read from a file in there."""
    quoted = body.replace("'", "'\\''")
    auth = "Authorization: Bearer %s\\r\\n" if bearer_file else "%s"
    token = f'"$(cat {bearer_file})"' if bearer_file else "''"
    writer = (
        f"b='{quoted}'; printf 'POST {path} HTTP/1.0\\r\\nHost: {host}\\r\\n{auth}"
        "Content-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n%s' "
        f'{token} "${{#b}}" "$b"'
    )
    return _nc_exchange(api, container, host, port, writer)


def _nc_exchange(
    api: docker.APIClient, container: str, host: str, port: int, writer: str
) -> ExecResult:
    script = (
        "f=/tmp/probe.$$; mkfifo $f;"
        f" ({writer}; exec sleep 8) > $f &"
        f" timeout 6 nc -w 3 {host} {port} < $f; rc=$?;"
        " kill $! 2>/dev/null; rm -f $f; exit $rc"
    )
    return exec_in(api, container, script)


#: What busybox nc/timeout print when a connection certainly did not get through.
NO_CONNECTION = ("timed out", "refused", "Terminated", "unreachable", "No route")


def blocked_probe(
    api: docker.APIClient, container: str, host: str, port: int, attempts: int = 3
) -> ExecResult:
    """Like :func:`http_probe`, retried until the outcome is conclusive.

    Conclusive means an HTTP answer, or nc reporting why it got no connection. A
    probe killed from outside (exit 137 with no message, seen once on a busy shared
    engine) proves nothing either way, so it is run again.
    """
    result = http_probe(api, container, host, port)
    for _ in range(attempts - 1):
        if "HTTP/1." in result.out or any(word in result.err for word in NO_CONNECTION):
            break
        result = http_probe(api, container, host, port)
    return result


def create_bot(
    services: Services, name: str, secrets: dict[str, str] | None = None, **fields: Any
) -> RunningBot:
    """Create (and start) a bot through BotMaker's own service layer."""
    values = secrets or {"api_key": f"sk-{name}-key", "channel_token": f"{name}:token"}
    body: dict[str, Any] = {
        "name": name,
        "provider": "openai",
        "model": "gpt-5.1",
        "channel": "telegram",
        "secrets": values,
    }
    body.update(fields)
    view = services.bots.create(BotCreate.model_validate(body))
    record = services.store.find_bot(view.record.id)
    return RunningBot(
        id=record.id,
        name=record.name,
        uid=record.uid,
        container=container_name(record.id),
        secrets=dict(values),
    )


def wait_serving(api: docker.APIClient, bot: RunningBot) -> None:
    """Wait until the stand-in's httpd answers on the bot's own loopback."""

    def serving() -> bool:
        return f"ok {bot.name}" in http_probe(api, bot.container, "127.0.0.1", 8080).out

    wait_for(serving, timeout=15, interval=0.2)
