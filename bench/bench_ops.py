"""Operations: create latency, the bot list at scale, log streaming, idle footprint.

Run: ``.venv/bin/python -m bench.bench_ops [--quick]`` (needs a running engine; builds
the stand-in image locally). Every figure is printed next to a baseline measured in
the same run; nothing is asserted. The machine is shared (other test runs may be
busy on it), so each part also prints how busy the machine was meanwhile, from
``/proc/stat`` and every process's CPU time, split into this benchmark (the bench
process and its BotMaker server), the Docker engine, and everything else.

1. create-to-running: one bot (median of N) and a batch created concurrently (a pool
   of 10 threads) through BotMaker's service layer (keyring off), against the same
   hardened containers created and started directly through the Docker API — the floor.
2. ``GET /api/bots`` p50/p90 with 10, 100 and 1,000 bots (at most 100 running; the
   rest are stopped bots: a row and a created, never started container), next to the
   engine's own list call.
3. log streaming: lines per second from a chatty bot to an SSE client
   (``GET /api/bots/{id}/logs``) against ``docker logs -f`` on the same container over
   the same seconds, a replay of the stored log both ways, and the server's RSS with
   50 slow SSE clients attached.
4. the server's own RSS and CPU when idle with 1,000 bots in the store (100 running).

Parts 2-4 run ``botmaker serve`` as a subprocess, so its RSS and CPU come from /proc.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import docker
import docker.errors
import httpx
from tests.conftest import cleanup_instance
from tests.support.checks import log_in
from tests.support.images import (
    STANDIN_REPO,
    STANDIN_TAG,
    TEST_IMAGE_LABEL,
    build_standin,
    rootfs_tar,
)

from bench.common import PASSWORD, add_stopped_bot, bench_settings
from botmaker.config import BotLimits, Settings
from botmaker.runtime.policy import LABEL_INSTANCE, BotIdentity, bot_container_spec
from botmaker.services import Services, build_services
from botmaker.services.schemas import BotCreate

CLK_TCK = os.sysconf("SC_CLK_TCK")
ENGINE_COMMS = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc")

CHATTY_TAG = "chatty"
CHATTY_PAD = 200
#: Like the flood image, but it writes while /tmp/go exists, and can be paused again.
CHATTY_SCRIPT = (
    f'pad=$(printf "%0{CHATTY_PAD}d" 0); echo "chatty: ready"; i=0; '
    "while :; do while [ ! -e /tmp/go ]; do usleep 20000; done; "
    'while [ -e /tmp/go ]; do i=$((i+1)); echo "chatty $i $pad"; done; done'
)


# -- figures ---------------------------------------------------------------------------


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, samples: list[float], baseline: float | None = None, unit: str = "ms") -> float:
    median = statistics.median(samples)
    ratio = f"{median / baseline:6.2f}x baseline" if baseline else ""
    print(f"  {name:<50} p50 {median:8.1f} {unit}  p90 {pct(samples, 0.9):8.1f} {unit}  {ratio}")
    return median


# -- how busy the machine was ------------------------------------------------------------


@dataclass
class Snapshot:
    at: float
    busy: int  # jiffies, all cores
    total: int
    procs: dict[int, tuple[str, int]]  # pid -> (comm, utime+stime jiffies)


def _proc_times() -> dict[int, tuple[str, int]]:
    out: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        out[int(entry)] = (comm, int(fields[11]) + int(fields[12]))
    return out


def snapshot() -> Snapshot:
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in cpu[:8]]
    idle = values[3] + values[4]
    return Snapshot(time.monotonic(), sum(values) - idle, sum(values), _proc_times())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return 0.0


def machine_load(start: Snapshot, end: Snapshot, ours: set[int]) -> str:
    """One line: the machine's CPU use over the window, split by who used it."""
    cores = os.cpu_count() or 1
    wall = max(end.at - start.at, 1e-6)
    busy = 100 * (end.busy - start.busy) / max(end.total - start.total, 1) * cores

    def used(pid: int) -> int:
        comm, after = end.procs[pid]
        before = start.procs.get(pid, (comm, 0))[1]
        return max(after - before, 0)

    by_comm: Counter[str] = Counter()
    mine = engine = 0
    for pid, (comm, _) in end.procs.items():
        jiffies = used(pid)
        if pid in ours:
            mine += jiffies
        elif comm.startswith(ENGINE_COMMS):
            engine += jiffies
        else:
            by_comm[comm] += jiffies

    def share(jiffies: int) -> float:
        return 100 * jiffies / CLK_TCK / wall

    others = sum(by_comm.values())
    rest = max(busy - share(mine) - share(engine) - share(others), 0)
    top = ", ".join(f"{c} {share(j):.0f}%" for c, j in by_comm.most_common(3) if j)
    return (
        f"  [machine {wall:.0f} s: {busy:.0f}% of {cores * 100}% CPU busy; this bench "
        f"{share(mine):.0f}%, engine {share(engine):.0f}%, other processes "
        f"{share(others):.0f}% ({top or '-'}); exited processes and kernel {rest:.0f}%; "
        f"load avg {os.getloadavg()[0]:.2f}]"
    )


