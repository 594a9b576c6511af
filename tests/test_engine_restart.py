"""A real engine outage: ``dockerd`` stopped and started again while BotMaker runs.

The shared engine is never stopped: BotMaker is pointed (DOCKER_HOST) at a second,
private ``dockerd`` of its own (tests/support/dockerd.py) holding the stand-in image.
A bot runs; the private dockerd gets SIGTERM (as ``systemctl stop docker`` sends) and
exits. Then the API answers 503 within ``DOWN_LIMIT`` seconds, ``/health`` says the
engine is not ok, and the dashboard pages load and show the engine as down (the
server-rendered HTML, and a real browser). dockerd is started again on the same
folders: without restarting BotMaker the bot is running again (restart policy
unless-stopped, live-restore off), the event monitor reconnects, the dashboard shows
it, and a new bot can be created.

``tests/test_engine_down.py`` covers the same through a socket relay (and a hung
engine, which a real dockerd cannot be made to be on demand).
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from botmaker.api import create_app
from botmaker.api.deps import SESSION_COOKIE
from botmaker.config import Settings
from botmaker.runtime.policy import LABEL_INSTANCE
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import assert_error, logged_in, timed
from tests.support.dockerd import PrivateDockerd
from tests.support.fixtures import MakeServices
from tests.support.images import STANDIN_TAG, build_standin
from tests.support.server import ServerThread
from tests.support.sockets import IGNORE_UNCONNECTED, collect_unconnected_sockets
from tests.support.waiting import wait_for
from tests.test_dashboard import DESKTOP, Session

DOCKER_TIMEOUT = 2.0
DOWN_LIMIT = 2.0  # seconds: a stopped engine (its socket gone) needs no timeout at all
CONVERGE = 60.0  # seconds for the engine's restart to show everywhere

# docker-py leaves the socket of a refused connect() to the garbage collector (see
# tests/test_engine_down.py); the fixture below collects them while this is ignored.
pytestmark = pytest.mark.filterwarnings(IGNORE_UNCONNECTED)

_BANNER = re.compile(r'<div class="engine-banner" id="engine-banner"[^>]*>')


@pytest.fixture
def engine() -> Iterator[PrivateDockerd]:
    dockerd = PrivateDockerd(uuid.uuid4().hex[:8])
    try:
        dockerd.start()
        with dockerd.client() as api:
            build_standin(api)
        yield dockerd
    finally:
        dockerd.close()
        collect_unconnected_sockets()


@pytest.fixture
def app(
    engine: PrivateDockerd, make_services: MakeServices, settings: Settings
) -> Iterator[tuple[str, Services]]:
    private = replace(
        settings,
        docker_host=engine.url,
        docker_timeout=DOCKER_TIMEOUT,
        bot_image=f"botmaker-standin:{STANDIN_TAG}",
        network_internal=True,
    )
    svc: Services = make_services(private)
    with ServerThread(create_app(svc.settings, svc)) as url:
        yield url, svc


def banner(html: str) -> tuple[str, bool]:
    """The engine banner of a server-rendered page: (its data-engine state, shown?)."""
    match = _BANNER.search(html)
    assert match, "the page has no engine banner"
    tag = match.group(0)
    state = re.search(r'data-engine="([a-z]+)"', tag)
    assert state, tag
    return state.group(1), " hidden" not in tag


def page_html(pages: httpx.Client, path: str) -> str:
    started = time.monotonic()
    response = pages.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    assert time.monotonic() - started < DOWN_LIMIT, path  # no engine call behind a page
    return response.text


def state_of(client: httpx.Client, bot_id: str) -> str | None:
    response = client.get(f"/api/bots/{bot_id}")
    return response.json()["status"]["state"] if response.status_code == 200 else None


def test_dockerd_stopped_and_started_while_botmaker_runs(
    app: tuple[str, Services], engine: PrivateDockerd, browser: Browser
) -> None:
    url, services = app
    settings = services.settings
    assert settings.docker_host == engine.url
    assert settings.network_internal
    with (
        logged_in(url, ADMIN_PASSWORD) as client,
        httpx.Client(base_url=url, timeout=30) as pages,
    ):
        login = pages.post("/api/login", json={"password": ADMIN_PASSWORD})
        assert login.status_code == 200
        assert SESSION_COOKIE in pages.cookies

        # -- up: a bot runs on the private engine, on an internal network ----------------
        created = client.post("/api/bots", json=bot_body("steady"))
        assert created.status_code == 201, created.text
        bot = created.json()
        assert bot["status"]["state"] == "running"
        with engine.client() as api:
            container = api.inspect_container(bot["container_name"])
            assert container["State"]["Running"]
            assert container["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
            assert api.inspect_network(settings.network)["Internal"] is True
        engine.remember_networks()
        wait_for(lambda: client.get("/api/engine").json()["state"] == "up")
        assert client.get("/api/diagnostics").json()["monitor"]["connected"] is True
        assert banner(page_html(pages, "/")) == ("up", False)

        session = Session(browser, url, DESKTOP)
        try:
            page = session.page()
            session.login(page, "/")
            expect(page.locator('li.bot-card[data-name="steady"]')).to_have_attribute(
                "data-status", re.compile("healthy|health_unknown|starting")
            )
            expect(page.locator("#engine-banner")).to_be_hidden()

            # -- down: SIGTERM to dockerd ------------------------------------------------
            stopping = time.monotonic()
            engine.stop()
            stopped_in = time.monotonic() - stopping
            assert not engine.running()
            check_down(client, pages, services, bot["id"])
            check_dashboard_down(session, page)

            # -- up again: same folders, BotMaker untouched ------------------------------
            restart_took = engine.start()
            check_recovered(client, pages, services, bot["id"])
            # The page opened during the outage converges by itself.
            expect(page.locator("#engine-banner")).to_be_hidden(timeout=CONVERGE * 1000)
            expect(page.locator('li.bot-card[data-name="steady"]')).to_have_attribute(
                "data-status",
                re.compile("healthy|health_unknown|starting"),
                timeout=CONVERGE * 1000,
            )
            expect(page.locator("#list-error")).to_be_hidden()
            expect(page.locator('li.bot-card[data-name="fresh"]')).to_be_visible()
        finally:
            session.close()
        for name in ("steady", "fresh"):
            assert client.delete(f"/api/bots/{name}").status_code == 204
        with engine.client() as api:
            left = api.containers(
                all=True, filters={"label": f"{LABEL_INSTANCE}={settings.instance}"}
            )
        assert left == []
        print(f"\ndockerd stopped in {stopped_in:.2f} s, started again in {restart_took:.2f} s")


def check_down(client: httpx.Client, pages: httpx.Client, services: Services, bot_id: str) -> None:
    """API: fast 503s in the one error shape; /health: docker not ok; pages load."""
    latencies = []
    for _ in range(5):
        response, elapsed = timed(client, "GET", "/api/bots")
        latencies.append(elapsed)
        error = assert_error(response, 503, "engine_unavailable")
        assert "Docker engine does not answer" in error["message"], error
        assert "Traceback" not in response.text
    for method, path, body in (
        ("GET", f"/api/bots/{bot_id}", None),
        ("POST", "/api/bots", bot_body("during")),
        ("POST", f"/api/bots/{bot_id}/restart", None),
    ):
        response, elapsed = timed(client, method, path, json=body)
        latencies.append(elapsed)
        assert_error(response, 503, "engine_unavailable")
    assert max(latencies) < DOWN_LIMIT, latencies
    print(
        f"\n503 during the outage: {len(latencies)} calls, "
        f"median {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    assert [b.name for b in services.store.list_bots()] == ["steady"]  # nothing half-made

    health, elapsed = timed(client, "GET", "/health")
    assert elapsed < DOWN_LIMIT
    assert health.status_code == 503, health.text
    assert health.json()["store"] == {"ok": True}
    assert health.json()["docker"]["ok"] is False
    assert "Docker engine does not answer" in health.json()["docker"]["message"]

    # The monitor noticed (its event stream ended), and says so without asking the engine.
    engine_state = wait_for(
        lambda: (s := client.get("/api/engine").json())["state"] == "down" and s, timeout=10
    )
    assert "Docker engine does not answer" in engine_state["message"]
    diagnostics = client.get("/api/diagnostics").json()
    assert diagnostics["engine"]["ok"] is False
    assert diagnostics["monitor"]["connected"] is False
    for path in ("/", "/diagnostics", f"/bots/{bot_id}"):
        html = page_html(pages, path)
        assert banner(html) == ("down", True), path
        assert "The Docker engine is down." in html
        assert "Docker engine does not answer" in html  # the reason, in the banner


def check_dashboard_down(session: Session, page: Page) -> None:
    """The open bots page notices by itself; a fresh diagnostics page shows it too."""
    expect(page.locator("#engine-banner")).to_be_visible()
    expect(page.locator("#engine-banner")).to_contain_text("The Docker engine is down")
    page.reload()
    expect(page.locator("#engine-banner")).to_be_visible()
    expect(page.locator("#list-error")).to_contain_text("Docker engine does not answer")
    diagnostics = session.page()
    diagnostics.goto("/diagnostics")
    expect(diagnostics.locator("#engine-banner")).to_be_visible()
    expect(diagnostics.locator("#diag-engine .badge")).to_have_text("down")
    expect(diagnostics.locator("#diag-engine")).to_contain_text("Docker engine does not answer")
    expect(diagnostics.locator("#diag-fleet")).to_contain_text("reconnecting")
    session.shot(diagnostics, "diagnostics-engine-down")
    diagnostics.close()


def check_recovered(
    client: httpx.Client, pages: httpx.Client, services: Services, bot_id: str
) -> None:
    """Status converges with no restart of BotMaker; the monitor reconnects; creates work."""
    started = time.monotonic()
    wait_for(lambda: state_of(client, bot_id) == "running", timeout=CONVERGE, interval=0.2)
    running_after = time.monotonic() - started
    wait_for(lambda: client.get("/api/engine").json()["state"] == "up", timeout=CONVERGE)
    monitor_after = time.monotonic() - started
    diagnostics = client.get("/api/diagnostics").json()
    assert diagnostics["monitor"]["connected"] is True
    assert diagnostics["engine"].get("ok") is not False
    assert services.monitor.connects >= 2
    health = client.get("/health")
    assert health.status_code == 200, health.text
    assert health.json() == {"status": "ok", "store": {"ok": True}, "docker": {"ok": True}}
    for path in ("/", "/diagnostics"):
        assert banner(page_html(pages, path)) == ("up", False), path

    fresh = client.post("/api/bots", json=bot_body("fresh"))
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["status"]["state"] == "running"
    listed = {b["name"]: b["status"]["state"] for b in client.get("/api/bots").json()["bots"]}
    assert listed == {"steady": "running", "fresh": "running"}
    print(
        f"\nafter dockerd answered: bot running in {running_after:.2f} s, "
        f"monitor reconnected in {monitor_after:.2f} s"
    )
