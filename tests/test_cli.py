"""The ``botmaker`` console script, run as a real subprocess against the real engine."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from botmaker.config import Settings
from botmaker.runtime.policy import LABEL_INSTANCE
from tests.conftest import ADMIN_PASSWORD, cleanup_instance
from tests.support.cli import botmaker_env
from tests.support.waiting import wait_for

BOTMAKER = Path(sys.executable).with_name("botmaker")
API_KEY = "sk-cli-secret-value-0123456789"
CHANNEL_TOKEN = "424242:cli-telegram-token-value"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass
class Cli:
    env: dict[str, str]
    settings: Settings
    tmp: Path

    def __call__(
        self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BOTMAKER), *args],
            env={**self.env, **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        # Whatever happens, a secret value never reaches the terminal.
        for secret in (API_KEY, CHANNEL_TOKEN, ADMIN_PASSWORD):
            assert secret not in result.stdout + result.stderr, args
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def create(
        self, name: str, *extra: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self(
            "bots",
            "create",
            "--name",
            name,
            "--provider",
            "openai",
            "--model",
            "gpt-5.1",
            "--channel",
            "telegram",
            *extra,
            extra_env=extra_env,
        )

    def secret_files(self) -> list[str]:
        key, token = self.tmp / "api_key.txt", self.tmp / "channel_token.txt"
        key.write_text(API_KEY + "\n")
        token.write_text(CHANNEL_TOKEN + "\n")
        return ["--api-key-file", str(key), "--channel-token-file", str(token)]


@pytest.fixture
def cli(tmp_path: Path, standin_image: str, docker_api: docker.APIClient) -> Iterator[Cli]:
    assert BOTMAKER.is_file(), f"{BOTMAKER} is missing: pip install -e ."
    # test_keys_from_the_command_line turns the keyring on
    env = botmaker_env(tmp_path, standin_image, "cli", COLUMNS="200", NO_COLOR="1", TERM="dumb")
    settings = Settings.from_env(env)
    assert settings.instance == env["BOTMAKER_INSTANCE"]
    yield Cli(env, settings, tmp_path)
    cleanup_instance(docker_api, settings)


def instance_containers(docker_api: docker.APIClient, cli: Cli) -> list[dict[str, Any]]:
    filters = {"label": f"{LABEL_INSTANCE}={cli.settings.instance}"}
    containers: list[dict[str, Any]] = docker_api.containers(all=True, filters=filters)
    return containers


def test_bot_lifecycle_from_the_command_line(cli: Cli, docker_api: docker.APIClient) -> None:
    empty = cli("bots", "list")
    assert empty.returncode == 0, empty.stderr
    assert "no bots yet" in empty.stdout

    created = cli.create("alpha", *cli.secret_files())
    assert created.returncode == 0, created.stderr
    match = re.fullmatch(rf"created alpha \(({UUID})\): running\n", created.stdout)
    assert match, created.stdout
    bot_id = match.group(1)
    container = f"botmaker-{bot_id}"
    info = docker_api.inspect_container(container)
    assert info["State"]["Running"] is True
    assert info["HostConfig"]["Memory"] == 64 * 1024**2  # BOTMAKER_BOT_MEMORY=64m
    assert info["HostConfig"]["NetworkMode"] == cli.settings.network
    # The secrets came from the files (final newline dropped), into the bot's folder.
    folder = cli.settings.secrets_dir / bot_id
    assert (folder / "api_key").read_text() == API_KEY
    assert (folder / "channel_token").read_text() == CHANNEL_TOKEN
    # Never passed to the container on its command line or in its environment.
    assert API_KEY not in json.dumps(info)

    again = cli.create("alpha", *cli.secret_files())
    assert again.returncode == 2
    assert again.stderr.startswith("error: ")
    assert "already exists" in again.stderr
    assert "(name)" in again.stderr

    table = cli("bots", "list")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "PROVIDER", "MODEL", "CHANNEL", "ID"]
    assert [row.split() for row in rows] == [
        ["alpha", "running", "openai", "gpt-5.1", "telegram", bot_id]
    ]
    listed = cli("bots", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    bots = json.loads(listed.stdout)
    assert [(b["id"], b["name"], b["status"]["state"]) for b in bots] == [
        (bot_id, "alpha", "running")
    ]

    stopped = cli("bots", "stop", "alpha")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout == "alpha: exited\n"
    assert docker_api.inspect_container(container)["State"]["Running"] is False

    started = cli("bots", "start", bot_id)  # by id too
    assert started.returncode == 0, started.stderr
    assert started.stdout == "alpha: running\n"
    assert docker_api.inspect_container(container)["State"]["Running"] is True

    # Both runs have printed their first lines (the log keeps the first run's lines too).
    wait_for(lambda: docker_api.logs(container).count(b"standin: tick 1\n") >= 2, timeout=20)
    begun = time.monotonic()
    tail = cli("bots", "logs", "alpha", "--no-follow", "--tail", "5", timeout=30)
    assert time.monotonic() - begun < 20  # --no-follow returns by itself
    assert tail.returncode == 0, tail.stderr
    lines = tail.stdout.splitlines() + tail.stderr.splitlines()
    assert len(lines) == 5, (tail.stdout, tail.stderr)
    assert all(line.startswith("standin: ") for line in lines)
    assert "standin: a line on stderr" not in tail.stdout
    assert set(tail.stderr.splitlines()) <= {"standin: a line on stderr"}
    everything = cli("bots", "logs", "alpha", "--no-follow", "--tail", "100")
    assert everything.returncode == 0
    # stdout and stderr are kept apart: the stderr line goes to stderr (once per start).
    assert everything.stderr.splitlines() == ["standin: a line on stderr"] * 2
    assert everything.stdout.splitlines().count("standin: tick 1") == 2
    assert "stderr" not in everything.stdout

    deleted = cli("bots", "delete", "alpha", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == "deleted alpha\n"
    assert instance_containers(docker_api, cli) == []
    assert not folder.exists()
    after = cli("bots", "list", "--json")
    assert json.loads(after.stdout) == []


def test_secrets_are_never_taken_from_argv(cli: Cli, docker_api: docker.APIClient) -> None:
    help_text = cli("bots", "create", "--help")
    assert help_text.returncode == 0
    options = set(re.findall(r"--[a-z][a-z-]*", help_text.stdout))
    assert {"--api-key-file", "--channel-token-file", "--channel-config-file"} <= options
    secret_words = ("key", "token", "secret", "password", "config")
    for option in options:
        if any(word in option for word in secret_words):
            assert option.endswith("-file"), f"{option} would take a secret on argv"
    for option in ("--api-key", "--channel-token", "--channel-config", "--secret"):
        result = cli.create("alpha", option, "value-on-argv")
        assert result.returncode == 2, (option, result.stdout, result.stderr)
        assert "No such option" in result.stderr, result.stderr
    # Without the files (and no terminal to ask on), it refuses rather than guessing.
    no_files = cli.create("alpha")
    assert no_files.returncode == 1
    assert "secrets are never taken from argv" in no_files.stderr
    assert "--*-file" in no_files.stderr
    # Nothing was created by any of these.
    assert instance_containers(docker_api, cli) == []
    secrets_dir = cli.settings.secrets_dir
    assert not secrets_dir.exists() or list(secrets_dir.iterdir()) == []


def test_errors_are_one_clear_line_and_a_non_zero_exit(cli: Cli, tmp_path: Path) -> None:
    unknown = cli("bots", "stop", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr == "error: no bot with id or name 'nope' (id)\n"

    missing_file = cli.create(
        "alpha",
        "--api-key-file",
        str(tmp_path / "absent"),
        "--channel-token-file",
        str(tmp_path / "absent"),
    )
    assert missing_file.returncode == 1
    assert missing_file.stderr.startswith(f"error: cannot read {tmp_path / 'absent'}")

    bad_name = cli.create("Bad_Name", *cli.secret_files())
    assert bad_name.returncode == 2
    assert bad_name.stderr.startswith("error: name: "), bad_name.stderr

    # A model id with a trailing newline would end up in the bot's environment: refused.
    newline_model = cli(
        "bots",
        "create",
        "--name",
        "alpha",
        "--provider",
        "openai",
        "--model",
        "gpt-5.1\n",
        "--channel",
        "telegram",
        *cli.secret_files(),
    )
    assert newline_model.returncode == 2
    assert newline_model.stderr.startswith("error: model: "), newline_model.stderr

    missing_option = cli("bots", "create", "--name", "alpha", "--provider", "nope", "--model", "m")
    assert missing_option.returncode == 2  # missing --channel: a usage error
    assert "channel" in missing_option.stderr

    bad_port = cli("bots", "list", extra_env={"BOTMAKER_PORT": "not-a-port"})
    assert bad_port.returncode == 1
    assert bad_port.stderr == "error: BOTMAKER_PORT: not an integer: 'not-a-port'\n"

    placeholder = cli("bots", "list", extra_env={"BOTMAKER_ADMIN_PASSWORD": "changeme"})
    assert placeholder.returncode == 1
    assert placeholder.stderr.startswith("error: the admin password is a placeholder")

    engine_down = cli(
        "bots", "list", extra_env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    )
    assert engine_down.returncode == 1
    assert engine_down.stderr.startswith("error: the Docker engine does not answer")
    assert len(engine_down.stderr.splitlines()) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_answers_health_on_the_configured_port(cli: Cli, tmp_path: Path) -> None:
    port, keyring_port, admin_port = free_port(), free_port(), free_port()
    env = {
        **cli.env,
        "BOTMAKER_PORT": str(port),
        "BOTMAKER_HOST": "127.0.0.1",
        "BOTMAKER_KEYRING": "auto",
        "BOTMAKER_KEYRING_PORT": str(keyring_port),
        "BOTMAKER_KEYRING_ADMIN_PORT": str(admin_port),
    }
    output = tmp_path / "serve.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [str(BOTMAKER), "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def healthy() -> bool:
                assert process.poll() is None, output.read_text()
                try:
                    return (
                        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
                    )
                except httpx.TransportError:
                    return False

            wait_for(healthy, timeout=30, interval=0.1)
            body = httpx.get(f"http://127.0.0.1:{port}/health").json()
            assert body["status"] == "ok"
            assert body["keyring"] == {"ok": True}  # serve started the keyring child
            keyring_admin = f"http://127.0.0.1:{admin_port}/admin/status"
            assert httpx.get(keyring_admin, timeout=5).status_code == 401  # up, needs a token
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                assert client.get("/api/bots").status_code == 401
                login = client.post("/api/login", json={"password": ADMIN_PASSWORD})
                assert login.status_code == 200
                assert client.get("/api/bots").json() == {"bots": []}
                # No trusted proxy: a claimed X-Forwarded-For is not who the audit saw.
                spoofed = client.post(
                    "/api/login",
                    json={"password": "not the password"},
                    headers={"X-Forwarded-For": "203.0.113.9"},
                )
                assert spoofed.status_code == 401
                entries = client.get("/api/audit").json()["entries"]
                seen = [e["detail"]["client"] for e in entries if e["action"].startswith("login")]
                assert seen == ["127.0.0.1", "127.0.0.1"], entries
        finally:
            process.terminate()
            try:
                code = process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise
    # The keyring child went with it.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{admin_port}/admin/status", timeout=2)
    text = output.read_text()
    # A graceful stop (uvicorn re-raises the SIGTERM it handled, so -15 is a clean exit too).
    assert code in (0, -signal.SIGTERM), text
    assert "Application shutdown complete" in text
    assert f"127.0.0.1:{port}" in text
    assert ADMIN_PASSWORD not in text
    assert "generated an admin password" not in text


def test_keys_from_the_command_line(cli: Cli, docker_api: docker.APIClient) -> None:
    keyring = {"BOTMAKER_KEYRING": "auto", "BOTMAKER_KEYRING_PORT": "0"}
    keyring["BOTMAKER_KEYRING_ADMIN_PORT"] = "0"
    key = cli.tmp / "shared.txt"
    key.write_text(API_KEY + "\n")
    empty = cli("keys", "list", extra_env=keyring)
    assert empty.returncode == 0, empty.stderr
    assert "no keys yet" in empty.stdout

    added = cli(
        "keys",
        "add",
        "--provider",
        "openai",
        "--key-file",
        str(key),
        "--label",
        "team",
        "--tag",
        "blue",
        extra_env=keyring,
    )
    assert added.returncode == 0, added.stderr
    match = re.fullmatch(r"added (key_[0-9a-f]{16}) \(openai, \.\.\.(\w{4})\)\n", added.stdout)
    assert match, added.stdout
    assert match.group(2) == API_KEY[-4:]
    listed = cli("keys", "list", "--json", extra_env=keyring)
    keys = json.loads(listed.stdout)
    assert [(k["id"], k["label"], k["tags"], k["bot_id"]) for k in keys] == [
        (match.group(1), "team", ["blue"], None)
    ]

    token = cli.tmp / "token.txt"
    token.write_text(CHANNEL_TOKEN + "\n")
    created = cli.create("keyed", "--channel-token-file", str(token), extra_env=keyring)
    assert created.returncode == 2, created.stdout  # the key is tagged; this bot is not
    assert "no key for provider openai" in created.stderr

    bad = cli("keys", "add", "--provider", "nope", "--key-file", str(key), extra_env=keyring)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: provider")
    usage = cli("usage", extra_env=keyring)
    assert usage.returncode == 0, usage.stderr
    assert "TOKENS TODAY" in usage.stdout

    deleted = cli("keys", "delete", match.group(1), extra_env=keyring)
    assert deleted.returncode == 0, deleted.stderr
    assert "no keys yet" in cli("keys", "list", extra_env=keyring).stdout


def test_migrate_runtime_refuses_an_unknown_runtime_naming_it(cli: Cli) -> None:
    done = cli("migrate-runtime", "kubernetes")
    assert done.returncode == 2
    assert "runtime must be docker or swarm" in done.stderr


def test_users_from_the_command_line(cli: Cli) -> None:
    added = cli("users", "add", "paula", "--role", "viewer", "--email", "paula@example.com")
    assert added.returncode == 0, added.stderr
    password = added.stdout.rsplit(": ", 1)[1].strip()
    assert len(password) >= 16
    listed = cli("users", "list")
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("paula")]
    assert row.split()[:4] == ["paula", "viewer", "enabled", "never"]
    assert "paula@example.com" in row
    as_json = json.loads(cli("users", "list", "--json").stdout)
    assert "password_hash" not in str(as_json)
    assert password not in listed.stdout + str(as_json)
    disabled = cli("users", "disable", "paula")
    assert disabled.returncode == 0, disabled.stderr
    assert "disabled (sessions and tokens ended)" in disabled.stdout
    assert "disabled" in cli("users", "list").stdout
    reset = cli("users", "reset", "paula")
    assert reset.returncode == 0
    assert password not in reset.stdout
    bad = cli("users", "add", "x", "--role", "root")
    assert bad.returncode != 0
    assert "role must be one of admin, operator, viewer" in bad.stderr
    again = cli("users", "add", "paula")
    assert again.returncode != 0
    assert "already exists" in again.stderr
    actions = sqlite3.connect(cli.settings.db_path).execute(
        "SELECT actor, action, target FROM audit WHERE action LIKE 'user.%' ORDER BY id"
    )
    assert actions.fetchall() == [
        ("cli", "user.add", "paula"),
        ("cli", "user.edit", "paula"),
        ("cli", "user.reset", "paula"),
    ]
