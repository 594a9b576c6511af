"""Starting, stopping and restarting a bot, remembering whether it should run.

``desired`` (``running``/``stopped``) is what the reconciler restores a container
removed by hand to. A start of a bot whose container is gone recreates it.
"""

from __future__ import annotations

from botmaker.runtime.policy import container_name
from botmaker.services.deploy import Deployer
from botmaker.store import BotRecord


class Lifecycle:
    def __init__(self, deploy: Deployer) -> None:
        self.deploy = deploy

    def start(self, ref: str) -> BotRecord:
        deploy = self.deploy
        bot_id = deploy.store.find_bot(ref).id
        with deploy.locks.hold(bot_id), deploy.operations.running(bot_id, "start"):
            record = deploy.want(deploy.ready(ref), "running")
            if self._missing(record):
                deploy.images.ensure(record.image)
                record = deploy.create_container(record)  # removed by hand: recreate it
            deploy.runtime.start(container_name(record.id))
            return record

    def stop(self, ref: str) -> BotRecord:
        """Stop the bot: SIGTERM, then ``BOTMAKER_STOP_TIMEOUT`` seconds for OpenClaw to
        drain its work and exit before the engine kills it. The bot shows ``stopping``
        at once and ``stopped`` after, whatever its exit code."""
        deploy = self.deploy
        record = deploy.ready(ref)
        with deploy.locks.hold(record.id), deploy.operations.running(record.id, "stop"):
            record = deploy.want(record, "stopped")
            if not self._missing(record):
                deploy.runtime.stop(container_name(record.id), deploy.settings.stop_timeout)
            return record

    def restart(self, ref: str) -> BotRecord:
        deploy = self.deploy
        record = deploy.ready(ref)
        with deploy.locks.hold(record.id), deploy.operations.running(record.id, "restart"):
            if self._missing(record):
                return self.start(record.id)
            record = deploy.want(record, "running")
            deploy.runtime.restart(container_name(record.id), deploy.settings.stop_timeout)
            return record

    def _missing(self, record: BotRecord) -> bool:
        return self.deploy.runtime.status(container_name(record.id)).state == "missing"
