"""Bot health: BotMaker probes each OpenClaw gateway's ``/healthz`` and ``/readyz``
(and ``/startupz`` while it is not ready).

No Docker HEALTHCHECK: an exec'd ``curl`` per bot every few seconds costs a core
at a hundred bots. Instead one background loop sends two small HTTP requests per
running bot per interval over the bots' network, and checks the JSON bodies
(``{"ok": true}`` and ``{"ready": true}``), not only the status codes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import httpx

from botmaker.errors import BotMakerError
from botmaker.openclaw.render import GATEWAY_PORT
from botmaker.runtime.base import Backend, RuntimeStatus
from botmaker.services.gateway.access import identity_headers
from botmaker.services.loop import BackgroundLoop

log = logging.getLogger(__name__)

#: Probe details of a gateway that did not answer /healthz (``probe``'s wording).
_SILENT = ("no answer", "not live")
#: Called with (bot id, status with its new verdict) when a bot's verdict changes.
HealthListener = Callable[[str, RuntimeStatus], None]


@dataclass(frozen=True)
class Health:
    state: str  # starting|healthy|unhealthy
    detail: str
    checked_at: float


#: BotMaker's identity: a gateway behind BotMaker answers /readyz to it alone.
PROBE_HEADERS = identity_headers()


def probe(
    address: str, timeout: float, port: int = GATEWAY_PORT, client: httpx.Client | None = None
) -> tuple[bool, str]:
    """One probe of a gateway: live and ready, judged by the JSON bodies.

    A gateway that is not ready is asked ``/startupz`` too, where its version has it
    (``{"status": "starting", ...}`` while its start-up work runs): the detail then
    says it is still starting. Older gateways answer that path with the Control UI's
    HTML, which is not read as an answer. Pass ``client`` to share one connection
    pool across many probes.
    """
    if client is None:
        with httpx.Client(timeout=timeout) as own:
            return probe(address, timeout, port, own)
    base = f"http://{address}:{port}"
    try:
        live = client.get(f"{base}/healthz", timeout=timeout, headers=PROBE_HEADERS)
        ready = client.get(f"{base}/readyz", timeout=timeout, headers=PROBE_HEADERS)
        live_ok = live.status_code == 200 and _body(live).get("ok") is True
        ready_body = _body(ready)
        if live_ok and ready.status_code == 200 and ready_body.get("ready") is True:
            return True, "ready"
        starting = _startup(client, base, timeout)
        if starting:
            return False, starting
        if not live_ok:
            return False, f"not live: {live.status_code}"
        failing = ready_body.get("failing") or []
        return False, f"not ready: {', '.join(map(str, failing)) or ready.status_code}"
    except httpx.HTTPError as exc:
        return False, f"no answer: {type(exc).__name__}"


def _startup(client: httpx.Client, base: str, timeout: float) -> str | None:
    """``starting: <reason>`` while the gateway says its start-up is pending; else None."""
    try:
        body = _body(client.get(f"{base}/startupz", timeout=timeout, headers=PROBE_HEADERS))
    except httpx.HTTPError:
        return None
    if body.get("status") != "starting":
        return None
    reason = str(body.get("pendingReason") or "")[:80]
    return f"starting: {reason}" if reason else "starting"


def _body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a probe answered; ``{}`` for anything else (the Control UI's
    HTML, a proxy's error page, a JSON value that is not an object)."""
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class HealthMonitor:
    def __init__(
        self,
        runtime: Backend,
        *,
        interval: float = 10.0,
        timeout: float = 3.0,
        grace: float = 180.0,
        workers: int = 16,
        port: int = GATEWAY_PORT,
        source: Callable[[], dict[str, RuntimeStatus]] | None = None,
        watched: Iterable[str] = (),
    ) -> None:
        """``source``: where the running bots come from (the event-fed status cache when
        services are built; else one list call per round). ``watched``: the bot ids with
        an OpenClaw gateway to probe."""
        self.port = port
        self.runtime = runtime
        self.source = source or runtime.list
        self.interval = interval
        self.timeout = timeout
        self.grace = grace
        self.workers = workers
        self._results: dict[str, Health] = {}
        self._first_seen: dict[str, float] = {}  # container id -> when first seen running
        self._watched: set[str] = set(watched)  # bot ids with an OpenClaw gateway
        self._healthy_once: set[str] = set()  # container ids that have been healthy
        self._verdicts: dict[str, str] = {}  # bot id -> last verdict told to listeners
        self._live_at: dict[str, float] = {}  # bot id -> when /healthz last answered
        self._listeners: list[HealthListener] = []
        self.loop = BackgroundLoop(
            "health", self.probe_all, lambda: self.interval, join_timeout=timeout * 2 + 1
        )

    def add_listener(self, listener: HealthListener) -> None:
        """Be told when a bot's verdict (starting/healthy/unhealthy) changes."""
        self._listeners.append(listener)

    def remove_listener(self, listener: HealthListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def watch(self, bot_id: str, enabled: bool = True) -> None:
        if enabled:
            self._watched.add(bot_id)
        else:
            self._watched.discard(bot_id)
            self._results.pop(bot_id, None)
            self._verdicts.pop(bot_id, None)

    def watching(self, bot_id: str) -> bool:
        """Whether the bot's gateway is probed."""
        return bot_id in self._watched

    def live_at(self, bot_id: str) -> float | None:
        """When the bot's gateway last answered (seconds since the epoch; None: never
        since BotMaker started): live, ready or still starting, not silent."""
        return self._live_at.get(bot_id)

    def health_of(self, bot_id: str, status: RuntimeStatus) -> RuntimeStatus:
        """``status`` with its health filled in from the latest probe."""
        if bot_id not in self._watched or status.state != "running":
            return status
        result = self._results.get(bot_id)
        container = status.container_id or ""
        if result is None:
            return _with_health(status, "starting", "not probed yet")
        if result.state == "healthy":
            return _with_health(status, "healthy", result.detail)
        first = self._first_seen.get(container)
        in_grace = first is not None and time.monotonic() - first < self.grace
        if container not in self._healthy_once and in_grace:
            return _with_health(status, "starting", result.detail)
        return _with_health(status, "unhealthy", result.detail)

    def probe_all(self) -> None:
        try:
            statuses = self.source()
        except BotMakerError as exc:
            log.debug("health probe skipped: %s", exc.message)
            return
        now = time.monotonic()
        targets = {
            bot_id: status
            for bot_id, status in statuses.items()
            if bot_id in self._watched and status.state == "running" and status.address
        }
        for status in targets.values():
            self._first_seen.setdefault(status.container_id or "", now)
        for bot_id in set(self._verdicts) - set(targets):
            del self._verdicts[bot_id]  # not running: Docker's own events tell that
        if not targets:
            return
        workers = min(self.workers, len(targets))
        with (
            httpx.Client(
                timeout=self.timeout, limits=httpx.Limits(max_connections=workers)
            ) as client,
            ThreadPoolExecutor(max_workers=workers) as pool,
        ):
            answers = dict(
                zip(
                    targets,
                    pool.map(
                        lambda s: probe(str(s.address), self.timeout, self.port, client),
                        targets.values(),
                    ),
                    strict=True,
                )
            )
        for bot_id, (ok, detail) in answers.items():
            self._results[bot_id] = Health("healthy" if ok else "unhealthy", detail, now)
            if ok or not detail.startswith(_SILENT):
                self._live_at[bot_id] = time.time()
            if ok:
                self._healthy_once.add(targets[bot_id].container_id or "")
        self._tell(targets)

    def _tell(self, targets: dict[str, RuntimeStatus]) -> None:
        for bot_id, status in targets.items():
            judged = self.health_of(bot_id, status)
            verdict = judged.health or ""
            if self._verdicts.get(bot_id) == verdict:
                continue
            self._verdicts[bot_id] = verdict
            for listener in list(self._listeners):
                try:
                    listener(bot_id, judged)
                except Exception:  # a listener never stops the probes
                    log.exception("health listener failed")

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()


def _with_health(status: RuntimeStatus, health: str, detail: str) -> RuntimeStatus:
    return replace(status, health=health, detail=detail)
