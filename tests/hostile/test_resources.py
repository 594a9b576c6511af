"""A hostile bot tries to exhaust the host: processes, memory, log disk, a stop it ignores.

Real engine, the test settings' limits (64 MiB of memory, 64 pids, 0.5 CPU, logs of
10 MB x 3), BotMaker's real API server. While each attack runs, ``/health`` is sampled
every 50 ms: its 99th percentile must stay under 200 ms. Each attack carries a
positive control showing it really pressed on its limit (forks refused, an OOM kill,
rotated log files), so a bomb that never went off cannot pass.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings, parse_size
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD
from tests.support.attacks import defended
from tests.support.bots import RunningBot, create_bot, exec_in, http_probe, wait_serving
from tests.support.cgroups import Cgroup
from tests.support.checks import logged_in
from tests.support.fixtures import MakeServices
from tests.support.latency import Sampler
from tests.support.server import ServerThread
from tests.support.waiting import wait_for

P99 = 0.2  # seconds: /health under attack
MiB = 1024**2
FLOOD_SECONDS = 30
FLOOD_RATE = 5 * MiB  # bytes a second


def detach(api: docker.APIClient, container: str, script: str) -> None:
    """Start ``script`` inside the bot and do not wait for it (the bot's own attack)."""
    created = api.exec_create(container, ["/bin/sh", "-c", script])
    api.exec_start(created["Id"], detach=True)


def test_a_fork_bomb_stops_at_the_pids_limit_and_botmaker_stays_responsive(
    services: Services, server: str, client: httpx.Client, docker_api: docker.APIClient
) -> None:
    bot = create_bot(services, "bomber")
    wait_serving(docker_api, bot)
    cgroup = Cgroup(docker_api, bot.container)
    limit = cgroup.pids_max()
    assert limit == services.settings.limits.pids
    refused_before = cgroup.pids_refused()

    peak = 0
    with Sampler(server, "/health") as health:
        detach(docker_api, bot.container, "b() { b | b & }; b")
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            peak = max(peak, cgroup.pids_current())
            time.sleep(0.05)
    refused = cgroup.pids_refused() - refused_before
    assert refused > 0, "the fork bomb never reached the pids limit"  # positive control
    defended(
        "resources",
        "fork bomb",
        f"sampled peak {peak} of {limit} pids, {refused} forks refused by the limit",
        peak <= limit,
    )
    defended("resources", "fork bomb: BotMaker's /health", health.summary(), health.held(P99))

    # A restart through BotMaker ends the bomb: the whole container goes, with it.
    restarted = client.post(f"/api/bots/{bot.id}/restart")
    assert restarted.status_code == 200, restarted.text
    wait_serving(docker_api, bot)
    left = Cgroup(docker_api, bot.container).pids_current()
    defended("resources", "fork bomb: after a restart", f"{left} pids", left <= 8)


def test_a_memory_bomb_is_oom_killed_and_recorded_and_its_neighbour_is_untouched(
    services: Services, server: str, client: httpx.Client, docker_api: docker.APIClient
) -> None:
    hungry = create_bot(services, "hungry")
    neighbour = create_bot(services, "neighbour")
    wait_serving(docker_api, hungry)
    wait_serving(docker_api, neighbour)
    before = docker_api.inspect_container(neighbour.container)
    cgroup = Cgroup(docker_api, hungry.container)
    limit = cgroup.memory_limit()
    assert limit == services.settings.limits.memory_bytes == 64 * MiB

    def oom_event() -> dict[str, Any] | None:
        events = client.get(f"/api/bots/{hungry.id}/events").json()["events"]
        return next((e for e in events if e["kind"] == "oom"), None)

    with Sampler(server, "/health") as health:
        # tail keeps the "last line" of /dev/zero, which never ends: it grows past the limit.
        started = time.monotonic()
        detach(docker_api, hungry.container, "tail /dev/zero")
        event = wait_for(oom_event, timeout=20, interval=0.2)
        time.sleep(max(0.0, started + 3 - time.monotonic()))  # enough samples either way
    kills, peak = cgroup.oom_kills(), cgroup.memory_peak()
    peak_text = f"peak {peak / MiB:.0f} MiB" if peak is not None else "peak not counted"
    defended(
        "resources",
        "memory bomb",
        f"{kills} OOM kill(s) at the {limit // MiB} MiB limit ({peak_text}); "
        f"event '{event['kind']}' recorded",
        kills >= 1 and (peak is None or peak <= limit) and "out of memory" in event["detail"],
    )
    defended("resources", "memory bomb: BotMaker's /health", health.summary(), health.held(P99))

    after = docker_api.inspect_container(neighbour.container)
    same = (
        after["Id"] == before["Id"]
        and after["RestartCount"] == before["RestartCount"]
        and after["State"]["StartedAt"] == before["State"]["StartedAt"]
        and after["State"]["Running"]
        and not after["State"]["OOMKilled"]
    )
    answers = (
        f"ok {neighbour.name}" in http_probe(docker_api, neighbour.container, "127.0.0.1", 8080).out
    )
    kinds = [e["kind"] for e in client.get(f"/api/bots/{neighbour.id}/events").json()["events"]]
    neighbour_events = set(kinds)
    # Its own create: created, started, and the first openclaw.json kept as a diff.
    own = {"created", "started", "config_changed"}
    defended(
        "resources",
        "memory bomb: the bot beside it",
        f"same container, {after['RestartCount']} restarts, serving: {answers}, "
        f"events {sorted(neighbour_events)}",
        same and answers and neighbour_events <= own and kinds.count("config_changed") == 1,
    )


def _flood_script(seconds: int, rate: int) -> str:
    """Write ``rate`` bytes a second to the bot's own stdout (PID 1's, so the engine logs
    them) for ``seconds`` seconds, in 100-byte lines; print how many seconds ran."""
    return (
        "exec 3>&1 >/proc/1/fd/1; line=$(printf 'flood %0093d' 0);"
        f" end=$(( $(date +%s) + {seconds} )); n=0;"
        ' while [ "$(date +%s)" -lt $end ]; do s=$(date +%s);'
        f' yes "$line" | head -c {rate}; n=$((n + 1));'
        ' while [ "$(date +%s)" -eq $s ]; do usleep 20000; done; done; echo $n >&3'
    )


class LogFollower:
    """An admin watching the flooding bot's logs in the dashboard (SSE, read as it comes)."""

    def __init__(self, client: httpx.Client, bot: RunningBot) -> None:
        self.client, self.bot = client, bot
        self.bytes = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="follow logs", daemon=True)

    def _run(self) -> None:
        url = f"/api/bots/{self.bot.id}/logs?tail=0&follow=true"
        try:
            with self.client.stream("GET", url, timeout=60) as response:
                for chunk in response.iter_bytes():
                    self.bytes += len(chunk)
                    if self._stop.is_set():
                        return
        except httpx.HTTPError as exc:
            self.error = repr(exc)

    def __enter__(self) -> LogFollower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _log_files(api: docker.APIClient, container: str) -> list[Path]:
    log_path = Path(api.inspect_container(container)["LogPath"])
    return sorted(log_path.parent.glob(f"{log_path.name}*"))


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_log_flood_is_rotated_away_and_the_api_keeps_answering(
    services: Services, server: str, client: httpx.Client, docker_api: docker.APIClient
) -> None:
    settings = services.settings
    bot = create_bot(services, "flooder")
    wait_serving(docker_api, bot)
    limits = settings.limits
    one_file = parse_size(limits.log_max_size, "BOTMAKER_LOG_MAX_SIZE")
    cap = one_file * limits.log_max_file
    slack = 64 * 1024  # one log line (JSON-wrapped) past the size check
    data_before = _tree_size(settings.data_dir)

    result: list[str] = []
    flood = threading.Thread(
        target=lambda: result.append(
            exec_in(docker_api, bot.container, _flood_script(FLOOD_SECONDS, FLOOD_RATE)).out
        ),
        name="flood",
    )
    headers = {"Authorization": str(client.headers["Authorization"])}
    largest, files_seen = 0, 0
    started = time.monotonic()
    with (
        Sampler(server, "/health") as health,
        Sampler(server, "/api/bots", interval=1.0, headers=headers) as listing,
        LogFollower(client, bot) as follower,
    ):
        flood.start()
        while flood.is_alive():
            files = _log_files(docker_api, bot.container)
            sizes = [p.stat().st_size for p in files if p.exists()]
            largest, files_seen = max(largest, sum(sizes)), max(files_seen, len(files))
            time.sleep(0.25)
        flood.join()
    elapsed = time.monotonic() - started
    seconds = int(result[0].strip()) if result and result[0].strip().isdigit() else 0
    # Positive controls: the flood ran its course and the engine had to rotate.
    assert seconds >= FLOOD_SECONDS - 1, (seconds, result)
    assert files_seen == limits.log_max_file, files_seen
    assert follower.bytes > 10 * MiB, follower.bytes  # the follower really saw the flood
    written = seconds * FLOOD_RATE
    defended(
        "resources",
        f"log flood {FLOOD_RATE // MiB} MB/s for {FLOOD_SECONDS} s: log files",
        f"{written // MiB} MiB written in {elapsed:.0f} s; on disk at most "
        f"{largest / MiB:.1f} MiB in {files_seen} files (cap {cap / MiB:.0f} MiB)",
        largest <= cap + slack,
    )
    defended("resources", "log flood: BotMaker's /health", health.summary(), health.held(P99))
    defended(
        "resources",
        "log flood: GET /api/bots (1/s)",
        listing.summary(),
        not listing.failures and len(listing.seconds) >= FLOOD_SECONDS - 2,
    )
    grown = _tree_size(settings.data_dir) - data_before
    defended(
        "resources",
        "log flood: BotMaker's own data folder",
        f"grew {grown / 1024:.0f} KiB; the dashboard follower got {follower.bytes // MiB} MiB",
        grown < MiB and follower.error is None,
    )


