"""Resource use of the running bots: one background sampler, never a sample per request.

Every ``BOTMAKER_STATS_INTERVAL`` seconds the sampler lists the bots' containers
(one engine call) and reads each *running* one with Docker's one-shot stats (no
two-sample wait) in a small thread pool. CPU % comes from two consecutive
samples: the container's CPU time over the host's, times the online CPUs. The
last hour of points per bot stays in memory (a bounded ring buffer).

With a store, every ``history_interval`` seconds (a minute) the round's points
are folded into one row per running bot (average CPU %, peak memory, network
bytes received and sent in that minute, and the container's restart count) and
written in one transaction; rows older than ``retention`` (24 h) are pruned.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botmaker.errors import BotMakerError
from botmaker.runtime.base import Backend, RuntimeStatus, StatsSample
from botmaker.services.loop import BackgroundLoop
from botmaker.store import Store

log = logging.getLogger(__name__)


def cpu_percent(previous: StatsSample, current: StatsSample) -> float | None:
    """CPU use between two samples of one container, in % of one CPU (100 = one core)."""
    cpu = current.cpu_total_ns - previous.cpu_total_ns
    system = current.system_cpu_ns - previous.system_cpu_ns
    if cpu < 0 or system <= 0:  # counters reset (the container restarted)
        return None
    return round(cpu / system * current.online_cpus * 100.0, 2)


def point_of(sample: StatsSample, cpu: float | None) -> dict[str, Any]:
    limit = sample.memory_limit
    return {
        "at": sample.at,
        "cpu_percent": cpu,
        "memory_bytes": sample.memory_bytes,
        "memory_limit": limit,
        "memory_percent": round(sample.memory_bytes / limit * 100.0, 2) if limit else None,
        "rx_bytes": sample.rx_bytes,
        "tx_bytes": sample.tx_bytes,
        "pids": sample.pids,
    }


class _Minute:
    """One bot's points folded together until the minute's row is written."""

    __slots__ = ("container", "cpu_n", "cpu_sum", "memory", "rx", "tx")

    def __init__(self, container: str) -> None:
        self.container = container
        self.cpu_sum = 0.0
        self.cpu_n = 0
        self.memory = 0
        self.rx = 0
        self.tx = 0


class StatsSampler:
    def __init__(
        self,
        runtime: Backend,
        *,
        interval: float = 10.0,
        window: float = 3600.0,
        workers: int = 4,
        store: Store | None = None,
        history_interval: float = 60.0,
        retention: float = 24 * 3600.0,
        source: Callable[[], dict[str, RuntimeStatus]] | None = None,
    ) -> None:
        self.runtime = runtime
        self.source = source or runtime.list  # the bots' statuses: the event-fed cache
        self.interval = interval
        self.store = store
        self.history_interval = max(1.0, history_interval)
        self.retention = retention
        self._minutes: dict[str, _Minute] = {}
        self._bucket = self._bucket_of(time.time())
        self.rows_written = 0
        self.window = window
        self.workers = max(1, min(workers, 4))
        self._points: dict[str, deque[dict[str, Any]]] = {}
        self._previous: dict[str, tuple[str, StatsSample]] = {}  # bot -> (container, sample)
        self._latest: dict[str, dict[str, Any]] = {}
        self._restarts: dict[str, int] = {}  # the last history row's restart count per bot
        self._running = 0
        self._at: float | None = None
        self._lock = threading.Lock()
        self.loop = BackgroundLoop(
            "stats", self.sample_once, lambda: self.interval, join_timeout=15, paced=True
        )
        self.rounds = 0

    @property
    def capacity(self) -> int:
        """Points kept per bot: one hour's worth."""
        return max(2, math.ceil(self.window / self.interval))

    # -- reading ----------------------------------------------------------------------

    def latest(self) -> dict[str, Any]:
        """The last round: each running bot's latest point, and fleet totals."""
        with self._lock:
            bots = dict(self._latest)
            at, running = self._at, self._running
        return {
            "at": at,
            "interval": self.interval,
            "bots": bots,
            "totals": {
                "cpu_percent": round(sum(p["cpu_percent"] or 0.0 for p in bots.values()), 2),
                "memory_bytes": sum(p["memory_bytes"] for p in bots.values()),
                "running": running,
            },
        }

    def counters(self) -> tuple[dict[str, StatsSample], dict[str, int]]:
        """The last round's raw sample of each running bot (cumulative CPU time and
        network bytes) and each bot's restart count as the last history row has it."""
        with self._lock:
            samples = {bot_id: self._previous[bot_id][1] for bot_id in self._latest}
            return samples, dict(self._restarts)

    def points(self, bot_id: str) -> list[dict[str, Any]]:
        """A bot's points of the last hour, oldest first."""
        cutoff = time.time() - self.window
        with self._lock:
            points = list(self._points.get(bot_id, ()))
        return [p for p in points if p["at"] >= cutoff]

    def history(self, bot_id: str, hours: float) -> list[dict[str, Any]]:
        """A bot's stored per-minute rows of the last ``hours``, oldest first."""
        if self.store is None:
            return []
        return self.store.bot_stats(bot_id, since=time.time() - hours * 3600)

    def fleet_history(self, hours: float, only: set[str] | None = None) -> list[dict[str, Any]]:
        """Per-minute totals over the fleet (or the bots ``only``) for the last ``hours``."""
        if self.store is None:
            return []
        return self.store.fleet_stats(since=time.time() - hours * 3600, only=only)

    # -- sampling ---------------------------------------------------------------------

    def sample_once(self) -> None:
        try:
            statuses = self.source()
        except BotMakerError as exc:
            log.debug("stats round skipped: %s", exc.message)
            return
        running = {
            bot_id: status.container_id
            for bot_id, status in statuses.items()
            if status.running and status.container_id
        }
        samples: list[StatsSample | None] = []
        if running:
            with ThreadPoolExecutor(
                max_workers=min(self.workers, len(running)), thread_name_prefix="stats"
            ) as pool:
                samples = list(pool.map(self._sample, running.values()))
        with self._lock:
            for gone in set(self._points) - set(statuses):  # the bot's container is gone
                del self._points[gone]
            latest: dict[str, dict[str, Any]] = {}
            for (bot_id, container), sample in zip(running.items(), samples, strict=True):
                if sample is None:
                    continue
                previous = self._previous.get(bot_id)
                same = previous is not None and previous[0] == container
                before = previous[1] if previous is not None and same else None
                cpu = cpu_percent(before, sample) if before is not None else None
                if self.store is not None:
                    self._fold(bot_id, container, sample, cpu, before)
                self._previous[bot_id] = (container, sample)
                point = point_of(sample, cpu)
                history = self._points.get(bot_id)
                if history is None or history.maxlen != self.capacity:
                    history = self._points[bot_id] = deque(history or (), maxlen=self.capacity)
                history.append(point)
                latest[bot_id] = point
            for stopped in set(self._previous) - set(running):
                del self._previous[stopped]
            self._latest = latest
            self._running = len(running)
            self._at = time.time()
            self.rounds += 1
        if self.store is not None and time.time() >= self._bucket + self.history_interval:
            self.flush()

    def _fold(
        self,
        bot_id: str,
        container: str,
        sample: StatsSample,
        cpu: float | None,
        previous: StatsSample | None,
    ) -> None:
        minute = self._minutes.get(bot_id)
        if minute is None or minute.container != container:
            minute = self._minutes[bot_id] = _Minute(container)
        if cpu is not None:
            minute.cpu_sum += cpu
            minute.cpu_n += 1
        minute.memory = max(minute.memory, sample.memory_bytes)
        if previous is not None:
            minute.rx += max(0, sample.rx_bytes - previous.rx_bytes)
            minute.tx += max(0, sample.tx_bytes - previous.tx_bytes)

    def flush(self) -> int:
        """Write the current minute's rows (one transaction) and prune old ones."""
        with self._lock:
            minutes, self._minutes = self._minutes, {}
            bucket = self._bucket
            self._bucket = self._bucket_of(time.time())
        if self.store is None:
            return 0
        restarts = self._restart_counts({b: m.container for b, m in minutes.items()})
        with self._lock:
            self._restarts.update(restarts)
            for gone in set(self._restarts) - set(self._points):
                del self._restarts[gone]
        rows = [
            {
                "bot_id": bot_id,
                "minute": int(bucket),
                "cpu_percent": round(m.cpu_sum / m.cpu_n, 2) if m.cpu_n else None,
                "memory_bytes": m.memory,
                "net_rx_bytes": m.rx,
                "net_tx_bytes": m.tx,
                "restarts": restarts.get(bot_id, 0),
            }
            for bot_id, m in minutes.items()
        ]
        try:
            written = self.store.add_bot_stats(rows, prune_before=time.time() - self.retention)
        except BotMakerError as exc:
            log.warning("stats history not written: %s", exc.message)
            return 0
        self.rows_written += written
        return written

    def _restart_counts(self, containers: dict[str, str]) -> dict[str, int]:
        """Each container's RestartCount: one inspect each, once a minute, in the pool."""
        if not containers:
            return {}

        def count(container: str) -> int:
            try:
                return self.runtime.status(container).restart_count or 0
            except BotMakerError:
                return 0

        with ThreadPoolExecutor(
            max_workers=min(self.workers, len(containers)), thread_name_prefix="stats"
        ) as pool:
            counts = list(pool.map(count, containers.values()))
        return dict(zip(containers, counts, strict=True))

    def _bucket_of(self, at: float) -> float:
        return math.floor(at / self.history_interval) * self.history_interval

    def _sample(self, container: str) -> StatsSample | None:
        try:
            return self.runtime.stats(container)
        except BotMakerError as exc:
            log.debug("no stats for %s: %s", container[:12], exc.message)
            return None

    # -- thread -----------------------------------------------------------------------

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
