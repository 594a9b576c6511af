"""Use cases: the only layer the API, pages and CLI call."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botmaker.config import Settings
from botmaker.errors import BotMakerError, EngineUnavailable
from botmaker.runtime.base import Backend
from botmaker.runtime.docker import DockerBackend
from botmaker.runtime.swarm import SwarmBackend
from botmaker.secrets import SecretStore
from botmaker.services import migrate
from botmaker.services.alerts import AlertService
from botmaker.services.audit import (
    AuditedAuthService,
    AuditedBotService,
    AuditedChatService,
    AuditedGatewayService,
    AuditedKeyringService,
    AuditedLoginService,
    AuditedOrphanService,
    AuditedPairingService,
    AuditedRolloutService,
    AuditedUpgradeService,
    AuditedUserService,
    AuditLog,
)
from botmaker.services.auth import AuthService
from botmaker.services.bots import BotService
from botmaker.services.channels import ChannelWatch
from botmaker.services.deploy import BotLocks, Deployer
from botmaker.services.deploy.steps import StepObserver, steps_from_env
from botmaker.services.egress import EgressService
from botmaker.services.gateway.chat import ChatService
from botmaker.services.gateway.client import GatewayService
from botmaker.services.gateway.login import LoginService
from botmaker.services.gateway.pairing import PairingService
from botmaker.services.health import HealthMonitor
from botmaker.services.images import ImageService
from botmaker.services.keyring import KeyringService
from botmaker.services.metrics import FleetCollector, FleetMetrics, count_egress_refusal
from botmaker.services.monitor import Monitor
from botmaker.services.orphans import OrphanService
from botmaker.services.passkeys import Passkeys
from botmaker.services.reconcile import Reconciler
from botmaker.services.rollout import RolloutService
from botmaker.services.sso import SingleSignOn
from botmaker.services.stats import StatsSampler
from botmaker.services.statuses import StatusCache
from botmaker.services.upgrades import UpgradeService
from botmaker.services.users import UserService
from botmaker.state import StateStore
from botmaker.store import Database, Store

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    deploy: Deployer
    bots: BotService
    images: ImageService
    auth: AuthService
    runtime: Backend
    keyring: KeyringService
    monitor: Monitor
    stats: StatsSampler
    orphans: OrphanService
    upgrades: UpgradeService
    rollouts: RolloutService  # canary rollouts of an image to many bots
    reconciler: Reconciler
    audit: AuditLog
    alerts: AlertService
    channels: ChannelWatch  # each running gateway's channel accounts, read in the background
    gateway: GatewayService  # BotMaker's own calls to bots' gateways (admin RPC)
    pairing: PairingService  # senders' DM pairing requests, approved or denied
    chat: ChatService  # a person's messages to a bot's agent, answers streamed
    logins: LoginService  # channel logins (QR codes) run in bots, shown in BotMaker
    users: UserService  # users, teams, bot grants, API tokens
    sso: SingleSignOn  # sign-in through an OpenID Connect provider (when configured)
    passkeys: Passkeys  # WebAuthn credentials: passwordless sign-in
    metrics: FleetMetrics  # Prometheus: instruments and the fleet, read at scrape time
    egress: EgressService  # the egress proxy: bots' one way out, under their policies

    def health(self) -> dict[str, dict[str, object]]:
        result: dict[str, dict[str, object]] = {}
        try:
            self.store.db.ping()
            result["store"] = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - health reports any failure
            result["store"] = {"ok": False, "message": str(exc)}
        try:
            self.runtime.ping()
            result["docker"] = {"ok": True}
        except Exception as exc:  # noqa: BLE001
            result["docker"] = {"ok": False, "message": str(exc)}
        if self.keyring.enabled:
            status = self.keyring.status()
            ok = status.get("ok", True) is not False and not status.get("locked")
            result["keyring"] = {"ok": ok, **({} if ok else {"message": _keyring_problem(status)})}
        return result

    def diagnostics(self) -> dict[str, Any]:
        """The engine, the fleet (by status, resource use) and the keyring, for operators."""
        try:
            engine: dict[str, Any] = self.runtime.info()
        except BotMakerError as exc:
            engine = {"ok": False, "message": exc.message}
        try:
            by_status = Counter(view.status_dict()["summary"] for view in self.bots.list())
            bots = sum(by_status.values())
        except BotMakerError:
            bots = len(self.bots.names())
            by_status = Counter({"unknown": bots})
        totals = self.stats.latest()["totals"]
        return {
            "engine": engine,
            "fleet": {
                "bots": bots,
                "by_status": dict(sorted(by_status.items())),
                "running": totals["running"],
                "cpu_percent": totals["cpu_percent"],
                "memory_bytes": totals["memory_bytes"],
            },
            "monitor": {
                "connected": self.monitor.connected,
                "statuses": self.bots.statuses.counters(),
                "subscribers": self.monitor.broadcaster.subscribers,
                "stats_interval": self.stats.interval,
            },
            "keyring": self.keyring.status(),
        }

    def start_background(self) -> None:
        """The API server's watchers: gateway probes, engine events, resource sampling."""
        self.bots.health.start()
        self.monitor.start()
        self.stats.start()
        self.alerts.start()
        self.channels.start()
        self.reconciler.start()  # a first pass at once, then every reconcile_interval
        self.egress.start()

    def stop_background(self) -> None:
        self.egress.loop.stop()
        self.reconciler.stop()
        self.channels.stop()
        self.alerts.stop()
        self.stats.stop()
        self.monitor.stop()
        self.bots.health.stop()

    def close(self) -> None:
        self.stop_background()
        self.logins.close()
        self.sso.close()
        self.keyring.stop()
        self.egress.stop()
        self.runtime.close()
        self.store.db.close()


