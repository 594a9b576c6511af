"""A real keyring process (``python -m botmaker keyring serve``) for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from botmaker.keyring.client import KeyringClient
from botmaker.services.keyring import read_ready


class KeyringProcess:
    """The keyring on loopback with free ports, its own folder and master key."""

    def __init__(self, folder: Path, *, listen: str = "127.0.0.1:0", **env: str) -> None:
        self.folder = folder
        self.master_key = folder / "secrets" / "master.key"
        self.token_file = folder / "keyring" / "admin.token"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "BOTMAKER_KEYRING_DIR": str(folder / "keyring"),
            "BOTMAKER_KEYRING_MASTER_KEY_FILE": str(self.master_key),
            "BOTMAKER_KEYRING_ADMIN_TOKEN_FILE": str(self.token_file),
            "BOTMAKER_KEYRING_LISTEN": listen,
            "BOTMAKER_KEYRING_ADMIN_LISTEN": "127.0.0.1:0",
            "BOTMAKER_KEYRING_FLUSH": "0.1",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}

    def start(self) -> KeyringProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "botmaker", "keyring", "serve"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        ready = read_ready(self.process, 30)
        if ready is None:
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(f"the keyring did not start: {err.decode()[-2000:]}")
        self.ready = ready
        host, port = ready["admin"]
        self.admin = KeyringClient(f"http://{host}:{port}", self.token_file)
        host, port = ready["data"]
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> str:
        """Stop it (SIGTERM) and return what it logged."""
        if self.process is None:
            return ""
        self.admin.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
        return err.decode(errors="replace")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def __enter__(self) -> KeyringProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def proxy(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)
