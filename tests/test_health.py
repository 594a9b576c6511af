"""Gateway health: BotMaker's probe judges the JSON bodies of /healthz and /readyz,
and asks /startupz why a gateway is not ready yet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from botmaker.runtime.base import RuntimeStatus
from botmaker.services.health import HealthMonitor, probe
from tests.support.httpfake import JsonHandler, ServerThread

Answer = tuple[int, dict[str, object]] | None


class FakeGateway:
    """A real HTTP server answering like OpenClaw's gateway, with settable bodies."""

    def __init__(self) -> None:
        #: an answer, or None: the Control UI's HTML answers that path
        self.live: Answer = (200, {"ok": True, "status": "live"})
        self.ready: Answer = (200, {"ready": True, "failing": []})
        self.startup: Answer = (
            200,
            {"ok": True, "status": "started"},
        )
        self.asked: list[str] = []
        owner = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                owner.asked.append(self.path)
                answers = {
                    "/healthz": owner.live,
                    "/readyz": owner.ready,
                    "/startupz": owner.startup,
                }
                answer = answers.get(self.path)
                if answer is None:  # like OpenClaw's Control UI: 200 with its HTML page
                    page = b"<!doctype html><title>OpenClaw</title>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                self.send_json(*answer)

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


def test_a_starting_gateway_says_why_through_startupz(gateway: FakeGateway) -> None:
    gateway.ready = (503, {"ready": False, "failing": ["startup-sidecars"]})
    gateway.startup = (503, {"ok": False, "status": "starting", "pendingReason": "plugins"})
    assert probe("127.0.0.1", 2, gateway.port) == (False, "starting: plugins")
    gateway.startup = (200, {"ok": True, "status": "started"})  # started, yet not ready
    assert probe("127.0.0.1", 2, gateway.port) == (False, "not ready: startup-sidecars")


def test_a_ready_gateway_is_not_asked_about_startup(gateway: FakeGateway) -> None:
    assert probe("127.0.0.1", 2, gateway.port) == (True, "ready")
    assert gateway.asked == ["/healthz", "/readyz"]  # two requests per bot and round


def test_html_answers_are_never_health(gateway: FakeGateway) -> None:
    """The Control UI answers unknown paths with 200 and HTML: that is not a live or
    ready gateway, and an old version's HTML /startupz is not a start-up state."""
    gateway.startup = None  # this version has no /startupz
    gateway.ready = (503, {"ready": False, "failing": ["channels"]})
    assert probe("127.0.0.1", 2, gateway.port) == (False, "not ready: channels")
    gateway.live = gateway.ready = None
    assert probe("127.0.0.1", 2, gateway.port) == (False, "not live: 200")


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
