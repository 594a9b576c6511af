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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from botmaker.services.botstate import STATES

if TYPE_CHECKING:
    from botmaker.runtime.base import RuntimeStatus, StatsSample
    from botmaker.services.monitor import Monitor
    from botmaker.services.stats import StatsSampler
    from botmaker.services.statuses import StatusCache
    from botmaker.store import BotRecord, Store

#: Every state a bot can have (``services/botstate``: what the API, the pages and the
#: events say), plus ``unknown`` while the status cache is not live: each is exported,
#: zero or not, so a dashboard's series do not come and go.
STATUSES = (*STATES, "unknown")
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
        """Read ``fleet`` at every scrape (set once)."""
        if self.fleet is None:
            self.fleet = fleet

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.api_latency.labels(route, method, f"{status // 100}xx").observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of everything above: the instruments through
        prometheus_client, the fleet written by its collector (see :class:`FleetCollector`)."""
        body = generate_latest(self.registry)
        if self.fleet is not None:
            body += self.fleet.render().encode("utf-8")
        return body


@dataclass
class _Bot:
    id: str
    name: str
    provider: str
    model: str
    summary: str
    healthy: float | None  # 1/0 for a running bot with a gateway verdict; else None


@dataclass
class _Fleet:
    """One scrape's reading of everything the fleet's metrics show."""

    bots: list[_Bot]
    by_status: dict[str, int]
    running: int
    points: dict[str, dict[str, Any]]
    samples: dict[str, StatsSample]
    restarts: dict[str, int]
    stats_running: int
    stats_at: float
    engine_up: bool
    connected: bool
    subscribers: int
    passes: int
    actions: dict[str, int]


#: The fleet's families: name, type, help (the text format's HELP and TYPE lines).
_FAMILIES: dict[str, tuple[str, str]] = {
    "botmaker_bots": (
        "gauge",
        "Bots by status, as the bot list shows it (unknown while the engine's event "
        "stream is down).",
    ),
    "botmaker_bots_running": ("gauge", "Bots whose container runs."),
    "botmaker_bot_info": (
        "gauge",
        "A bot BotMaker manages (1), with its name, provider and model.",
    ),
    "botmaker_bot_status": (
        "gauge",
        "A bot's status (1 for its current one; the values of botmaker_bots' status).",
    ),
    "botmaker_bot_healthy": (
        "gauge",
        "1 if the bot's gateway answered its last health probe, 0 if not yet or not; only "
        "bots with a gateway that run.",
    ),
    "botmaker_bot_cpu_cores": (
        "gauge",
        "CPU in use between the sampler's last two rounds, in cores (1 = one core; "
        "GET /api/stats' cpu_percent / 100).",
    ),
    "botmaker_bot_cpu_seconds": ("counter", "CPU time the bot's container used since it started."),
    "botmaker_bot_memory_bytes": (
        "gauge",
        "Memory in use (without the page cache, as docker stats shows it).",
    ),
    "botmaker_bot_memory_limit_bytes": ("gauge", "The container's memory limit."),
    "botmaker_bot_network_receive_bytes": (
        "counter",
        "Bytes the bot's container received since it started.",
    ),
    "botmaker_bot_network_transmit_bytes": (
        "counter",
        "Bytes the bot's container sent since it started.",
    ),
    "botmaker_bot_pids": ("gauge", "Processes in the bot's container."),
    "botmaker_bot_restarts": (
        "counter",
        "Restarts of the bot's current container by its restart policy (read once a minute "
        "with the stats history).",
    ),
    "botmaker_stats_running_bots": (
        "gauge",
        "Running bots in the stats sampler's last round (GET /api/stats' totals.running).",
    ),
    "botmaker_stats_last_round_timestamp_seconds": (
        "gauge",
        "When the stats sampler's last round ended (Unix time; 0 before the first).",
    ),
    "botmaker_engine_up": (
        "gauge",
        "1 if the Docker engine answers, as the event monitor last saw it.",
    ),
    "botmaker_event_stream_connected": (
        "gauge",
        "1 while the monitor follows the engine's event stream.",
    ),
    "botmaker_event_stream_subscribers": (
        "gauge",
        "Clients of the live event stream (GET /api/events/stream) connected now.",
    ),
    "botmaker_reconcile_passes": ("counter", "Reconciliation passes run."),
    "botmaker_reconcile_actions": (
        "counter",
        "Reconciliation actions by kind (undid_create, finished_delete, recreated_container, "
        "removed_orphan, failed, skipped, ...).",
    ),
}


class FleetCollector(Collector):
    """The fleet as BotMaker holds it in memory, read at scrape time (no engine call).

    :meth:`collect` yields prometheus_client's metric families (any registry can hold
    this collector); :meth:`render` writes the same samples in the text format
    directly, with each bot's label text made once, which is what keeps a scrape at
    1,000 bots in milliseconds (bench/bench_metrics.py). tests/test_metrics.py checks
    that both say the same.
    """

    def __init__(
        self,
        store: Store,
        statuses: StatusCache,
        status_of: Callable[[BotRecord, RuntimeStatus | None], RuntimeStatus],
        stats: StatsSampler,
        monitor: Monitor,
        reconcile_actions: Callable[[], tuple[int, Counts[str]]],
        state_of: Callable[[BotRecord, RuntimeStatus], str] | None = None,
    ) -> None:
        """``state_of``: a bot's state from its record and status (``BotQueries.state``);
        without it, the engine's summary."""
        self.store = store
        self.statuses = statuses
        self.status_of = status_of
        self.state_of = state_of
        self.stats = stats
        self.monitor = monitor
        self.reconcile_actions = reconcile_actions
        self._labels: dict[str, str] = {}  # bot id -> its escaped label value

    def describe(self) -> Iterable[Metric]:
        return ()  # collected fresh each time; nothing to check at registration

    # -- one reading ------------------------------------------------------------------

    def read(self) -> _Fleet:
        records = self.store.list_bots()
        live, entries, unknown = self.statuses.snapshot()
        by_status = dict.fromkeys(STATUSES, 0)
        bots: list[_Bot] = []
        running = 0
        for record in records:
            healthy: float | None = None
            if not live or record.id in unknown:
                summary = "unknown"
            else:
                status = self.status_of(record, entries.get(record.id))
                summary = self.state_of(record, status) if self.state_of else status.summary
                if status.running:
                    running += 1
                    if status.health in ("healthy", "unhealthy", "starting", "crash_loop"):
                        healthy = 1.0 if status.health == "healthy" else 0.0
            by_status[summary] = by_status.get(summary, 0) + 1
            bots.append(
                _Bot(record.id, record.name, record.provider, record.model, summary, healthy)
            )
        latest = self.stats.latest()
        samples, restarts = self.stats.counters()
        passes, actions = self.reconcile_actions()
        return _Fleet(
            bots=bots,
            by_status=by_status,
            running=running,
            points=latest["bots"],
            samples=samples,
            restarts=restarts,
            stats_running=int(latest["totals"]["running"]),
            stats_at=float(latest["at"] or 0.0),
            engine_up=self.monitor.engine_state().get("state") == "up",
            connected=self.monitor.connected,
            subscribers=self.monitor.broadcaster.subscribers,
            passes=passes,
            actions=dict(sorted(actions.items())),
        )

    def _rows(self, fleet: _Fleet) -> Iterator[tuple[str, list[tuple[dict[str, str], float]]]]:
        """Each family's samples: (labels, value), in the order they are shown."""
        yield (
            "botmaker_bots",
            [({"status": s}, float(n)) for s, n in sorted(fleet.by_status.items())],
        )
        yield "botmaker_bots_running", [({}, float(fleet.running))]
        yield (
            "botmaker_bot_info",
            [
                ({"bot": b.id, "name": b.name, "provider": b.provider, "model": b.model}, 1.0)
                for b in fleet.bots
            ],
        )
        yield "botmaker_bot_status", [({"bot": b.id, "status": b.summary}, 1.0) for b in fleet.bots]
        yield (
            "botmaker_bot_healthy",
            [({"bot": b.id}, b.healthy) for b in fleet.bots if b.healthy is not None],
        )
        points = fleet.points
        yield (
            "botmaker_bot_cpu_cores",
            [
                ({"bot": i}, p["cpu_percent"] / 100.0)
                for i, p in points.items()
                if p["cpu_percent"] is not None
            ],
        )
        samples = fleet.samples
        yield (
            "botmaker_bot_cpu_seconds",
            [({"bot": i}, s.cpu_total_ns / 1e9) for i, s in samples.items() if i in points],
        )
        yield (
            "botmaker_bot_memory_bytes",
            [({"bot": i}, float(p["memory_bytes"])) for i, p in points.items()],
        )
        yield (
            "botmaker_bot_memory_limit_bytes",
            [
                ({"bot": i}, float(p["memory_limit"]))
                for i, p in points.items()
                if p["memory_limit"]
            ],
        )
        yield (
            "botmaker_bot_network_receive_bytes",
            [({"bot": i}, float(s.rx_bytes)) for i, s in samples.items() if i in points],
        )
        yield (
            "botmaker_bot_network_transmit_bytes",
            [({"bot": i}, float(s.tx_bytes)) for i, s in samples.items() if i in points],
        )
        yield (
            "botmaker_bot_pids",
            [({"bot": i}, float(p["pids"])) for i, p in points.items() if p["pids"] is not None],
        )
        yield "botmaker_bot_restarts", [({"bot": i}, float(n)) for i, n in fleet.restarts.items()]
        yield "botmaker_stats_running_bots", [({}, float(fleet.stats_running))]
        yield "botmaker_stats_last_round_timestamp_seconds", [({}, fleet.stats_at)]
        yield "botmaker_engine_up", [({}, 1.0 if fleet.engine_up else 0.0)]
        yield "botmaker_event_stream_connected", [({}, 1.0 if fleet.connected else 0.0)]
        yield "botmaker_event_stream_subscribers", [({}, float(fleet.subscribers))]
        yield "botmaker_reconcile_passes", [({}, float(fleet.passes))]
        yield (
            "botmaker_reconcile_actions",
            [({"action": a}, float(n)) for a, n in fleet.actions.items()],
        )

    # -- the two outputs -------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        for name, rows in self._rows(self.read()):
            kind, text = _FAMILIES[name]
            family: Metric = (
                CounterMetricFamily(name, text)
                if kind == "counter"
                else GaugeMetricFamily(name, text)
            )
            suffix = "_total" if kind == "counter" else ""
            for labels, number in rows:
                family.add_sample(name + suffix, labels, number)
            yield family

    def render(self) -> str:
        """The text format (0.0.4) of :meth:`collect`'s samples, written directly."""
        out: list[str] = []
        cached = self._labels
        for name, rows in self._rows(self.read()):
            kind, text = _FAMILIES[name]
            sample = name + "_total" if kind == "counter" else name
            out.append(f"# HELP {sample} {_help(text)}\n# TYPE {sample} {kind}\n")
            for labels, number in rows:
                if not labels:
                    out.append(f"{sample} {_value(number)}\n")
                    continue
                parts = []
                for key, raw in labels.items():
                    if key == "bot":
                        escaped = cached.get(raw)
                        if escaped is None:
                            escaped = cached[raw] = _escape(raw)
                    else:
                        escaped = _escape(raw)
                    parts.append(f'{key}="{escaped}"')
                out.append(f"{sample}{{{','.join(parts)}}} {_value(number)}\n")
        if len(cached) > 4 * max(1, len(self.store.list_bots())):
            cached.clear()  # bots come and go: keep the cache about the fleet's size
        return "".join(out)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _value(number: float) -> str:
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "+Inf" if number > 0 else "-Inf"
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)
