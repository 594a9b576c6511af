"""Crash safety: ``botmaker serve`` killed (SIGKILL) at every step of a create or delete.

The server is a real subprocess. ``BOTMAKER_TEST_PAUSE_AT=<step>`` makes it print
``@@paused <step>`` and sleep there; the test kills it with SIGKILL, starts it
again, and within two reconcile periods the rows, this instance's containers and
the secrets folders agree again: every row is ``ready`` with a container and a
folder, nothing exists without a row, an acknowledged create (201) is never lost,
and the database passes ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from botmaker.config import Settings
from botmaker.fsutil import is_bot_id
from botmaker.keyring.client import KeyringClient
from botmaker.runtime.policy import LABEL_BOT_ID, LABEL_INSTANCE, container_name
from tests.conftest import ADMIN_PASSWORD, bot_body, cleanup_instance
from tests.support.checks import logged_in
from tests.support.cli import botmaker_env
from tests.support.waiting import wait_for

BOTMAKER = Path(sys.executable).with_name("botmaker")
INTERVAL = 1.0  # BOTMAKER_RECONCILE_INTERVAL of the servers under test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    env: dict[str, str]
    tmp: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    runs: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, pause_at: str | None = None) -> None:
        self.runs += 1
        self.log = self.tmp / f"serve-{self.runs}.log"
        env = {**self.env, "BOTMAKER_PORT": str(self.port)}
        if pause_at:
            env["BOTMAKER_TEST_PAUSE_AT"] = pause_at
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(BOTMAKER), "serve"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, self.text()
            try:
                return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout=30, interval=0.1)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @contextlib.contextmanager
    def client(self) -> Iterator[httpx.Client]:
        with logged_in(self.url, ADMIN_PASSWORD, timeout=60) as client:
            yield client


@pytest.fixture
def server(tmp_path: Path, standin_image: str, docker_api: docker.APIClient) -> Iterator[Server]:
    assert BOTMAKER.is_file(), f"{BOTMAKER} is missing: pip install -e ."
    env = botmaker_env(
        tmp_path,
        standin_image,
        "crash",
        BOTMAKER_HOST="127.0.0.1",
        BOTMAKER_RECONCILE_INTERVAL=str(INTERVAL),
        BOTMAKER_VALIDATE_CONFIG="never",  # the stand-in image has no openclaw anyway
    )
    srv = Server(env, tmp_path)
    yield srv
    srv.stop()
    cleanup_instance(docker_api, Settings.from_env(env))


def in_thread(call: Any) -> list[object]:
    """Make the request in the background; its answer (or transport error) lands in the
    list returned, for the report of a request that never reached its pause."""
    answers: list[object] = []

    def run() -> None:
        try:
            answers.append(call())
        except httpx.TransportError as exc:  # the server is killed under it: the point
            answers.append(exc)

    threading.Thread(target=run, daemon=True).start()
    return answers


def wait_paused(server: Server, step: str, answers: list[object]) -> None:
    """Until the server says it paused at ``step`` (a busy machine: up to 60 s)."""
    try:
        wait_for(lambda: f"@@paused {step}" in server.text(), timeout=60, interval=0.05)
    except AssertionError:
        said = [a.text[:300] if isinstance(a, httpx.Response) else repr(a) for a in answers]
        raise AssertionError(
            f"never paused at {step}; the request's answer: {said or 'none yet'}; "
            f"the server's last output:\n{server.text()[-3000:]}"
        ) from None


def picture(server: Server, api: docker.APIClient) -> dict[str, Any]:
    """Rows (with state), this instance's bot containers and the secrets folders."""
    db = Path(server.env["BOTMAKER_DATA_DIR"]) / "botmaker.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = dict(conn.execute("SELECT id, state FROM bots").fetchall())
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    instance = server.env["BOTMAKER_INSTANCE"]
    containers = {
        c["Labels"][LABEL_BOT_ID]: c["State"]
        for c in api.containers(all=True, filters={"label": f"{LABEL_INSTANCE}={instance}"})
        if c["Labels"].get(LABEL_BOT_ID)
        and c["Names"]
        and c["Names"][0].lstrip("/") == container_name(c["Labels"][LABEL_BOT_ID])
    }
    root = Path(server.env["BOTMAKER_SECRETS_DIR"])
    folders = {p.name for p in root.iterdir() if is_bot_id(p.name)} if root.is_dir() else set()
    return {"rows": rows, "containers": containers, "folders": folders, "integrity": integrity}


