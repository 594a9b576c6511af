"""GET /metrics: Prometheus text that says what GET /api/stats and GET /api/usage say.

Real engine (stand-in bots), real BotMaker server on loopback, the real keyring child
process with a fake provider behind it; the official text parser reads the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from botmaker.api import create_app
from botmaker.config import Secret, Settings
from botmaker.services import Services
from botmaker.services.metrics import STATUSES, count_egress_refusal
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import logged_in
from tests.support.fake_upstream import FakeUpstream
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.waiting import wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by name and labels (the official parser)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def keyed(settings: Settings, make_services: MakeServices, upstream: FakeUpstream) -> Services:
    """The keyring on (free ports), OpenAI's upstream the fake; the stats sampler's
    background round at start only (the test samples when it compares)."""
    svc: Services = make_services(
        replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0, stats_interval=3600)
    )
    svc.keyring.client.set_upstream("openai", upstream.url + "/v1", allow_private=True)
    return svc


def _model_call(svc: Services, bot_id: str) -> httpx.Response:
    """One chat completion through the keyring's data plane with the bot's own token."""
    token = (svc.settings.secrets_dir / bot_id / "keyring_token").read_text().strip()
    with httpx.Client(timeout=30) as proxy:
        return proxy.post(
            svc.keyring.proxy_base("openai") + "/chat/completions",
            headers={"Authorization": f"Bearer {token}"},
            json={"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi"}]},
        )


def test_metrics_parse_and_match_stats_and_usage(keyed: Services, upstream: FakeUpstream) -> None:
    with (
        ServerThread(create_app(keyed.settings, keyed)) as url,
        logged_in(url, ADMIN_PASSWORD, timeout=60) as client,
        httpx.Client(base_url=url, timeout=30) as scraper,  # loopback, no token set
    ):
        ids = []
        for name in ("alpha", "beta"):
            made = client.post("/api/bots", json=bot_body(name))
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        alpha, beta = ids
        for _ in range(2):
            assert _model_call(keyed, alpha).status_code == 200
        assert _model_call(keyed, beta).status_code == 200
        count_egress_refusal(beta)
        wait_for(lambda: keyed.bots.statuses.live, timeout=30)

        def running() -> bool:
            return all(b["status"]["running"] for b in client.get("/api/bots").json()["bots"])

        wait_for(running, timeout=30)
        keyed.stats.sample_once()
        keyed.stats.sample_once()  # two rounds: CPU % is a difference
        keyed.stats.flush()  # the history row: restart counts

        stats = client.get("/api/stats").json()
        usage = client.get("/api/usage").json()
        bots = client.get("/api/bots").json()["bots"]
        answer = scraper.get("/metrics")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        samples = parse(answer.text)

        # Bots by status, as the bot list has them; every status a series of its own.
        by_status = dict.fromkeys(STATUSES, 0)
        for bot in bots:
            by_status[bot["status"]["summary"]] += 1
        for status, count in by_status.items():
            assert value(samples, "botmaker_bots", status=status) == count, status
        assert value(samples, "botmaker_bots_running") == 2
        for bot in bots:
            summary = bot["status"]["summary"]
            assert value(samples, "botmaker_bot_status", bot=bot["id"], status=summary) == 1
            assert value(samples, "botmaker_bot_restarts_total", bot=bot["id"]) == 0

        # Resources: exactly the sampler's numbers GET /api/stats shows.
        assert value(samples, "botmaker_stats_running_bots") == stats["totals"]["running"] == 2
        assert value(samples, "botmaker_stats_last_round_timestamp_seconds") == stats["at"]
        for bot_id, point in stats["bots"].items():
            assert value(samples, "botmaker_bot_memory_bytes", bot=bot_id) == point["memory_bytes"]
            limit = value(samples, "botmaker_bot_memory_limit_bytes", bot=bot_id)
            assert limit == point["memory_limit"] == keyed.settings.limits.memory_bytes
            assert value(samples, "botmaker_bot_cpu_cores", bot=bot_id) == pytest.approx(
                point["cpu_percent"] / 100
            )
            assert value(samples, "botmaker_bot_pids", bot=bot_id) == point["pids"]
            rx = value(samples, "botmaker_bot_network_receive_bytes_total", bot=bot_id)
            assert rx == point["rx_bytes"]
            tx = value(samples, "botmaker_bot_network_transmit_bytes_total", bot=bot_id)
            assert tx == point["tx_bytes"]
            cpu = value(samples, "botmaker_bot_cpu_seconds_total", bot=bot_id)
            assert cpu is not None
            assert cpu > 0

        # The keyring: its exposition appended, its numbers those of GET /api/usage.
        assert value(samples, "botmaker_keyring_up") == 1
        for bot_id, calls in ((alpha, 2), (beta, 1)):
            today = usage["bots"][bot_id]["today"]
            assert today["requests"] == calls
            assert (
                value(samples, "botmaker_keyring_bot_requests", bot=bot_id, period="day")
                == (today["requests"])
            )
            assert (
                value(samples, "botmaker_keyring_bot_tokens", bot=bot_id, period="day")
                == (today["tokens"])
            )
            month = usage["bots"][bot_id]["month"]
            assert (
                value(samples, "botmaker_keyring_bot_tokens", bot=bot_id, period="month")
                == (month["tokens"])
            )
            # The counters of this process's life: this keyring only ever saw today's calls.
            assert total(samples, "botmaker_keyring_requests_total", bot=bot_id) == calls
            assert (
                total(samples, "botmaker_keyring_tokens_total", bot=bot_id, type="input")
                == (today["input_tokens"])
            )
            assert (
                total(samples, "botmaker_keyring_tokens_total", bot=bot_id, type="output")
                == (today["output_tokens"])
            )
            assert today["input_tokens"] == calls * upstream.input_tokens
            key = next(k for k in usage["keys"].values() if k["bot_id"] == bot_id)
            key_id = next(i for i, k in usage["keys"].items() if k is key)
            forwarded = value(
                samples,
                "botmaker_keyring_request_duration_seconds_count",
                bot=bot_id,
                provider="openai",
                key=key_id,
            )
            assert forwarded == calls
            info = value(
                samples,
                "botmaker_keyring_key_info",
                key=key_id,
                provider="openai",
                label=key["label"],
                bot=bot_id,
            )
            assert info == 1
        assert "sk-test-key" not in answer.text  # the key's plaintext never

        # Egress refusals, API latency by route template, reconciliation.
        assert value(samples, "botmaker_egress_refusals_total", bot=beta) == 1
        latency = value(
            samples,
            "botmaker_http_request_duration_seconds_count",
            route="/api/stats",
            method="GET",
            status="2xx",
        )
        assert latency == 1
        assert not any(alpha in dict(labels).get("route", "") for _, labels in samples)
        before = value(samples, "botmaker_reconcile_passes_total") or 0
        assert client.post("/api/admin/reconcile").status_code == 200
        after = parse(scraper.get("/metrics").text)
        assert value(after, "botmaker_reconcile_passes_total") == before + 1
        assert value(after, "botmaker_engine_up") == 1
        assert value(after, "botmaker_event_stream_connected") == 1
        # The monitor handled the bots' engine events: their lag was observed.
        lag = value(after, "botmaker_event_stream_lag_seconds_count")
        assert lag is not None
        assert lag >= 4  # at least the create and the start of each bot

        # The keyring stops answering: BotMaker's own metrics are still served.
        keyed.keyring.stop()
        down = scraper.get("/metrics")
        assert down.status_code == 200
        gone = parse(down.text)
        assert value(gone, "botmaker_keyring_up") == 0
        assert value(gone, "botmaker_bots_running") == 2
        assert not any(n.startswith("botmaker_keyring_bot") for n, _ in gone)


TOKEN = "scrape-token-0123456789abcdef"


def test_metrics_auth_token_wrong_token_and_non_loopback(
    settings: Settings, make_services: MakeServices
) -> None:
    svc = make_services(settings, metrics_token=Secret(TOKEN))
    with ServerThread(create_app(svc.settings, svc)) as url, httpx.Client(base_url=url) as anon:
        assert anon.get("/metrics").status_code == 401  # a token is set: loopback is not enough
        wrong = anon.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        right = anon.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        assert value(parse(right.text), "botmaker_bots_running") == 0
        # The scrape token is the scraper and nothing more: no other route admits it.
        bots = anon.get("/api/bots", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bots.status_code == 401
        with logged_in(url, ADMIN_PASSWORD) as admin:  # an admin may read them too
            assert admin.get("/metrics").status_code == 200
            made = admin.post("/api/tokens", json={"name": "reader", "scopes": ["bots:read"]})
            assert made.status_code == 201, made.text
            reader = {"Authorization": f"Bearer {made.json()['secret']}"}
            assert anon.get("/metrics", headers=reader).status_code == 403  # scope lacking

    # No token set: loopback may scrape, another address may not (403).
    open_svc = make_services(settings, instance=settings.instance + "-b")
    app = create_app(open_svc.settings, open_svc)

    async def call(client: tuple[str, int]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://botmaker") as c:
            return await c.get("/metrics")

    remote = asyncio.run(call(("192.0.2.10", 40000)))
    assert remote.status_code == 403, remote.text
    assert "loopback" in remote.json()["error"]["message"]
    local = asyncio.run(call(("127.0.0.1", 40000)))
    assert local.status_code == 200
    assert any(f.name == "botmaker_bots" for f in text_string_to_metric_families(local.text))
    ipv6 = asyncio.run(call(("::1", 40000)))
    assert ipv6.status_code == 200


def test_the_written_exposition_is_what_the_collector_yields(
    settings: Settings, make_services: MakeServices
) -> None:
    """FleetCollector.render (the fast path a scrape uses) says exactly what its
    prometheus_client families say, through prometheus_client's own formatter."""
    svc = make_services(settings)
    svc.store.insert_bot(
        bot_id="0123456789ab",
        name='odd "name"\\ with\nlines',
        provider="openai",
        model="gpt-5.1",
        channel="telegram",
        image="img",
        uid_base=settings.bot_uid_base,
        fixed_uid=None,
    )
    count_egress_refusal("0123456789ab")
    fleet = svc.metrics.fleet
    assert fleet is not None
    registry = CollectorRegistry()
    registry.register(fleet)
    official = parse(generate_latest(registry).decode())
    written = parse(fleet.render())
    assert written == official
    assert value(written, "botmaker_bots", status="unknown") == 1  # no event stream yet
    assert (
        value(
            parse(svc.metrics.exposition().decode()),
            "botmaker_egress_refusals_total",
            bot="0123456789ab",
        )
        == 1
    )
