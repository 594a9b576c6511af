"""Gateway health: BotMaker's probe judges the JSON bodies of /healthz and /readyz."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from botmaker.runtime.base import RuntimeStatus
from botmaker.services.health import HealthMonitor, probe
from tests.support.httpfake import JsonHandler, ServerThread


class FakeGateway:
    """A real HTTP server answering like OpenClaw's gateway, with settable bodies."""

    def __init__(self) -> None:
        self.live: tuple[int, dict[str, object]] = (200, {"ok": True, "status": "live"})
        self.ready: tuple[int, dict[str, object]] = (200, {"ready": True, "failing": []})
        owner = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                self.send_json(*(owner.live if self.path == "/healthz" else owner.ready))

        self.http = ServerThread("127.0.0.1", 0, Handler)
        self.port = self.http.port
        self.http.start()


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    yield fake
    fake.http.stop()


def test_probe_reads_the_bodies_not_only_the_codes(gateway: FakeGateway) -> None:
    assert probe("127.0.0.1", 2, gateway.port) == (True, "ready")
    gateway.ready = (200, {"ready": False, "failing": ["startup-sidecars"]})
    ok, detail = probe("127.0.0.1", 2, gateway.port)
    assert not ok
    assert "startup-sidecars" in detail
    gateway.ready = (200, {"ready": True})
    gateway.live = (200, {"ok": False})
    assert probe("127.0.0.1", 2, gateway.port)[0] is False
    gateway.live = (200, {"ok": True})
    gateway.ready = (503, {"ready": False, "failing": ["channels"]})
    assert probe("127.0.0.1", 2, gateway.port)[0] is False


def test_probe_of_nothing_is_unhealthy() -> None:
    ok, detail = probe("127.0.0.2", 0.5)  # nothing listens there
    assert not ok
    assert detail.startswith("no answer")


class ListingRuntime:
    """The one runtime call the monitor makes, answering with given statuses."""

    def __init__(self, statuses: dict[str, RuntimeStatus]) -> None:
        self.statuses = statuses

    def list(self) -> dict[str, RuntimeStatus]:
        return self.statuses


def test_monitor_reports_starting_then_healthy_then_unhealthy(gateway: FakeGateway) -> None:
    running = RuntimeStatus(state="running", container_id="c1", address="127.0.0.1")
    runtime = ListingRuntime({"b1": running})
    monitor = HealthMonitor(runtime, grace=60, port=gateway.port)  # type: ignore[arg-type]
    monitor.watch("b1")
    assert monitor.health_of("b1", running).summary == "starting"
    gateway.ready = (200, {"ready": False, "failing": ["startup-sidecars"]})
    monitor.probe_all()
    assert monitor.health_of("b1", running).summary == "starting"  # within the grace period
    gateway.ready = (200, {"ready": True})
    monitor.probe_all()
    assert monitor.health_of("b1", running).summary == "healthy"
    gateway.live = (500, {"ok": False})
    monitor.probe_all()
    assert monitor.health_of("b1", running).summary == "unhealthy"
    # Unwatched bots (not OpenClaw) and stopped containers carry no health.
    assert monitor.health_of("other", running).summary == "running"
    exited = RuntimeStatus(state="exited", exit_code=137)
    assert monitor.health_of("b1", exited).summary == "exited"
    assert RuntimeStatus(state="exited", exit_code=0).summary == "stopped"
    assert RuntimeStatus(state="restarting").summary == "restarting"
    assert RuntimeStatus(state="created").summary == "created"