def converged(server: Server, api: docker.APIClient, acknowledged: set[str]) -> dict[str, Any]:
    """Wait (two reconcile periods, plus engine slack) until the invariants hold."""
    last: dict[str, Any] = {}

    def check() -> bool:
        nonlocal last
        last = picture(server, api)
        rows = last["rows"]
        return (
            last["integrity"] == "ok"
            and all(state == "ready" for state in rows.values())
            and set(rows) == set(last["containers"]) == last["folders"]
            and acknowledged <= set(rows)
            and all(last["containers"][bot] == "running" for bot in acknowledged)
        )

    try:
        wait_for(check, timeout=2 * INTERVAL + 8, interval=0.2)
    except Exception:
        pytest.fail(f"not converged: {last}\n{server.text()[-3000:]}")
    return last


CREATE_STEPS = ["after_row", "after_secrets", "after_container", "after_start"]
DELETE_STEPS = ["delete_after_mark", "delete_after_container"]


@pytest.mark.parametrize("step", CREATE_STEPS + DELETE_STEPS)
def test_killed_mid_operation_converges(
    server: Server, docker_api: docker.APIClient, step: str
) -> None:
    server.start(pause_at=None if step in CREATE_STEPS else step)
    with server.client() as client:
        kept = client.post("/api/bots", json=bot_body("keeper"))
        assert kept.status_code == 201, kept.text  # acknowledged: must survive everything
        acknowledged = {kept.json()["id"]}
    if step in CREATE_STEPS:  # every create pauses there: the keeper was made before
        server.kill()  # right after a 201: that create must not be lost either
        server.start(pause_at=step)
    with server.client() as client:
        if step in CREATE_STEPS:
            victim = None
            answers = in_thread(lambda: client.post("/api/bots", json=bot_body("victim")))
        else:
            made = client.post("/api/bots", json=bot_body("victim"))
            assert made.status_code == 201, made.text
            victim = made.json()["id"]
            answers = in_thread(lambda: client.delete(f"/api/bots/{victim}"))
        wait_paused(server, step, answers)
        server.kill()

    server.start()
    final = converged(server, docker_api, acknowledged)
    # A create cut short is undone; a delete cut short is finished.
    assert set(final["rows"]) == acknowledged, final
    assert victim not in final["containers"]
    with server.client() as client:
        names = [bot["name"] for bot in client.get("/api/bots").json()["bots"]]
        assert names == ["keeper"]
        # The name of the bot whose create was undone is free again.
        again = client.post("/api/bots", json=bot_body("victim"))
        assert again.status_code == 201, again.text
    converged(server, docker_api, acknowledged | {again.json()["id"]})


def test_killed_mid_create_with_the_keyring_revokes_the_grant(
    server: Server, docker_api: docker.APIClient
) -> None:
    admin_port = free_port()
    server.env.update(
        {
            "BOTMAKER_KEYRING": "auto",
            "BOTMAKER_KEYRING_PORT": str(free_port()),
            "BOTMAKER_KEYRING_ADMIN_PORT": str(admin_port),
        }
    )
    server.start()
    with server.client() as client:
        kept = client.post("/api/bots", json=bot_body("keeper"))
        assert kept.status_code == 201, kept.text
    server.kill()
    server.start(pause_at="after_container")
    with server.client() as client:
        answers = in_thread(lambda: client.post("/api/bots", json=bot_body("victim")))
        wait_paused(server, "after_container", answers)
        server.kill()  # the keyring child goes with it (PR_SET_PDEATHSIG)

    server.start()
    converged(server, docker_api, {kept.json()["id"]})
    token_file = Path(server.env["BOTMAKER_DATA_DIR"]) / "keyring" / "admin.token"
    keyring = KeyringClient(f"http://127.0.0.1:{admin_port}", token_file)
    try:
        wait_for(lambda: keyring.status()["bots"] == 1, timeout=2 * INTERVAL + 5)
    finally:
        keyring.close()
