"""BotMaker's keyring: run the keyring proxy (or use an external one) and talk to it.

With ``BOTMAKER_KEYRING=auto`` (the default) BotMaker runs ``botmaker keyring serve``
as a child process: its data plane listens on the bots' network gateway address
(bots reach it, nothing outside the host does), its admin API on 127.0.0.1. The
child dies with BotMaker (``PR_SET_PDEATHSIG``); a keyring already answering on the
admin port with our admin token (say, after BotMaker was killed) is adopted.
With ``external`` the URLs come from the settings (the compose deployment); with
``off`` bots hold their provider key themselves, as in a plain OpenClaw install.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from botmaker.config import Settings
from botmaker.errors import BotMakerError, Conflict
from botmaker.keyring.client import KeyringClient, KeyringUnavailable
from botmaker.keyring.server import admin_token
from botmaker.runtime.base import Backend
from botmaker.services.schemas import KeyCreate, KeyTest

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_READY_TIMEOUT = 30.0


#: The OpenTelemetry variables BotMaker's settings hold (passed on from there).
_OTEL_SETTINGS = frozenset(
    {
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_SERVICE_NAME",
        "OTEL_SDK_DISABLED",
    }
)


def _otel_env(settings: Settings) -> dict[str, str]:
    """The keyring child traces where BotMaker does, as ``<service name>-keyring``."""
    env = {"OTEL_SERVICE_NAME": f"{settings.otel_service_name}-keyring"}
    if settings.otel_endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = settings.otel_endpoint
    if settings.otel_traces_endpoint:
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = settings.otel_traces_endpoint
    if settings.otel_disabled:
        env["OTEL_SDK_DISABLED"] = "true"
    return env


# PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process:
# a child forked from a worker thread that idles out (anyio's end after 10 s idle; the
# lifespan starts the keyring in one) was sent SIGTERM and exited 0 seconds later. Every
# child is forked from this one thread, which lives as long as BotMaker does.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="child-spawner")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class KeyringService:
    def __init__(self, settings: Settings, runtime: Backend) -> None:
        self.settings = settings
        self.runtime = runtime
        self.enabled = settings.keyring != "off"
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._client: KeyringClient | None = None
        self._proxy_url: str | None = None
        if settings.keyring == "external":
            assert settings.keyring_url is not None
            assert settings.keyring_proxy_url is not None
            self._client = KeyringClient(settings.keyring_url, settings.keyring_admin_token_file)
            self._proxy_url = settings.keyring_proxy_url
            self._open_data_plane()

    # -- what callers use ---------------------------------------------------------------

    @property
    def client(self) -> KeyringClient:
        self.ensure()
        assert self._client is not None
        return self._client

    def proxy_base(self, provider: str) -> str:
        """The base URL a bot's OpenClaw config uses for ``provider``."""
        self.ensure()
        assert self._proxy_url is not None
        return f"{self._proxy_url}/v1/{provider}"

    def data_plane_url(self) -> str:
        """The keyring's data plane as bots reach it (``http://<gateway>:<port>``)."""
        self.ensure()
        assert self._proxy_url is not None
        return self._proxy_url

    def ensure(self) -> None:
        """Make sure the keyring answers (starting it in ``auto`` mode)."""
        if not self.enabled:
            raise KeyringUnavailable("the keyring is off (BOTMAKER_KEYRING=off)")
        if self.settings.keyring == "external":
            return
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return
            if self._process is not None:
                log.error("the keyring exited (%s); starting it again", self._process.returncode)
                self._process = None
            self._start()

    def status(self) -> dict[str, Any]:
        if not self.enabled:
            return {"enabled": False}
        try:
            return {"enabled": True, "proxy_url": self._proxy_url, **self.client.status()}
        except BotMakerError as exc:
            return {"enabled": True, "ok": False, "message": exc.message}

    def metrics(self, *, timeout: float) -> bytes:
        """The keyring process's Prometheus exposition. Never starts the keyring (a
        scrape must not): ``KeyringUnavailable`` when it does not run or answer."""
        if not self.enabled:
            raise KeyringUnavailable("the keyring is off (BOTMAKER_KEYRING=off)")
        client = self._client  # no lock: a start under way holds it for seconds
        if client is None:
            raise KeyringUnavailable("the keyring is not started yet")
        return client.metrics(timeout=timeout)

    # -- use cases for the API and CLI ---------------------------------------------------

    def list_keys(self, names: dict[str, str]) -> list[dict[str, Any]]:
        """Every key (never its secret), with the owning bot's name where it has one."""
        return [
            {**k.to_dict(), "bot_name": names.get(k.bot_id) if k.bot_id else None}
            for k in self.client.list_keys()
        ]

    def add_key(self, request: KeyCreate) -> dict[str, Any]:
        info = self.client.add_key(
            request.provider,
            request.key.get_secret_value(),
            label=request.label,
            tags=list(request.tags),
        )
        return info.to_dict()

    def test_key(self, request: KeyTest) -> dict[str, Any]:
        """One tiny call to the provider with a key given now, through the keyring."""
        return self.client.test_key(
            request.provider,
            request.key.get_secret_value(),
            base_url=request.base_url,
            allow_private=request.base_url_private,
        )

    def test_stored_key(self, key_id: str) -> dict[str, Any]:
        """One tiny call to the provider with a key the keyring holds."""
        return self.client.test_stored_key(key_id)

    def delete_key(self, key_id: str) -> None:
        owned = [k for k in self.client.list_keys() if k.id == key_id and k.bot_id]
        if owned:
            raise Conflict(
                "this key belongs to one bot; replace it by editing the bot", field="key_id"
            )
        self.client.delete_key(key_id)

    def usage(self, names: dict[str, str], *, days: int) -> dict[str, Any]:
        report = self.client.usage(days=days)
        for bot_id, row in report.get("bots", {}).items():
            row["name"] = names.get(bot_id)
        report["events"] = self.client.events(after=0)[-50:]
        for event in report["events"]:
            event["bot_name"] = names.get(event.get("bot_id", ""))
        return report

    def stop(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            if self._client is not None and self.settings.keyring == "auto":
                self._client.close()
                self._client = None
        if process is not None:
            end_child(process)

    def _open_data_plane(self) -> None:
        """The data plane's port is the one host port bots may connect to."""
        assert self._proxy_url is not None
        url = urlsplit(self._proxy_url)
        self.runtime.allow_host_port(url.port or (443 if url.scheme == "https" else 80))

    # -- running the child ----------------------------------------------------------------

    def _start(self) -> None:
        settings = self.settings
        gateway = self.runtime.network_gateway()
        admin_token(settings.keyring_admin_token_file)  # created here, shared with the child
        adopted = self._adopt(gateway)
        if adopted:
            return
        env = {
            k: v
            for k, v in os.environ.items()
            if k.startswith("BOTMAKER_KEYRING_")
            or k in ("PATH", "LANG", "LC_ALL", "TZ")
            # the exporter's, processor's and sampler's own OTEL_* variables (headers,
            # certificate, OTEL_BSP_*, ...); the ones BotMaker reads come from its settings
            or (k.startswith("OTEL_") and k not in _OTEL_SETTINGS)
        }
        env.update(_otel_env(settings))
        env.update(
            {
                "BOTMAKER_DATA_DIR": str(settings.data_dir),
                "BOTMAKER_SECRETS_DIR": str(settings.secrets_dir),
                "BOTMAKER_KEYRING_DIR": str(settings.keyring_dir),
                "BOTMAKER_KEYRING_ADMIN_TOKEN_FILE": str(settings.keyring_admin_token_file),
                "BOTMAKER_KEYRING_LISTEN": f"{gateway}:{settings.keyring_port}",
                "BOTMAKER_KEYRING_ADMIN_LISTEN": f"127.0.0.1:{settings.keyring_admin_port}",
                "PYTHONUNBUFFERED": "1",
            }
        )
        process, ready = start_child(["keyring", "serve"], env, _READY_TIMEOUT)
        if ready is None:
            raise KeyringUnavailable(
                f"the keyring did not start (exit code {process.returncode}); see its log"
            )
        self._process = process
        admin_host, admin_port = ready["admin"]
        data_host, data_port = ready["data"]
        self._client = KeyringClient(
            f"http://{admin_host}:{admin_port}", settings.keyring_admin_token_file
        )
        self._proxy_url = f"http://{data_host}:{data_port}"
        self._open_data_plane()
        log.info(
            "keyring started (pid %d, %s); bots reach it at %s",
            process.pid,
            "locked" if ready.get("locked") else "unlocked",
            self._proxy_url,
        )

    def _adopt(self, gateway: str) -> bool:
        """Use a keyring left running on our admin port (BotMaker restarted)."""
        port = self.settings.keyring_admin_port
        if port == 0:
            return False
        client = KeyringClient(
            f"http://127.0.0.1:{port}", self.settings.keyring_admin_token_file, timeout=2
        )
        try:
            status = client.status()
        except BotMakerError:
            client.close()
            return False
        listen = str(status.get("listen") or f"{gateway}:{self.settings.keyring_port}")
        self._client = client
        self._proxy_url = f"http://{listen}"
        self._open_data_plane()
        log.info("using the keyring already running on 127.0.0.1:%d", port)
        return True


def start_child(
    args: list[str], env: dict[str, str], timeout: float
) -> tuple[subprocess.Popen[bytes], dict[str, Any] | None]:
    """``python -m botmaker <args>`` as a child that dies with BotMaker, and its ready
    line (None: it died or hung, and was killed; its exit code is on the process)."""
    process = _SPAWNER.submit(
        subprocess.Popen,
        [sys.executable, "-m", "botmaker", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        preexec_fn=_die_with_parent,
    ).result()
    ready = read_ready(process, timeout)
    if ready is None:
        process.kill()
        process.wait()
    return process, ready


def end_child(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, ten seconds, then SIGKILL; its pipe closed."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def read_ready(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any] | None:
    """The child's one JSON line announcing its addresses, or None if it died or hung."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    fd = process.stdout.fileno()
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], 0.2)
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            buffer += chunk
            line, sep, _ = buffer.partition(b"\n")
            if sep:
                try:
                    value = json.loads(line)
                except ValueError:
                    return None
                return value if isinstance(value, dict) else None
        elif process.poll() is not None:
            return None
    return None
