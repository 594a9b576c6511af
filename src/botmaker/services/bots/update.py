"""Editing a bot: re-render, validate, recreate and start its container.

Any failure puts back the previous definition, secrets and rendering, the previous
keyring grant and key, and the previous container. The old container is untouched
until OpenClaw accepted the new configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botmaker.definition import BotDefinition
from botmaker.errors import BotMakerError, NotFound
from botmaker.openclaw.render import API_KEY_FILE
from botmaker.services.botedit import check_keyring_key, needs_recreate, settings_changes
from botmaker.services.botstate import cause_by
from botmaker.services.definitions import apply_update, patch_secret_files, stale_secret_files
from botmaker.services.deploy import Deployer, run_all
from botmaker.services.schemas import BotUpdate
from botmaker.store import BotRecord

log = logging.getLogger(__name__)


class UpdateBot:
    def __init__(self, deploy: Deployer) -> None:
        self.deploy = deploy

    def update(self, ref: str, patch: BotUpdate) -> BotRecord:
        with self.deploy.locks.hold(self.deploy.store.find_bot(ref).id):
            return self._update(ref, patch)

    def _update(self, ref: str, patch: BotUpdate) -> BotRecord:
        deploy = self.deploy
        old = deploy.ready(ref)
        keyed = old.definition.keyring
        present = set(deploy.secrets.names(old.id))
        definition = apply_update(old, patch, present)
        check_keyring_key(deploy, old, definition, patch)
        new_files = patch_secret_files(patch)
        changes = settings_changes(old.definition, definition)
        if changes and not needs_recreate(changes, sorted(new_files)):
            return self._apply_live(old, definition)
        new_key = new_files.pop(API_KEY_FILE, None) if keyed else None
        # The old provider's key, the old channel's credentials go (never sent to the
        # new ones); put back if the edit fails.
        stale = stale_secret_files(old.definition, definition, new_files, present)
        old_values = {name: deploy.secrets.read(old.id, name) for name in [*new_files, *stale]}
        recreating = False  # the old container is untouched until validation passed
        added: str | None = None
        try:
            if new_files:
                deploy.secrets.write_all(old.id, new_files, uid=old.uid, gid=old.uid)
            for name in stale:
                deploy.secrets.remove_one(old.id, name)
            record = deploy.store.update_bot(old.id, definition=definition)
            if keyed:
                if new_key is not None:  # under the provider the bot uses from now on
                    added = deploy.keyring.client.add_key(
                        definition.provider,
                        new_key,
                        label=f"{old.name} (bot's own key)",
                        bot_id=old.id,
                    ).id
                    definition = definition.model_copy(update={"key_id": added})
                    record = deploy.store.update_bot(old.id, definition=definition)
                deploy.keyring.client.put_bot(old.id, **deploy.grant(record))
            deploy.render(record, "edit")
            record = deploy.validated(record)
            recreating = True
            deploy.recreate(
                record, *cause_by("edit", _changed(changes, sorted(patch_secret_files(patch))))
            )
        except BaseException:
            self._undo(old, old_values, recreate=recreating, added_key=added)
            raise
        replaced = added is not None or definition.provider != old.provider
        if replaced and old.definition.key_id:
            self._forget_key(old.definition.key_id)
        log.info("updated bot %s (%s)", record.name, record.id)
        return record

    def _apply_live(self, old: BotRecord, definition: BotDefinition) -> BotRecord:
        """An edit the keyring alone applies (a budget, a private base URL allowed): the
        row and, for a keyring bot, its grant, in force at once; no new rendering, no new
        container."""
        deploy = self.deploy
        record = deploy.store.update_bot(old.id, definition=definition)
        if not old.definition.keyring:
            log.info("updated bot %s (%s): nothing to apply", record.name, record.id)
            return record
        try:
            deploy.keyring.client.put_bot(old.id, **deploy.grant(record))
        except BaseException:
            run_all(
                [lambda: deploy.store.update_bot(old.id, definition=old.definition)],
                f"rollback of bot {old.id} keyring grant",
            )
            raise
        log.info("updated bot %s (%s): its keyring grant", record.name, record.id)
        return record

    def _forget_key(self, key_id: str) -> None:
        try:
            self.deploy.keyring.client.delete_key(key_id)
        except NotFound:
            pass
        except BotMakerError as exc:
            log.error("the replaced key %s stays in the keyring: %s", key_id, exc.message)

    def _undo(
        self,
        old: BotRecord,
        old_values: dict[str, str | None],
        *,
        recreate: bool,
        added_key: str | None,
    ) -> None:
        deploy = self.deploy
        steps: list[Callable[[], object]] = [
            lambda: deploy.store.update_bot(old.id, model=old.model, definition=old.definition),
            lambda: self._restore_secrets(old, old_values),
            lambda: deploy.render(old, "edit rolled back"),
        ]
        if old.definition.keyring:
            steps.insert(1, lambda: deploy.keyring.client.put_bot(old.id, **deploy.grant(old)))
        if added_key is not None:
            steps.insert(1, lambda: self._forget_key(added_key))
        if recreate:
            steps.append(lambda: deploy.recreate(old, *cause_by("edit undone")))
        run_all(steps, f"rollback of bot {old.id} update")

    def _restore_secrets(self, old: BotRecord, values: dict[str, str | None]) -> None:
        for name, value in values.items():
            if value is None:
                self.deploy.secrets.remove_one(old.id, name)
            else:
                self.deploy.secrets.write_all(old.id, {name: value}, uid=old.uid, gid=old.uid)


def _changed(changes: list[dict[str, Any]], secrets: list[str]) -> str:
    """What an edit changed, in words: setting names and rotated secret names (never a
    value)."""
    names = [str(change["field"]) for change in changes] + [f"{name} (rotated)" for name in secrets]
    shown = ", ".join(names[:6])
    return f"{shown}, +{len(names) - 6} more" if len(names) > 6 else shown