@pytest.fixture
def stubborn(
    settings: Settings, make_services: MakeServices, stubborn_image: str
) -> Iterator[tuple[Services, httpx.Client]]:
    svc: Services = make_services(settings, bot_image=stubborn_image)
    with (
        ServerThread(create_app(svc.settings, svc)) as url,
        logged_in(url, ADMIN_PASSWORD, timeout=60) as client,
    ):
        yield svc, client


def test_a_bot_ignoring_sigterm_is_killed_after_the_stop_timeout_and_deleted_at_once(
    stubborn: tuple[Services, httpx.Client], docker_api: docker.APIClient
) -> None:
    svc, client = stubborn
    timeout = svc.settings.stop_timeout
    bot = create_bot(svc, "stubborn")
    wait_serving(docker_api, bot)
    trap = exec_in(docker_api, bot.container, "kill -TERM 1; sleep 1; echo alive")
    assert trap.out.strip() == "alive"  # positive control: SIGTERM alone does not stop it

    started = time.monotonic()
    stopped = client.post(f"/api/bots/{bot.id}/stop")
    took = time.monotonic() - started
    state = docker_api.inspect_container(bot.container)["State"]
    defended(
        "resources",
        f"ignore SIGTERM on stop (stop timeout {timeout} s)",
        f"HTTP {stopped.status_code} after {took:.1f} s, exit code {state['ExitCode']}",
        stopped.status_code == 200
        and timeout - 0.5 <= took <= timeout + 5
        and not state["Running"]
        and state["ExitCode"] == 137,
    )

    assert client.post(f"/api/bots/{bot.id}/start").status_code == 200
    wait_serving(docker_api, bot)
    started = time.monotonic()
    deleted = client.delete(f"/api/bots/{bot.id}")
    took = time.monotonic() - started
    label = f"botmaker.bot-id={bot.id}"
    left = [
        *(c["Names"] for c in docker_api.containers(all=True, filters={"label": label})),
        *(
            str(p)
            for p in (svc.settings.secrets_dir / bot.id, svc.settings.data_dir / "bots" / bot.id)
            if p.exists()
        ),
        *([bot.id] if bot.id in json.dumps(client.get("/api/bots").json()) else []),
    ]
    defended(
        "resources",
        "ignore SIGTERM on delete",
        f"HTTP {deleted.status_code} after {took:.1f} s; left behind: {left or 'nothing'}",
        deleted.status_code == 204 and took < timeout and not left,
    )