def build_services(
    settings: Settings,
    *,
    check_runtime: bool = True,
    steps: StepObserver | None = None,
    actor: str = "admin",
) -> Services:
    """Every service of one install, each given what it uses when it is built.

    ``check_runtime``: refuse a ``BOTMAKER_RUNTIME`` other than the one the bots run on
    (``botmaker migrate-runtime`` moves them). ``steps``: the observer of the use
    cases' steps (a test's; else ``BOTMAKER_TEST_PAUSE_AT``'s when set, else none).
    ``actor``: who the audit log names (``admin`` for the API, ``cli``).
    """
    store = _open_store(settings, check_runtime)
    secrets = SecretStore(settings.secrets_dir)
    secrets.ensure_root()
    runtime = make_backend(settings)
    images = ImageService(runtime)
    audit = AuditLog(store.db, actor)
    keyring = AuditedKeyringService(settings, runtime, audit=audit)
    state = StateStore(settings.data_dir / "bots")
    statuses = StatusCache(runtime)  # fed by the monitor's event stream
    health = HealthMonitor(
        runtime,
        interval=settings.health_interval,
        source=statuses.current,  # the event-fed statuses, not a list per probe
        watched=[r.id for r in store.list_bots() if r.definition.gateway],
    )
    deploy = Deployer(
        settings,
        store,
        secrets,
        state,
        runtime,
        images,
        keyring,
        health,
        locks=BotLocks(on_release=statuses.mark),
        steps=steps if steps is not None else steps_from_env(os.environ),
    )
    bots = AuditedBotService(deploy, statuses, audit=audit)
    orphans = AuditedOrphanService(store, runtime, secrets, state, keyring, audit=audit)
    metrics = FleetMetrics()
    monitor = Monitor(settings, runtime, store, bots, on_lag=metrics.event_lag.observe)
    upgrades = AuditedUpgradeService(deploy, audit=audit)
    gateway = AuditedGatewayService(store, statuses.current, audit=audit)
    alerts = AlertService(
        store, monitor, keyring, audit=audit, smtp_password_file=settings.smtp_password_file
    )
    channels = ChannelWatch(
        bots.channels,
        store,
        gateway.rpc,
        statuses=statuses.current,
        watching=health.watching,
        secrets=secrets.values,
        threshold=lambda: alerts.settings().channel_down_after_seconds,
        publish=_channels_publisher(monitor),
    )
    auth = AuditedAuthService(settings, store, audit=audit)
    stats = StatsSampler(
        runtime,
        interval=settings.stats_interval,
        store=store,
        history_interval=settings.stats_history_interval,
        source=statuses.current,
    )
    reconciler = Reconciler(store, runtime, bots, orphans, interval=settings.reconcile_interval)
    egress = EgressService(
        settings,
        runtime,
        store,
        publish=monitor.broadcaster.publish,
        on_refusal=count_egress_refusal,
        keyring_address=lambda: (
            urlsplit(keyring.data_plane_url()).netloc if keyring.enabled else None
        ),
        locks=deploy.locks,
    )
    deploy.egress = egress
    monitor.broadcaster.add_listener(
        lambda message: egress.changed() if message.event in ("status", "resync") else None
    )
    metrics.watch(
        FleetCollector(
            store,
            statuses,
            bots.queries.status_of,
            stats,
            monitor,
            lambda: (reconciler.passes, reconciler.actions.copy()),
            state_of=bots.queries.state,
        )
    )
    return Services(
        settings=settings,
        store=store,
        deploy=deploy,
        bots=bots,
        images=images,
        auth=auth,
        runtime=runtime,
        keyring=keyring,
        monitor=monitor,
        stats=stats,
        orphans=orphans,
        reconciler=reconciler,
        audit=audit,
        alerts=alerts,
        channels=channels,
        upgrades=upgrades,
        rollouts=AuditedRolloutService(upgrades, audit=audit),
        gateway=gateway,
        pairing=AuditedPairingService(deploy, statuses.current, audit=audit),
        chat=AuditedChatService(gateway, audit=audit),
        # its own client: a login's start may wait 30 s for the plugin's code
        logins=AuditedLoginService(
            store,
            GatewayService(store, statuses.current, timeout=45.0),
            runtime=runtime,
            state=state,
            audit=audit,
        ),
        users=AuditedUserService(store, moved=deploy.regrant, keyring=keyring, audit=audit),
        sso=SingleSignOn(settings, store, auth),
        passkeys=Passkeys(store),
        metrics=metrics,
        egress=egress,
    )


