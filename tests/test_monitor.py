"""Monitoring on a real engine: live status over SSE, bot events, stats, diagnostics, orphans.

Nothing here is mocked: containers are killed, OOM-killed and started by hand with
the Docker API, and BotMaker learns of it from Docker's event stream.
"""

from __future__ import annotations

import contextlib
import json
import queue
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.runtime.policy import LABEL_BOT_ID, LABEL_INSTANCE, LABEL_MANAGED
from botmaker.services import Services
from botmaker.services.crashloop import Rules
from botmaker.services.monitor import Message, Subscription
from botmaker.services.schemas import BotCreate
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.bots import exec_in
from tests.support.checks import logged_in
from tests.support.dockerproxy import DockerRelay
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.sockets import IGNORE_UNCONNECTED, collect_unconnected_sockets
from tests.support.sse import Event, parse_sse
from tests.support.waiting import wait_for
from tests.test_alerts import _crash

STATS_INTERVAL = 0.5
LIVE = 3.0  # a change reaches SSE subscribers within this many seconds


class Listener:
    """Reads ``GET /api/events/stream`` in a thread; events land in a queue."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.events: queue.Queue[Event] = queue.Queue()
        self.pending: list[Event] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Listener:
        self._thread.start()
        self.next(lambda e: e.event == "resync")  # subscribed: later changes will arrive
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # pings (every 0.5 s) wake the reader
        self._thread.join(timeout=5)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with (
            httpx.Client(base_url=self.url, headers=headers, timeout=10) as client,
            client.stream("GET", "/api/events/stream") as response,
        ):
            assert response.status_code == 200
            for item in parse_sse(response.iter_lines()):
                if self._stop.is_set():
                    return
                if isinstance(item, Event):
                    self.events.put(item)

    def next(self, predicate: Callable[[Event], bool], timeout: float = 10) -> Event:
        """The first event (in order of arrival) matching, not returned before."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.pending):
                if predicate(event):
                    return self.pending.pop(index)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such event in {timeout}s; got: {self.pending[-10:]}")
            with contextlib.suppress(queue.Empty):
                self.pending.append(self.events.get(timeout=left))


