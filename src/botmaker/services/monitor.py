"""Live monitoring: one thread follows the engine's event stream; nothing polls per bot.

For every event about a bot's container the ``Monitor`` records a bot event
(``created``, ``started``, ``stopped``, ``died`` with its exit code and last log
lines, ``oom``, ``restarted``) and publishes the bot's new status to subscribers;
the ``HealthMonitor`` tells it when a gateway's verdict changes (``starting``,
``healthy``, ``unhealthy``). When the engine goes away the thread reconnects with
back-off (0.5 s doubling to 5 s), asks for the events it missed (``since``), and
publishes ``resync`` so clients refetch.

Whether the engine answers is the monitor's ``engine_state()`` (``connecting`` until
the first try, then ``up`` or ``down`` with the reason and since when); each change is
published as an ``engine`` message, so the dashboard shows an outage without asking
the engine itself.

Subscribers get a ``Subscription``: a bounded queue per subscriber that drops its
oldest message when full (and then tells that subscriber to resync), so a slow
client never blocks the monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botmaker.config import Settings
from botmaker.errors import BotMakerError, NotFound
from botmaker.runtime.base import MISSING, Backend, EventStream, RuntimeEvent, RuntimeStatus
from botmaker.services.bots import BotService, uptime
from botmaker.services.bots.views import BotView
from botmaker.services.botstate import Operation
from botmaker.services.crashloop import CrashLoopWatch, reason_lines
from botmaker.services.loop import BackgroundLoop
from botmaker.store import Store

log = logging.getLogger(__name__)

#: Signals that ask a bot to stop (``docker stop`` sends the first, then SIGKILL).
_STOP_SIGNALS = frozenset({"15", "SIGTERM", "TERM"})
#: Engine actions after which a bot's status may have changed.
_STATUS_ACTIONS = frozenset(
    {"create", "start", "die", "stop", "oom", "destroy", "restart", "pause", "unpause"}
)
_SIMPLE_KINDS = {"create": "created", "start": "started", "restart": "restarted"}
_HEALTH_KINDS = frozenset({"healthy", "unhealthy", "starting"})
#: Operations during which a container's exit is the operation's, not a crash.
_ENDS_A_RUN = frozenset({"stop", "restart", "recreate", "remove"})
MAX_LOG_BYTES = 64 * 1024


@dataclass(frozen=True)
class Message:
    event: str  # status|event|resync|engine
    data: dict[str, Any] = field(default_factory=dict)


class Subscription:
    """One subscriber's bounded queue; ``put`` never blocks (the oldest message goes)."""

    def __init__(
        self,
        broadcaster: Broadcaster,
        size: int,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._broadcaster = broadcaster
        self._size = size
        self._items: deque[Message] = deque()
        self._cond = threading.Condition()
        self._loop = loop
        self._wakeup = asyncio.Event() if loop is not None else None
        self.dropped = 0
        self.closed = False

    def put(self, message: Message) -> None:
        with self._cond:
            if self.closed:
                return
            if len(self._items) >= self._size:
                self._items.popleft()
                self.dropped += 1
            self._items.append(message)
            self._cond.notify_all()
        self._wake()

    def _wake(self) -> None:
        if self._loop is not None and self._wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                self._loop.call_soon_threadsafe(self._wakeup.set)

    def drain(self) -> list[Message]:
        """Everything queued; a ``resync`` first if messages were dropped."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            if self.dropped:
                items.insert(0, Message("resync", {"reason": "overflow", "dropped": self.dropped}))
                self.dropped = 0
            return items

    def get(self, timeout: float) -> Message | None:
        """The next message, waiting up to ``timeout`` seconds (for threads and tests)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._items and not self.dropped and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                return Message("resync", {"reason": "overflow", "dropped": dropped})
            return self._items.popleft() if self._items else None

    async def next_batch(self) -> list[Message]:
        """Wait for messages (in the subscribing event loop); [] once closed."""
        assert self._wakeup is not None, "subscribe with a loop to wait asynchronously"
        while True:
            self._wakeup.clear()
            items = self.drain()
            if items or self.closed:
                return items
            await self._wakeup.wait()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self._wake()
        self._broadcaster.remove(self)


class Broadcaster:
    """Thread-safe fan-out of messages to subscriptions."""

    def __init__(self, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Callable[[Message], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, loop: asyncio.AbstractEventLoop | None = None) -> Subscription:
        subscription = Subscription(self, self.queue_size, loop)
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def remove(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def add_listener(self, listener: Callable[[Message], None]) -> None:
        """Call ``listener`` with every message, on the publishing thread (keep it quick)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Message], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        message = Message(event, data)
        with self._lock:
            targets = list(self._subscriptions)
            listeners = list(self._listeners)
        for subscription in targets:
            subscription.put(message)
        for listener in listeners:
            try:
                listener(message)
            except Exception:  # a listener must never break publishing
                log.exception("a listener of %s messages failed", event)

    def close_all(self) -> None:
        """End every subscription (their streams finish)."""
        with self._lock:
            targets = list(self._subscriptions)
        for subscription in targets:
            subscription.close()

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscriptions)


class Monitor:
    """Follows the engine's events in one background thread (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        runtime: Backend,
        store: Store,
        bots: BotService,
        *,
        broadcaster: Broadcaster | None = None,
        min_backoff: float = 0.5,
        max_backoff: float = 5.0,
        log_lines: int = 50,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        #: Told, after each engine event is handled and published, how many seconds
        #: that was after the engine's own event time (the metrics' event-stream lag).
        self.on_lag = on_lag
        self.runtime = runtime
        self.store = store
        self.bots = bots
        self.broadcaster = broadcaster or Broadcaster()
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.log_lines = log_lines
        self.connected = False
        self.connects = 0  # successful (re)connections to the event stream
        self._engine: dict[str, Any] = {"state": "connecting", "since": time.time()}
        self._engine_lock = threading.Lock()
        self.loop = BackgroundLoop(
            "monitor",
            self._follow_once,
            lambda: self._wait,
            join_timeout=settings.docker_timeout + 2,
        )
        self._delay = min_backoff  # the next wait after the stream ends or cannot open
        self._wait = min_backoff
        self._since: float | None = None  # where the next stream starts (None: now)
        self._stream: EventStream | None = None
        self._stream_lock = threading.Lock()
        self._last_ns = 0  # the latest event handled (replays after a reconnect are skipped)
        self._last_at: float | None = None
        self._stop_requested: dict[str, float] = {}  # container id -> when SIGTERM was sent
        self.crashloops = CrashLoopWatch(
            bots.crashloops,
            store,
            publish_event=lambda event: self.broadcaster.publish("event", event),
            publish_status=self._publish_status,
            live_at=bots.health.live_at,
            gateway=bots.health.watching,
        )

    # -- subscribers ------------------------------------------------------------------

    def subscribe(self, loop: asyncio.AbstractEventLoop | None = None) -> Subscription:
        return self.broadcaster.subscribe(loop)

    # -- engine state -----------------------------------------------------------------

    def engine_state(self) -> dict[str, Any]:
        """``{"state": connecting|up|down, "since": unix time, "message"?: why down}``."""
        with self._engine_lock:
            return dict(self._engine)

    def _set_engine(self, state: str, message: str | None = None) -> None:
        """Record (and publish, if it changed) whether the engine answers."""
        with self._engine_lock:
            if self._engine["state"] == state:
                return
            self._engine = {"state": state, "since": time.time()}
            if message:
                self._engine["message"] = message
            current = dict(self._engine)
        if state == "down":
            log.warning("the Docker engine is down: %s", message)
        else:
            log.info("the Docker engine answers")
        self.broadcaster.publish("engine", current)

    # -- thread -----------------------------------------------------------------------

    def start(self) -> None:
        if self.loop.started:
            return
        self.bots.health.add_listener(self._on_health)
        self.bots.deploy.operations.listeners.append(self._publish_status)
        self.loop.start()
        self.crashloops.start()

    def stop(self) -> None:
        self.loop.request_stop()
        self.crashloops.stop()
        self.bots.health.remove_listener(self._on_health)
        with contextlib.suppress(ValueError):
            self.bots.deploy.operations.listeners.remove(self._publish_status)
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.close()  # ends the step following it
        self.loop.join()
        self.broadcaster.close_all()

    def _backoff(self) -> None:
        """Wait the current delay before the next connection, and double it."""
        self._wait = self._delay
        self._delay = min(self._delay * 2, self.max_backoff)

    def _follow_once(self) -> None:
        """The loop's step: connect to the event stream and follow it until it ends."""
        connected_at = time.time()
        try:
            stream = self.runtime.events(self._since)
        except Exception as exc:  # noqa: BLE001 - the engine is away (or worse): retry
            reason = exc.message if isinstance(exc, BotMakerError) else repr(exc)
            self._set_engine("down", reason)
            log.info("event stream unavailable (%s); retrying in %.1f s", reason, self._delay)
            self._backoff()
            return
        with self._stream_lock:
            if self.loop.stopping():
                stream.close()
                return
            self._stream = stream
        self.connected = True
        self.connects += 1
        self._set_engine("up")
        self._delay = self.min_backoff
        self._follow(stream)
        if self.loop.stopping():
            return
        # Ask for what happened while disconnected (already-seen events are skipped).
        self._since = self._last_at if self._last_at is not None else connected_at
        self._backoff()

    def _follow(self, stream: EventStream) -> None:
        """Handle the stream's events until it ends; then see whether the engine is up."""
        self.broadcaster.publish(
            "resync", {"reason": "connected" if self.connects == 1 else "reconnected"}
        )
        ended = "the event stream ended"
        try:
            self._fill_statuses()
            for event in stream:
                self._handle_safely(event)
        except BotMakerError as exc:
            ended = exc.message
            log.info("event stream ended: %s", exc.message)
        except Exception:  # reconnect rather than end monitoring
            log.exception("event stream failed")
        finally:
            stream.close()
            with self._stream_lock:
                self._stream = None
            self.connected = False
            self.bots.statuses.invalidate()
        if not self.loop.stopping():
            self._check_engine(ended)

    def _fill_statuses(self) -> None:
        """One list call after (re)connecting; the events that follow keep it current."""
        if not self.runtime.status_follows_events:
            return  # Swarm: every reader lists (see services/statuses.py)
        statuses = self.bots.statuses
        token = statuses.token()
        statuses.fill(self.runtime.list(), token, at=time.time())

    def _check_engine(self, ended: str) -> None:
        """The stream ended: down if the engine does not answer a ping either."""
        try:
            self.runtime.ping()
        except BotMakerError as exc:
            self._set_engine("down", exc.message)
        except Exception as exc:  # noqa: BLE001 - any failure means it cannot be used
            self._set_engine("down", f"{ended}: {exc!r}")

    def _handle_safely(self, event: RuntimeEvent) -> None:
        try:
            self.handle(event)
        except BotMakerError as exc:
            log.info("event %s of bot %s not fully handled: %s", event.action, event.bot_id, exc)
        except Exception:  # one bad event must not end monitoring
            log.exception("event %s of bot %s failed", event.action, event.bot_id)

    # -- events -----------------------------------------------------------------------

    def handle(self, event: RuntimeEvent) -> None:
        """Record one engine event as a bot event (if it is one) and publish the status."""
        if event.time_ns:
            if event.time_ns <= self._last_ns:
                return  # replayed after a reconnect: handled already
            self._last_ns = event.time_ns
            self._last_at = event.at
        action = event.action
        if action == "kill":
            if (event.signal or "") in _STOP_SIGNALS:
                self._stop_requested[event.container_id] = time.monotonic()
            return
        recorded: dict[str, Any] | None = None
        if action in _SIMPLE_KINDS:
            operation = self._operation(event)
            if operation is None and action == "start" and self._restarted_by_policy(event):
                cause = "restart policy"
            else:
                cause = operation.cause if operation else ""
            recorded = self._record(
                event.bot_id,
                _SIMPLE_KINDS[action],
                event.at,
                "",
                cause=cause,
                actor=operation.actor if operation else None,
            )
            if action == "start":
                self.crashloops.loops.started(event.bot_id, event.at)
        elif action == "die":
            self._died(event)
        elif action == "stop":  # only ever asked for (the restart policy never stops)
            self.crashloops.stopped(event.bot_id, "stopped on purpose")
        elif action == "oom":
            recorded = self._record(
                event.bot_id,
                "oom",
                event.at,
                "out of memory: the kernel killed a process of the bot",
                logs=self._last_lines(event.container_id),
                cause="oom",
            )
        elif action == "health_status" and event.health in _HEALTH_KINDS:
            recorded = self._record(
                event.bot_id, event.health, event.at, "Docker health check", cause="health check"
            )
        elif action == "destroy":
            self._stop_requested.pop(event.container_id, None)
        if recorded is not None:
            self.broadcaster.publish("event", recorded)
        if action in _STATUS_ACTIONS or action == "health_status":
            self._publish_status(event.bot_id)
        if self.on_lag is not None and event.at:
            self.on_lag(max(0.0, time.time() - event.at))

    def _died(self, event: RuntimeEvent) -> None:
        """Record (and publish) the exit; an exit nobody asked for counts towards a
        crash loop, a stop or removal ends one."""
        bot_id, code = event.bot_id, event.exit_code
        asked = self._stop_requested.pop(event.container_id, None)
        operation = self._operation(event)
        stopping = (
            asked is not None and time.monotonic() - asked < self.settings.stop_timeout + 30
        ) or (operation is not None and operation.kind in _ENDS_A_RUN)
        cause, actor = (operation.cause, operation.actor) if operation else ("", None)
        container = self.runtime.status(event.container_id)
        logs: str | None = None
        if container.state in ("removing", "missing"):
            recorded = self._record(
                bot_id, "stopped", event.at, "container removed", code, cause=cause, actor=actor
            )
        elif stopping or code in (0, 143):
            detail = f"exit code {code}"
            if code == 137:  # SIGKILL after the stop timeout: still a stop, said as one
                detail += f" (killed after the {self.settings.stop_timeout} s stop timeout)"
            recorded = self._record(
                bot_id, "stopped", event.at, detail, code, cause=cause or "stop", actor=actor
            )
        else:
            detail = f"exited with code {code}"
            if container.oom_killed:
                detail += " (out of memory)"
            logs = self._settled_lines(event.container_id, until=event.at)
            recorded = self._record(
                bot_id,
                "died",
                event.at,
                detail,
                code,
                logs=logs,
                cause="oom" if container.oom_killed else "",
            )
        if recorded is not None:
            self.broadcaster.publish("event", recorded)
        if stopping or container.state in ("removing", "missing"):
            self.crashloops.stopped(bot_id, "stopped on purpose")
            return
        if logs is None:
            logs = self._settled_lines(event.container_id, until=event.at)
        known = self.bots.secrets.values(bot_id)
        self.crashloops.exited(bot_id, event.at, code, reason_lines(logs, known))

    def _record(
        self,
        bot_id: str,
        kind: str,
        at: float,
        detail: str,
        exit_code: int | None = None,
        *,
        logs: str | None = None,
        cause: str = "",
        actor: str | None = None,
    ) -> dict[str, Any] | None:
        return self.store.add_bot_event(
            bot_id,
            kind=kind,
            at=at,
            detail=detail,
            exit_code=exit_code,
            logs=logs,
            cause=cause,
            actor=actor,
        )

    def _operation(self, event: RuntimeEvent) -> Operation | None:
        """BotMaker's operation behind an engine event of a bot, if one."""
        if not event.bot_id:
            return None
        at = event.at if event.at else time.time()
        return self.bots.deploy.operations.behind(event.bot_id, at)

    def _restarted_by_policy(self, event: RuntimeEvent) -> bool:
        """A start nobody here asked for, of a container that had run before."""
        status = self.runtime.status(event.container_id)
        return bool(status.restart_count)

    def _settled_lines(self, container: str, until: float | None) -> str | None:
        """The last lines of a run that just ended at ``until``: only what it logged
        before (a restarted container's first lines come after), read again until two
        reads agree (at most about a second: the engine's log copier may lag)."""
        end = until + 0.01 if until else None
        lines = self._last_lines(container, until=end)
        for _ in range(4):
            time.sleep(0.25)
            again = self._last_lines(container, until=end)
            if again == lines:
                break
            lines = again
        return lines

    def _last_lines(self, container: str, *, until: float | None = None) -> str | None:
        """The container's last lines of output, as the bot wrote them (both streams)."""
        try:
            stream = self.runtime.logs(container, tail=self.log_lines, follow=False, until=until)
        except BotMakerError:
            return None
        try:
            data = b"".join(chunk.data for chunk in stream)
        except BotMakerError:
            return None
        finally:
            stream.close()
        text = data[-MAX_LOG_BYTES:].decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-self.log_lines :])

    def _publish_status(self, bot_id: str) -> None:
        try:
            view = self.bots.live(bot_id)
        except NotFound:  # deleted: tell clients it is gone
            self.broadcaster.publish(
                "status",
                {"id": bot_id, "name": None, "deleted": True, "status": MISSING.to_dict()},
            )
            return
        self._publish_view(view)

    def publish_state(self, bot_id: str) -> None:
        """Publish the bot's state after something other than its container changed (its
        channels): from the cached status when the cache has it, else one inspect."""
        live, entries, unknown = self.bots.statuses.snapshot()
        status = entries.get(bot_id)
        if not live or status is None or bot_id in unknown:
            self._publish_status(bot_id)
            return
        try:
            record = self.store.get_bot(bot_id)
        except NotFound:
            return
        queries = self.bots.queries
        self._publish_view(queries.view(record, queries.status_of(record, status)))

    def _publish_view(self, view: BotView) -> None:
        """The bot's state (``services/botstate``) to every live page."""
        self.broadcaster.publish(
            "status",
            {
                "id": view.record.id,
                "name": view.record.name,
                "status": view.status_dict(),
                **uptime(view.status),
            },
        )

    # -- health -----------------------------------------------------------------------

    def _on_health(self, bot_id: str, status: RuntimeStatus) -> None:
        """The HealthMonitor's verdict for a bot changed (called on its thread)."""
        verdict = status.health or ""
        if verdict not in _HEALTH_KINDS:
            return
        try:
            record = self.store.get_bot(bot_id)
        except NotFound:
            return
        recorded = self._record(
            bot_id, verdict, time.time(), status.detail or "", cause="health probe"
        )
        if recorded is not None:
            self.broadcaster.publish("event", recorded)
        self._publish_view(
            self.bots.queries.view(record, self.bots.queries.status_of(record, status))
        )