# -- setup -------------------------------------------------------------------------------


def body(name: str) -> dict[str, object]:
    return {
        "name": name,
        "provider": "openai",
        "model": "gpt-5.1",
        "channel": "telegram",
        "secrets": {"api_key": "sk-bench", "channel_token": "1:bench"},
    }


def build_chatty(api: docker.APIClient) -> str:
    api.import_image_from_data(
        rootfs_tar(),
        repository=STANDIN_REPO,
        tag=CHATTY_TAG,
        changes=[
            f'ENTRYPOINT ["/bin/sh", "-c", {json.dumps(CHATTY_SCRIPT)}]',
            "ENV PATH=/bin",
            f"LABEL {TEST_IMAGE_LABEL}=true",
        ],
    )
    return f"{STANDIN_REPO}:{CHATTY_TAG}"


def exec_in(api: docker.APIClient, container: str, command: list[str]) -> None:
    exec_id = api.exec_create(container, command)["Id"]
    api.exec_start(exec_id)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def remove_all(api: docker.APIClient, settings: Settings, prefix: str | None = None) -> None:
    """Force-remove this instance's containers (those whose bot name starts with prefix)."""
    found = api.containers(all=True, filters={"label": f"{LABEL_INSTANCE}={settings.instance}"})
    ids = [
        c["Id"]
        for c in found
        if prefix is None or c["Labels"].get("botmaker.bot-name", "").startswith(prefix)
    ]

    def remove(cid: str) -> None:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_container(cid, force=True, v=True)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(remove, ids))


