"""Reconciliation: converge rows, labelled containers, folders and keyring grants.

At start-up and every ``BOTMAKER_RECONCILE_INTERVAL`` seconds (a background thread
of the API server, never of the CLI) one pass:

- undoes a create cut short: a row still ``creating`` that no operation of this
  process works on — at start-up at once (nothing can be in flight then), later
  once it is older than the grace period (a CLI create may be running) — loses its
  keyring grant, container, secrets, state and row;
- finishes a delete cut short: a row ``deleting`` (the delete steps are idempotent);
- recreates and starts the missing container of a ``ready`` row (its configuration
  is the truth);
- at start-up, asks the image of each ``ready`` bot that has no OpenClaw CLI on record
  whether it carries OpenClaw (once per image id), so a gateway stored before
  BotMaker read every image layout gets probed for health;
- removes this instance's labelled containers and bot folders that have no row, once
  older than the grace period (``GET /api/admin/orphans`` is the dry run).

Unlabelled containers and other instances' containers are never touched. Each
action is returned (``POST /api/admin/reconcile``) and logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

from botmaker.errors import BotMakerError, NotFound
from botmaker.runtime.base import Backend
from botmaker.runtime.policy import container_name
from botmaker.services.bots import BotService
from botmaker.services.loop import BackgroundLoop
from botmaker.services.orphans import OrphanService
from botmaker.store import BotRecord, Store

log = logging.getLogger(__name__)

#: A ``creating`` row younger than this (seconds) may be a create still running elsewhere.
MIN_CREATING_GRACE = 120.0


class Reconciler:
    def __init__(
        self,
        store: Store,
        runtime: Backend,
        bots: BotService,
        orphans: OrphanService,
        *,
        interval: float,
        grace: float | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.bots = bots
        self.orphans = orphans
        self.interval = interval
        self.grace = 2 * interval if grace is None else grace
        self.creating_grace = max(self.grace, MIN_CREATING_GRACE) if grace is None else grace
        self._lock = threading.Lock()  # one pass at a time
        self.passes = 0
        self.actions: Counter[str] = Counter()  # actions taken so far, by kind (metrics)
        self._stale: set[str] = set()  # creating rows found at start-up: stale for good
        self._startup = True  # the background loop's first pass is the start-up one
        self.loop = BackgroundLoop("reconciler", self._background_pass, lambda: self.interval)

    # -- one pass ---------------------------------------------------------------------

    def run_once(self, *, startup: bool = False) -> list[dict[str, Any]]:
        """Converge once; returns what was done (``action``, ``bot_id``, ...)."""
        with self._lock:
            actions: list[dict[str, Any]] = []
            try:
                managed = self.runtime.managed_containers()
            except BotMakerError as exc:
                log.warning("reconcile skipped: the engine does not answer (%s)", exc.message)
                return [{"action": "skipped", "message": exc.message}]
            present = {c.bot_id for c in managed if c.bot_id and c.name == container_name(c.bot_id)}
            for record in self.store.list_bots():
                action = self._converge(record, present, startup=startup)
                if action is not None:
                    actions.append(action)
            actions.extend(self._orphans())
            self.passes += 1
            for action in actions:
                log.info("reconcile: %s", action)
                self.actions[str(action.get("action", "unknown"))] += 1
            return actions

    def _converge(
        self, record: BotRecord, present: set[str], *, startup: bool
    ) -> dict[str, Any] | None:
        unasked = startup and record.state == "ready" and not record.definition.openclaw_cli
        if record.state == "ready" and record.id in present and not unasked:
            return None  # the common case: no claim, no engine call
        if record.state == "creating":
            if startup:
                self._stale.add(record.id)
            elif record.id not in self._stale and _age(record.created_at) < self.creating_grace:
                return None
        with self.bots.deploy.locks.claim(record.id) as free:
            if not free:
                return None  # an operation of this process works on it now
            try:
                record = self.store.get_bot(record.id)  # the state may have moved on
            except NotFound:
                return None
            base = {"bot_id": record.id, "name": record.name}
            try:
                if record.state == "creating":
                    self.bots.creator.undo(record.id)
                    return {**base, "action": "undid_create"}
                if record.state == "deleting":
                    self.bots.deleter.finish(record)
                    return {**base, "action": "finished_delete"}
                if unasked and self.bots.deploy.learn_openclaw(record).definition.gateway:
                    base["openclaw"] = "found"  # stored before any image layout was read
                missing = record.id not in present
                if missing and self.runtime.status(container_name(record.id)).state == "missing":
                    self.bots.deploy.restore_container(record)
                    return {**base, "action": "recreated_container"}
                if "openclaw" in base:
                    return {**base, "action": "found_openclaw_gateway"}
            except BotMakerError as exc:
                log.error("reconcile of bot %s failed: %s", record.id, exc.message)
                return {**base, "action": "failed", "state": record.state, "message": exc.message}
        return None

    def _orphans(self) -> list[dict[str, Any]]:
        actions: list[dict[str, Any]] = []
        try:
            found = self.orphans.report()
        except BotMakerError as exc:
            return [{"action": "failed", "kind": "orphans", "message": exc.message}]
        for kind, items in found.items():
            for item in items:
                age = item.get("age_seconds")
                if age is not None and age < self.grace:
                    continue  # a leftover only once it has stayed one for a while
                try:
                    self.orphans.remove(kind, item)
                except BotMakerError as exc:
                    actions.append(
                        {"action": "failed", "kind": kind, **item, "message": exc.message}
                    )
                else:
                    actions.append({"action": "removed_orphan", "kind": kind, **item})
        return actions

    # -- the background thread --------------------------------------------------------

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def _background_pass(self) -> None:
        self.run_once(startup=self._startup)
        self._startup = False


def _age(stamp: str) -> float:
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")
    return time.time() - then