def status_of(bot_id: str, state: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        if event.event != "status":
            return False
        data = json.loads(event.data)
        return bool(data["id"] == bot_id and data["status"]["state"] == state)

    return match


def bot_event(bot_id: str, kind: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        if event.event != "event":
            return False
        data = json.loads(event.data)
        return bool(data["bot_id"] == bot_id and data["kind"] == kind)

    return match


def next_message(subscription: Subscription, predicate: Callable[[Message], bool]) -> Message:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        message = subscription.get(timeout=0.5)
        if message is not None and predicate(message):
            return message
    raise AssertionError("no such message in 15 s")


@pytest.fixture
def app(
    settings: Settings, make_services: MakeServices
) -> Iterator[tuple[str, httpx.Client, Services]]:
    svc: Services = make_services(settings, stats_interval=STATS_INTERVAL)
    with ServerThread(create_app(svc.settings, svc)) as url, logged_in(url, ADMIN_PASSWORD) as c:
        yield url, c, svc


def create(client: httpx.Client, name: str) -> dict[str, Any]:
    response = client.post("/api/bots", json=bot_body(name))
    assert response.status_code == 201, response.text
    bot: dict[str, Any] = response.json()
    return bot


def token_of(client: httpx.Client) -> str:
    return str(client.headers["Authorization"]).removeprefix("Bearer ")


def logs_of(docker_api: docker.APIClient, container: str) -> str:
    data: bytes = docker_api.logs(container, stdout=True, stderr=True)
    return data.decode()


def test_kill_and_start_by_hand_reach_sse_and_the_bot_events(
    app: tuple[str, httpx.Client, Services], docker_api: docker.APIClient
) -> None:
    url, client, services = app
    bot = create(client, "alpha")
    name = bot["container_name"]
    wait_for(lambda: "standin: tick 2" in logs_of(docker_api, name), timeout=20)
    detail = client.get(f"/api/bots/{bot['id']}").json()
    assert detail["started_at"] == detail["status"]["started_at"]
    assert 0 <= detail["uptime_seconds"] < 60
    (listed,) = client.get("/api/bots").json()["bots"]
    assert 0 <= listed["uptime_seconds"] < 60  # from the list's "Up N seconds"

    with Listener(url, token_of(client)) as listener:
        killed = time.monotonic()
        docker_api.kill(name)
        status = listener.next(status_of(bot["id"], "exited"))
        assert time.monotonic() - killed < LIVE
        data = json.loads(status.data)
        assert data["name"] == "alpha"
        assert data["status"]["exit_code"] == 137
        assert data["status"]["summary"] == "crashed"  # killed by hand: not asked through BotMaker
        died = json.loads(listener.next(bot_event(bot["id"], "died")).data)
        assert died["exit_code"] == 137
        assert "standin: tick 2" in died["logs"]
        assert len(died["logs"].splitlines()) <= 50

        started = time.monotonic()
        docker_api.start(name)
        listener.next(status_of(bot["id"], "running"))
        assert time.monotonic() - started < LIVE
        listener.next(bot_event(bot["id"], "started"))
        assert services.monitor.broadcaster.subscribers == 1
    # The client left: its subscription is gone.
    wait_for(lambda: services.monitor.broadcaster.subscribers == 0, timeout=5)

    events = client.get(f"/api/bots/{bot['id']}/events").json()["events"]
    kinds = [e["kind"] for e in events]
    # newest first; the create's rendering first of all (services/configdiff.py)
    assert kinds == ["started", "died", "started", "created", "config_changed"]
    assert events[1]["exit_code"] == 137
    assert "standin: tick" in events[1]["logs"]
    assert all(e["logs"] is None for e in events[2:4] + events[:1])  # the diff in [4]
    assert '+    "mode": "local",' in events[4]["logs"]
    # Paging back, and a stop through the API is "stopped", not "died", without logs.
    older = client.get(f"/api/bots/{bot['id']}/events", params={"before": events[1]["id"]})
    assert [e["kind"] for e in older.json()["events"]] == ["started", "created", "config_changed"]
    latest = client.get("/api/bots/alpha/events?limit=1").json()["events"]
    assert [e["kind"] for e in latest] == ["started"]
    assert client.post(f"/api/bots/{bot['id']}/stop").status_code == 200

    def stopped() -> dict[str, Any] | None:
        latest = client.get(f"/api/bots/{bot['id']}/events?limit=1").json()["events"]
        return latest[0] if latest and latest[0]["kind"] == "stopped" else None

    assert wait_for(stopped, timeout=10)["logs"] is None
    assert client.get("/api/bots/nope/events").status_code == 404
    # The events go with the bot.
    assert client.delete(f"/api/bots/{bot['id']}").status_code == 204
    assert services.store.bot_events(bot["id"]) == []


def test_an_out_of_memory_kill_is_recorded_as_oom(
    app: tuple[str, httpx.Client, Services], docker_api: docker.APIClient
) -> None:
    _, client, services = app
    assert services.settings.limits.memory_bytes == 64 * 1024**2
    bot = create(client, "hungry")
    wait_for(lambda: "standin: tick 1" in logs_of(docker_api, bot["container_name"]), timeout=20)
    # tail keeps the "last line" of /dev/zero, which never ends: it grows past the limit.
    exec_id = docker_api.exec_create(bot["container_name"], ["sh", "-c", "tail /dev/zero"])["Id"]
    docker_api.exec_start(exec_id)

    def oom() -> dict[str, Any] | None:
        events = client.get(f"/api/bots/{bot['id']}/events").json()["events"]
        return next((e for e in events if e["kind"] == "oom"), None)

    event = wait_for(oom, timeout=15)
    assert "out of memory" in event["detail"]
    assert "standin: tick" in event["logs"]


def test_stats_of_running_bots_are_sampled_in_the_background(
    app: tuple[str, httpx.Client, Services],
) -> None:
    _, client, services = app
    alpha, bravo = create(client, "alpha"), create(client, "bravo")

    def both() -> dict[str, Any] | None:
        stats: dict[str, Any] = client.get("/api/stats").json()
        bots = stats["bots"]
        ready = all(
            b["id"] in bots
            and bots[b["id"]]["memory_bytes"] > 0
            and bots[b["id"]]["cpu_percent"] is not None
            for b in (alpha, bravo)
        )
        return stats if ready else None

    stats = wait_for(both, timeout=10)
    point = stats["bots"][alpha["id"]]
    assert point["memory_limit"] == 64 * 1024**2
    assert 0 <= point["cpu_percent"] < 200
    assert stats["totals"]["running"] == 2
    assert stats["totals"]["memory_bytes"] == sum(p["memory_bytes"] for p in stats["bots"].values())

    def points(bot: dict[str, Any]) -> list[dict[str, Any]]:
        body = client.get(f"/api/bots/{bot['name']}/stats").json()
        assert body["id"] == bot["id"]
        result: list[dict[str, Any]] = body["points"]
        return result

    wait_for(lambda: len(points(alpha)) >= 3, timeout=10)
    series = points(alpha)
    assert [p["at"] for p in series] == sorted(p["at"] for p in series)

    assert client.post(f"/api/bots/{bravo['id']}/stop").status_code == 200
    wait_for(lambda: bravo["id"] not in client.get("/api/stats").json()["bots"], timeout=10)
    rounds, count = services.stats.rounds, len(points(bravo))
    wait_for(lambda: services.stats.rounds >= rounds + 2, timeout=10)
    assert len(points(bravo)) == count  # a stopped bot is not sampled
    assert len(points(alpha)) > len(series)
    assert client.get("/api/stats").json()["totals"]["running"] == 1
    assert client.get("/api/bots/nope/stats").status_code == 404


def test_diagnostics_and_the_gateway_token(
    app: tuple[str, httpx.Client, Services], docker_api: docker.APIClient
) -> None:
    url, client, services = app
    bot = create(client, "alpha")
    wait_for(lambda: client.get("/api/stats").json()["totals"]["running"] == 1, timeout=10)
    body = client.get("/api/diagnostics").json()
    engine = body["engine"]
    assert engine["ok"] is True
    assert engine["engine_version"] == docker_api.version()["Version"]
    assert engine["api_version_used"] == "1.41"
    assert engine["cpus"] >= 1
    assert engine["memory_bytes"] > 0
    assert engine["containers"]["total"] >= engine["containers"]["running"] >= 1
    assert engine["storage_driver"]
    assert engine["kernel"]
    fleet = body["fleet"]
    assert fleet["bots"] == 1
    assert fleet["by_status"] == {"health_unknown": 1}  # the bot state model's (no gateway)
    assert fleet["memory_bytes"] > 0
    assert body["keyring"] == {"enabled": False}
    assert body["monitor"]["connected"] is True

    response = client.get(f"/api/bots/{bot['id']}/gateway-token")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    stored = (services.settings.secrets_dir / bot["id"] / "gateway_token").read_text()
    assert response.json() == {"token": stored}
    assert len(stored) >= 32
    assert client.get("/api/bots/alpha/gateway-token").json()["token"] == stored
    assert client.get("/api/bots/nope/gateway-token").status_code == 404
    with httpx.Client(base_url=url) as anon:
        for path in (
            f"/api/bots/{bot['id']}/gateway-token",
            "/api/diagnostics",
            "/api/stats",
            "/api/events/stream",
            f"/api/bots/{bot['id']}/events",
            "/api/admin/orphans",
        ):
            assert anon.get(path).status_code == 401, path
        assert anon.post("/api/admin/cleanup").status_code == 401


@pytest.fixture
def strays(
    services: Services, docker_api: docker.APIClient, standin_image: str
) -> Iterator[dict[str, Any]]:
    """An orphaned bot container, secrets and state folders, and things never to touch."""
    instance = services.settings.instance
    orphan_id = str(uuid.uuid4())
    labels = {LABEL_MANAGED: "true", LABEL_INSTANCE: instance, LABEL_BOT_ID: orphan_id}
    orphan = docker_api.create_container(standin_image, labels=labels, name=f"bmtest-{orphan_id}")
    plain = docker_api.create_container(standin_image, name=f"bmtest-plain-{orphan_id[:8]}")
    other_labels = {**labels, LABEL_INSTANCE: f"{instance}-other"}
    other = docker_api.create_container(standin_image, labels=other_labels)
    secrets = services.settings.secrets_dir
    (secrets / orphan_id).mkdir(parents=True)
    (secrets / orphan_id / "api_key").write_text("sk-stray")
    (secrets / ".keyring").mkdir(exist_ok=True)
    (secrets / ".keyring" / "master.key").write_text("keep me")
    (secrets / "not-a-bot").mkdir()
    state = services.settings.data_dir / "bots" / orphan_id / "state"
    state.mkdir(parents=True)
    try:
        yield {
            "id": orphan_id,
            "container": orphan["Id"],
            "plain": plain["Id"],
            "other": other["Id"],
        }
    finally:
        for container in (orphan, plain, other):
            with contextlib.suppress(docker.errors.APIError):
                docker_api.remove_container(container["Id"], force=True)


def test_orphans_are_reported_by_get_and_removed_only_by_cleanup(
    client: httpx.Client,
    services: Services,
    docker_api: docker.APIClient,
    strays: dict[str, Any],
) -> None:
    bot = create(client, "keeper")
    orphan_id = strays["id"]
    for _ in range(2):  # looking twice changes nothing
        report = client.get("/api/admin/orphans").json()
        assert [(c["id"], c["bot_id"]) for c in report["containers"]] == [
            (strays["container"], orphan_id)
        ]
        assert report["containers"][0]["state"] == "created"
        assert 0 <= report["containers"][0]["age_seconds"] < 120
        assert [s["bot_id"] for s in report["secrets"]] == [orphan_id]
        assert [s["bot_id"] for s in report["state"]] == [orphan_id]
        assert all(0 <= s["age_seconds"] < 120 for s in report["secrets"] + report["state"])
        assert docker_api.inspect_container(strays["container"])
        assert (services.settings.secrets_dir / orphan_id).is_dir()

    removed = client.post("/api/admin/cleanup").json()

    def without_age(found: dict[str, Any]) -> dict[str, Any]:  # seconds tick on between calls
        return {
            kind: [{k: v for k, v in item.items() if k != "age_seconds"} for item in items]
            for kind, items in found.items()
        }

    assert without_age(removed) == without_age({**report, "failed": []})
    with pytest.raises(docker.errors.NotFound):
        docker_api.inspect_container(strays["container"])
    assert not (services.settings.secrets_dir / orphan_id).exists()
    assert not (services.settings.data_dir / "bots" / orphan_id).exists()
    # Untouched: an unlabelled container, another instance's, the keyring folder, the bot.
    assert docker_api.inspect_container(strays["plain"])["Id"] == strays["plain"]
    assert docker_api.inspect_container(strays["other"])["Id"] == strays["other"]
    keyring = services.settings.secrets_dir / ".keyring" / "master.key"
    assert keyring.read_text() == "keep me"
    assert (services.settings.secrets_dir / "not-a-bot").is_dir()
    assert client.get(f"/api/bots/{bot['id']}").json()["status"]["state"] == "running"
    assert (services.settings.secrets_dir / bot["id"] / "gateway_token").is_file()
    assert client.get("/api/admin/orphans").json() == {
        "containers": [],
        "secrets": [],
        "state": [],
        "grants": [],
    }


@pytest.fixture
def relay() -> Iterator[DockerRelay]:
    with tempfile.TemporaryDirectory(prefix="bm-relay-") as folder:
        proxy = DockerRelay(Path(folder) / "docker.sock")
        try:
            yield proxy
        finally:
            proxy.close()
            collect_unconnected_sockets()


@pytest.mark.filterwarnings(IGNORE_UNCONNECTED)
def test_the_event_thread_reconnects_when_the_engine_comes_back(
    relay: DockerRelay,
    make_services: MakeServices,
    settings: Settings,
    docker_api: docker.APIClient,
) -> None:
    relay.up()
    services: Services = make_services(settings, docker_host=relay.url, docker_timeout=2.0)
    subscription = services.monitor.subscribe()
    services.monitor.start()
    try:
        first = next_message(subscription, lambda m: m.event == "resync")
        assert first.data == {"reason": "connected"}
        bot = services.bots.create(BotCreate.model_validate(bot_body("alpha"))).record
        next_message(subscription, lambda m: m.event == "event" and m.data["kind"] == "started")

        relay.down()  # the engine "goes away": the stream ends, reconnects are refused
        wait_for(lambda: not services.monitor.connected, timeout=5)
        time.sleep(1.0)  # a few refused attempts, with back-off
        docker_api.kill(f"botmaker-{bot.id}")  # happens while BotMaker cannot see
        relay.up()

        again = next_message(subscription, lambda m: m.event == "resync")
        assert again.data == {"reason": "reconnected"}
        assert services.monitor.connects == 2
        # The kill it missed is asked for again (since) and recorded once.
        died = next_message(subscription, lambda m: m.event == "event")
        assert (died.data["kind"], died.data["exit_code"]) == ("died", 137)
        # Later events arrive too.
        docker_api.start(f"botmaker-{bot.id}")
        status = next_message(
            subscription,
            lambda m: m.event == "status" and m.data["status"]["state"] != "exited",
        )
        assert status.data["status"]["state"] == "running"
        wait_for(lambda: services.store.bot_events(bot.id, limit=1)[0]["kind"] == "started")
        kinds = [e["kind"] for e in services.store.bot_events(bot.id)]
        assert kinds == ["started", "died", "started", "created", "config_changed"]
    finally:
        services.monitor.stop()
    assert subscription.closed  # stopping the monitor ends its subscribers' streams


def test_health_verdict_changes_are_events_and_status_updates(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    """The stand-in's busybox httpd (port 8080) serves files: write the gateway's answers."""
    services: Services = make_services(settings, health_interval=0.5, stats_interval=60)
    health = services.bots.health
    health.port = 8080
    bot = services.bots.create(BotCreate.model_validate(bot_body("alpha"))).record
    container = f"botmaker-{bot.id}"

    def shell(script: str) -> None:
        exec_id = docker_api.exec_create(container, ["sh", "-c", script])["Id"]
        docker_api.exec_start(exec_id)

    health.watch(bot.id)
    subscription = services.monitor.subscribe()
    services.start_background()
    try:

        def verdict(kind: str, shown: str | None = None) -> Message:
            message = next_message(
                subscription, lambda m: m.event == "event" and m.data["kind"] in _VERDICTS
            )
            assert message.data["kind"] == kind, message
            status = next_message(subscription, lambda m: m.event == "status")
            assert status.data["status"]["health"] == kind
            assert status.data["status"]["summary"] == (shown or kind)
            return message

        verdict("starting")  # no gateway answers yet, within the grace period
        shell('echo \'{"ok": true}\' > "$HOME/healthz"; echo \'{"ready": true}\' > "$HOME/readyz"')
        verdict("healthy")
        shell('echo \'{"ready": false, "failing": ["channels"]}\' > "$HOME/readyz"')
        # Live but not ready, naming what fails: the probes say unhealthy, the bot's
        # state (services/botstate.py) says degraded.
        assert "channels" in verdict("unhealthy", "degraded").data["detail"]
    finally:
        services.stop_background()
    kinds = [e["kind"] for e in services.store.bot_events(bot.id)]
    assert kinds[:3] == ["unhealthy", "healthy", "starting"]


_VERDICTS = {"starting", "healthy", "unhealthy"}


def test_a_restarted_gateway_that_never_answers_healthz_again_is_a_crash_loop(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    """The stand-in's httpd plays the gateway (files in its HOME, a tmpfs that each
    start empties): live, killed once, restarted and silent on /healthz since."""
    services: Services = make_services(settings, health_interval=0.5, stats_interval=60)
    health = services.bots.health
    health.port = 8080
    watch = services.monitor.crashloops
    watch.loops.rules = Rules(never_live=4.0, stable=3.0)  # 45 s and 60 s in use
    watch.interval = 0.5
    bot = services.bots.create(BotCreate.model_validate(bot_body("gw"))).record
    container = f"botmaker-{bot.id}"
    answers = 'echo \'{"ok": true}\' > "$HOME/healthz"; echo \'{"ready": true}\' > "$HOME/readyz"'
    health.watch(bot.id)
    subscription = services.monitor.subscribe()
    health.start()
    services.monitor.start()
    try:
        exec_in(docker_api, container, answers)
        wait_for(lambda: health.live_at(bot.id), timeout=10)
        killed = time.monotonic()
        _crash(docker_api, container)  # one exit: too few for the restarts rule
        found = next_message(
            subscription, lambda m: m.event == "event" and m.data["kind"] == "crash_loop"
        )
        assert time.monotonic() - killed < 15
        assert found.data["detail"] == (
            "crash loop: restarted once, /healthz never live since; last exit code 137"
        )
        assert services.bots.get(bot.id).status.summary == "crash_loop"
        # It answers again: live since its restart, and stable for 3 s, the loop ends.
        exec_in(docker_api, container, answers)
        next_message(
            subscription, lambda m: m.event == "event" and m.data["kind"] == "crash_loop_ended"
        )
        assert services.bots.get(bot.id).status.summary != "crash_loop"
    finally:
        services.monitor.stop()
        health.stop()
    kinds = [e["kind"] for e in services.store.bot_events(bot.id)]
    assert kinds.count("crash_loop") == 1
