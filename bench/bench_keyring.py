"""Benchmark of the keyring proxy against calling the upstream directly, in the same run.

Run: ``.venv/bin/python bench/bench_keyring.py [--quick]`` (``--quick``: about 15 s,
for CI smoke; the full run takes about 70 s). Needs no Docker. Results and how to read
them: docs/keyring-benchmarks.md.

Processes, each on its own uvloop event loop:

* a fast fake upstream (``python -c UPSTREAM``): a small OpenAI chat completion with
  usage at ``POST /v1/chat/completions``, and a large SSE stream (``POST /v1/stream``,
  chat-completion-chunk events in 64 KiB writes, usage at the end) for throughput;
* the real keyring (``python -m botmaker keyring serve``, via tests/support/keyring.py)
  with the upstream as its ``openai`` base URL, one shared key and one token per bot;
* a bare aiohttp relay (``python -c RELAY``): the same hop without any keyring logic
  (no auth, metering, scrubbing or header policy), to tell what the hop itself costs
  from what the keyring adds. Full mode only (``--relay`` adds it to a quick run).

The bench process is the client: N concurrent bots, each with its own keep-alive
connection and token. Three measurements per path (direct, relay, proxy):

* latency, closed loop: at 1, 10 and 100 bots, each sends its next request as soon as
  it has read the answer (from 10 bots on this saturates a small machine);
* latency, paced: at 10 and 100 bots sending ``PACED_RATE`` requests per second in all,
  on fixed schedules: the hop's latency without a queue in front of it;
* streamed throughput: 1, 10 and 100 concurrent SSE streams.

Per level the paths take turns (direct, relay, proxy, ``rounds`` times) so that drift
hits all of them alike. Besides wall-clock figures it reads the CPU time each process
used (``/proc/<pid>/stat``), which says where the time goes when the client, the hop
and the upstream share few cores, and what else ran on the machine meanwhile.

It prints the figures and the issue's targets (p50 overhead under 1 ms; streamed
throughput at least 90% of direct) with PASS/MISS; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
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
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop(); its stderr
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        stdout: IO[bytes] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            self.log.seek(0)
            raise SystemExit(f"helper process failed: {self.log.read().decode()[-2000:]}")
        self.port = int(json.loads(line)["port"])
        self.pid = self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
        self.log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float, float]:
    """CPU seconds the machine spent so far in processes, in interrupts, and stolen (VM)."""
    with open("/proc/stat", encoding="ascii") as fh:
        user, nice, system, _, _, irq, softirq, steal = (int(x) for x in fh.readline().split()[1:9])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system) / tick, (irq + softirq) / tick, steal / tick


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
        f"aiohttp {aiohttp.__version__}, uvloop {importlib.metadata.version('uvloop')}, "
        f"{platform.system()} {platform.release()}"
    )


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Tally:
    """What one path did at one concurrency level, summed over the rounds."""

    count: int = 0  # requests or bytes
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds
    samples: list[float] = field(default_factory=list)  # latencies (ms)


@dataclass
class Route:
    """One way to reach the upstream: its base URL, its hop's pid, one token per bot."""

    name: str
    base: str
    pid: int | None  # the hop's process (None: direct)
    tokens: list[str]
    latency: dict[int, Tally] = field(default_factory=dict)  # concurrency -> requests
    paced: dict[int, Tally] = field(default_factory=dict)  # concurrency -> requests
    stream: dict[int, Tally] = field(default_factory=dict)  # concurrency -> bytes


@dataclass
class Plan:
    levels: list[int]
    requests: dict[int, int]  # concurrency -> requests per path (all rounds)
    stream_total: int  # bytes per path per level (all rounds)
    stream_max: int  # the largest single response
    rounds: int
    paced: dict[int, int]  # concurrency -> requests per path at PACED_RATE (all rounds)


#: Requests per second all bots together send in the paced test: well under what the
#: proxy can serve here (about 900 req/s from one bot, 2000 from 100), so no queue forms.
PACED_RATE = 400.0


def plan(quick: bool) -> Plan:
    if quick:
        return Plan(
            [1, 10, 100], {1: 800, 10: 2000, 100: 4000}, 96 * MIB, 24 * MIB, 2, {10: 400, 100: 800}
        )
    return Plan(
        [1, 10, 100],
        {1: 3000, 10: 8000, 100: 16000},
        384 * MIB,
        32 * MIB,
        3,
        {10: 1500, 100: 3000},
    )


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def run_latency(
    session: aiohttp.ClientSession, route: Route, conc: int, total: int, rate: float = 0.0
) -> list[float]:
    """``total`` requests from ``conc`` bots; the latencies in ms.

    Each bot sends its next request as soon as it has read the previous answer or, with
    ``rate``, on a fixed schedule (all bots together: ``rate`` requests per second,
    their phases spread evenly), so that the machine is not saturated.
    """
    url = f"{route.base}/chat/completions"
    per_bot = max(1, total // conc)
    samples: list[float] = []
    loop = asyncio.get_running_loop()
    interval = conc / rate if rate else 0.0
    begin = loop.time()

    async def bot(index: int, token: str) -> None:
        sent = headers(token)
        next_at = begin + interval * index / conc
        for _ in range(per_bot):
            if interval:
                await asyncio.sleep(max(0.0, next_at - loop.time()))
                next_at += interval
            start = time.perf_counter()
            async with session.post(url, data=BODY, headers=sent) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"{route.name}: HTTP {response.status}")
            samples.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(bot(i, route.tokens[i]) for i in range(conc)))
    return samples


