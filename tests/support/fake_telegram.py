"""A fake Telegram Bot API server (real HTTP, loopback or the test network).

Serves ``/bot<token>/<method>`` like api.telegram.org for the methods a bot
uses to poll and reply. Tests queue user messages with :meth:`say` and read the
bot's replies from :attr:`sent`.
"""

from __future__ import annotations

import json
import queue
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.httpfake import JsonHandler, ServerThread

BOT_USER = {
    "id": 700001,
    "is_bot": True,
    "first_name": "Test Bot",
    "username": "test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

#: Telegram's descriptions of the failures ``fail`` can play.
FAILURES = {401: "Unauthorized", 429: "Too Many Requests: retry after 5", 502: "Bad Gateway"}


@dataclass
class FakeTelegram:
    token: str
    host: str = "127.0.0.1"
    port: int = 0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    #: While set, every call is answered with this HTTP status and Telegram's error
    #: body (``fail``/``recover`` switch it): the Bot API down or refusing the bot.
    failing: int | None = None
    #: The longest ``getUpdates`` long poll held (api.telegram.org holds the bot's own
    #: ``timeout``, up to 50 s; short here so tests move on).
    long_poll_cap: float = 2.0
    #: While set, every call is held unanswered (the Bot API unreachable: the
    #: connection opens, no answer ever comes) until ``recover``.
    hanging: bool = False

    def __post_init__(self) -> None:
        self._updates: queue.Queue[dict[str, Any]] = queue.Queue()
        self._update_id = 1000
        self._message_id = 1
        owner = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 2 or parts[0] != f"bot{owner.token}":
                    self.send_json(
                        404, {"ok": False, "error_code": 404, "description": "Not Found"}
                    )
                    return
                params: dict[str, Any] = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("content-length") or 0)
                if length:
                    raw = self.rfile.read(length)
                    kind = self.headers.get("content-type", "")
                    if "json" in kind:
                        params.update(json.loads(raw or b"{}"))
                    elif "x-www-form-urlencoded" in kind:
                        params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
                method = parts[1]
                owner.calls.append((method, params))
                while owner.hanging:
                    time.sleep(0.1)
                if owner.failing is not None:
                    self.send_json(
                        owner.failing,
                        {
                            "ok": False,
                            "error_code": owner.failing,
                            "description": FAILURES.get(owner.failing, "Bad Gateway"),
                        },
                    )
                    return
                self.send_json(200, {"ok": True, "result": owner._answer(method, params)})

        self.http = ServerThread(self.host, self.port, Handler)
        self.port = self.http.port

    @property
    def api_root(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail(self, status: int = 502) -> None:
        """Answer every call with HTTP ``status`` from now on (401: the token refused)."""
        self.failing = status

    def recover(self) -> None:
        self.failing = None
        self.hanging = False

    def say(self, text: str, chat_id: int = 424242, user_id: int = 424242) -> None:
        """Queue a private message from a user to the bot."""
        self._update_id += 1
        self._updates.put(
            {
                "update_id": self._update_id,
                "message": {
                    "message_id": self._update_id,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": "Tess"},
                    "from": {
                        "id": user_id,
                        "is_bot": False,
                        "first_name": "Tess",
                        "language_code": "en",
                    },
                    "text": text,
                },
            }
        )

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            timeout = min(float(params.get("timeout", 0) or 0), self.long_poll_cap)
            try:
                return [self._updates.get(timeout=timeout)] if timeout else []
            except queue.Empty:
                return []
        if method in {"sendMessage", "editMessageText"}:
            self.sent.append(params)
            self._message_id += 1
            return {
                "message_id": self._message_id,
                "date": int(time.time()),
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                "text": params.get("text", ""),
            }
        if method == "getChat":
            return {"id": int(params.get("chat_id", 0)), "type": "private"}
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        if method == "getMyCommands":
            return []
        return True  # deleteWebhook, setMyCommands, sendChatAction, setMessageReaction, ...

    def __enter__(self) -> FakeTelegram:
        self.http.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.stop()