class Server:
    """``botmaker serve`` as a subprocess on a free loopback port."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "BOTMAKER_HOST": "127.0.0.1",
            "BOTMAKER_PORT": str(self.port),
            "BOTMAKER_DATA_DIR": str(settings.data_dir),
            "BOTMAKER_SECRETS_DIR": str(settings.secrets_dir),
            "BOTMAKER_ADMIN_PASSWORD": PASSWORD,
            "BOTMAKER_BOT_IMAGE": settings.bot_image,
            "BOTMAKER_INSTANCE": settings.instance,
            "BOTMAKER_NETWORK": settings.network,
            "BOTMAKER_NETWORK_INTERNAL": "true",
            "BOTMAKER_KEYRING": "off",
        }
        exe = Path(sys.executable).with_name("botmaker")
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(exe), "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"botmaker serve did not start; see {log_path}")
            time.sleep(0.2)
        with httpx.Client(base_url=self.url, timeout=30) as client:
            self.headers = {"Authorization": f"Bearer {log_in(client, PASSWORD)}"}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# -- 1. create-to-running ------------------------------------------------------------------


def part_create(
    api: docker.APIClient, svc: Services, fast: Services, single: int, batch: int
) -> None:
    settings = svc.settings
    backend = svc.runtime
    backend.ensure_network()
    raw_secrets = Path(settings.secrets_dir) / "raw"
    raw_secrets.mkdir(parents=True, exist_ok=True)
    ours = {os.getpid()}

    def raw_one(name: str) -> float:
        identity = BotIdentity(str(uuid.uuid4()), name, settings.bot_image, 200_000, {})
        spec = bot_container_spec(identity, settings, raw_secrets)
        start = time.perf_counter()
        api.start(backend.create(spec))
        return (time.perf_counter() - start) * 1000

    def ours_one(service: Services, name: str) -> Callable[[], float]:
        def run() -> float:
            request = BotCreate.model_validate(body(name))
            start = time.perf_counter()
            view = service.bots.create(request)
            elapsed = (time.perf_counter() - start) * 1000
            if not view.status.running:
                raise RuntimeError(f"bot {name} is not running: {view.status.to_dict()}")
            return elapsed

        return run

    print(f"\n1. create-to-running ({single} one at a time; {batch} at once, pool of 10)")
    began = snapshot()
    variants: list[tuple[str, Callable[[str], Callable[[], float]]]] = [
        ("raw Docker create+start (same spec) - floor", lambda n: lambda: raw_one(n)),
        ("BotMaker create (default: validate auto)", lambda n: ours_one(svc, n)),
        ("BotMaker create (validate_config=never)", lambda n: ours_one(fast, n)),
    ]
    singles: dict[str, list[float]] = {}
    batches: dict[str, tuple[float, list[float]]] = {}
    for index, (label, make) in enumerate(variants):
        prefix = f"c{index}-"
        singles[label] = [make(f"{prefix}one-{i}")() for i in range(single)]
        remove_all(api, settings, prefix)
        start = time.perf_counter()
        with ThreadPoolExecutor(10) as pool:
            futures = [pool.submit(make(f"{prefix}many-{i}")) for i in range(batch)]
            each = [f.result() for f in futures]
        batches[label] = ((time.perf_counter() - start) * 1000, each)
        remove_all(api, settings, prefix)
    print(" one bot at a time")
    base = None
    for label, samples in singles.items():
        median = line(label, samples, base)
        base = base or median
    print(f" {batch} at once: wall time for the batch / each create's own latency")
    base_wall = base_each = None
    for label, (wall, each) in batches.items():
        ratio = f"{wall / base_wall:5.2f}x" if base_wall else "floor"
        print(f"  {label:<50} batch {wall / 1000:6.2f} s ({ratio}); {batch * 1000 / wall:5.1f}/s")
        median = line("   each create", each, base_each)
        base_wall = base_wall or wall
        base_each = base_each or median
    print(machine_load(began, snapshot(), ours))


# -- 2. the bot list ----------------------------------------------------------------------


def seed_running(svc: Services, start: int, stop: int) -> None:
    def make(i: int) -> None:
        svc.bots.create(BotCreate.model_validate(body(f"live-{i:04d}")))

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(make, range(start, stop)))


def seed_stopped(svc: Services, count: int) -> None:
    """Stopped bots (``add_stopped_bot``), so the server's reconciler sees stopped bots
    rather than restoring missing containers."""
    folder = Path(svc.settings.secrets_dir).parent / "rows-secrets"  # outside: not an orphan
    folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: add_stopped_bot(svc, i, folder), range(count)))


def time_list(server: Server, api: docker.APIClient, instance: str, rounds: int) -> None:
    with server.client(timeout=60) as client:
        client.get("/api/bots").raise_for_status()  # warm
        before = client.get("/api/diagnostics").json()["monitor"]["statuses"]
        ours: list[float] = []
        engine: list[float] = []
        count = 0
        for _ in range(rounds):  # interleaved, so both see the same machine
            start = time.perf_counter()
            response = client.get("/api/bots")
            ours.append((time.perf_counter() - start) * 1000)
            response.raise_for_status()
            count = len(response.json()["bots"])
            start = time.perf_counter()
            api.containers(all=True, filters={"label": f"{LABEL_INSTANCE}={instance}"})
            engine.append((time.perf_counter() - start) * 1000)
        after = client.get("/api/diagnostics").json()["monitor"]["statuses"]
    base = line(f"{count:>5} bots: engine list call alone", engine)
    line(f"{count:>5} bots: GET /api/bots", ours, base)
    lists, inspects = (after[k] - before[k] for k in ("fills", "inspects"))
    lists += after["fallbacks"] - before["fallbacks"]
    print(
        f"  {'':<50} status calls to the engine meanwhile: {lists} list, {inspects} inspect "
        f"(statuses {'event-fed' if after['live'] else 'NOT live'})"
    )


# -- 3. log streaming -------------------------------------------------------------------


def count_docker_logs(
    container: str, args: list[str], stop: threading.Event, out: list[int]
) -> None:
    proc = subprocess.Popen(
        ["docker", "logs", *args, container], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    lines = 0
    fd = proc.stdout.fileno()
    try:
        while not stop.is_set():
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            lines += chunk.count(b"\n")
    finally:
        out.append(lines)
        proc.kill()
        proc.wait()


def count_sse(
    server: Server, bot_id: str, params: dict[str, str | int], stop: threading.Event, out: list[int]
) -> None:
    """Count log lines in the raw SSE bytes (cheap, so the client is not the bottleneck)."""
    pattern, end = b"data: chatty ", b"event: end"
    lines = 0
    carry = b""
    with (
        server.client(timeout=60) as client,
        client.stream("GET", f"/api/bots/{bot_id}/logs", params=params) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 16):
            data = carry + chunk
            lines += data.count(pattern)
            if end in data or stop.is_set():
                break
            carry = data[-(len(pattern) - 1) :]
    out.append(lines)


def last_counter(api: docker.APIClient, container: str) -> int:
    for text in reversed(api.logs(container, tail=3).decode(errors="replace").splitlines()):
        parts = text.split()
        if len(parts) >= 2 and parts[0] == "chatty" and parts[1].isdigit():
            return int(parts[1])
    return 0


def part_logs(
    api: docker.APIClient, server: Server, bot_id: str, container: str, live_s: float, slow_s: float
) -> None:
    ours = {os.getpid(), server.pid}
    print(f"\n3. log streaming from a chatty bot ({CHATTY_PAD + 12}-byte lines, 0.5 CPU)")
    exec_in(api, container, ["touch", "/tmp/go"])
    time.sleep(1.0)
    began = snapshot()
    stop = threading.Event()
    sse_out: list[int] = []
    cli_out: list[int] = []
    first = last_counter(api, container)
    cpu0 = cpu_seconds(server.pid)
    threads = [
        threading.Thread(target=count_sse, args=(server, bot_id, {"tail": 0}, stop, sse_out)),
        threading.Thread(
            target=count_docker_logs, args=(container, ["-f", "--tail", "0"], stop, cli_out)
        ),
    ]
    for thread in threads:
        thread.start()
    time.sleep(live_s)
    stop.set()
    produced = last_counter(api, container) - first
    live_cpu = 100 * (cpu_seconds(server.pid) - cpu0) / live_s
    for thread in threads:
        thread.join(timeout=30)
    exec_in(api, container, ["rm", "-f", "/tmp/go"])
    print(f" live, both attached over the same {live_s:.0f} s")
    produced_rate = produced / live_s
    print(f"  {'lines the bot wrote':<50} {produced_rate:10.0f} lines/s")
    cli_rate = (cli_out[0] if cli_out else 0) / live_s
    sse_rate = (sse_out[0] if sse_out else 0) / live_s
    print(f"  {'docker logs -f (baseline)':<50} {cli_rate:10.0f} lines/s")
    print(
        f"  {'BotMaker SSE GET /api/bots/{id}/logs':<50} {sse_rate:10.0f} lines/s  "
        f"{sse_rate / max(cli_rate, 1):5.2f}x baseline"
    )
    print(f"  {'server CPU meanwhile':<50} {live_cpu:10.0f} % of one core")
    print(machine_load(began, snapshot(), ours))

    time.sleep(1.0)
    total = last_counter(api, container)
    tail = min(total, 100_000)
    began = snapshot()
    rates = []
    server_cpu: list[float] = []
    for kind in ("cli", "sse"):
        done: list[int] = []
        cpu0 = cpu_seconds(server.pid)
        start = time.perf_counter()
        if kind == "cli":
            count_docker_logs(container, ["--tail", str(tail)], threading.Event(), done)
        else:
            count_sse(server, bot_id, {"tail": tail, "follow": "false"}, threading.Event(), done)
        elapsed = time.perf_counter() - start
        rates.append((done[0], elapsed))
        server_cpu.append(100 * (cpu_seconds(server.pid) - cpu0) / elapsed)
    print(f" replay of the stored log (last {tail} lines, as fast as each reader can)")
    (cli_n, cli_t), (sse_n, sse_t) = rates
    print(
        f"  {'docker logs --tail N (baseline)':<50} {cli_n / cli_t:10.0f} lines/s ({cli_n} lines)"
    )
    print(
        f"  {'BotMaker SSE ?tail=N&follow=false':<50} {sse_n / sse_t:10.0f} lines/s ({sse_n} lines)"
        f"  {(sse_n / sse_t) / max(cli_n / cli_t, 1):5.2f}x baseline"
    )
    print(f"  {'server CPU during the SSE replay':<50} {server_cpu[1]:10.0f} % of one core")
    print(machine_load(began, snapshot(), ours))

    # 50 slow clients on the flooding bot: RSS must stay flat.
    clients = 50
    print(f" {clients} slow SSE clients (4 KiB every 0.25 s each) for {slow_s:.0f} s, bot flooding")
    exec_in(api, container, ["touch", "/tmp/go"])
    before = [rss_mib(server.pid)]
    for _ in range(3):
        time.sleep(1)
        before.append(rss_mib(server.pid))
    stop = threading.Event()
    received: list[int] = []
    lock = threading.Lock()

    def slow_client() -> None:
        got = 0
        with (
            server.client(timeout=60) as client,
            client.stream("GET", f"/api/bots/{bot_id}/logs", params={"tail": 100}) as response,
        ):
            for chunk in response.iter_raw(4096):
                got += len(chunk)
                if stop.is_set():
                    break
                time.sleep(0.25)
        with lock:
            received.append(got)

    began = snapshot()
    cpu0 = cpu_seconds(server.pid)
    workers = [threading.Thread(target=slow_client, daemon=True) for _ in range(clients)]
    for worker in workers:
        worker.start()
    during = []
    start = time.monotonic()
    while time.monotonic() - start < slow_s:
        time.sleep(1)
        during.append(rss_mib(server.pid))
    cpu1 = cpu_seconds(server.pid)
    load = machine_load(began, snapshot(), ours)
    stop.set()
    for worker in workers:
        worker.join(timeout=20)
    time.sleep(2)
    after = rss_mib(server.pid)
    exec_in(api, container, ["rm", "-f", "/tmp/go"])
    base = statistics.median(before)
    print(f"  {'server RSS before the clients (median)':<50} {base:8.1f} MiB  baseline")
    print(
        f"  {'server RSS with 50 slow clients: first/max/last':<50} "
        f"{during[0]:8.1f} / {max(during):.1f} / {during[-1]:.1f} MiB  "
        f"max {max(during) / base:5.2f}x baseline"
    )
    print(
        f"  {'growth over the last half of the window':<50} "
        f"{during[-1] - during[len(during) // 2]:+8.1f} MiB"
    )
    print(f"  {'server RSS 2 s after the clients left':<50} {after:8.1f} MiB")
    print(
        f"  {'server CPU while serving them':<50} "
        f"{100 * (cpu1 - cpu0) / slow_s:8.1f} % of one core;"
        f" clients read {sum(received) / 1024**2:.1f} MiB in all ({len(received)} finished)"
    )
    print(load)


# -- 4. idle ------------------------------------------------------------------------------


def part_idle(server: Server, seconds: float) -> None:
    print(f"\n4. BotMaker server idle over {seconds:.0f} s (1,000 bots, 100 running)")
    ours = {os.getpid(), server.pid}
    began = snapshot()
    cpu0 = cpu_seconds(server.pid)
    samples = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        time.sleep(1)
        samples.append(rss_mib(server.pid))
    cpu1 = cpu_seconds(server.pid)
    elapsed = time.monotonic() - start
    cpu = 100 * (cpu1 - cpu0) / elapsed
    print(
        f"  {'server RSS min/median/max':<50} {min(samples):8.1f} / "
        f"{statistics.median(samples):.1f} / {max(samples):.1f} MiB"
    )
    print(
        f"  {'server CPU (health 10 s, stats 10 s, reconcile 30 s)':<50} {cpu:8.2f} % of one "
        f"core ({cpu1 - cpu0:.2f} CPU-s)"
    )
    print(machine_load(began, snapshot(), ours))


# -- main -------------------------------------------------------------------------------


@contextlib.contextmanager
def services_for(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings)
    try:
        yield svc
    finally:
        svc.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter windows")
    parser.add_argument(
        "--only", choices=["create", "list", "logs"], help="run one part (default: all)"
    )
    parser.add_argument(
        "--slow-seconds", type=float, help="how long the 50 slow log clients stay attached"
    )
    args = parser.parse_args()
    only: str | None = args.only
    quick = args.quick
    single, batch = (3, 20) if quick else (10, 50)
    rounds = 15 if quick else 30
    idle_s, live_s, slow_s = (10.0, 4.0, 8.0) if quick else (30.0, 10.0, 20.0)
    slow_s = args.slow_seconds or slow_s

    api = docker.APIClient(version="1.41", timeout=120)
    began_all = time.monotonic()
    whole = snapshot()
    print(
        f"BotMaker operations benchmark ({'quick' if quick else 'full'}); "
        f"{os.cpu_count()} CPUs, load avg {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    images = build_standin(api)
    chatty = build_chatty(api)
    tmp = Path(tempfile.mkdtemp(prefix="bmops-"))
    settings = bench_settings(tmp, images[STANDIN_TAG])
    server: Server | None = None
    pids = {os.getpid()}
    try:
        # 1. create latency, in a store of its own.
        one = replace(settings, data_dir=tmp / "create-data", secrets_dir=tmp / "create-secrets")
        never = replace(one, data_dir=tmp / "never-data", secrets_dir=tmp / "never-secrets")
        if only in (None, "create"):
            with (
                services_for(one) as svc,
                services_for(replace(never, validate_config="never")) as fast,
            ):
                part_create(api, svc, fast, single, batch)
        if only == "create":
            return

        # 2.-4. one store, one `botmaker serve` subprocess.
        seeding = replace(settings, validate_config="never")
        chatty_settings = replace(
            seeding,
            bot_image=chatty,
            limits=BotLimits(memory_bytes=64 * 1024**2, cpus=0.5, pids=32, log_max_size="50m"),
        )
        if only == "logs":
            with services_for(chatty_settings) as loud:
                chatty_bot = loud.bots.create(BotCreate.model_validate(body("chatty")))
                server = Server(settings, tmp / "server.log")
                pids.add(server.pid)
                part_logs(
                    api,
                    server,
                    chatty_bot.record.id,
                    chatty_bot.to_dict()["container_name"],
                    live_s,
                    slow_s,
                )
            return
        print(f"\n2. GET /api/bots ({rounds} rounds each, server: botmaker serve subprocess)")
        with services_for(seeding) as svc:
            started = time.perf_counter()
            seed_running(svc, 0, 10)
            server = Server(settings, tmp / "server.log")
            pids.add(server.pid)
            print(
                f"  (server pid {server.pid}; seeded 10 in {time.perf_counter() - started:.1f} s)"
            )
            began = snapshot()
            time_list(server, api, settings.instance, rounds)
            started = time.perf_counter()
            seed_running(svc, 10, 99)
            with services_for(chatty_settings) as loud:
                chatty_bot = loud.bots.create(BotCreate.model_validate(body("chatty")))
            print(f"  (seeded 90 running in {time.perf_counter() - started:.1f} s)")
            time.sleep(2)
            time_list(server, api, settings.instance, rounds)
            started = time.perf_counter()
            seed_stopped(svc, 900)
            print(f"  (seeded 900 stopped in {time.perf_counter() - started:.1f} s)")
        time.sleep(3)
        time_list(server, api, settings.instance, rounds)
        print(machine_load(began, snapshot(), {os.getpid(), server.pid}))
        if only == "list":
            return

        time.sleep(2)
        part_idle(server, idle_s)
        record = chatty_bot.record
        part_logs(api, server, record.id, chatty_bot.to_dict()["container_name"], live_s, slow_s)
    finally:
        if server is not None:
            server.stop()
        remove_all(api, settings)
        cleanup_instance(api, settings)
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"\nwhole run: {time.monotonic() - began_all:.0f} s")
        print(machine_load(whole, snapshot(), pids))


if __name__ == "__main__":
    main()
