"""BotMaker's egress proxy: run it, keep its table of bots current, collect refusals.

With ``BOTMAKER_EGRESS=auto`` (the default) BotMaker runs ``botmaker egress serve`` as
a child process (its data plane on the bots' network gateway, its admin API on
127.0.0.1; it dies with BotMaker; one already answering with our admin token is
adopted), points every bot at it through the standard proxy variables, and keeps the
proxy's table of bots current: each bot's addresses (one engine call lists them all)
and policy, sent whole whenever it changes and at least every ``RESEND`` seconds (so a
restarted proxy is whole again within that). Refusals the proxy kept become the bot's
``egress_denied`` events, published on the live event stream.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from botmaker.config import Settings
from botmaker.definition import EgressModeName, EgressSpec
from botmaker.egress.client import EgressClient, EgressUnavailable
from botmaker.egress.rules import parse_pattern
from botmaker.errors import BotMakerError, InvalidInput
from botmaker.keyring.server import admin_token
from botmaker.runtime.base import Backend
from botmaker.services.deploy.locks import BotLocks
from botmaker.services.keyring import end_child, start_child
from botmaker.services.loop import BackgroundLoop
from botmaker.store import Store

log = logging.getLogger(__name__)

EGRESS_DENIED = "egress_denied"
SYNC_INTERVAL = 1.0
RESEND = 30.0
_READY_TIMEOUT = 30.0


class EgressService:
    def __init__(
        self,
        settings: Settings,
        runtime: Backend,
        store: Store,
        *,
        publish: Callable[[str, dict[str, Any]], None] | None = None,
        on_refusal: Callable[[str], None] | None = None,
        keyring_address: Callable[[], str | None] = lambda: None,
        locks: BotLocks | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.store = store
        self.publish = publish
        self.on_refusal = on_refusal
        self.keyring_address = keyring_address  # host:port every bot may reach
        self.locks = locks or BotLocks()
        self.enabled = settings.egress != "off"
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._client: EgressClient | None = None
        self._proxy_url: str | None = None
        self._generation = 0  # bumped by changed()
        self._sent = -1  # the generation last sent (none yet)
        self._sent_at = 0.0
        self._after = 0
        self.loop = BackgroundLoop("egress-sync", self.sync, lambda: SYNC_INTERVAL)

    # -- what callers use ---------------------------------------------------------------

    def proxy_url(self) -> str | None:
        """The URL bots use as their HTTP(S) proxy, or None when egress is off."""
        if not self.enabled:
            return None
        self.ensure()
        return self._proxy_url

    def no_proxy(self, keyring_url: str | None) -> tuple[str, ...]:
        """What bots reach without the proxy: themselves, and the keyring's data plane
        (``host:port``: nothing else on that host). The proxy lets the keyring through
        too, for a client that ignores ``NO_PROXY``."""
        hosts = ["localhost", "127.0.0.1", "::1"]
        if keyring_url:
            hosts.append(urlsplit(keyring_url).netloc)
        return tuple(hosts)

    def ensure(self) -> None:
        if not self.enabled:
            raise EgressUnavailable("the egress proxy is off (BOTMAKER_EGRESS=off)")
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return
            if self._client is not None and self._process is None:
                return  # adopted
            if self._process is not None:
                log.error(
                    "the egress proxy exited (%s); starting it again", self._process.returncode
                )
                self._process = None
                self._sent = -1
            self._start()

    def changed(self) -> None:
        """A bot's policy, container or address changed: send the table now. (Between
        changes only refusals are polled, each second: no engine call; the table is
        sent again every ``RESEND`` seconds, so a restarted proxy is whole again.)"""
        self._generation += 1
        self.loop.wake()

    def start(self) -> None:
        if self.enabled:
            self.loop.start()

    def status(self) -> dict[str, Any]:
        if not self.enabled:
            return {"enabled": False}
        try:
            self.ensure()
            assert self._client is not None
            return {"enabled": True, "proxy_url": self._proxy_url, **self._client.status()}
        except BotMakerError as exc:
            return {"enabled": True, "ok": False, "message": exc.message}

    def recent_refusals(self, bot_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """The bot's latest ``egress_denied`` events (newest first)."""
        events = self.store.bot_events(bot_id, limit=200)
        return [e for e in events if e["kind"] == EGRESS_DENIED][:limit]

    def policy(self, ref: str) -> dict[str, Any]:
        """The bot's policy, its recent refusals (with the host each names), and whether
        the proxy enforces it."""
        record = self.store.find_bot(ref)
        egress = record.definition.egress
        refusals = []
        for event in self.recent_refusals(record.id):
            host = _refused_host(str(event.get("detail") or ""))
            refusals.append({"at": event["at"], "detail": event["detail"], "host": host})
        return {
            "mode": egress.mode,
            "allow": list(egress.allow),
            "enforced": self.enabled,
            "refusals": refusals,
        }

    def set_policy(self, ref: str, mode: EgressModeName, allow: list[str] | None) -> dict[str, Any]:
        """A new policy, in force within a second: the container stays as it is."""
        record = self.store.find_bot(ref)
        with self.locks.hold(record.id):
            record = self.store.get_bot(record.id)
            old = record.definition.egress
            spec = EgressSpec(mode=mode, allow=tuple(allow if allow is not None else old.allow))
            definition = record.definition.model_copy(update={"egress": spec})
            self.store.update_bot(record.id, definition=definition)
        self.changed()
        return self.policy(record.id)

    def allow_host(self, ref: str, host: str) -> dict[str, Any]:
        """One more host on the bot's allowlist (the bot page's "allow this host")."""
        record = self.store.find_bot(ref)
        egress = record.definition.egress
        try:
            pattern = str(parse_pattern(host))
        except ValueError as exc:
            raise InvalidInput(str(exc), field="host") from None
        allow = [*egress.allow, pattern] if pattern not in egress.allow else list(egress.allow)
        mode: EgressModeName = "allowlist" if egress.mode == "none" else egress.mode
        return self.set_policy(record.id, mode, allow)

    def stop(self) -> None:
        self.loop.stop()
        with self._lock:
            process, self._process = self._process, None
            client, self._client = self._client, None
        if client is not None:
            client.close()
        if process is not None:
            end_child(process)

    # -- the sync loop ------------------------------------------------------------------

    def table(self) -> list[dict[str, Any]]:
        """Every bot with an address: its id, addresses and policy."""
        statuses = self.runtime.list()
        table = []
        for record in self.store.list_bots():
            status = statuses.get(record.id)
            if status is None or not status.address:
                continue
            egress = record.definition.egress
            table.append(
                {
                    "id": record.id,
                    "addresses": [status.address],
                    "mode": egress.mode,
                    "allow": list(egress.allow),
                }
            )
        return table

    def sync(self) -> None:
        """One round: send the table if it changed (or is due), then collect refusals."""
        try:
            self.ensure()
            client = self._client
            assert client is not None
            now = time.monotonic()
            wanted = self._generation  # a change during this round makes another
            if wanted != self._sent or now - self._sent_at > RESEND:
                table = self.table()
                self.runtime.guard_egress([a for b in table for a in b["addresses"]])
                client.put_bots(table)
                self._sent, self._sent_at = wanted, now
            self._collect(client)
        except EgressUnavailable as exc:
            log.warning("egress sync: %s", exc.message)
            with self._lock:
                if self._process is None and self._client is not None:  # adopted, now gone
                    self._client.close()
                    self._client = None  # the next round adopts or starts one again
                    self._sent = -1
        except BotMakerError as exc:
            log.warning("egress sync: %s", exc.message)

    def _collect(self, client: EgressClient) -> None:
        answer = client.refusals(self._after)
        last = int(answer.get("last") or 0)
        if last < self._after:  # the proxy restarted: its numbering too
            self._after = 0
            answer = client.refusals(0)
        for item in answer.get("refusals") or ():
            self._after = max(self._after, int(item["seq"]))
            self._record(item)

    def _record(self, item: dict[str, Any]) -> None:
        bot_id = str(item["bot_id"])
        host, port = str(item["host"]), int(item["port"])
        detail = f"refused {host}:{port}: {item['reason']}"
        recorded = self.store.add_bot_event(
            bot_id, kind=EGRESS_DENIED, at=float(item["at"]), detail=detail[:500]
        )
        if self.on_refusal is not None:
            self.on_refusal(bot_id)
        if recorded is not None and self.publish is not None:
            self.publish("event", {**recorded, "host": host, "port": port})

    # -- running the child ----------------------------------------------------------------

    def _start(self) -> None:
        settings = self.settings
        gateway = self.runtime.network_gateway()
        token_file = settings.egress_admin_token_file
        always = self.keyring_address() or ""
        admin_token(token_file)
        if self._adopt(gateway):
            return
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        env.update(
            {
                "BOTMAKER_EGRESS_LISTEN": f"{gateway}:{settings.egress_port}",
                "BOTMAKER_EGRESS_ADMIN_LISTEN": f"127.0.0.1:{settings.egress_admin_port}",
                "BOTMAKER_EGRESS_ADMIN_TOKEN_FILE": str(token_file),
                "BOTMAKER_EGRESS_DNS": ",".join(settings.egress_dns),
                "BOTMAKER_EGRESS_ALLOW_PRIVATE": ",".join(settings.egress_allow_private),
                "BOTMAKER_EGRESS_ALWAYS": always,
                "PYTHONUNBUFFERED": "1",
            }
        )
        process, ready = start_child(["egress", "serve"], env, _READY_TIMEOUT)
        if ready is None:
            raise EgressUnavailable(
                f"the egress proxy did not start (exit code {process.returncode}); see its log"
            )
        self._process = process
        admin_host, admin_port = ready["admin"]
        data_host, data_port = ready["data"]
        self._client = EgressClient(f"http://{admin_host}:{admin_port}", token_file)
        self._proxy_url = f"http://{data_host}:{data_port}"
        self._after = 0
        self.runtime.allow_host_port(int(data_port))
        log.info("egress proxy started (pid %d); bots reach it at %s", process.pid, self._proxy_url)

    def _adopt(self, gateway: str) -> bool:
        port = self.settings.egress_admin_port
        if port == 0:
            return False
        client = EgressClient(
            f"http://127.0.0.1:{port}", self.settings.egress_admin_token_file, timeout=2
        )
        try:
            status = client.status()
        except BotMakerError:
            client.close()
            return False
        listen = str(status.get("listen") or f"{gateway}:{self.settings.egress_port}")
        self._client = client
        self._proxy_url = f"http://{listen}"
        self.runtime.allow_host_port(int(listen.rsplit(":", 1)[1]))
        log.info("using the egress proxy already running on 127.0.0.1:%d", port)
        return True


def _refused_host(detail: str) -> str | None:
    """``host:port`` of an ``egress_denied`` detail ("refused host:port: reason")."""
    if not detail.startswith("refused "):
        return None
    target = detail[len("refused ") :].split(": ", 1)[0]
    host, _, port = target.rpartition(":")
    return host if port in ("443", "80") else target
