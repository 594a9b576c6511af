"""Image upgrades: move bots to a new image, never to one that cannot run them.

An upgrade of one bot: pull the image once (``ImageService``), then a preflight
(``services/deploy/preflight.py``): in a throwaway container of the NEW image, on a
copy of the bot's state and without a network, OpenClaw validates the config, its
``doctor --fix`` migrates the copy, OpenClaw validates the result and the gateway must
start and say ready. A refusal (OpenClaw's own words) leaves the bot untouched.
Then, holding the bot's lock throughout, the row points at the new image, the
migrated ``openclaw.json`` is put in place (a ``config_changed`` event), the container
is recreated through the deployment core (``services/deploy``) and must become
healthy — the gateway's ``/healthz`` and ``/readyz`` for OpenClaw images; for images
without a gateway, running and not restarting for ``settle`` seconds. If it does not
within ``BOTMAKER_UPGRADE_TIMEOUT`` seconds, the previous config and image are put
back and the bot recreated on them. The digest of the image a bot runs is stored on
its row. ``BOTMAKER_VALIDATE_CONFIG=never`` skips the preflight. Fleets go through
``services/rollout.py`` (a canary, then batches).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from botmaker.errors import BotMakerError, Conflict
from botmaker.runtime.base import Backend
from botmaker.runtime.policy import container_name
from botmaker.services.botstate import cause_by
from botmaker.services.deploy import Deployer
from botmaker.services.deploy.preflight import Preflight, Preflighter
from botmaker.services.health import probe
from botmaker.store import BotRecord, Store

log = logging.getLogger(__name__)

#: Restarts by the restart policy during the wait that prove a crash loop at once.
CRASH_LOOP_RESTARTS = 3


class UpgradeService:
    def __init__(self, deploy: Deployer, *, settle: float = 5.0, poll: float = 0.5) -> None:
        self.deploy = deploy
        self.preflight = Preflighter(deploy)
        self.store: Store = deploy.store
        self.images = deploy.images
        self.runtime: Backend = deploy.runtime
        self.timeout = deploy.settings.upgrade_timeout
        self.settle = settle
        self.poll = poll

    # -- use cases --------------------------------------------------------------------

    def upgrade(self, ref: str, image: str) -> dict[str, Any]:
        """Upgrade one bot; a result saying ``upgraded``, ``rolled_back`` or ``failed``."""
        record = self.ready(ref)
        self.images.ensure(image)  # a bad reference fails here, before anything changed
        pinned = self.deploy.pinned(image, self.digest_of(image))  # created from that digest
        with pinned, self.deploy.returns_pinned(record):  # a rollback: to the digest it ran
            return self.upgrade_record(record, image)

    def upgrade_many(
        self,
        image: str | None,
        refs: list[str] | None,
        *,
        batch: int = 1,
        max_failures: int = 0,
    ) -> dict[str, Any]:
        """A canary rollout of the given bots (all when None): ``services.rollout``."""
        from botmaker.services.rollout import RolloutService  # it builds on this one

        return RolloutService(self).run(image, refs, batch=batch, max_failures=max_failures)

    # -- one bot ----------------------------------------------------------------------

    def ready(self, ref: str) -> BotRecord:
        record = self.store.find_bot(ref)
        if record.state != "ready":
            raise Conflict(f"bot {record.name} is {record.state}, not ready", field="id")
        return record

    def upgrade_record(self, old: BotRecord, image: str) -> dict[str, Any]:
        with self.deploy.locks.hold(old.id):  # the reconciler keeps away meanwhile
            return self._run(self.ready(old.id), image)

    def _run(self, old: BotRecord, image: str) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": old.id,
            "name": old.name,
            "image": image,
            "previous_image": old.image,
            "previous_digest": old.image_digest,
            "rolled_back": False,
        }
        flight: Preflight | None = None
        if self.deploy.settings.validate_config != "never":
            try:  # the new OpenClaw on a copy of the bot's config, its gateway started
                flight = self.preflight.run(old, image)
            except BotMakerError as exc:
                detail = f"{image} refused before the bot was touched: {exc.message}"
                self.event(old.id, "upgrade_refused", detail)
                log.warning("bot %s: %s", old.name, detail)
                return {**result, "status": "refused", "digest": old.image_digest, "detail": detail}
        moved = old.definition.model_copy(update={"image": image, "previous_image": old.image})
        record = self.store.update_bot(old.id, definition=moved)
        try:
            if flight is not None and flight.cli is not None:
                record = self.deploy.carries(record, flight.cli)
            else:  # no preflight: the new image's OpenClaw (if any) validates the config
                record = self.deploy.validated(record)
        except BotMakerError as exc:
            self.store.update_bot(old.id, definition=old.definition)
            detail = f"{image} refuses the bot's configuration: {exc.message}"
            self.event(old.id, "upgrade_failed", detail)
            return {**result, "status": "failed", "digest": old.image_digest, "detail": detail}
        try:
            if flight is not None:
                self.preflight.adopt(record, flight, image)
            self.deploy.recreate(record, *cause_by("upgrade", f"to {image}"))
            healthy, detail = self._wait_healthy(record)
        except BotMakerError as exc:
            healthy, detail = False, exc.message
        if healthy:
            digest = self.digest_of(image)
            self.store.update_bot(old.id, image_digest=digest)
            note = f"upgraded from {old.image} to {image} ({digest})"
            if flight is not None and flight.report is not None:
                note = f"{note}; {flight.summary()}"
            self.event(old.id, "upgraded", note)
            log.info("bot %s: %s", old.name, note)
            return {**result, "status": "upgraded", "digest": digest, "detail": detail}
        if flight is not None:
            self.preflight.put_back(record, flight)
        return self._roll_back(old, image, detail, result)

    def _roll_back(
        self, old: BotRecord, image: str, why: str, result: dict[str, Any]
    ) -> dict[str, Any]:
        back = old.definition.model_copy(update={"previous_image": image})
        record = self.store.update_bot(old.id, definition=back)
        detail = (
            f"not healthy on {image} within {self.timeout:g} s ({why}); rolled back to {old.image}"
        )
        try:
            self.deploy.recreate(record, *cause_by("upgrade", f"rolled back to {old.image}"))
            digest = old.image_digest or self.digest_of(old.image)
            self.store.update_bot(old.id, image_digest=digest)
        except BotMakerError as exc:
            detail = f"{detail}, but it did not start again: {exc.message}"
            self.event(old.id, "upgrade_failed", detail)
            log.error("bot %s: %s", old.name, detail)
            return {**result, "status": "failed", "digest": old.image_digest, "detail": detail}
        self.event(old.id, "upgrade_rolled_back", detail)
        log.warning("bot %s: %s", old.name, detail)
        return {
            **result,
            "status": "rolled_back",
            "rolled_back": True,
            "digest": digest,
            "detail": detail,
        }

    def _wait_healthy(self, record: BotRecord) -> tuple[bool, str]:
        """Wait for the recreated container: gateway ready, or up and steady."""
        name = container_name(record.id)
        gateway = self.store.get_bot(record.id).definition.gateway
        health = self.deploy.health
        deadline = time.monotonic() + self.timeout
        first_restarts: int | None = None
        steady: tuple[object, ...] | None = None
        steady_since = 0.0
        detail = "not started yet"
        while True:
            status = self.runtime.status(name)
            now = time.monotonic()
            restarts = status.restart_count or 0
            if first_restarts is None:
                first_restarts = restarts
            if restarts - first_restarts >= CRASH_LOOP_RESTARTS:
                return False, f"restarted {restarts - first_restarts} times (exit code loop)"
            if status.state == "running":
                if gateway:
                    if status.address:
                        ok, detail = probe(status.address, health.timeout, health.port)
                        if ok:
                            return True, "gateway ready"
                else:
                    key = (status.container_id, restarts, status.started_at)
                    if key != steady:
                        steady, steady_since = key, now
                    elif now - steady_since >= self.settle:
                        return True, f"running, steady for {self.settle:g} s"
                    detail = "running"
            else:
                steady = None
                code = f", exit code {status.exit_code}" if status.exit_code is not None else ""
                detail = f"container {status.state}{code}"
            if now >= deadline:
                return False, detail
            time.sleep(self.poll)

    def digest_of(self, image: str) -> str | None:
        """The digest of a local image (None when the engine cannot tell)."""
        try:
            return self.runtime.image_digest(image)
        except BotMakerError:
            return None

    def event(self, bot_id: str, kind: str, detail: str) -> None:
        """Record a bot event; a store that cannot take it is logged, not raised."""
        try:
            self.store.add_bot_event(bot_id, kind=kind, at=time.time(), detail=detail)
        except BotMakerError as exc:
            log.warning("event %s of bot %s not recorded: %s", kind, bot_id, exc.message)
