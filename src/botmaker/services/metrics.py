"""Prometheus metrics of BotMaker's own process (``GET /metrics``).

Two kinds of metric live here:

- *instruments* updated as things happen: the API's request latency, the event
  stream's lag, and egress refusals (:func:`count_egress_refusal`, called wherever a
  bot's ``egress_denied`` event is recorded);
- the *fleet*, read at scrape time by :class:`FleetCollector` from what BotMaker
  already keeps in memory: the bots' rows (the store's cached list), their statuses
  (the event-fed status cache), the stats sampler's last round and the reconciler's
  counts. A scrape never calls the Docker engine.

Labels stay bounded: a bot's id (never its messages), a route template (never a raw
path), a status class. The keyring's metrics come from the keyring process itself
(its admin API's ``/admin/metrics``) and are appended by the route.
"""

from __future__ import annotations

from collections import Counter as Counts
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from botmaker.runtime.base import RuntimeStatus
    from botmaker.services.monitor import Monitor
    from botmaker.services.stats import StatsSampler
    from botmaker.services.statuses import StatusCache
    from botmaker.store import BotRecord, Store

#: Every summary a bot's status can have (``RuntimeStatus.summary``, plus ``creating``,
#: ``missing`` and ``unknown`` while the status cache is not live): each is exported,
#: zero or not, so a dashboard's series do not come and go.
STATUSES = (
    "creating",
    "created",
    "starting",
    "healthy",
    "unhealthy",
    "crash_loop",
    "running",
    "restarting",
    "paused",
    "stopped",
    "exited",
    "dead",
    "removing",
    "missing",
    "unknown",
)
#: Container states in which a bot counts as running (its container runs).
_RUNNING_SUMMARIES = frozenset({"running", "starting", "healthy", "unhealthy"})

#: Egress refusals per bot: one per refused connection of a bot's egress proxy. Process
#: wide (the egress proxy has no handle on the app), in every app's registry.
EGRESS_REFUSALS = Counter(
    "botmaker_egress_refusals",
    "Connections a bot's egress proxy refused (host not allowed, or a private address).",
    ["bot"],
    registry=None,
)


def count_egress_refusal(bot_id: str) -> None:
    """Count one refused egress connection of ``bot_id``."""
    EGRESS_REFUSALS.labels(bot=bot_id).inc()


#: Request latency buckets (seconds): the API answers in milliseconds, a create in
#: seconds.
_API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Event lag buckets (seconds): the engine's event time to its status being published.
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class FleetMetrics:
    """One install's metrics registry: the instruments and the fleet collector."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.api_latency = Histogram(
            "botmaker_http_request_duration_seconds",
            "Time from a request's arrival to its answer's status line, by route template.",
            ["route", "method", "status"],
            buckets=_API_BUCKETS,
            registry=self.registry,
        )
        self.event_lag = Histogram(
            "botmaker_event_stream_lag_seconds",
            "How long after the engine's event time a bot's event was recorded and its "
            "status published to the live event stream.",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(EGRESS_REFUSALS)
        self.fleet: FleetCollector | None = None

    def watch(self, fleet: FleetCollector) -> None:
        """Read ``fleet`` at every scrape (once)."""
        if self.fleet is None:
            self.fleet = fleet
            self.registry.register(fleet)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.api_latency.labels(route, method, f"{status // 100}xx").observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of everything above."""
        return generate_latest(self.registry)