def _open_store(settings: Settings, check_runtime: bool) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    store = Store(Database(settings.db_path))
    if check_runtime:
        try:
            migrate.check_runtime(settings, store)
        except BotMakerError:
            store.db.close()
            raise
    return store


def make_backend(settings: Settings) -> Backend:
    """The runtime ``BOTMAKER_RUNTIME`` names. Swarm mode on an engine that answers but is
    not a swarm manager fails here (``ConfigError``); an engine that is down is found
    out later, as in Docker mode."""
    if settings.runtime != "swarm":
        return DockerBackend(settings)
    backend = SwarmBackend(settings)
    try:
        backend.check_swarm()
    except EngineUnavailable as exc:
        log.warning("swarm not checked yet: %s", exc.message)
    except BotMakerError:
        backend.close()
        raise
    return backend


def _keyring_problem(status: dict[str, object]) -> str:
    if status.get("locked"):
        return "the keyring is locked: its master key (or passphrase) is missing or wrong"
    return str(status.get("message") or "the keyring does not answer")


def _channels_publisher(monitor: Monitor) -> Callable[[str, dict[str, Any]], None]:
    """The channel watch's messages to every live page; a bot's changed channels also
    change its state (``degraded``), published with them."""

    def publish(event: str, data: dict[str, Any]) -> None:
        monitor.broadcaster.publish(event, data)
        if event == "channels" and isinstance(data.get("id"), str):
            monitor.publish_state(data["id"])

    return publish
