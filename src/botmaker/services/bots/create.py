"""Creating a bot, and taking back a create cut short.

A create is: row (``creating``) → keyring grant → secrets → render → image →
container → start → ``ready``; any failure undoes every step taken, so a bad or
failed create leaves no row, no folder and no container. The steps are reported to
the step observer (``after_row``, ``after_secrets``, ``after_container``,
``after_start``), where the crash-safety tests kill the process.
"""

from __future__ import annotations

import logging
import secrets
import uuid

from botmaker.openclaw.catalog import PROVIDERS
from botmaker.openclaw.render import API_KEY_FILE, GATEWAY_TOKEN_FILE, KEYRING_TOKEN_FILE
from botmaker.runtime.policy import container_name
from botmaker.services.definitions import build_definition, secret_files
from botmaker.services.deploy import Deployer
from botmaker.services.schemas import BotCreate
from botmaker.store import BotRecord

log = logging.getLogger(__name__)


class CreateBot:
    def __init__(self, deploy: Deployer) -> None:
        self.deploy = deploy

    def create(self, request: BotCreate, *, owner: str | None = None) -> BotRecord:
        team = None if request.team is None else self.deploy.store.accounts.find_team(request.team)
        keyed = self.uses_keyring(request)
        definition = build_definition(request, keyring=keyed, image=self.deploy.settings.bot_image)
        if keyed and request.secrets.api_key is None:
            self.deploy.require_shared_key(request.provider, request.key_tags)
        bot_id = str(uuid.uuid4())
        with self.deploy.locks.hold(bot_id):
            record = self.deploy.insert(
                bot_id, request.name, definition, owner_id=owner, team_id=team.id if team else None
            )
            record = self._deploy(request, record, keyed)
        log.info("created bot %s (%s)", record.name, record.id)
        return record

    def uses_keyring(self, request: BotCreate) -> bool:
        return self.keyed(request.provider, own_key=request.secrets.api_key is not None)

    def keyed(self, provider: str, *, own_key: bool) -> bool:
        """Keyed providers go through the keyring when it is on (keyless ones need not)."""
        if not self.deploy.keyring.enabled:
            return False
        return own_key or PROVIDERS[provider].key_required

    def _deploy(self, request: BotCreate, record: BotRecord, keyed: bool) -> BotRecord:
        deploy, bot_id = self.deploy, record.id
        container_attempted = registered = False
        try:
            deploy.steps.step("after_row", bot_id)
            files = {**secret_files(request), GATEWAY_TOKEN_FILE: secrets.token_urlsafe(32)}
            if keyed:  # the provider key goes to the keyring; the bot gets a token for it
                registered = True
                record, files[KEYRING_TOKEN_FILE] = deploy.register(
                    record, files.pop(API_KEY_FILE, None)
                )
            deploy.secrets.write_all(bot_id, files, uid=record.uid, gid=record.uid)
            deploy.steps.step("after_secrets", bot_id)
            deploy.images.ensure(record.image)  # the first engine call: a hung engine fails here
            deploy.render(record, "create")
            record = deploy.validated(record)  # an OpenClaw image: its gateway gets probed
            container_attempted = True
            record = deploy.create_container(record)
            deploy.steps.step("after_container", bot_id)
            deploy.runtime.start(container_name(bot_id))
            deploy.steps.step("after_start", bot_id)
            return deploy.store.update_bot(bot_id, state="ready")
        except BaseException:
            deploy.undo_create(bot_id, remove_container=container_attempted, keyring=registered)
            raise

    def undo(self, bot_id: str) -> None:
        """Take back every step of a create cut short (the reconciler, after a crash).

        The keyring grant goes first; if the keyring cannot be reached this raises and
        leaves everything else, so a later pass can try again.
        """
        deploy = self.deploy
        record = deploy.store.get_bot(bot_id)
        if record.definition.keyring or deploy.keyring.enabled:
            deploy.keyring.client.delete_bot(bot_id)  # idempotent; raises when down
        deploy.runtime.remove(container_name(bot_id))
        deploy.secrets.remove(bot_id)
        deploy.state.remove(bot_id)
        deploy.store.delete_bot(bot_id)
        deploy.health.watch(bot_id, enabled=False)
