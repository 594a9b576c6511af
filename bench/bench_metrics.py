"""What one Prometheus scrape of ``GET /metrics`` costs at 1,000 running bots.

A real SQLite store with 1,000 bot rows; the event-fed status cache filled with 1,000
running containers (as the monitor fills it with one list call); the stats sampler's
rounds taken from a stand-in runtime that answers each container's one-shot stats
from memory (two rounds, so CPU % is known, and one history flush, so restart counts
are), and egress refusals for a tenth of the bots. No container runs and no engine is
called, by the scrape or by the seeding. Measured through the ASGI app in process
(policy, route, exposition), against the same run's baseline: ``GET /api/stats``,
which serves the same samples as JSON.

    python -m bench.bench_metrics
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.common import PASSWORD, bench_settings
from botmaker.api import create_app
from botmaker.definition import BotDefinition
from botmaker.runtime.base import RuntimeStatus, StatsSample
from botmaker.services import build_services
from botmaker.services.metrics import count_egress_refusal

BOTS, ROUNDS, TARGET_MS = 1000, 200, 20.0


class MemoryRuntime:
    """What the sampler asks of the engine, answered from memory."""

    def __init__(self) -> None:
        self.round = 0

    def stats(self, container: str) -> StatsSample:
        n = int(container[-4:], 16)
        return StatsSample(
            at=time.time(),
            cpu_total_ns=(self.round + 1) * 10_000_000 * (1 + n % 7),
            system_cpu_ns=(self.round + 1) * 1_000_000_000,
            online_cpus=2,
            memory_bytes=100_000_000 + n * 4096,
            memory_limit=1536 * 1024**2,
            rx_bytes=n * 1000 + self.round * 500,
            tx_bytes=n * 700 + self.round * 300,
            pids=12,
        )

    def status(self, container: str) -> RuntimeStatus:
        return RuntimeStatus(state="running", container_id=container, restart_count=0)


def _timed(label: str, call: object) -> float:
    async def run() -> list[float]:
        assert callable(call)
        for _ in range(20):  # warm caches
            await call()
        samples = []
        for _ in range(ROUNDS):
            start = time.perf_counter_ns()
            await call()
            samples.append((time.perf_counter_ns() - start) / 1e6)
        return samples

    samples = asyncio.run(run())
    p50 = statistics.median(samples)
    p90 = statistics.quantiles(samples, n=10)[8]
    print(f"{label:<52} p50 {p50:7.2f} ms   p90 {p90:7.2f} ms")
    return p50


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    settings = bench_settings(root, "botmaker-standin:latest", stats_interval=3600)
    svc = build_services(settings)
    store = svc.store
    definition = BotDefinition.load(
        "{}",
        name="x",
        columns={"provider": "openai", "model": "gpt-5.1", "image": "img", "channel": "telegram"},
    )
    statuses: dict[str, RuntimeStatus] = {}
    for i in range(BOTS):
        record = store.insert_bot(
            bot_id=str(uuid.uuid4()),
            name=f"bot-{i:04d}",
            provider="openai",
            model="gpt-5.1",
            channel="telegram",
            image="img",
            uid_base=settings.bot_uid_base,
            fixed_uid=None,
            definition=definition,
        )
        store.update_bot(record.id, state="ready")
        container = f"{uuid.uuid4().hex[:60]}{i:04x}"
        statuses[record.id] = RuntimeStatus(
            state="running", container_id=container, started_at="2026-01-01T00:00:00Z"
        )
    cache = svc.bots.statuses
    cache.fill(statuses, cache.token(), at=time.time())
    assert cache.live, "the status cache did not go live"
    memory = MemoryRuntime()
    sampler = svc.stats
    sampler.runtime = memory  # type: ignore[assignment]  # the engine's stats, from memory
    sampler.source = lambda: statuses
    sampler.workers = 1
    for memory.round in range(2):
        sampler.sample_once()
    sampler.flush()
    for bot_id in list(statuses)[: BOTS // 10]:
        count_egress_refusal(bot_id)

    app = create_app(settings, svc)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    client = httpx.AsyncClient(transport=transport, base_url="http://botmaker")

    async def login() -> str:
        answer = await client.post("/api/login", json={"password": PASSWORD})
        token: str = answer.json()["token"]
        return token

    svc.auth.ensure_password()
    token = asyncio.run(login())
    headers = {"Authorization": f"Bearer {token}"}

    async def scrape() -> None:
        answer = await client.get("/metrics")
        assert answer.status_code == 200, answer.text

    async def stats() -> None:
        answer = await client.get("/api/stats", headers=headers)
        assert answer.status_code == 200, answer.text

    async def exposition() -> None:
        svc.metrics.exposition()

    async def body() -> str:
        return (await client.get("/metrics")).text

    text = asyncio.run(body())
    families = list(text_string_to_metric_families(text))
    series = sum(len(f.samples) for f in families)
    print(
        f"{BOTS} running bots: {len(families)} metric families, {series} samples, "
        f"{len(text.encode()) / 1024:.0f} KiB per scrape"
    )
    running = next(f for f in families if f.name == "botmaker_bots_running").samples[0].value
    assert running == BOTS, running
    base = _timed("baseline: GET /api/stats (the same samples as JSON)", stats)
    only = _timed("the exposition alone (collector + text format)", exposition)
    p50 = _timed("GET /metrics (policy, route, exposition)", scrape)
    verdict = "PASS" if p50 < TARGET_MS else "FAIL"
    print(
        f"scrape p50 {p50:.2f} ms vs /api/stats {base:.2f} ms ({p50 / base:.2f}x); "
        f"exposition alone {only:.2f} ms; target < {TARGET_MS:.0f} ms: {verdict}"
    )
    asyncio.run(client.aclose())
    svc.close()


if __name__ == "__main__":
    main()
