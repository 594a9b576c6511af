"""Benchmark of the keyring proxy against calling the upstream directly, in the same run.

Run: ``.venv/bin/python bench/bench_keyring.py [--quick]`` (``--quick``: about 20 s,
for CI smoke; the full run takes about a minute and a half). Nothing needs Docker.

Three processes, each on its own uvloop event loop:

* a fast fake upstream (``python -c UPSTREAM``): a small OpenAI chat completion with
  usage at ``POST /v1/chat/completions``, and a large SSE stream (``POST /v1/stream``,
  chat-completion-chunk events in 64 KiB writes, usage at the end) for throughput;
* the real keyring (``python -m botmaker keyring serve``, via tests/support/keyring.py)
  with the upstream as its ``openai`` base URL, one shared key and one token per bot;
* a bare aiohttp relay (``python -c RELAY``): the same hop without any keyring logic
  (no auth, metering, scrubbing or header policy), to tell what the hop itself costs
  from what the keyring adds. Full mode only (``--relay`` forces it in quick mode).

The bench process is the client: N concurrent bots, each with its own keep-alive
connection and token, each doing requests back to back. Per concurrency level the
paths take turns (direct, relay, proxy, repeated ``rounds`` times) so that drift hits
all of them alike. Besides wall-clock figures it reads the CPU time each process used
(``/proc/<pid>/stat``), which says where the time goes on a machine where the client,
the proxy and the upstream share few cores.

It prints figures and the issue's targets (p50 overhead under 1 ms; streamed
throughput at least 90% of direct) with PASS/MISS; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import uvloop

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-bench-0123456789abcdefghijklmnopqrstuvwxyz"
CHUNK = 64 * 1024
MIB = 1024 * 1024
BODY = json.dumps(
    {
        "model": "gpt-5.5",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello to the benchmark."},
        ],
    }
).encode()
TARGET_OVERHEAD_MS = 1.0
TARGET_THROUGHPUT = 0.90

# The fake upstream: one process, its own event loop. Prints {"port": N} when ready.
UPSTREAM = r"""
import asyncio, json, sys
import uvloop
from aiohttp import web

CHUNK = int(sys.argv[1])
USAGE = {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}
CHAT = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
    "model": "gpt-5.5",
    "choices": [{"index": 0, "message": {"role": "assistant",
        "content": "Hello, benchmark! Nice to meet you.", "refusal": None},
        "logprobs": None, "finish_reason": "stop"}],
    "usage": USAGE, "service_tier": "default", "system_fingerprint": "fp_bench",
}).encode()
EVENT = ("data: " + json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
    "model": "gpt-5.5",
    "choices": [{"index": 0, "delta": {"content": "x" * 800}, "finish_reason": None}],
}) + "\n\n").encode()
BLOCK = (EVENT * (CHUNK // len(EVENT) + 1))[:CHUNK]
BLOCK = BLOCK[: BLOCK.rfind(b"\n\n") + 2]  # whole events only
LAST = ("data: " + json.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
    "choices": [], "usage": USAGE}) + "\n\ndata: [DONE]\n\n").encode()


async def chat(request):
    await request.read()
    return web.Response(body=CHAT, content_type="application/json")


async def stream(request):
    await request.read()
    size = int(request.query["bytes"])
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    sent = 0
    while sent < size:
        await out.write(BLOCK)
        sent += len(BLOCK)
    await out.write(LAST)
    await out.write_eof()
    return out


async def main():
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/stream", stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    await asyncio.Event().wait()


uvloop.run(main())
"""

# A bare relay: the hop the proxy makes (client session with keep-alive, body read
# whole, response streamed with iter_any) without any of the keyring's logic.
RELAY = r"""
import asyncio, json, sys
import aiohttp, uvloop
from aiohttp import web

UPSTREAM = sys.argv[1]
SKIP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


