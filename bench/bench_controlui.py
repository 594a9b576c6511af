"""The Control UI proxy: what going through BotMaker costs next to the gateway itself.

Run: ``.venv/bin/python -m bench.bench_controlui [--rounds 300] [--sessions 50]``
(needs a running engine for BotMaker's bot rows). The gateway is a stand-in (a real
aiohttp HTTP/WebSocket server on loopback, tests/support/standin_gateway.py) so both
paths hit the same server and the difference is BotMaker's: pass check, header
rebuild, streaming. Printed, each next to its direct baseline measured in the same
run: HTTP time to first byte, one WebSocket message round trip, and both again with
``--sessions`` WebSocket sessions exchanging messages at once. Target (issue 15): p50
overhead under 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import docker
import httpx
from tests.support.images import STANDIN_TAG, build_standin
from tests.support.server import ServerThread
from tests.support.standin_gateway import StandInGateway
from websockets.asyncio.client import connect

from bench.common import PASSWORD, add_stopped_bot, bench_settings
from botmaker.api import create_app
from botmaker.api.deps import SESSION_COOKIE
from botmaker.services import build_services

TARGET_MS = 2.0


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def first_byte(client: httpx.Client, url: str, headers: dict[str, str], rounds: int) -> list[float]:
    samples = []
    for i in range(rounds + 10):
        start = time.perf_counter()
        with client.stream("GET", url, headers=headers) as response:
            next(response.iter_raw())
            took = (time.perf_counter() - start) * 1000
            assert response.status_code == 200, response.status_code
        if i >= 10:  # warm-up
            samples.append(took)
    return samples


async def ws_round_trips(
    uri: str, port: int, headers: dict[str, str], origin: str, rounds: int
) -> list[float]:
    async with connect(
        uri,
        host="127.0.0.1",
        port=port,
        origin=origin,  # type: ignore[arg-type]
        additional_headers=headers,
        proxy=None,
        compression=None,
    ) as ws:
        await ws.recv()  # the stand-in's greeting
        samples = []
        message = '{"type":"req","id":"1","method":"chat.history","params":{}}'
        for _ in range(rounds):
            start = time.perf_counter()
            await ws.send(message)
            await ws.recv()
            samples.append((time.perf_counter() - start) * 1000)
        return samples


async def many(sessions: int, *args: object) -> list[float]:
    results = await asyncio.gather(*(ws_round_trips(*args) for _ in range(sessions)))  # type: ignore[arg-type]
    return [s for r in results for s in r]


def line(name: str, direct: list[float], proxied: list[float]) -> str:
    d50, p50 = statistics.median(direct), statistics.median(proxied)
    return (
        f"{name:<34} direct p50 {d50:6.2f} ms p95 {pct(direct, 0.95):6.2f} | "
        f"BotMaker p50 {p50:6.2f} ms p95 {pct(proxied, 0.95):6.2f} | "
        f"overhead p50 {p50 - d50:+.2f} ms ({p50 / d50:.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=50)
    args = parser.parse_args()
    api = docker.APIClient(version="1.41", timeout=120)
    image = build_standin(api)[STANDIN_TAG]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = bench_settings(root, image)
        svc = build_services(settings)
        try:
            svc.runtime.ensure_network()
            add_stopped_bot(svc, 0, root / "secrets-0")
            bot_id = svc.store.list_bots()[0].id
            with StandInGateway() as gateway, ServerThread(create_app(settings, svc)) as url:
                svc.gateway.base_url = lambda record: f"http://127.0.0.1:{gateway.port}"  # type: ignore[method-assign]
                run(args, url, bot_id, gateway.port)
        finally:
            from tests.conftest import cleanup_instance

            cleanup_instance(api, settings)
            svc.close()


def run(args: argparse.Namespace, url: str, bot_id: str, gateway_port: int) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        token = client.post("/api/login", json={"password": PASSWORD}).json()["token"]
        client.cookies.set(SESSION_COOKIE, token)
        entry = client.get(f"/bots/{bot_id}/ui/", follow_redirects=False)
        target = httpx.URL(entry.headers["location"])
        host = f"{target.host}:{target.port}"
        redeemed = httpx.get(url + target.raw_path.decode(), headers={"host": host})
        cookie = redeemed.headers["set-cookie"].split(";", 1)[0]
    port = httpx.URL(url).port or 80
    path = f"/bots/{bot_id}/ui/echo"
    with httpx.Client(timeout=30) as plain:
        direct_http = first_byte(plain, f"http://127.0.0.1:{gateway_port}{path}", {}, args.rounds)
        proxied_http = first_byte(
            plain, f"{url}{path}", {"host": host, "cookie": cookie}, args.rounds
        )
    ws_path = f"/bots/{bot_id}/ui"
    origin = f"http://{host}"
    direct_ws = asyncio.run(
        ws_round_trips(
            f"ws://127.0.0.1:{gateway_port}{ws_path}", gateway_port, {}, origin, args.rounds
        )
    )
    proxied_ws = asyncio.run(
        ws_round_trips(f"ws://{host}{ws_path}", port, {"cookie": cookie}, origin, args.rounds)
    )
    per = max(20, args.rounds // 10)
    direct_many = asyncio.run(
        many(
            args.sessions, f"ws://127.0.0.1:{gateway_port}{ws_path}", gateway_port, {}, origin, per
        )
    )
    proxied_many = asyncio.run(
        many(args.sessions, f"ws://{host}{ws_path}", port, {"cookie": cookie}, origin, per)
    )
    print(f"Control UI proxy, {args.rounds} rounds, stand-in gateway on loopback")
    print(line("HTTP first byte", direct_http, proxied_http))
    print(line("WebSocket message round trip", direct_ws, proxied_ws))
    print(line(f"WS round trip, {args.sessions} sessions at once", direct_many, proxied_many))
    overhead = statistics.median(proxied_ws) - statistics.median(direct_ws)
    verdict = "meets" if overhead < TARGET_MS else "MISSES"
    print(f"p50 WebSocket overhead {overhead:.2f} ms: {verdict} the {TARGET_MS} ms target")


if __name__ == "__main__":
    main()