async def run_streams(
    session: aiohttp.ClientSession, route: Route, conc: int, total: int, largest: int
) -> int:
    """``conc`` bots each streaming its share of ``total`` bytes; the bytes received."""
    share = total // conc
    size = min(largest, share)
    count = max(1, round(share / size))
    url = f"{route.base}/stream?bytes={size}"
    got = 0

    async def bot(token: str) -> None:
        nonlocal got
        for _ in range(count):
            received = 0
            async with session.post(url, data=BODY, headers=headers(token)) as response:
                if response.status != 200:
                    raise SystemExit(f"{route.name}: HTTP {response.status}")
                async for chunk in response.content.iter_any():
                    received += len(chunk)
            if received < size:
                raise SystemExit(f"{route.name}: stream cut at {received} of {size} bytes")
            got += received

    await asyncio.gather(*(bot(route.tokens[i]) for i in range(conc)))
    return got


async def measure(tally: Tally, pids: dict[str, int], work: Awaitable[Any]) -> Any:
    """Await ``work``, adding its wall time and each process's CPU time to ``tally``."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    client = time.process_time()
    start = time.perf_counter()
    result = await work
    tally.wall += time.perf_counter() - start
    tally.cpu["client"] = tally.cpu.get("client", 0.0) + time.process_time() - client
    for name, pid in pids.items():
        tally.cpu[name] = tally.cpu.get(name, 0.0) + cpu_seconds(pid) - before[name]
    return result


async def bench(routes: list[Route], plan_: Plan, upstream_pid: int) -> None:
    connector = aiohttp.TCPConnector(limit=0)  # keep-alive, one connection per busy bot
    async with aiohttp.ClientSession(connector=connector) as session:
        # warm-up: open every bot's connection on every path, fill the proxy's caches
        for route in routes:
            await run_latency(session, route, max(plan_.levels), 5 * max(plan_.levels))
            await run_streams(session, route, 10, 20 * MIB, 2 * MIB)

        for conc in plan_.levels:
            per_round = max(conc, plan_.requests[conc] // plan_.rounds)
            for _ in range(plan_.rounds):
                for route in routes:
                    pids = {"upstream": upstream_pid} | ({"hop": route.pid} if route.pid else {})
                    tally = route.latency.setdefault(conc, Tally())
                    await run_latency(session, route, conc, 2 * conc)  # settle this level
                    samples = await measure(
                        tally, pids, run_latency(session, route, conc, per_round)
                    )
                    tally.samples.extend(samples)
                    tally.count += len(samples)

        for conc, total in plan_.paced.items():
            per_round = max(conc, total // plan_.rounds)
            for _ in range(plan_.rounds):
                for route in routes:
                    pids = {"upstream": upstream_pid} | ({"hop": route.pid} if route.pid else {})
                    tally = route.paced.setdefault(conc, Tally())
                    samples = await measure(
                        tally, pids, run_latency(session, route, conc, per_round, PACED_RATE)
                    )
                    tally.samples.extend(samples)
                    tally.count += len(samples)

        for conc in plan_.levels:
            share = plan_.stream_total // plan_.rounds
            for _ in range(plan_.rounds):
                for route in routes:
                    pids = {"upstream": upstream_pid} | ({"hop": route.pid} if route.pid else {})
                    tally = route.stream.setdefault(conc, Tally())
                    tally.count += await measure(
                        tally, pids, run_streams(session, route, conc, share, plan_.stream_max)
                    )


# -- reporting ---------------------------------------------------------------------------


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def cpu_text(tally: Tally, per: float, unit: str) -> str:
    """CPU time per request (us) or per GiB (s) of each process, and the cores busy."""
    parts = [
        f"{name} {tally.cpu[name] / per:{unit}}"
        if name in tally.cpu
        else f"{name} {'-':>{len(format(0.0, unit))}}"
        for name in CPU_NAMES
    ]
    busy = sum(tally.cpu.values()) / tally.wall
    return "  ".join(parts) + f"  = {busy:.2f} cores"


CPU_NAMES = ("client", "upstream", "hop")


def latency_table(
    routes: list[Route], levels: list[int], tallies: Callable[[Route], dict[int, Tally]]
) -> bool:
    direct, proxy = routes[0], routes[-1]
    all_ok = True
    print(
        f"{'bots':>4}  {'path':<6} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7}"
        f"  {'CPU us/request (client upstream hop)':<46}  p50 overhead vs direct"
    )
    for conc in levels:
        b50 = pct(tallies(direct)[conc].samples, 0.5)
        for route in routes:
            tally = tallies(route)[conc]
            p50, p99 = pct(tally.samples, 0.5), pct(tally.samples, 0.99)
            cpu = cpu_text(tally, tally.count / 1e6, "5.0f")
            line = (
                f"{conc:>4}  {route.name:<6} {tally.count:>8} {p50:>8.3f} {p99:>8.2f}"
                f" {tally.count / tally.wall:>7.0f}  {cpu:<46}"
            )
            if route is not direct:
                line += f"  {p50 - b50:+.3f} ms ({p50 / b50:.2f}x)"
            if route is proxy:
                ok = p50 - b50 < TARGET_OVERHEAD_MS
                all_ok &= ok
                line += f"  {verdict(ok)}"
            print(line)
    return all_ok


def report(routes: list[Route], plan_: Plan) -> bool:
    direct, proxy = routes[0], routes[-1]
    all_ok = True

    print(
        "\nLatency per request, closed loop: a small chat completion (JSON with usage); each\n"
        "bot sends its next request as soon as it has read the answer, so from 10 bots on\n"
        "the machine is saturated and latency is bots / throughput. CPU: us per request."
    )
    all_ok &= latency_table(routes, plan_.levels, lambda route: route.latency)
    print(
        f"\nLatency per request, paced: the same request, all bots together sending "
        f"{PACED_RATE:.0f} per second\n(each bot on a fixed schedule), well below saturation."
    )
    all_ok &= latency_table(routes, list(plan_.paced), lambda route: route.paced)

    print(
        f"\nStreamed throughput: SSE (chat.completion.chunk events) written in {CHUNK // 1024} "
        f"KiB pieces, {plan_.stream_total // MIB} MiB\nper path per level; MB/s with "
        "1 MB = 2^20 bytes. CPU: per GiB streamed, in seconds."
    )
    print(
        f"{'streams':>7}  {'path':<6} {'each':>8} {'MB/s':>7} {'vs direct':>9}"
        f"  CPU s/GiB (client upstream hop)"
    )
    for conc in plan_.levels:
        base = direct.stream[conc]
        base_rate = base.count / MIB / base.wall
        each = min(plan_.stream_max, plan_.stream_total // plan_.rounds // conc)
        for route in routes:
            tally = route.stream[conc]
            rate = tally.count / MIB / tally.wall
            cpu = cpu_text(tally, tally.count / 1024**3, "5.2f")
            line = (
                f"{conc:>7}  {route.name:<6} {each / MIB:>5.1f} MB {rate:>7.0f}"
                f" {rate / base_rate:>9.0%}  {cpu}"
            )
            if route is proxy:
                ok = rate / base_rate >= TARGET_THROUGHPUT
                all_ok &= ok
                line += f"  {verdict(ok)}"
            print(line)
    return all_ok


# -- main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~15 s smoke run (CI)")
    parser.add_argument("--relay", action="store_true", help="include the bare relay in --quick")
    args = parser.parse_args()
    plan_ = plan(args.quick)
    with_relay = args.relay or not args.quick

    sys.path.insert(0, str(ROOT))
    from tests.support.keyring import KeyringProcess  # the real process, free ports

    started = time.perf_counter()
    print(f"BotMaker keyring proxy benchmark ({'quick' if args.quick else 'full'} run)")
    print(f"machine: {machine()}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"load average before the run: {load}. The client, the upstream and the hop are\n"
        "separate processes sharing these CPUs: with 2 cores, the hop's CPU is taken from\n"
        "the other two, so at 10 and 100 bots the figures measure a saturated machine."
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
            routes = [Route("direct", f"http://127.0.0.1:{upstream.port}/v1", None, [KEY] * bots)]
            if relay is not None:
                routes.append(
                    Route(
                        "relay", f"http://127.0.0.1:{relay.port}/v1/openai", relay.pid, [KEY] * bots
                    )
                )
            routes.append(Route("proxy", f"{keyring.url}/v1/openai", keyring.pid, tokens))
            pids = [upstream.pid, keyring.pid] + ([relay.pid] if relay else [])
            ours, everyone = [cpu_seconds(pid) for pid in pids], machine_busy()
            client, wall = time.process_time(), time.perf_counter()
            uvloop.run(bench(routes, plan_, upstream.pid))
            wall = time.perf_counter() - wall
            mine = time.process_time() - client
            mine += sum(cpu_seconds(pid) - was for pid, was in zip(pids, ours, strict=True))
            after = machine_busy()
            others = (after[0] - everyone[0] - mine) / wall
            irq, steal = (after[1] - everyone[1]) / wall, (after[2] - everyone[2]) / wall
            ok = report(routes, plan_)
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
        f"{sum(t['output_tokens'] for t in today)} output tokens"
    )
    print(
        f"during the measurements: other processes used {max(0.0, others):.2f} cores, "
        f"interrupts (loopback networking) {irq:.2f}, VM steal {steal:.2f}"
    )
    print(
        f"targets (p50 overhead < {TARGET_OVERHEAD_MS:g} ms; throughput >= "
        f"{TARGET_THROUGHPUT:.0%} of direct): {'all met' if ok else 'not all met'}; "
        f"run took {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
