"""Reading bots: rows, live statuses, events, the gateway token and logs (no changes)."""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from botmaker.errors import NotFound
from botmaker.openclaw.render import GATEWAY_TOKEN_FILE
from botmaker.runtime.base import MISSING, LogChunk, LogStream, RuntimeStatus
from botmaker.runtime.policy import container_name
from botmaker.services.bots.views import BotView
from botmaker.services.botstate import Probing
from botmaker.services.channels import ChannelBook
from botmaker.services.configdiff import CONFIG_CHANGED
from botmaker.services.crashloop import CrashLoops
from botmaker.services.deploy import Deployer
from botmaker.services.statuses import StatusCache
from botmaker.store import BotRecord

#: Lines of log a diagnosis shows.
LOG_TAIL = 50


class BotQueries:
    def __init__(self, deploy: Deployer, statuses: StatusCache) -> None:
        self.store = deploy.store
        self.runtime = deploy.runtime
        self.secrets = deploy.secrets
        self.health = deploy.health
        self.operations = deploy.operations
        self.probes_on = deploy.settings.health_interval > 0
        self.statuses = statuses  # fed by the monitor's event stream
        self.crashloops = CrashLoops()  # fed by the monitor too
        self.channels = ChannelBook()  # fed by the channel watch
        self.log_streams = StreamCount()

    def list(self) -> list[BotView]:
        statuses = self.statuses.current()  # kept by the event stream, else one engine call
        return [
            self.view(record, self.status_of(record, statuses.get(record.id)))
            for record in self.store.list_bots()
        ]

    def view(
        self,
        record: BotRecord,
        status: RuntimeStatus,
        secret_names: builtins.list[str] | None = None,
    ) -> BotView:
        """The bot as callers see it, its state weighed from every source
        (``services/botstate``): the engine's status (with health), what was asked, the
        operation under way, its channels, whether it is probed."""
        return BotView(
            record,
            status,
            secret_names,
            self.channels.report(record.id),
            operation=self.operations.current(record.id),
            probing=self.probing(record),
        )

    def state(self, record: BotRecord, status: RuntimeStatus) -> str:
        """The bot's state (``status.summary`` in the API) from its judged status."""
        return str(self.view(record, status).status_dict()["summary"])

    def probing(self, record: BotRecord) -> Probing:
        if not self.probes_on:
            return Probing(False, "health probes are off (BOTMAKER_HEALTH_INTERVAL=0)")
        if not self.health.watching(record.id):
            return Probing(
                False, "BotMaker does not probe it: its image has no OpenClaw gateway it knows"
            )
        return Probing(True)

    def names(self) -> dict[str, str]:
        """Bot names by id (no engine call)."""
        return {record.id: record.name for record in self.store.list_bots()}

    def get(self, ref: str) -> BotView:
        record = self.store.find_bot(ref)
        status = self.runtime.status(container_name(record.id))
        return self.view(record, self.status_of(record, status), self.secrets.names(record.id))

    def live(self, bot_id: str) -> BotView:
        """A bot with its live status (one inspect, also cached), without its secret names."""
        token = self.statuses.token(bot_id)
        try:
            record = self.store.get_bot(bot_id)
        except NotFound:
            self.statuses.forget(bot_id)
            raise
        status = self.runtime.status(container_name(record.id))
        self.statuses.put(record.id, status, token)
        return self.view(record, self.status_of(record, status))

    def events(self, ref: str, *, limit: int, before: int | None) -> builtins.list[dict[str, Any]]:
        """A bot's recorded events, newest first (``before``: an event id, to page back)."""
        record = self.store.find_bot(ref)
        return self.store.bot_events(record.id, limit=limit, before_id=before)

    def diagnosis(self, ref: str) -> dict[str, Any]:
        """Why a bot may be failing, without an engine call: its crash loop (if any),
        the last change to its ``openclaw.json``, and where its log tail streams from."""
        record = self.store.find_bot(ref)
        episode = self.crashloops.episode(record.id)
        change = self.store.latest_bot_event(record.id, CONFIG_CHANGED)
        return {
            "id": record.id,
            "name": record.name,
            "crash_loop": episode.to_dict() if episode is not None else None,
            "config_change": (
                {"at": change["at"], "detail": change["detail"], "diff": change["logs"] or ""}
                if change is not None
                else None
            ),
            "logs": f"/api/bots/{record.id}/logs?tail={LOG_TAIL}&follow=false",
        }

    def gateway_token(self, ref: str) -> str:
        """The token of the bot's OpenClaw gateway, for the admin to reveal or copy."""
        record = self.store.find_bot(ref)
        token = self.secrets.read(record.id, GATEWAY_TOKEN_FILE)
        if token is None:
            raise NotFound(f"bot {record.name} has no gateway token", field="id")
        return token

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
        """The bot's container's output; ``since``/``until`` bound it in time (seconds
        since the epoch), ``timestamps`` starts each line with the engine's time."""
        record = self.store.find_bot(ref)
        stream = self.runtime.logs(
            container_name(record.id),
            tail=tail,
            follow=follow,
            since=since,
            until=until,
            timestamps=timestamps,
        )
        return CountedStream(stream, self.log_streams)

    def status_of(self, record: BotRecord, status: RuntimeStatus | None) -> RuntimeStatus:
        if status is None or status.state == "missing":
            if record.state == "creating":
                return RuntimeStatus(state="creating", detail="being created")
            return MISSING
        return self.crashloops.overlay(record.id, self.health.health_of(record.id, status))


class StreamCount:
    """How many log streams are open now (tests watch it return to zero)."""

    def __init__(self) -> None:
        self.open = 0
        self._lock = threading.Lock()

    def add(self, delta: int) -> None:
        with self._lock:
            self.open += delta


class CountedStream:
    """A log stream that keeps a ``StreamCount`` honest, so tests can see streams end."""

    def __init__(self, inner: LogStream, count: StreamCount) -> None:
        self.inner = inner
        self.count = count
        self._closed = False
        count.add(+1)

    def __iter__(self) -> Iterator[LogChunk]:
        return iter(self.inner)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self.inner.close()
            self.count.add(-1)
