"""The Control UI proxy against a stand-in gateway: a real HTTP and WebSocket server on
loopback that reports what reached it (what a real gateway would believe).

What only a stand-in can show: the browser's forged identity, forwarding and
credential headers never arrive; a pass opens one bot's origin only; a WebSocket from
another page is refused; messages flow both ways unchanged. The real gateway is
exercised in tests/test_control_ui.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from botmaker.api import create_app
from botmaker.api.deps import SESSION_COOKIE
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.server import ServerThread
from tests.support.standin_gateway import StandInGateway


@pytest.fixture
def proxied(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Two bots whose gateway is the stand-in, BotMaker served, an admin signed in."""
    with StandInGateway() as gateway, ServerThread(create_app(services.settings, services)) as url:
        monkeypatch.setattr(
            services.gateway, "base_url", lambda record: f"http://127.0.0.1:{gateway.port}"
        )
        with httpx.Client(base_url=url, timeout=30) as client:
            from tests.support.checks import log_in

            token = log_in(client, ADMIN_PASSWORD)
            # The pages' session: the cookie a signed-in browser holds.
            client.cookies.set(SESSION_COOKIE, token)
            ids = []
            for name in ("ui-a", "ui-b"):
                created = client.post("/api/bots", json=bot_body(name))
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])
            yield {"url": url, "client": client, "ids": ids, "port": client.base_url.port}


def _pass(env: dict[str, Any], bot_id: str) -> str:
    """The pass cookie a signed-in browser gets for ``bot_id``'s UI origin."""
    entry = env["client"].get(f"/bots/{bot_id}/ui/", follow_redirects=False)
    assert entry.status_code == 303
    target = httpx.URL(entry.headers["location"])
    assert target.host == f"{bot_id}.localhost"
    with httpx.Client(base_url=env["url"]) as raw:
        redeemed = raw.get(
            target.raw_path.decode(), headers={"host": f"{target.host}:{target.port}"}
        )
    assert redeemed.status_code == 303, redeemed.text
    cookie = redeemed.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert f"Path=/bots/{bot_id}/ui" in cookie
    return cookie.split(";", 1)[0]


def _host(env: dict[str, Any], bot_id: str) -> str:
    return f"{bot_id}.localhost:{env['port']}"


def test_forged_identity_and_credentials_never_reach_the_gateway(proxied: dict[str, Any]) -> None:
    bot_a = proxied["ids"][0]
    cookie = _pass(proxied, bot_a)
    forged = {
        "host": _host(proxied, bot_a),
        "cookie": f"{cookie}; botmaker_session=the-admins-session",
        "x-botmaker-user": "user:root",
        "x-forwarded-for": "203.0.113.9",
        "x-forwarded-host": "evil.example",
        "x-real-ip": "203.0.113.9",
        "forwarded": "for=203.0.113.9",
        "x-openclaw-scopes": "operator.admin",
        "authorization": "Bearer stolen",
    }
    with httpx.Client(base_url=proxied["url"]) as raw:
        answer = raw.post(f"/bots/{bot_a}/ui/echo?x=1", headers=forged, content=b"payload")
        again = raw.get(f"/bots/{bot_a}/ui/echo", headers={"host": _host(proxied, bot_a)})
        token = raw.get(f"/api/bots/{bot_a}", headers={"host": _host(proxied, bot_a)})
    assert answer.status_code == 200, answer.text
    seen = {k.lower(): v for k, v in answer.json()["headers"].items()}
    assert seen["x-botmaker-user"] == "user:admin"
    assert seen["x-forwarded-for"] == "192.0.2.1"  # a loopback browser, attributed
    assert seen["x-forwarded-host"] == _host(proxied, bot_a)
    for gone in ("cookie", "x-real-ip", "forwarded", "x-openclaw-scopes", "authorization"):
        assert gone not in seen, gone
    assert answer.json()["path"] == f"/bots/{bot_a}/ui/echo?x=1"
    assert answer.json()["body"] == "payload"
    assert "set-cookie" not in answer.headers  # a bot cannot plant BotMaker's cookies
    assert again.status_code == 401  # no pass, no gateway
    assert token.status_code == 404  # BotMaker's API is not on a bot's origin


def test_a_pass_opens_its_own_bot_only(proxied: dict[str, Any]) -> None:
    bot_a, bot_b = proxied["ids"]
    cookie = _pass(proxied, bot_a)
    with httpx.Client(base_url=proxied["url"]) as raw:
        # Bot A's pass on bot B's origin, or for bot B's path on bot A's origin: refused.
        on_b = raw.get(
            f"/bots/{bot_b}/ui/echo", headers={"host": _host(proxied, bot_b), "cookie": cookie}
        )
        b_path = raw.get(
            f"/bots/{bot_b}/ui/echo", headers={"host": _host(proxied, bot_a), "cookie": cookie}
        )
        # A ticket is single use.
        entry = proxied["client"].get(f"/bots/{bot_a}/ui/", follow_redirects=False)
        enter = httpx.URL(entry.headers["location"]).raw_path.decode()
        first = raw.get(enter, headers={"host": _host(proxied, bot_a)})
        second = raw.get(enter, headers={"host": _host(proxied, bot_a)})
        wrong_origin = raw.get(
            enter.replace(bot_a, bot_b, 1), headers={"host": _host(proxied, bot_b)}
        )
    assert on_b.status_code == 401
    assert b_path.status_code == 401
    assert first.status_code == 303
    assert second.status_code == 403
    assert wrong_origin.status_code == 403


def test_websocket_relays_both_ways_and_refuses_other_pages(proxied: dict[str, Any]) -> None:
    bot_a = proxied["ids"][0]
    cookie = _pass(proxied, bot_a)
    host = _host(proxied, bot_a)
    uri = f"ws://{host}/bots/{bot_a}/ui"
    big = "x" * (2 * 1024 * 1024)

    async def session(origin: str) -> list[Any]:
        async with connect(
            uri,
            host="127.0.0.1",
            port=proxied["port"],
            origin=origin,  # type: ignore[arg-type]
            additional_headers={"cookie": cookie, "x-botmaker-user": "user:root"},
            subprotocols=["openclaw"],  # type: ignore[list-item]
            max_size=None,
            proxy=None,
        ) as ws:
            first = json.loads(await ws.recv())
            await ws.send("hello")
            text = await ws.recv()
            await ws.send(b"\x00\x01binary")
            data = await ws.recv()
            await ws.send(big)
            echoed = await ws.recv()
            return [first, text, data, echoed == big, ws.subprotocol]

    first, text, data, big_ok, protocol = asyncio.run(session(f"http://{host}"))
    seen = {k.lower(): v for k, v in first["headers"].items()}
    assert seen["x-botmaker-user"] == "user:admin"
    assert "cookie" not in seen
    assert seen["origin"] == f"http://{bot_a}.localhost:7100"  # the rendered, canonical one
    assert (text, data, big_ok, protocol) == ("hello", b"\x00\x01binary", True, "openclaw")
    # Another page (BotMaker's own, or a bot's) may not ride the pass.
    for origin in (proxied["url"], f"http://{proxied['ids'][1]}.localhost:{proxied['port']}"):
        with pytest.raises(InvalidStatus):
            asyncio.run(session(origin))
