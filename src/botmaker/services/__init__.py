"""Use cases: the only layer the API, pages and CLI call."""

from __future__ import annotations

from dataclasses import dataclass

from botmaker.config import Settings
from botmaker.runtime.docker import DockerBackend
from botmaker.secrets import SecretStore
from botmaker.services.auth import AuthService
from botmaker.services.bots import BotService
from botmaker.services.health import HealthMonitor
from botmaker.services.images import ImageService
from botmaker.services.keyring import KeyringService
from botmaker.state import StateStore
from botmaker.store import Database, Store


@dataclass
class Services:
    settings: Settings
    store: Store
    bots: BotService
    images: ImageService
    auth: AuthService
    runtime: DockerBackend
    keyring: KeyringService

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

    def close(self) -> None:
        self.bots.health.stop()
        self.keyring.stop()
        self.runtime.close()
        self.store.db.close()


def build_services(settings: Settings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    store = Store(Database(settings.db_path))
    secrets = SecretStore(settings.secrets_dir)
    secrets.ensure_root()
    runtime = DockerBackend(settings)
    images = ImageService(runtime)
    health = HealthMonitor(runtime, interval=settings.health_interval)
    keyring = KeyringService(settings, runtime)
    return Services(
        settings=settings,
        store=store,
        bots=BotService(
            settings,
            store,
            secrets,
            runtime,
            images,
            StateStore(settings.data_dir / "bots"),
            health,
            keyring,
        ),
        images=images,
        auth=AuthService(settings, store),
        runtime=runtime,
        keyring=keyring,
    )


def _keyring_problem(status: dict[str, object]) -> str:
    if status.get("locked"):
        return "the keyring is locked: its master key (or passphrase) is missing or wrong"
    return str(status.get("message") or "the keyring does not answer")
