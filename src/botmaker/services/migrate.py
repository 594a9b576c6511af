"""Moving every bot between runtimes (``BOTMAKER_RUNTIME=docker`` ⇄ ``swarm``).

The store records the runtime its bots run on. BotMaker refuses to start on another
one while bots exist (its reconciler would recreate them beside the old ones);
``botmaker migrate-runtime <runtime>``, run while BotMaker is stopped, moves them.

A bot's state folder and secrets folder stay where they are on this host: the
Docker backend bind-mounts them, the Swarm backend bind-mounts the state (pinned to
this node) and turns the secret files into Swarm secrets. So a move is, per bot:
stop and remove it on the old runtime (gracefully, so OpenClaw flushes its state),
render its configuration for the new one (the keyring proxy's address may differ),
create it there and start it if it should run; a bot that does not come up is put
back on the old runtime, and the move stops there.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botmaker.config import ConfigError, Settings
from botmaker.errors import BotMakerError, InvalidInput
from botmaker.runtime.base import Backend
from botmaker.runtime.policy import container_name
from botmaker.store import BotRecord, Store

if TYPE_CHECKING:
    from botmaker.services import Services

RUNTIME_SETTING = "runtime"
RUNTIMES = ("docker", "swarm")


def check_runtime(settings: Settings, store: Store) -> None:
    """The bots must run on ``BOTMAKER_RUNTIME``; with no bot, the store follows it."""
    recorded = store.get_setting(RUNTIME_SETTING)
    if recorded == settings.runtime:
        return
    if recorded is not None and any(r.state != "deleting" for r in store.list_bots()):
        raise ConfigError(
            f"the bots run on {recorded}, not on BOTMAKER_RUNTIME={settings.runtime}: "
            f"with BotMaker stopped, run `botmaker migrate-runtime {settings.runtime}` "
            f"to move them, or set BOTMAKER_RUNTIME={recorded}",
            field="BOTMAKER_RUNTIME",
        )
    store.set_setting(RUNTIME_SETTING, settings.runtime)


def migrate_runtime(
    settings: Settings,
    target: str,
    *,
    progress: Callable[[dict[str, Any]], None] = lambda _: None,
    start_timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """Move every bot to ``target``; returns one result per bot (``moved``/``failed``).

    ``settings`` are the install's, whatever their ``runtime``; on success the store
    records ``target``, and BotMaker must then be started with that runtime.
    """
    from botmaker.services import build_services, make_backend  # the layer's composition root

    if target not in RUNTIMES:
        raise InvalidInput(f"runtime must be docker or swarm, not {target!r}", field="runtime")
    target_settings = replace(settings, runtime=target)
    svc = build_services(target_settings, check_runtime=False)
    try:
        source = svc.store.get_setting(RUNTIME_SETTING) or "docker"
        stuck = [r.name for r in svc.store.list_bots() if r.state != "ready"]
        if stuck:
            raise InvalidInput(
                f"bots half-created or half-deleted: {', '.join(stuck)}; start BotMaker once "
                "so its reconciler finishes them, stop it, then move",
                field="runtime",
            )
        if source == target:
            return []
        old = make_backend(replace(settings, runtime=source))
        results: list[dict[str, Any]] = []
        try:
            for record in svc.store.list_bots():
                result = _move(svc, old, record, source, target, start_timeout)
                results.append(result)
                progress(result)
                if result["result"] != "moved":
                    return results  # the rest stay where they are, on the old runtime
            svc.store.set_setting(RUNTIME_SETTING, target)
            return results
        finally:
            old.close()
    finally:
        svc.close()


def _move(
    svc: Services, old: Backend, record: BotRecord, source: str, target: str, timeout: float
) -> dict[str, Any]:
    with svc.deploy.locks.hold(record.id):
        return _move_held(svc, old, record, source, target, timeout)


def _move_held(
    svc: Services, old: Backend, record: BotRecord, source: str, target: str, timeout: float
) -> dict[str, Any]:
    name = container_name(record.id)
    deploy = svc.deploy
    base = {"id": record.id, "name": record.name, "from": source, "to": target}
    run = record.desired == "running"
    if old.status(name).state != "missing":
        old.stop(name, deploy.settings.stop_timeout)
        old.remove(name)
    rendered = False
    try:
        if record.definition.keyring:
            deploy.render(record, "migrate")  # the proxy's address as bots on ``target`` reach it
            rendered = True
        deploy.restore_container(
            record, "runtime migration"
        )  # created on ``target``, started if it should run
        if run:
            _wait_running(svc.runtime, name, timeout)
    except BotMakerError as exc:
        _back(svc, old, record, rendered, run)
        return {**base, "result": "failed", "message": exc.message}
    return {**base, "result": "moved", "running": run}


def _wait_running(runtime: Backend, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = runtime.status(name)
        if status.running:
            return
        if time.monotonic() > deadline:
            raise InvalidInput(
                f"the bot did not run on the new runtime within {timeout:.0f} s "
                f"({status.summary}{': ' + status.detail if status.detail else ''})",
                field="runtime",
            )
        time.sleep(0.25)


def _back(svc: Services, old: Backend, record: BotRecord, rendered: bool, run: bool) -> None:
    """Put a bot whose move failed back on the old runtime, as it was."""
    name = container_name(record.id)
    deploy = svc.deploy
    with contextlib.suppress(BotMakerError):  # nothing may have been created there
        svc.runtime.remove(name)
    if rendered:
        deploy.state.restore_previous(record.id, uid=record.uid)
    old.ensure_network()
    old.create(deploy.container_spec(record))
    if run:
        old.start(name)