class FleetCollector(Collector):
    """The fleet as BotMaker holds it in memory, read at scrape time (no engine call)."""

    def __init__(
        self,
        store: Store,
        statuses: StatusCache,
        status_of: Callable[[BotRecord, RuntimeStatus | None], RuntimeStatus],
        stats: StatsSampler,
        monitor: Monitor,
        reconcile_actions: Callable[[], tuple[int, Counts[str]]],
    ) -> None:
        self.store = store
        self.statuses = statuses
        self.status_of = status_of
        self.stats = stats
        self.monitor = monitor
        self.reconcile_actions = reconcile_actions

    def describe(self) -> Iterable[Metric]:
        return ()  # collected fresh each time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        yield from self._bots()
        yield from self._resources()
        yield from self._watchers()

    def _bots(self) -> Iterator[Metric]:
        records = self.store.list_bots()
        live, entries, unknown = self.statuses.snapshot()
        by_status: Counts[str] = Counts(dict.fromkeys(STATUSES, 0))
        info = GaugeMetricFamily(
            "botmaker_bot_info",
            "A bot BotMaker manages (1), with its name, provider and model.",
            labels=["bot", "name", "provider", "model"],
        )
        state = GaugeMetricFamily(
            "botmaker_bot_status",
            "A bot's status (1 for its current one; the values of botmaker_bots' status).",
            labels=["bot", "status"],
        )
        healthy = GaugeMetricFamily(
            "botmaker_bot_healthy",
            "1 if the bot's gateway answered its last health probe, 0 if not yet or not; "
            "only bots with a gateway that run.",
            labels=["bot"],
        )
        running = 0
        for record in records:
            if not live or record.id in unknown:
                summary = "unknown"
            else:
                status = self.status_of(record, entries.get(record.id))
                summary = status.summary
                if status.running:
                    running += 1
                    if status.health in ("healthy", "unhealthy", "starting", "crash_loop"):
                        healthy.add_metric([record.id], 1.0 if status.health == "healthy" else 0.0)
            by_status[summary] += 1
            info.add_metric([record.id, record.name, record.provider, record.model], 1.0)
            state.add_metric([record.id, summary], 1.0)
        bots = GaugeMetricFamily(
            "botmaker_bots",
            "Bots by status, as the bot list shows it (unknown while the engine's event "
            "stream is down).",
            labels=["status"],
        )
        for summary, count in sorted(by_status.items()):
            bots.add_metric([summary], float(count))
        yield bots
        yield GaugeMetricFamily(
            "botmaker_bots_running", "Bots whose container runs.", value=float(running)
        )
        yield info
        yield state
        yield healthy

    def _resources(self) -> Iterator[Metric]:
        latest = self.stats.latest()
        samples, restarts = self.stats.counters()
        points: dict[str, dict[str, Any]] = latest["bots"]
        cpu = GaugeMetricFamily(
            "botmaker_bot_cpu_cores",
            "CPU in use between the sampler's last two rounds, in cores (1 = one core; "
            "GET /api/stats' cpu_percent / 100).",
            labels=["bot"],
        )
        cpu_seconds = CounterMetricFamily(
            "botmaker_bot_cpu_seconds",
            "CPU time the bot's container used since it started.",
            labels=["bot"],
        )
        memory = GaugeMetricFamily(
            "botmaker_bot_memory_bytes",
            "Memory in use (without the page cache, as docker stats shows it).",
            labels=["bot"],
        )
        limit = GaugeMetricFamily(
            "botmaker_bot_memory_limit_bytes", "The container's memory limit.", labels=["bot"]
        )
        received = CounterMetricFamily(
            "botmaker_bot_network_receive_bytes",
            "Bytes the bot's container received since it started.",
            labels=["bot"],
        )
        sent = CounterMetricFamily(
            "botmaker_bot_network_transmit_bytes",
            "Bytes the bot's container sent since it started.",
            labels=["bot"],
        )
        pids = GaugeMetricFamily(
            "botmaker_bot_pids", "Processes in the bot's container.", labels=["bot"]
        )
        for bot_id, point in points.items():
            labels = [bot_id]
            if point["cpu_percent"] is not None:
                cpu.add_metric(labels, point["cpu_percent"] / 100.0)
            memory.add_metric(labels, float(point["memory_bytes"]))
            if point["memory_limit"]:
                limit.add_metric(labels, float(point["memory_limit"]))
            if point["pids"] is not None:
                pids.add_metric(labels, float(point["pids"]))
            sample = samples.get(bot_id)
            if sample is not None:
                cpu_seconds.add_metric(labels, sample.cpu_total_ns / 1e9)
                received.add_metric(labels, float(sample.rx_bytes))
                sent.add_metric(labels, float(sample.tx_bytes))
        restarted = CounterMetricFamily(
            "botmaker_bot_restarts",
            "Restarts of the bot's current container by its restart policy (read once a "
            "minute with the stats history).",
            labels=["bot"],
        )
        for bot_id, count in restarts.items():
            restarted.add_metric([bot_id], float(count))
        yield from (cpu, cpu_seconds, memory, limit, received, sent, pids, restarted)
        yield GaugeMetricFamily(
            "botmaker_stats_running_bots",
            "Running bots in the stats sampler's last round (GET /api/stats' totals.running).",
            value=float(latest["totals"]["running"]),
        )
        yield GaugeMetricFamily(
            "botmaker_stats_last_round_timestamp_seconds",
            "When the stats sampler's last round ended (Unix time; 0 before the first).",
            value=float(latest["at"] or 0.0),
        )

    def _watchers(self) -> Iterator[Metric]:
        engine = self.monitor.engine_state()
        yield GaugeMetricFamily(
            "botmaker_engine_up",
            "1 if the Docker engine answers, as the event monitor last saw it.",
            value=1.0 if engine.get("state") == "up" else 0.0,
        )
        yield GaugeMetricFamily(
            "botmaker_event_stream_connected",
            "1 while the monitor follows the engine's event stream.",
            value=1.0 if self.monitor.connected else 0.0,
        )
        yield GaugeMetricFamily(
            "botmaker_event_stream_subscribers",
            "Clients of the live event stream (GET /api/events/stream) connected now.",
            value=float(self.monitor.broadcaster.subscribers),
        )
        passes, actions = self.reconcile_actions()
        yield CounterMetricFamily(
            "botmaker_reconcile_passes", "Reconciliation passes run.", value=float(passes)
        )
        taken = CounterMetricFamily(
            "botmaker_reconcile_actions",
            "Reconciliation actions by kind (undid_create, finished_delete, "
            "recreated_container, removed_orphan, failed, skipped, ...).",
            labels=["action"],
        )
        for action, count in sorted(actions.items()):
            taken.add_metric([action], float(count))
        yield taken
