"""What OpenTelemetry tracing costs a request: keyring forwards and API requests, on vs off.

Run: ``.venv/bin/python -m bench.bench_tracing [--requests N]`` (about 30 s; no Docker).
Results: docs/keyring-benchmarks.md (*Tracing*).

* Keyring: the fast fake upstream of bench/bench_keyring.py (its own process), and two
  real keyring processes (``python -m botmaker keyring serve``): one without an OTLP
  endpoint (off), one exporting to a real OTLP/HTTP receiver on loopback
  (tests/support/otlp.py, in this process; every batch is decoded). One bot sends
  requests one after the other (keep-alive), the two keyrings taking turns in rounds so
  that drift hits both alike; per request latency percentiles, and each keyring's CPU
  time per request.
* API: BotMaker's ``TraceRequests`` ASGI middleware around a one-route Starlette app,
  called in process (no sockets): the middleware's own cost per request, against the
  same app without it (which is what tracing off is: nothing installed).

It prints the figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import uvloop
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message
from tests.support.keyring import KeyringProcess
from tests.support.otlp import OtlpReceiver

from bench.bench_keyring import BODY, CHUNK, KEY, UPSTREAM, Helper, cpu_seconds, machine
from botmaker.api.tracing import TraceRequests
from botmaker.tracing import start

ROUNDS = 5


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one_bot(url: str, token: str, count: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    samples = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            async with session.post(f"{url}/chat/completions", data=BODY, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise SystemExit(f"HTTP {r.status}")
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def keyring_bench(requests: int) -> None:
    upstream = Helper(UPSTREAM, str(CHUNK))
    with OtlpReceiver() as receiver, tempfile.TemporaryDirectory() as tmp:
        keyrings = {
            "off": KeyringProcess(Path(tmp) / "off"),
            "on": KeyringProcess(Path(tmp) / "on", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint),
        }
        tokens: dict[str, str] = {}
        try:
            for name, keyring in keyrings.items():
                keyring.start()
                keyring.admin.set_upstream(
                    "openai", f"http://127.0.0.1:{upstream.port}/v1", allow_private=True
                )
                keyring.admin.add_key("openai", KEY, label="shared")
                token = keyring.admin.put_bot(str(uuid.uuid4()), providers=["openai"])
                assert token
                tokens[name] = token
            samples: dict[str, list[float]] = {name: [] for name in keyrings}
            cpu = dict.fromkeys(keyrings, 0.0)
            for name, keyring in keyrings.items():  # warm-up
                uvloop.run(one_bot(f"{keyring.url}/v1/openai", tokens[name], 200))
            for _ in range(ROUNDS):
                for name, keyring in keyrings.items():
                    before = cpu_seconds(keyring.pid)
                    samples[name] += uvloop.run(
                        one_bot(f"{keyring.url}/v1/openai", tokens[name], requests // ROUNDS)
                    )
                    cpu[name] += cpu_seconds(keyring.pid) - before
            exported = len(receiver.wait(lambda spans: len(spans) >= 2 * requests, timeout=30))
        finally:
            for keyring in keyrings.values():
                keyring.stop()
            upstream.stop()
    print(f"\nkeyring forward, one bot, {requests} requests per keyring in {ROUNDS} rounds:")
    print(f"{'tracing':<8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8} CPU µs/req")
    for name, values in samples.items():
        print(
            f"{name:<8} {pct(values, 0.5):>8.3f} {pct(values, 0.9):>8.3f} "
            f"{pct(values, 0.99):>8.3f} {statistics.fmean(values):>8.3f} "
            f"{cpu[name] / len(values) * 1e6:>11.0f}"
        )
    delta = pct(samples["on"], 0.5) - pct(samples["off"], 0.5)
    cpu_delta = (cpu["on"] - cpu["off"]) / requests * 1e6
    print(f"on - off: p50 {delta * 1000:+.0f} µs, keyring CPU {cpu_delta:+.0f} µs per request")
    print(f"spans received by the OTLP receiver: {exported} (server + client per request)")


async def _asgi_calls(app: ASGIApp, count: int) -> float:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/bots/abc123",
        "raw_path": b"/api/bots/abc123",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 7100),
        "http_version": "1.1",
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return

    started = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - started) / count * 1e6


def api_bench(calls: int) -> None:
    async def bot(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    plain = Starlette(routes=[Route("/api/bots/{bot}", bot)])
    # every span queued and exported (the default queue, 2,048, would drop most of a burst)
    os.environ.setdefault("OTEL_BSP_MAX_QUEUE_SIZE", str(2 * calls))
    with OtlpReceiver() as receiver:
        tracing = start(receiver.endpoint + "/v1/traces", "bench", "bench")
        assert tracing is not None
        traced = TraceRequests(plain, tracing)
        off, on = [], []
        for _ in range(ROUNDS):
            off.append(asyncio.run(_asgi_calls(plain, calls // ROUNDS)))
            on.append(asyncio.run(_asgi_calls(traced, calls // ROUNDS)))
        tracing.shutdown()
        exported = len(receiver.spans)
    print(f"\nAPI request (ASGI, in process), {calls} calls each, median of {ROUNDS} rounds:")
    print(f"off (no middleware): {statistics.median(off):.1f} µs per request")
    print(f"on (TraceRequests):  {statistics.median(on):.1f} µs per request")
    print(f"on - off: {statistics.median(on) - statistics.median(off):+.1f} µs per request")
    print(f"spans received: {exported} of {calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="keyring requests per side")
    args = parser.parse_args()
    print("BotMaker tracing overhead benchmark")
    print(f"machine: {machine()}")
    keyring_bench(args.requests)
    api_bench(20_000)


if __name__ == "__main__":
    main()
