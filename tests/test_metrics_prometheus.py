"""Debian's real Prometheus scrapes BotMaker with the scrape token; deploy/ is valid.

Prometheus (2.42, the ``prometheus`` package scripts/test installs) runs on loopback
with a generated config; PromQL answers the fleet's running count; ``promtool check
rules`` passes on deploy's alert rules; every expression of the Grafana dashboard is
evaluated by that Prometheus without error.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Secret, Settings
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import logged_in
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.waiting import wait_for

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "botmaker.json"
TOKEN = "prometheus-scrape-token-0123456789"

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="Debian's prometheus package (scripts/test installs it)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_promtool_checks_the_alert_rules() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_dashboard_is_structurally_valid() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    datasource = (DEPLOY / "grafana" / "provisioning" / "datasources" / "botmaker.yaml").read_text()
    uid = re.search(r"uid: (\S+)", datasource)
    assert uid is not None
    assert dashboard["uid"]
    assert dashboard["title"]
    (variable,) = dashboard["templating"]["list"]
    assert variable["name"] == "bot"
    assert variable["datasource"]["uid"] == uid.group(1)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid.group(1), panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid.group(1)
    assert any("$bot" in e for e in _expressions(dashboard))  # the per-bot drill-down


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(target: str) -> str:
        port = free_port()
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN)
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: botmaker\n"
            "    authorization: {type: Bearer, credentials_file: " + str(token_file) + "}\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        with (tmp_path / "prometheus.log").open("wb") as log:
            started.append(
                subprocess.Popen(
                    [
                        "prometheus",
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_prometheus_scrapes_botmaker_and_answers_the_dashboards_queries(
    settings: Settings, make_services: MakeServices, prometheus_for: Any
) -> None:
    svc = make_services(settings, metrics_token=Secret(TOKEN))
    with (
        ServerThread(create_app(svc.settings, svc)) as url,
        logged_in(url, ADMIN_PASSWORD, timeout=60) as client,
    ):
        bots = []
        for name in ("one", "two"):
            made = client.post("/api/bots", json=bot_body(name))
            assert made.status_code == 201, made.text
            bots.append(made.json()["id"])
        wait_for(lambda: svc.bots.statuses.live, timeout=30)
        prometheus = prometheus_for(url.removeprefix("http://"))
        with httpx.Client(base_url=prometheus, timeout=10) as promql:

            def query(expr: str) -> Any:
                try:
                    answer = promql.get("/api/v1/query", params={"query": expr})
                except httpx.TransportError:
                    return None  # not listening yet
                if answer.status_code == 503:
                    return None  # still starting
                body = answer.json()
                assert body["status"] == "success", (expr, body)
                return body["data"]["result"]

            up = wait_for(lambda: query('up{job="botmaker"} == 1'), timeout=60)
            assert up
            # The fleet's running count, as Prometheus scraped it (both bots started).
            running = wait_for(lambda: query("botmaker_bots_running == 2"), timeout=30)
            assert float(running[0]["value"][1]) == 2
            # Every PromQL expression of the dashboard evaluates, with Grafana's
            # variables replaced as Grafana would.
            dashboard = json.loads(DASHBOARD.read_text())
            for expr in _expressions(dashboard):
                concrete = expr.replace("$__rate_interval", "1m").replace("$bot", bots[0])
                query(concrete)
            bot_ids = query("group by (bot) (botmaker_bot_info)")
            assert sorted(r["metric"]["bot"] for r in bot_ids) == sorted(bots)
