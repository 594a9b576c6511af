"""Deleting a bot, and finishing a delete cut short.

A delete marks the row ``deleting`` first, then revokes the keyring grant and
removes the container, secrets, state and finally the row; every step is
idempotent, so a delete cut short (a crash) can simply be run again — which is what
the reconciler (``services/reconcile.py``) does with rows left behind. The steps
``delete_after_mark`` and ``delete_after_container`` go to the step observer.
"""

from __future__ import annotations

import contextlib
import logging

from botmaker.errors import BotMakerError
from botmaker.runtime.policy import container_name
from botmaker.services.botstate import cause_by
from botmaker.services.deploy import Deployer
from botmaker.store import BotRecord

log = logging.getLogger(__name__)


class DeleteBot:
    def __init__(self, deploy: Deployer) -> None:
        self.deploy = deploy

    def delete(self, ref: str) -> BotRecord:
        """Mark the row ``deleting``, revoke its keyring token, kill and remove the
        container (no stop timeout), then secrets, state and the row.

        If the keyring cannot revoke the token, or (for a bot without one) the engine
        cannot remove the container, nothing is deleted (503) and the row is ``ready``
        again. Returns the row as it was.
        """
        deploy = self.deploy
        record = deploy.store.find_bot(ref)
        with deploy.locks.hold(record.id):
            previous = record.state
            if previous != "deleting":
                record = deploy.store.update_bot(record.id, state="deleting")
            deploy.steps.step("delete_after_mark", record.id)
            keyed = record.definition.keyring
            try:
                self._revoke(record)
            except BotMakerError:
                self._unmark(record, previous)  # keyring down: nothing deleted
                raise
            try:
                with deploy.operations.running(record.id, "remove", *cause_by("delete")):
                    deploy.runtime.remove(container_name(record.id))
            except BotMakerError:
                if not keyed:  # engine down: nothing deleted, the bot stays as it was
                    self._unmark(record, previous)
                raise  # (a revoked bot stays ``deleting``: the reconciler finishes it)
            self._remove_rest(record)
        return record

    def finish(self, record: BotRecord) -> None:
        """The steps of a delete after the row was marked; each one idempotent."""
        self._revoke(record)
        self.deploy.runtime.remove(container_name(record.id))
        self._remove_rest(record)

    def _unmark(self, record: BotRecord, previous: str) -> None:
        if previous == "ready":
            with contextlib.suppress(BotMakerError):
                self.deploy.store.update_bot(record.id, state="ready")

    def _revoke(self, record: BotRecord) -> None:
        if record.definition.keyring:
            self.deploy.keyring.client.delete_bot(record.id)  # down: 503 and nothing deleted

    def _remove_rest(self, record: BotRecord) -> None:
        deploy = self.deploy
        deploy.steps.step("delete_after_container", record.id)
        deploy.secrets.remove(record.id)
        deploy.state.remove(record.id)
        deploy.store.delete_bot(record.id)
        deploy.health.watch(record.id, enabled=False)
        log.info("deleted bot %s (%s)", record.name, record.id)
