"""A throw-away local image registry: Debian's ``docker-registry`` on loopback.

The engine treats registries on 127.0.0.0/8 as insecure (plain HTTP) by default,
so it pushes to and pulls from this one without any daemon configuration.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

import httpx

REGISTRY_BINARY = "docker-registry"

CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalRegistry:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, the prefix of this registry's image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "registry.log"

    def start(self, attempts: int = 3) -> None:
        binary = shutil.which(REGISTRY_BINARY) or f"/usr/bin/{REGISTRY_BINARY}"
        if not Path(binary).exists():
            raise RuntimeError("docker-registry is missing: apt-get install docker-registry")
        for _ in range(attempts):
            self.port = free_port()
            config = self.folder / "config.yml"
            config.write_text(CONFIG.format(root=self.folder / "storage", port=self.port))
            self._log = self.log_path.open("ab")
            self.process = subprocess.Popen(
                [binary, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            if self._wait_ready():
                return
            self.stop()  # lost the port to someone else, most likely: try another
        raise RuntimeError(f"docker-registry did not start; see {self.log_path}")

    def _wait_ready(self, timeout: float = 15) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{self.host}/v2/", timeout=1).status_code == 200:
                    return True
            time.sleep(0.05)
        return False

    def tags(self, repository: str) -> list[str]:
        response = httpx.get(f"http://{self.host}/v2/{repository}/tags/list", timeout=5)
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return list(response.json().get("tags") or [])

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log, self._log = self._log, None
        if log is not None:
            log.close()
