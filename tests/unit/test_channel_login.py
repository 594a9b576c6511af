"""Channel logins: the codes a gateway sends (hostile input) and the login flow against
a real HTTP server on loopback that speaks the gateway's admin RPC for ``web.login.*``
as OpenClaw's WhatsApp and Zalo plugins answer it (a refreshed code, "still waiting" at
a wait's timeout, an early end, Zalo's "still preparing", errors). The real gateway with
the stand-in plugin: tests/test_channel_login.py."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import segno

from botmaker.errors import Conflict, NotFound, RuntimeFailure
from botmaker.openclaw.render import ADMIN_RPC_PATH
from botmaker.runtime.base import RuntimeStatus
from botmaker.services.gateway.client import GatewayService
from botmaker.services.gateway.login import (
    MAX_CODE_CHARS,
    LoginService,
    LoginView,
    _Answer,
    qr_image,
)
from botmaker.store import Database, Store
from tests.support.httpfake import JsonHandler, ServerThread

PNG = b"\x89PNG\r\n\x1a\n"


def png_of(text: str) -> bytes:
    out = io.BytesIO()
    segno.make(text).save(out, kind="png", scale=4)
    return out.getvalue()


def data_url(raw: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64," + base64.b64encode(raw).decode()


# -- codes ------------------------------------------------------------------------------


def test_an_image_code_is_passed_on_as_it_is() -> None:
    raw = png_of("ref-1")
    image = qr_image(data_url(raw))
    assert image.media_type == "image/png"
    assert image.data == raw


def test_a_text_code_is_qr_encoded_by_botmaker() -> None:
    for code in ("sgnl://linkdevice?uuid=abc&pub_key=xyz", "data:text/plain,sgnl%3A%2F%2Fx"):
        image = qr_image(code)
        assert image.media_type == "image/png"
        assert image.data.startswith(PNG)


@pytest.mark.parametrize(
    "code",
    [
        data_url(b"<svg onload='alert(1)'/>", "image/svg+xml"),
        data_url(b"<html></html>", "text/html"),
        "data:image/png;base64,@@not-base64@@",
        data_url(b"GIF89a-not-a-png"),
        data_url(PNG + b"\0\0\0\rIHDR" + (99999).to_bytes(4, "big") + (1).to_bytes(4, "big")),
        data_url(b"\x00" * 10, "image/jpeg"),
        data_url(b"RIFF\0\0\0\0AVI ", "image/webp"),
        "data:image/png",
        "x" * 5000,
        "line\nbreak",
        "",
    ],
)
def test_a_code_that_is_neither_image_nor_text_is_refused(code: str) -> None:
    with pytest.raises(RuntimeFailure) as raised:
        qr_image(code)
    assert "onload" not in raised.value.message


def test_an_answer_keeps_only_expected_fields_of_expected_types() -> None:
    answer = _Answer.of(
        {
            "message": "Scan\x1b[31m me\x00" + "!" * 1000,
            "connected": "yes",
            "qrDataUrl": 42,
            "sessionKey": "bad key with spaces",
            "extra": {"x": 1},
        }
    )
    assert answer.message.startswith("Scan[31m me!")
    assert len(answer.message) <= 300
    assert answer.connected is False
    assert answer.code is None
    assert answer.session_key is None
    assert _Answer.of({"sessionKey": "s-1:2", "connected": True}).session_key == "s-1:2"
    with pytest.raises(RuntimeFailure):
        _Answer.of(["not", "an", "object"])
    with pytest.raises(RuntimeFailure, match="too large"):
        _Answer.of({"qrDataUrl": "d" * (MAX_CODE_CHARS + 1)})


# -- the flow against an admin RPC server ------------------------------------------------

Reply = tuple[int, dict[str, Any]]
Script = Callable[[str, dict[str, Any]], Reply]


def ok(payload: dict[str, Any]) -> Reply:
    return 200, {"id": "1", "ok": True, "payload": payload}


class Gateway:
    """A gateway's admin RPC on loopback, answering what ``script`` says; every call is
    kept as (method, params)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.script: Script = lambda method, params: (404, {})
        gateway = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                assert self.path == ADMIN_RPC_PATH
                assert self.headers["x-botmaker-user"] == "botmaker"
                gateway.calls.append((body["method"], body["params"]))
                status, payload = gateway.script(body["method"], body["params"])
                self.send_json(status, payload)

        self.server = ServerThread("127.0.0.1", 0, Handler)

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls if method.startswith("web.login")]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    fake = Gateway()
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(Database(tmp_path / "botmaker.db"))
    made.insert_bot(
        bot_id="b1",
        name="wa",
        provider="custom",
        model="m",
        channel="whatsapp",
        image="i",
        uid_base=1000,
        fixed_uid=None,
        definition='{"gateway": true}',
    )
    yield made
    made.db.close()


