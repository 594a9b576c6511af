"""Benchmarks for the core bot lifecycle, against the raw Docker API in the same run.

Run: ``.venv/bin/python -m bench.bench_core [--bots 10,100] [--creates 10]``
(needs a running engine; builds the stand-in image locally). Prints a table of
figures and ratios; it asserts nothing — targets are read, not timed in tests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

import docker
import httpx
from tests.conftest import cleanup_instance
from tests.support.checks import logged_in
from tests.support.images import STANDIN_TAG, STUBBORN_TAG, build_standin
from tests.support.server import ServerThread

from bench.common import PASSWORD, bench_settings
from botmaker.api import create_app
from botmaker.config import BotLimits, Settings
from botmaker.runtime.base import Backend
from botmaker.runtime.policy import BotIdentity, bot_container_spec
from botmaker.services import build_services


def timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return (time.perf_counter() - start) * 1000


def report(name: str, samples: list[float], baseline: float | None = None) -> float:
    median = statistics.median(samples)
    ratio = f"{median / baseline:6.2f}x baseline" if baseline else ""
    print(f"  {name:<46} median {median:8.1f} ms  p90 {pct(samples, 0.9):8.1f} ms  {ratio}")
    return median


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def body(name: str) -> dict[str, object]:
    return {
        "name": name,
        "provider": "openai",
        "model": "gpt-5.1",
        "channel": "telegram",
        "secrets": {"api_key": "sk-bench", "channel_token": "1:bench"},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", default="10,100", help="bot counts for the list benchmark")
    parser.add_argument("--creates", type=int, default=10, help="creates to time")
    args = parser.parse_args()
    counts = [int(c) for c in args.bots.split(",")]

    api = docker.APIClient(version="1.41", timeout=60)
    images = build_standin(api)
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(
            Path(tmp),
            images[STANDIN_TAG],
            keyring="auto",  # the keyring runs (the default), on free ports
            keyring_port=0,
            keyring_admin_port=0,
            stop_timeout=10,
            limits=BotLimits(memory_bytes=64 * 1024**2, cpus=0.5, pids=64),
        )
        svc = build_services(settings)
        try:
            with (
                ServerThread(create_app(settings, svc)) as url,
                logged_in(url, PASSWORD, timeout=120) as client,
            ):
                run(api, svc.runtime, settings, client, images, args.creates, counts)
        finally:
            cleanup_instance(api, settings)
            svc.close()


def run(
    api: docker.APIClient,
    backend: Backend,
    settings: Settings,
    client: httpx.Client,
    images: dict[str, str],
    creates: int,
    counts: list[int],
) -> None:
    backend.ensure_network()
    print(f"BotMaker core benchmark ({creates} creates; lists at {counts} bots)")

    # 1. create+start: raw Docker (same hardened spec) vs POST /api/bots.
    secrets_dir = Path(settings.secrets_dir) / "raw"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    raw: list[float] = []
    for i in range(creates):
        identity = BotIdentity(str(uuid.uuid4()), f"raw-{i}", images[STANDIN_TAG], 200_000, {})
        spec = bot_container_spec(identity, settings, secrets_dir)

        def raw_create(spec=spec) -> None:  # type: ignore[no-untyped-def]
            api.start(backend.create(spec))

        raw.append(timed(raw_create))
    for container in api.containers(all=True, filters={"name": "botmaker-"}):
        if container["Labels"].get("botmaker.instance") == settings.instance and container[
            "Labels"
        ].get("botmaker.bot-name", "").startswith("raw-"):
            api.remove_container(container["Id"], force=True)

    def create(n: int) -> None:
        client.post("/api/bots", json=body(f"bench-{n}")).raise_for_status()

    ours = [timed(partial(create, i)) for i in range(creates)]
    print("create + start")
    base = report("raw Docker create+start (same spec)", raw)
    report("BotMaker POST /api/bots (secrets, row, start)", ours, base)

    # 2. list with live status: one list call vs one inspect per bot (the peer's way).
    print("list with live status")
    made = creates
    for count in counts:
        while made < count:
            client.post("/api/bots", json=body(f"bench-{made}")).raise_for_status()
            made += 1
        ids = [
            c["Id"]
            for c in api.containers(
                all=True, filters={"label": f"botmaker.instance={settings.instance}"}
            )
        ]

        def per_bot_inspect(ids: list[str] = ids) -> None:
            for cid in ids:
                api.inspect_container(cid)

        baseline = report(
            f"{count:>4} bots: one inspect per bot (peer)",
            [timed(per_bot_inspect) for _ in range(10)],
        )
        report(
            f"{count:>4} bots: BotMaker GET /api/bots",
            [timed(lambda: client.get("/api/bots").raise_for_status()) for _ in range(10)],
            baseline,
        )

    # 3. delete of a bot that ignores SIGTERM (stop timeout 10 s).
    print("delete a bot that ignores SIGTERM (stop timeout 10 s)")
    stubborn: list[float] = []
    for i in range(3):
        bot = client.post("/api/bots", json=body(f"stubborn-{i}")).json()
        api.remove_container(bot["container_id"], force=True)  # recreate on the stubborn image
        identity = BotIdentity(bot["id"], bot["name"], images[STUBBORN_TAG], 200_000, {})
        api.start(backend.create(bot_container_spec(identity, settings, secrets_dir)))
        time.sleep(0.5)
        stubborn.append(timed(partial(client.delete, f"/api/bots/{bot['id']}")))
    report("BotMaker DELETE /api/bots/{bot}", stubborn)


if __name__ == "__main__":
    main()
