"""Dashboard pages and the bot list API with 1,000 bots in the store.

Run: ``.venv/bin/python -m bench.bench_pages [--bots 1000] [--running 100] [--rounds 30]``
(needs a running engine). Seeds ``--bots`` bots in a real SQLite store, of which
``--running`` run a real stand-in container and the rest have a created, never
started one (a stopped bot), serves BotMaker on loopback and times
each page as the server answers it (request to last byte over loopback, an upper
bound of server time). The target (issue "Dashboard") is under 200 ms per page;
``GET /api/bots`` costs one engine call whatever the number of bots: its time is
printed next to the engine's own list call, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import docker
import httpx
from tests.conftest import cleanup_instance
from tests.support.images import STANDIN_TAG, build_standin
from tests.support.server import ServerThread

from bench.common import PASSWORD, add_stopped_bot, bench_settings
from botmaker.api import create_app
from botmaker.services import build_services
from botmaker.services.schemas import BotCreate

TARGET_MS = 200.0


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_get(client: httpx.Client, path: str, rounds: int) -> list[float]:
    client.get(path)  # warm
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:200])
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--running", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    api = docker.APIClient(version="1.41", timeout=120)
    images = build_standin(api)
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(Path(tmp), images[STANDIN_TAG])
        svc = build_services(settings)
        try:
            started = time.perf_counter()
            for i in range(args.running):  # real containers through BotMaker
                svc.bots.create(
                    BotCreate.model_validate(
                        {
                            "name": f"live-{i:04d}",
                            "provider": "openai",
                            "model": "gpt-5.1",
                            "channel": "telegram",
                            "secrets": {"api_key": "sk-bench", "channel_token": "1:bench"},
                        }
                    )
                )
            rows_secrets = Path(tmp) / "rows-secrets"  # outside the secrets dir: not orphans
            rows_secrets.mkdir()
            for i in range(args.bots - args.running):  # stopped bots: a container, never started
                add_stopped_bot(svc, i, rows_secrets)
            print(
                f"seeded {args.bots} bots ({args.running} running containers) in "
                f"{time.perf_counter() - started:.1f} s"
            )
            some_bot = svc.store.list_bots()[0].id
            with (
                ServerThread(create_app(settings, svc)) as url,
                httpx.Client(base_url=url, timeout=60) as client,
            ):
                login = client.post("/api/login", json={"password": PASSWORD})
                assert login.status_code == 200, login.text
                pages = ["/", "/bots/new", f"/bots/{some_bot}", "/keys", "/diagnostics"]
                results: list[tuple[str, list[float]]] = []
                for path in [*pages, "/api/bots"]:
                    results.append((path, time_get(client, path, args.rounds)))
                engine = []
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    api.containers(
                        all=True, filters={"label": f"botmaker.instance={settings.instance}"}
                    )
                    engine.append((time.perf_counter() - start) * 1000)
            print(f"\n{args.bots} bots in the store, {args.running} running; {args.rounds} rounds")
            print(f"  {'GET':<48} {'p50 ms':>8} {'p90 ms':>8}  target")
            for path, samples in results:
                p50 = statistics.median(samples)
                verdict = "PASS" if pct(samples, 0.9) < TARGET_MS else "MISS"
                shown = path if len(path) < 48 else path[:45] + "..."
                print(f"  {shown:<48} {p50:8.1f} {pct(samples, 0.9):8.1f}  {verdict} (<200 ms)")
            api_p50 = statistics.median(results[-1][1])
            engine_p50 = statistics.median(engine)
            print(
                f"  {'(engine list call alone, same run)':<48} {engine_p50:8.1f} "
                f"{pct(engine, 0.9):8.1f}  /api/bots = {api_p50 / engine_p50:.1f}x one engine call"
            )
        finally:
            cleanup_instance(api, settings)
            svc.close()


if __name__ == "__main__":
    main()