def service(store: Store, gateway: Gateway, **options: Any) -> LoginService:
    status = RuntimeStatus(state="running", address="127.0.0.1")
    client = GatewayService(store, lambda: {"b1": status}, port=gateway.server.port)
    return LoginService(store, client, **{"wait_timeout_ms": 400, **options})


def settle(logins: LoginService, want: set[str], timeout: float = 10) -> LoginView:
    deadline = time.monotonic() + timeout
    view = logins.status("wa", "whatsapp")
    while view.state not in want and time.monotonic() < deadline:
        time.sleep(0.05)
        view = logins.status("wa", "whatsapp")
    assert view.state in want, view
    return view


def test_a_refreshed_code_replaces_the_shown_one_until_the_scan(
    store: Store, gateway: Gateway
) -> None:
    first, second = data_url(png_of("one")), data_url(png_of("two"))
    waits = iter(
        [
            {"connected": False, "message": "QR refreshed.", "qrDataUrl": second},
            {"connected": True, "message": "Linked!"},
        ]
    )

    def script(method: str, params: dict[str, Any]) -> Reply:
        if method == "web.login.start":
            return ok({"qrDataUrl": first, "message": "Scan this QR", "sessionKey": "k-1"})
        if method == "web.login.wait":
            time.sleep(0.3)  # the scan, or the refresh, comes during the wait
            return ok(next(waits))
        return ok({"channelAccounts": {"whatsapp": [{"configured": True}]}})

    gateway.script = script
    logins = service(store, gateway)
    started = logins.start("wa", "whatsapp")
    assert started.state == "starting"
    linked = settle(logins, {"linked", "failed"})
    assert linked.state == "linked"
    assert linked.message == "Linked!"
    assert linked.linked is True
    assert linked.to_dict()["qr"] is None
    start, *waits_seen = [p for m, p in gateway.calls if m.startswith("web.login")]
    assert start == {"channel": "whatsapp", "force": False, "timeoutMs": 30_000}
    assert [w["currentQrDataUrl"] for w in waits_seen] == [first, second]
    assert {w["sessionKey"] for w in waits_seen} == {"k-1"}
    with pytest.raises(NotFound):
        logins.qr("wa", "whatsapp")


def test_a_code_is_served_while_shown_and_the_wait_goes_on_at_each_timeout(
    store: Store, gateway: Gateway
) -> None:
    code = data_url(png_of("scan me"))

    def script(method: str, params: dict[str, Any]) -> Reply:
        if method == "web.login.start":
            return ok({"qrDataUrl": code, "message": "Scan this QR"})
        time.sleep(params["timeoutMs"] / 1000)
        return ok({"connected": False, "message": "Still waiting for the QR scan."})

    gateway.script = script
    logins = service(store, gateway, login_seconds=2.0)
    logins.start("wa", "whatsapp")
    waiting = settle(logins, {"waiting"})
    assert waiting.to_dict()["qr"] == "/api/bots/b1/channels/whatsapp/login/qr?v=1"
    assert logins.qr("wa", "whatsapp").data == png_of("scan me")
    assert logins.start("wa", "whatsapp").started_at == waiting.started_at  # the same login
    expired = settle(logins, {"expired"})
    assert gateway.methods().count("web.login.wait") >= 2
    assert "No scan in time" in expired.message
    with pytest.raises(NotFound):
        logins.qr("wa", "whatsapp")


def test_a_login_the_plugin_ends_early_fails_with_its_words(store: Store, gateway: Gateway) -> None:
    def script(method: str, params: dict[str, Any]) -> Reply:
        if method == "web.login.start":
            return ok({"qrDataUrl": data_url(png_of("x")), "message": "Scan"})
        if method == "web.login.wait":
            return ok({"connected": False, "message": "WhatsApp login failed: status 401"})
        return ok({"channelAccounts": {"whatsapp": [{"configured": False}]}})

    gateway.script = script
    logins = service(store, gateway, wait_timeout_ms=5_000)
    logins.start("wa", "whatsapp")
    failed = settle(logins, {"failed", "linked"})
    assert failed.state == "failed"
    assert failed.message == "WhatsApp login failed: status 401"
    assert failed.linked is False


