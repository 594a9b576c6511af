"""A real OpenID Connect provider on loopback: panva's ``oidc-provider`` under Node.

Its npm packages come from the registry with the committed lock (``tests/oidc``),
installed once into a cache folder keyed by the lock's hash (``npm ci``). Each
provider runs as its own process with a signing key made at start under the given
key id, so stopping it and starting another with a new kid rotates the keys.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO, Any

from tests.support.registry import free_port

HERE = Path(__file__).resolve().parent.parent / "oidc"
CACHE = Path("/var/cache/botmaker")


def provider_dir() -> Path:
    """A folder with the provider script and its installed packages (npm ci, once)."""
    lock = (HERE / "package-lock.json").read_bytes()
    folder = CACHE / f"oidc-provider-{hashlib.sha256(lock).hexdigest()[:12]}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (CACHE / "oidc-provider.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not (folder / "node_modules" / "oidc-provider").is_dir():
            folder.mkdir(exist_ok=True)
            for name in ("package.json", "package-lock.json"):
                shutil.copy(HERE / name, folder / name)
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=folder,
                check=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=600,
            )
        shutil.copy(HERE / "provider.mjs", folder / "provider.mjs")
    return folder


class OidcProvider:
    """``with OidcProvider(redirect_uris, accounts) as idp:`` — ``idp.issuer`` answers."""

    def __init__(
        self,
        tmp: Path,
        redirect_uris: list[str],
        accounts: dict[str, dict[str, Any]],
        *,
        client_id: str = "botmaker",
        client_secret: str = "a-client-secret-for-tests",  # noqa: S107 - a test value
        port: int | None = None,
        kid: str = "key-1",
    ) -> None:
        self.folder = provider_dir()
        self.tmp = tmp
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id = client_id
        self.client_secret = client_secret
        self.kid = kid
        self.config = {
            "issuer": self.issuer,
            "port": self.port,
            "kid": kid,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uris": redirect_uris,
            "accounts": accounts,
        }
        self.process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    def __enter__(self) -> OidcProvider:
        path = self.tmp / f"oidc-{self.kid}.json"
        path.write_text(json.dumps(self.config))
        self._log = (self.tmp / f"oidc-{self.kid}.log").open("w")
        self.process = subprocess.Popen(
            ["node", "provider.mjs", str(path)],
            cwd=self.folder,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 30
        line = self.process.stdout.readline()
        if time.monotonic() > deadline or not line.startswith('{"ready"'):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the OIDC provider did not start: {line!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
