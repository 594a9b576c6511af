"""Canary rollouts: move a fleet to an image one bot first, then in batches.

A rollout resolves its image's digest once (after the pull) and creates every new
container from that exact image (``Deployer.pinned``), so all its bots run the same
image even if the tag moves meanwhile; each bot's row keeps the reference given.
Bots already on that reference and digest are ``current`` and skipped, so running
the same rollout again resumes it. The first of the others is the canary, upgraded
alone; the rest follow in batches of ``batch`` bots upgraded at once (each holding
its own lock, as a single upgrade does). A bot whose upgrade ends ``failed``,
``rolled_back`` or ``refused`` is a failure; once the failures exceed
``max_failures`` the rollout pauses after that batch and the bots not reached are
reported ``pending``, untouched.

Every bot gets an ``upgrade_started`` event before its upgrade (then the upgrade's own
``upgraded``/``upgrade_rolled_back``/``upgrade_failed``/``upgrade_refused``), and each
step goes through :meth:`RolloutService.note` — the audited subclass
(``services.audit``) records them: ``rollout.start``, ``bot.upgrade``,
``rollout.batch``, ``rollout.paused``, ``rollout.finish``.

:func:`channel_image` is the image a rollout goes to when none is named:
``BOTMAKER_OPENCLAW_CHANNEL``.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botmaker.config import Settings
from botmaker.errors import BotMakerError
from botmaker.services.rolloutprogress import RolloutProgress
from botmaker.services.upgrades import UpgradeService
from botmaker.store import BotRecord

log = logging.getLogger(__name__)

#: The outcomes of one bot's upgrade that count against ``max_failures``.
FAILURES = frozenset({"failed", "rolled_back", "refused"})
MAX_BATCH = 50
MAX_FAILURES = 1000


# -- the channel --------------------------------------------------------------------


def image_repository(reference: str) -> str:
    """``reference`` without its tag and digest: ``ghcr.io/openclaw/openclaw``."""
    name = reference.split("@", 1)[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def image_tag(reference: str) -> str:
    """The reference's tag (``latest`` when it has none)."""
    name = reference.split("@", 1)[0]
    return name[len(image_repository(name)) + 1 :] or "latest"


def channel_image(settings: Settings) -> str:
    """The image ``BOTMAKER_OPENCLAW_CHANNEL`` names: ``pinned`` is the bot image itself,
    ``latest`` or a version is that tag of the bot image's repository."""
    channel = settings.openclaw_channel
    if channel == "pinned":
        return settings.bot_image
    return f"{image_repository(settings.bot_image)}:{channel}"


# -- the plan -----------------------------------------------------------------------


def is_current(record: BotRecord, image: str, digest: str | None) -> bool:
    """The bot already runs ``image`` at ``digest`` (a rollout skips it)."""
    return digest is not None and record.image == image and record.image_digest == digest


def batches(records: list[BotRecord], size: int) -> list[list[BotRecord]]:
    """The canary alone, then groups of ``size``."""
    if not records:
        return []
    rest = records[1:]
    return [records[:1], *(rest[i : i + size] for i in range(0, len(rest), size))]