def test_a_start_without_a_code_yet_is_asked_again_while_waiting(
    store: Store, gateway: Gateway
) -> None:
    starts = iter([{"message": "Still preparing QR."}, {"qrDataUrl": data_url(png_of("z"))}])
    waits = iter([None, {"connected": True, "message": "Login successful."}])

    def script(method: str, params: dict[str, Any]) -> Reply:
        if method == "web.login.start":
            return ok({"message": "QR", **next(starts)})
        if method == "web.login.wait":
            answer = next(waits)
            if answer is None:
                time.sleep(params["timeoutMs"] / 1000)
                return ok({"connected": False, "message": "Still waiting for QR scan."})
            return ok(answer)
        return ok({})

    gateway.script = script
    logins = service(store, gateway)
    logins.start("wa", "whatsapp")
    assert settle(logins, {"linked", "failed"}).state == "linked"
    assert gateway.methods() == [
        "web.login.start",
        "web.login.wait",
        "web.login.start",
        "web.login.wait",
    ]


def test_an_already_linked_account_ends_with_the_starts_words(
    store: Store, gateway: Gateway
) -> None:
    def script(method: str, params: dict[str, Any]) -> Reply:
        if method == "web.login.start":
            return ok({"message": "WhatsApp is already linked (+1555)."})
        return ok({"connected": False, "message": "No active WhatsApp login in progress."})

    gateway.script = script
    logins = service(store, gateway, wait_timeout_ms=5_000)
    logins.start("wa", "whatsapp")
    ended = settle(logins, {"failed", "linked"})
    assert ended.message == "WhatsApp is already linked (+1555)."


def test_gateway_errors_and_hostile_codes_end_the_login(store: Store, gateway: Gateway) -> None:
    replies: list[Reply] = [
        (400, {"ok": False, "error": {"code": "INVALID_REQUEST", "message": "no provider"}}),
        ok({"qrDataUrl": data_url(b"<svg/>", "image/svg+xml"), "message": "Scan"}),
    ]
    for reply in replies:
        gateway.script = lambda method, params, reply=reply: reply  # type: ignore[misc]
        logins = service(store, gateway)
        logins.start("wa", "whatsapp")
        failed = settle(logins, {"failed"})
        assert failed.to_dict()["qr"] is None
        with pytest.raises(NotFound):
            logins.qr("wa", "whatsapp")
    assert "svg" in failed.message


def test_cancel_forgets_the_code_and_the_worker_stops(store: Store, gateway: Gateway) -> None:
    def script(method: str, params: dict[str, Any]) -> Reply:
        if method == "web.login.start":
            return ok({"qrDataUrl": data_url(png_of("c")), "message": "Scan"})
        time.sleep(params["timeoutMs"] / 1000)
        return ok({"connected": False, "message": "Still waiting."})

    gateway.script = script
    logins = service(store, gateway)
    logins.start("wa", "whatsapp")
    settle(logins, {"waiting"})
    cancelled = logins.cancel("wa", "whatsapp")
    assert cancelled.state == "cancelled"
    with pytest.raises(NotFound):
        logins.qr("wa", "whatsapp")
    with pytest.raises(NotFound):
        logins.cancel("wa", "whatsapp")
    time.sleep(1.0)
    calls = len(gateway.calls)
    time.sleep(1.0)
    assert len([c for c in gateway.calls[calls:] if c[0].startswith("web.login")]) == 0
    assert logins.status("wa", "whatsapp").state == "cancelled"


def test_channels_without_a_gateway_login_are_refused_on_their_field(
    store: Store, gateway: Gateway
) -> None:
    logins = service(store, gateway)
    with pytest.raises(Conflict) as telegram:
        logins.start("wa", "telegram")
    assert telegram.value.field == "channel"
    assert "telegram has no login through the gateway" in telegram.value.message
    for channel in ("zalouser", "signal"):  # logins BotMaker runs, but not this bot's
        with pytest.raises(NotFound) as other:
            logins.start("wa", channel)
        assert other.value.field == "channel"
    assert gateway.calls == []