async def relay(request):
    session = request.app["session"]
    body = await request.read()
    headers = {k: v for k, v in request.headers.items() if k.lower() not in SKIP}
    url = UPSTREAM + request.match_info["tail"]
    if request.query_string:
        url += "?" + request.query_string
    async with session.request(request.method, url, headers=headers, data=body or None,
                               allow_redirects=False) as response:
        out = web.StreamResponse(status=response.status, headers={
            k: v for k, v in response.headers.items() if k.lower() not in SKIP})
        await out.prepare(request)
        async for chunk in response.content.iter_any():
            await out.write(chunk)
        await out.write_eof()
        return out


async def main():
    app = web.Application()

    async def session(app):
        app["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1024), auto_decompress=False)
        yield
        await app["session"].close()

    app.cleanup_ctx.append(session)
    app.router.add_route("*", "/v1/openai{tail:/.*}", relay)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    await asyncio.Event().wait()


uvloop.run(main())
"""


# -- processes ---------------------------------------------------------------------------


class Helper:
    """A ``python -c`` helper process that prints ``{"port": N}`` once it listens."""

    def __init__(self, code: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout: IO[bytes] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            _, err = self.process.communicate(timeout=10)
            raise SystemExit(f"helper process failed: {err.decode()[-2000:]}")
        self.port = int(json.loads(line)["port"])
        self.pid = self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, uvloop {uvloop.__version__}, {platform.system()} "
        f"{platform.release()}"
    )


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Route:
    """One way to reach the upstream: its base URL, the pid that serves it, one token per bot."""

    name: str
    base: str
    pid: int | None  # the hop's process (None: direct)
    tokens: list[str]
    samples: dict[int, list[float]] = field(default_factory=dict)  # conc -> latencies (ms)
    hop_cpu: dict[int, float] = field(default_factory=dict)  # conc -> hop CPU seconds
    streamed: dict[int, tuple[int, float]] = field(default_factory=dict)  # conc -> bytes, s
    stream_cpu: dict[int, float] = field(default_factory=dict)


@dataclass
class Plan:
    levels: list[int]
    requests: dict[int, int]  # conc -> requests per path (all rounds)
    stream_total: int  # bytes per path per level (all rounds)
    stream_max: int  # the largest single response
    rounds: int


def plan(quick: bool) -> Plan:
    if quick:
        return Plan([1, 10, 100], {1: 800, 10: 2000, 100: 4000}, 96 * MIB, 24 * MIB, 2)
    return Plan([1, 10, 100], {1: 3000, 10: 8000, 100: 16000}, 384 * MIB, 32 * MIB, 3)


async def run_latency(
    session: aiohttp.ClientSession, path: Route, conc: int, total: int
) -> list[float]:
    """``total`` requests from ``conc`` bots, each back to back; the latencies in ms."""
    url = f"{path.base}/chat/completions"
    per_bot = max(1, total // conc)
    samples: list[float] = []

    async def bot(token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for _ in range(per_bot):
            start = time.perf_counter()
            async with session.post(url, data=BODY, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"{path.name}: HTTP {response.status}")
            samples.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(bot(path.tokens[i]) for i in range(conc)))
    return samples


async def run_streams(
    session: aiohttp.ClientSession, path: Route, conc: int, total: int, largest: int
) -> int:
    """``conc`` bots each streaming its share of ``total`` bytes; the bytes received."""
    share = total // conc
    size = min(largest, share)
    count = max(1, round(share / size))
    url = f"{path.base}/stream?bytes={size}"
    got = 0

    async def bot(token: str) -> None:
        nonlocal got
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for _ in range(count):
            received = 0
            async with session.post(url, data=BODY, headers=headers) as response:
                if response.status != 200:
                    raise SystemExit(f"{path.name}: HTTP {response.status}")
                async for chunk in response.content.iter_any():
                    received += len(chunk)
            if received < size:
                raise SystemExit(f"{path.name}: stream cut at {received} of {size} bytes")
            got += received

    await asyncio.gather(*(bot(path.tokens[i]) for i in range(conc)))
    return got


async def measured(pid: int | None, work: Awaitable[Any]) -> tuple[Any, float, float]:
    """``work``'s result, its wall time and the CPU seconds process ``pid`` spent on it."""
    before = cpu_seconds(pid) if pid else 0.0
    start = time.perf_counter()
    result = await work
    wall = time.perf_counter() - start
    return result, wall, (cpu_seconds(pid) - before) if pid else 0.0


async def bench(paths: list[Route], plan_: Plan, upstream_pid: int) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    cpu: dict[str, float] = {}
    async with aiohttp.ClientSession(connector=connector) as session:
        # warm-up: open every bot's connection on every path, fill the proxy's caches
        for path in paths:
            await run_latency(session, path, max(plan_.levels), 5 * max(plan_.levels))
            await run_streams(session, path, 10, 20 * MIB, 2 * MIB)

        for conc in plan_.levels:
            per_round = max(conc, plan_.requests[conc] // plan_.rounds)
            for _ in range(plan_.rounds):
                for path in paths:
                    await run_latency(session, path, conc, 2 * conc)  # settle this level
                    samples, _, hop = await measured(
                        path.pid, run_latency(session, path, conc, per_round)
                    )
                    path.samples.setdefault(conc, []).extend(samples)
                    path.hop_cpu[conc] = path.hop_cpu.get(conc, 0.0) + hop

        up_before, me_before = cpu_seconds(upstream_pid), time.process_time()
        for conc in plan_.levels:
            share = plan_.stream_total // plan_.rounds
            for _ in range(plan_.rounds):
                for path in paths:
                    got, wall, hop = await measured(
                        path.pid,
                        run_streams(session, path, conc, share, plan_.stream_max),
                    )
                    bytes_, seconds = path.streamed.get(conc, (0, 0.0))
                    path.streamed[conc] = (bytes_ + got, seconds + wall)
                    path.stream_cpu[conc] = path.stream_cpu.get(conc, 0.0) + hop
        cpu["upstream"] = cpu_seconds(upstream_pid) - up_before
        cpu["client"] = time.process_time() - me_before
    return cpu


# -- reporting ---------------------------------------------------------------------------


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def mbps(route: Route, conc: int) -> float:
    got, seconds = route.streamed[conc]
    return got / MIB / seconds


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(paths: list[Route], plan_: Plan) -> bool:
    direct, proxy = paths[0], paths[-1]
    relay = paths[1] if len(paths) == 3 else None
    all_ok = True

    print("\nLatency per request (ms): small chat completion, bots sending back to back")
    head = f"{'bots':>5} {'requests':>8}  {'direct p50':>10} {'p99':>6}"
    if relay:
        head += f"  {'relay p50':>9} {'p99':>6}"
    head += f"  {'proxy p50':>9} {'p99':>6}  {'overhead p50':>12} {'p99':>6}  {'ratio':>5}"
    head += f"  {'proxy CPU/req':>13}  target"
    print(head)
    for conc in plan_.levels:
        d, p = direct.samples[conc], proxy.samples[conc]
        d50, d99, p50, p99 = pct(d, 0.5), pct(d, 0.99), pct(p, 0.5), pct(p, 0.99)
        over = p50 - d50
        ok = over < TARGET_OVERHEAD_MS
        all_ok &= ok
        line = f"{conc:>5} {len(p):>8}  {d50:>10.3f} {d99:>6.2f}"
        if relay:
            r = relay.samples[conc]
            line += f"  {pct(r, 0.5):>9.3f} {pct(r, 0.99):>6.2f}"
        cpu_us = proxy.hop_cpu[conc] / len(p) * 1e6
        line += f"  {p50:>9.3f} {p99:>6.2f}  {over:>+12.3f} {p99 - d99:>+6.2f}  {p50 / d50:>5.2f}"
        line += f"  {cpu_us:>10.0f} us  {verdict(ok)} (p50 overhead < {TARGET_OVERHEAD_MS:g} ms)"
        print(line)
    if relay:
        print(
            "  hop CPU per request (us):  "
            + "   ".join(
                f"{c} bots: relay {relay.hop_cpu[c] / len(relay.samples[c]) * 1e6:.0f}"
                f", proxy {proxy.hop_cpu[c] / len(proxy.samples[c]) * 1e6:.0f}"
                for c in plan_.levels
            )
        )

    print(
        f"\nStreamed throughput (MB/s, 1 MB = 2^20 bytes): SSE in {CHUNK // 1024} KiB writes, "
        f"{plan_.stream_total // MIB} MiB per path per level"
    )
    head = f"{'streams':>7} {'each':>8}  {'direct':>8}"
    if relay:
        head += f"  {'relay':>8}"
    head += f"  {'proxy':>8}  {'proxy/direct':>12}  {'proxy CPU s/GiB':>15}  target"
    print(head)
    for conc in plan_.levels:
        share = plan_.stream_total // plan_.rounds // conc
        each = min(plan_.stream_max, share)
        rate = {path.name: path.streamed[conc][0] / MIB / path.streamed[conc][1] for path in paths}
        ratio = rate[proxy.name] / rate[direct.name]
        ok = ratio >= TARGET_THROUGHPUT
        all_ok &= ok
        gib = proxy.streamed[conc][0] / 1024**3
        line = f"{conc:>7} {each / MIB:>5.1f} MB  {rate[direct.name]:>8.0f}"
        if relay:
            line += f"  {rate[relay.name]:>8.0f}"
        line += f"  {rate[proxy.name]:>8.0f}  {ratio:>11.0%}  {proxy.stream_cpu[conc] / gib:>15.2f}"
        line += f"  {verdict(ok)} (>= {TARGET_THROUGHPUT:.0%} of direct)"
        print(line)
    if relay:
        print(
            "  relay/direct: "
            + "  ".join(f"{c} streams {mbps(relay, c) / mbps(direct, c):.0%}" for c in plan_.levels)
        )
    return all_ok


# -- main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run (CI)")
    parser.add_argument("--relay", action="store_true", help="include the bare relay in --quick")
    args = parser.parse_args()
    plan_ = plan(args.quick)
    with_relay = args.relay or not args.quick

    sys.path.insert(0, str(ROOT))
    from tests.support.keyring import KeyringProcess  # the real process, free ports

    started = time.perf_counter()
    print(f"BotMaker keyring proxy benchmark ({'quick' if args.quick else 'full'} run)")
    print(f"machine: {machine()}")
    print(
        "note: client, proxy and upstream are separate processes competing for these CPUs; "
        "on 2 cores the proxy's extra hop takes CPU the other two would use."
    )

    upstream = Helper(UPSTREAM, str(CHUNK))
    relay = Helper(RELAY, f"http://127.0.0.1:{upstream.port}/v1") if with_relay else None
    bots = max(plan_.levels)
    with tempfile.TemporaryDirectory() as tmp:
        keyring = KeyringProcess(Path(tmp), BOTMAKER_KEYRING_FLUSH="1")
        keyring.start()
        try:
            admin = keyring.admin
            admin.set_upstream("openai", f"http://127.0.0.1:{upstream.port}/v1", allow_private=True)
            admin.add_key("openai", KEY, label="shared")
            tokens = []
            for _ in range(bots):
                token = admin.put_bot(str(uuid.uuid4()), providers=["openai"])
                assert token
                tokens.append(token)
            paths = [Route("direct", f"http://127.0.0.1:{upstream.port}/v1", None, [KEY] * bots)]
            if relay is not None:
                paths.append(
                    Route(
                        "relay", f"http://127.0.0.1:{relay.port}/v1/openai", relay.pid, [KEY] * bots
                    )
                )
            paths.append(Route("proxy", f"{keyring.url}/v1/openai", keyring.pid, tokens))
            cpu = uvloop.run(bench(paths, plan_, upstream.pid))
            ok = report(paths, plan_)
            usage = admin.usage(days=1)
        finally:
            log = keyring.stop()
            upstream.stop()
            if relay is not None:
                relay.stop()
    if "Traceback" in log:
        print(f"\nthe keyring logged an error:\n{log[-3000:]}")
    today = [bot["today"] for bot in usage["bots"].values()]
    print(
        f"\nkeyring metered {sum(t['requests'] for t in today)} requests, "
        f"{sum(t['errors'] for t in today)} errors, "
        f"{sum(t['output_tokens'] for t in today)} output tokens; stream phase CPU: "
        f"upstream {cpu['upstream']:.1f} s, client {cpu['client']:.1f} s"
    )
    print(
        f"targets: {'all met' if ok else 'not all met'}; "
        f"run took {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