def summarize(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    summary: dict[str, int] = {}
    for result in results:
        summary[result["status"]] = summary.get(result["status"], 0) + 1
    return summary


class RolloutService:
    def __init__(self, upgrades: UpgradeService) -> None:
        self.upgrades = upgrades
        self.deploy = upgrades.deploy
        self.settings: Settings = upgrades.deploy.settings
        self.store = upgrades.store
        self.runtime = upgrades.runtime
        self.progress = RolloutProgress()  # the latest rollout, while and after it runs

    def note(self, action: str, target: str, **detail: Any) -> None:
        """A step of a rollout (the audited subclass records it in the audit log)."""
        log.info("%s %s %s", action, target, detail)

    def run(
        self,
        image: str | None = None,
        refs: list[str] | None = None,
        *,
        batch: int = 1,
        max_failures: int = 0,
    ) -> dict[str, Any]:
        """Roll ``image`` (else the channel's) out to the given bots (all ready bots when
        None): the canary, then batches, pausing once failures exceed ``max_failures``.
        One at a time: its progress is :attr:`progress` (409 while one runs)."""
        target = image or channel_image(self.settings)
        records = self._bots(refs)
        self.progress.begin(target, records)
        try:
            outcome = self._run(image, target, records, batch=batch, max_failures=max_failures)
        except BaseException as exc:
            self.progress.abort(exc.message if isinstance(exc, BotMakerError) else repr(exc))
            raise
        self.progress.finish(outcome["digest"], outcome["paused_reason"])
        return outcome

    def _run(
        self,
        image: str | None,
        target: str,
        records: list[BotRecord],
        *,
        batch: int,
        max_failures: int,
    ) -> dict[str, Any]:
        begun = time.monotonic()
        batch = max(1, min(batch, MAX_BATCH))
        self._fetch(target)  # a bad reference fails here, before anything changed
        digest = self.upgrades.digest_of(target)
        current = [r for r in records if is_current(r, target, digest)]
        todo = [r for r in records if not is_current(r, target, digest)]
        plan = batches(todo, batch)
        canary = todo[0] if todo else None
        self.note(
            "rollout.start",
            target,
            digest=digest,
            bots=[r.name for r in todo],
            current=[r.name for r in current],
            canary=canary.name if canary else None,
            batch=batch,
            max_failures=max_failures,
        )
        results: dict[str, dict[str, Any]] = {
            r.id: self._unchanged(r, target, "current", f"already on {target} ({digest})")
            for r in current
        }
        for result in results.values():
            self.progress.result(result)
        failures = 0
        reason: str | None = None
        with self.deploy.pinned(target, digest):
            for index, group in enumerate(plan):
                if reason is not None:
                    why = f"not reached: the rollout paused ({reason})"
                    for record in group:
                        results[record.id] = {
                            **self._unchanged(record, target, "pending", why),
                            "batch": index,
                        }
                        self.progress.result(results[record.id])
                    continue
                done = self._batch(group, target, digest, index)
                results.update((r["id"], r) for r in done)
                failed = [r for r in done if r["status"] in FAILURES]
                failures += len(failed)
                self.note(
                    "rollout.batch",
                    target,
                    batch=index,
                    canary=index == 0,
                    statuses={r["name"]: r["status"] for r in done},
                    failures=failures,
                )
                if failures > max_failures:
                    names = ", ".join(f"{r['name']} {r['status']}" for r in failed)
                    which = "the canary" if index == 0 else f"batch {index}"
                    reason = (
                        f"{failures} failure(s), more than the {max_failures} allowed, "
                        f"after {which} ({names})"
                    )
        ordered = [results[r.id] for r in records]
        summary = summarize(ordered)
        outcome = {"summary": summary, "failures": failures, "paused_reason": reason}
        if reason is not None:
            pending = [r["name"] for r in ordered if r["status"] == "pending"]
            self.note("rollout.paused", target, digest=digest, pending=pending, **outcome)
            log.warning("rollout of %s paused: %s", target, reason)
        else:
            self.note("rollout.finish", target, digest=digest, **outcome)
        return {
            "image": target,
            "digest": digest,
            "channel": self.settings.openclaw_channel if image is None else None,
            "canary": canary.id if canary else None,
            "batch": batch,
            "max_failures": max_failures,
            "batches": [[r.id for r in group] for group in plan],
            "summary": summary,
            "failures": failures,
            "paused": reason is not None,
            "paused_reason": reason,
            "seconds": round(time.monotonic() - begun, 3),
            "results": ordered,
        }

    # -- steps --------------------------------------------------------------------------

    def _bots(self, refs: list[str] | None) -> list[BotRecord]:
        """The bots asked for, each once, in order (all ready bots by name when None)."""
        if refs is None:
            return [r for r in self.store.list_bots() if r.state == "ready"]
        chosen: dict[str, BotRecord] = {}
        for ref in refs:
            record = self.upgrades.ready(ref)
            chosen.setdefault(record.id, record)
        return list(chosen.values())

    def _fetch(self, image: str) -> None:
        """Pull ``image`` if it is missing; a ``latest`` tag is pulled again (the local
        copy serves when the registry does not answer)."""
        if image_tag(image) == "latest" and self.runtime.image_present(image):
            try:
                self.runtime.pull(image, lambda _event: None)
            except BotMakerError as exc:
                log.warning("%s not pulled again, the local copy is used: %s", image, exc.message)
        self.upgrades.images.ensure(image)

    def _batch(
        self, group: list[BotRecord], image: str, digest: str | None, index: int
    ) -> list[dict[str, Any]]:
        if len(group) == 1:
            return [self._one(group[0], image, digest, index)]
        with ThreadPoolExecutor(max_workers=len(group), thread_name_prefix="rollout") as pool:
            # Each upgrade runs in the caller's context: the audit log names who asked.
            futures = [
                pool.submit(contextvars.copy_context().run, self._one, r, image, digest, index)
                for r in group
            ]
            return [future.result() for future in futures]

    def _one(self, record: BotRecord, image: str, digest: str | None, index: int) -> dict[str, Any]:
        role = "canary" if index == 0 else f"batch {index}"
        started = time.time()
        self.progress.upgrading(record.id)
        self.upgrades.event(record.id, "upgrade_started", f"to {image} ({digest}), {role}")
        try:
            with self.deploy.returns_pinned(record):  # a rollback: to the digest it ran
                result = self.upgrades.upgrade_record(record, image)
        except Exception as exc:  # one bot's error is its result, not the rollout's
            message = exc.message if isinstance(exc, BotMakerError) else repr(exc)
            if not isinstance(exc, BotMakerError):
                log.exception("bot %s: upgrade to %s failed", record.name, image)
            detail = f"not upgraded to {image}: {message}"
            self.upgrades.event(record.id, "upgrade_failed", detail)
            result = {
                **self._unchanged(record, image, "failed", detail),
                "rolled_back": False,
            }
        result = {**result, "batch": index, "started_at": started, "finished_at": time.time()}
        self.progress.result(result)
        self.note(
            "bot.upgrade",
            record.name,
            id=record.id,
            image=image,
            digest=result.get("digest"),
            previous_image=record.image,
            status=result["status"],
            batch=index,
        )
        return result

    @staticmethod
    def _unchanged(record: BotRecord, image: str, status: str, detail: str) -> dict[str, Any]:
        """The result of a bot the rollout did not move (its image and digest as they are)."""
        return {
            "id": record.id,
            "name": record.name,
            "status": status,
            "image": image,
            "previous_image": record.image,
            "previous_digest": record.image_digest,
            "digest": record.image_digest,
            "detail": detail,
        }
