"""``botmaker keyring serve``: the keyring process, its two listeners and its lifecycle.

Start-up: open the keyring's own SQLite file, unlock it with the master key file
(created on the very first start) or the passphrase file, and listen on two
addresses: the data plane where bots call the proxy, and the admin API where
BotMaker manages keys and bots. Without its master key the keyring still starts,
says ``locked`` and refuses to forward until unlocked. Usage counters reach SQLite
every ``flush_seconds`` and on shutdown (SIGTERM or SIGINT).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from botmaker.config import ConfigError
from botmaker.errors import BotMakerError
from botmaker.fsutil import atomic_write, fsync_dir
from botmaker.keyring.admin import LISTEN, admin_api
from botmaker.keyring.crypto import RootKey
from botmaker.keyring.model import KeyringLocked
from botmaker.keyring.proxy import ADDRESS, data_plane, http_log
from botmaker.keyring.service import Keyring
from botmaker.keyring.settings import KeyringSettings
from botmaker.keyring.store import KeyringStore, RotateReport
from botmaker.tracing import start as start_tracing

log = logging.getLogger("botmaker.keyring")


def admin_token(path: Path) -> str:
    """The admin token in ``path``, created (0600, random 256 bits) when absent."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    if token:
        return token
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    atomic_write(path.parent, path.name, (token + "\n").encode(), uid=os.getuid(), gid=os.getgid())
    return token


def _pending_key(path: Path) -> Path:
    return path.with_name(path.name + ".new")


def _unlock(store: KeyringStore, settings: KeyringSettings) -> None:
    if settings.passphrase_file is not None:
        passphrase = settings.passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
        store.unlock_with_passphrase(passphrase)
        return
    path = settings.master_key_file
    try:
        store.unlock_with_file(path, create=not store.initialised())
    except KeyringLocked:
        pending = _pending_key(path)
        if not pending.exists():
            raise
        # A master key change was interrupted after the store switched to the new key.
        store.unlock(RootKey.from_file(pending))
        os.replace(pending, path)
        fsync_dir(path.parent)
        log.info("finished replacing the master key file %s", path)


def open_keyring(settings: KeyringSettings) -> KeyringStore:
    """The store, unlocked if its master key (or passphrase) is at hand."""
    settings.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = KeyringStore(settings.db_path)
    try:
        _unlock(store, settings)
    except (BotMakerError, OSError) as exc:
        message = exc.message if isinstance(exc, BotMakerError) else str(exc)
        log.error("keyring locked: %s", message)
    return store


def rotate(
    settings: KeyringSettings,
    *,
    new_master_key: bool = False,
    new_passphrase: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RotateReport:
    """Re-wrap every key under a new KEK (resuming an interrupted rotation), and
    optionally put the KEKs under a new master key file or passphrase.

    Safe to kill at any point and run again: rows move one per transaction, the new
    master key is written to ``<file>.new`` before the store switches to it, and the
    file takes the old one's place only after the switch committed.
    """
    if new_master_key and settings.passphrase_file is not None:
        raise ConfigError("this keyring uses a passphrase; give --new-passphrase-file instead")
    if new_passphrase is not None and settings.passphrase_file is None:
        raise ConfigError("this keyring uses a master key file; use --new-master-key instead")
    settings.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = KeyringStore(settings.db_path)
    try:
        _unlock(store, settings)
        new_root: RootKey | None = None
        pending = _pending_key(settings.master_key_file)
        if new_master_key:
            new_root = (
                RootKey.from_file(pending) if pending.exists() else RootKey.write_new_file(pending)
            )
        elif new_passphrase is not None:
            new_root = RootKey.new_passphrase(new_passphrase)
        delay = float(os.environ.get("BOTMAKER_TEST_ROTATE_DELAY", "0") or 0)

        def step(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total)
            if delay:  # a test hook: time to kill the rotation half-way
                time.sleep(delay)

        report = store.rotate(new_root=new_root, on_progress=step)
        if new_master_key:
            os.replace(pending, settings.master_key_file)
            fsync_dir(settings.master_key_file.parent)
        return report
    finally:
        store.close()


async def _flusher(keyring: Keyring, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(keyring.flush)
        except Exception as exc:  # noqa: BLE001 - counters stay pending; retried
            log.error("could not write usage counters: %s", exc)


async def serve(settings: KeyringSettings, *, ready: asyncio.Event | None = None) -> None:
    store = open_keyring(settings)
    keyring = Keyring(store)
    token = admin_token(settings.admin_token_file)
    admin = admin_api(keyring, token)
    tracing = start_tracing(
        settings.otel_traces_url, settings.otel_service_name, "botmaker.keyring"
    )
    runners = [
        web.AppRunner(
            data_plane(keyring, settings, tracing),
            handler_cancellation=True,
            access_log=None,
            logger=http_log,  # parse errors in one line, without the request's bytes
        ),
        web.AppRunner(admin, access_log=None),
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    flusher = asyncio.create_task(_flusher(keyring, settings.flush_seconds))
    try:
        for runner, (host, port) in zip(
            runners, (settings.data_listen, settings.admin_listen), strict=True
        ):
            await runner.setup()
            if settings.listen_wait:
                await _wait_for_address(host, settings.listen_wait)
            await web.TCPSite(runner, host, port, backlog=1024).start()
        data_at, admin_at = (_bound(runner) for runner in runners)
        runners[0].app[ADDRESS].bind(settings.data_listen[0], *data_at, settings.data_hosts)
        admin[LISTEN]["data"] = f"{data_at[0]}:{data_at[1]}"
        log.info(
            "keyring %s; proxy on %s:%d, admin API on %s:%d",
            "locked" if store.locked else "unlocked",
            *data_at,
            *admin_at,
        )
        ready_line = {"ready": True, "data": data_at, "admin": admin_at, "locked": store.locked}
        print(json.dumps(ready_line), flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        flusher.cancel()
        for runner in runners:
            await runner.cleanup()
        keyring.flush()
        store.close()
        if tracing is not None:  # the last spans reach the collector (bounded wait)
            await asyncio.to_thread(tracing.shutdown)


async def _wait_for_address(host: str, wait: float) -> None:
    """Return once ``host`` is an address of this machine, or after ``wait`` seconds
    (the bind that follows then fails with the real error). In compose the keyring may
    start before BotMaker has created the bots' network, whose gateway it listens on."""
    deadline = time.monotonic() + wait
    warned = False
    while time.monotonic() < deadline:
        try:
            infos = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)
            with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
                probe.bind(infos[0][4])  # port 0: tests the address, takes no port
            return
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                return
        if not warned:
            log.warning("waiting up to %.0f s for the address %s to exist", wait, host)
            warned = True
        await asyncio.sleep(0.5)


def _bound(runner: web.AppRunner) -> tuple[str, int]:
    host, port = runner.addresses[0][:2]
    return str(host), int(port)


def run(settings: KeyringSettings) -> None:
    try:
        import uvloop

        uvloop.run(serve(settings))
    except ImportError:  # pragma: no cover - uvloop is a locked dependency on Linux
        asyncio.run(serve(settings))
