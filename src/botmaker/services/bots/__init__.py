"""The bot use cases behind one object: what the API, pages and CLI call.

Each use case is its own module, and each calls the deployment core
(``services/deploy``) for rendering, validation, containers and the per-bot lock:

- ``create``: a new bot, rolled back entirely on any failure;
- ``update``: an edit, the previous configuration put back on any failure;
- ``lifecycle``: start, stop, restart;
- ``delete``: a delete, and finishing one cut short;
- ``queries``: rows, live statuses, events, logs.

``BotService`` only delegates, returning a ``BotView`` (row plus live status) where
callers want one.
"""

from __future__ import annotations

import builtins
from typing import Any

from botmaker.runtime.base import LogStream
from botmaker.services.bots.create import CreateBot
from botmaker.services.bots.delete import DeleteBot
from botmaker.services.bots.lifecycle import Lifecycle
from botmaker.services.bots.queries import BotQueries
from botmaker.services.bots.update import UpdateBot
from botmaker.services.bots.views import BotView, uptime
from botmaker.services.deploy import Deployer
from botmaker.services.schemas import BotCreate, BotUpdate
from botmaker.services.statuses import StatusCache
from botmaker.store import BotRecord

__all__ = ["BotService", "BotView", "uptime"]


class BotService:
    def __init__(self, deploy: Deployer, statuses: StatusCache) -> None:
        self.deploy = deploy
        self.queries = BotQueries(deploy, statuses)
        self.creator = CreateBot(deploy)
        self.updater = UpdateBot(deploy)
        self.lifecycle = Lifecycle(deploy)
        self.deleter = DeleteBot(deploy)
        # What other parts read through the bots (the same objects, not copies).
        self.statuses = statuses
        self.crashloops = self.queries.crashloops
        self.channels = self.queries.channels
        self.health = deploy.health
        self.secrets = deploy.secrets
        self.state = deploy.state

    # -- changes ----------------------------------------------------------------------

    def create(self, request: BotCreate, *, owner: str | None = None) -> BotView:
        """Create a bot owned by the user ``owner`` (an id), in ``request.team``."""
        return self.get(self.creator.create(request, owner=owner).id)

    def update(self, ref: str, patch: BotUpdate) -> BotView:
        return self.get(self.updater.update(ref, patch).id)

    def start(self, ref: str) -> BotView:
        return self.get(self.lifecycle.start(ref).id)

    def stop(self, ref: str) -> BotView:
        return self.get(self.lifecycle.stop(ref).id)

    def restart(self, ref: str) -> BotView:
        return self.get(self.lifecycle.restart(ref).id)

    def delete(self, ref: str) -> BotRecord:
        """Delete the bot; returns its row as it was."""
        return self.deleter.delete(ref)

    # -- queries ----------------------------------------------------------------------

    def list(self) -> list[BotView]:
        return self.queries.list()

    def names(self) -> dict[str, str]:
        return self.queries.names()

    def get(self, ref: str) -> BotView:
        return self.queries.get(ref)

    def live(self, bot_id: str) -> BotView:
        return self.queries.live(bot_id)

    def record(self, ref: str) -> BotRecord:
        """A bot's stored row by id or name (no engine call)."""
        return self.deploy.store.find_bot(ref)

    def events(self, ref: str, *, limit: int, before: int | None) -> builtins.list[dict[str, Any]]:
        return self.queries.events(ref, limit=limit, before=before)

    def diagnosis(self, ref: str) -> dict[str, Any]:
        return self.queries.diagnosis(ref)

    def gateway_token(self, ref: str) -> str:
        return self.queries.gateway_token(ref)

    def logs(
        self,
        ref: str,
        *,
        tail: int,
        follow: bool,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> LogStream:
        return self.queries.logs(
            ref, tail=tail, follow=follow, since=since, until=until, timestamps=timestamps
        )

    @property
    def open_log_streams(self) -> int:
        return self.queries.log_streams.open
