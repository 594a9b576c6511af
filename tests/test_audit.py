"""The audit log: who did what when, through the API and the CLI — and never a secret."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body, cleanup_instance
from tests.support.checks import logged_in
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread

API_KEY = "sk-canary-audit-api-key-0123456789"
NEW_API_KEY = "sk-canary-audit-new-key-9876543210"
CHANNEL_TOKEN = "777:canary-audit-telegram-token"
NEW_CHANNEL_TOKEN = "778:canary-audit-other-token"
SHARED_KEY = "sk-canary-audit-shared-key-abcdef123456"
WRONG_PASSWORD = "canary-wrong-password-xyz"
WEBHOOK_SECRET = "canary-webhook-token-5f5f5f"
CANARIES = (
    API_KEY,
    NEW_API_KEY,
    CHANNEL_TOKEN,
    NEW_CHANNEL_TOKEN,
    SHARED_KEY,
    WRONG_PASSWORD,
    WEBHOOK_SECRET,
    ADMIN_PASSWORD,
)
BOTMAKER = Path(sys.executable).with_name("botmaker")


def _table(settings: Settings) -> str:
    """The whole audit table as text, read from the SQLite file itself."""
    with sqlite3.connect(settings.db_path) as conn:
        return json.dumps(conn.execute("SELECT * FROM audit").fetchall())


def _assert_no_canary(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text, canary


def _entries(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/audit", params=params)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def test_api_actions_are_audited_without_secrets(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    svc: Services = make_services(settings)
    with ServerThread(create_app(svc.settings, svc)) as url:
        with httpx.Client(base_url=url, timeout=30) as anon:
            assert anon.post("/api/login", json={"password": WRONG_PASSWORD}).status_code == 401
            assert anon.get("/api/audit").status_code == 401
        with logged_in(url, ADMIN_PASSWORD) as client:
            body = bot_body("audited", secrets={"api_key": API_KEY, "channel_token": CHANNEL_TOKEN})
            created = client.post("/api/bots", json=body)
            assert created.status_code == 201, created.text
            bot_id = created.json()["id"]
            edited = client.patch(
                f"/api/bots/{bot_id}",
                json={
                    "model": "gpt-5.1-mini",
                    "secrets": {"api_key": NEW_API_KEY, "channel_token": NEW_CHANNEL_TOKEN},
                },
            )
            assert edited.status_code == 200, edited.text
            for action in ("stop", "start", "restart"):
                assert client.post(f"/api/bots/{bot_id}/{action}").status_code == 200
            hook = f"http://127.0.0.1:9/hook?token={WEBHOOK_SECRET}"
            assert client.put("/api/alerts", json={"webhook_url": hook}).status_code == 200
            assert client.post("/api/admin/cleanup").status_code == 200
            assert client.delete(f"/api/bots/{bot_id}").status_code == 204
            assert client.post("/api/logout").status_code == 204
        with logged_in(url, ADMIN_PASSWORD) as client:
            entries = _entries(client)
            page = _entries(client, limit=3)
            older = _entries(client, before=page[-1]["id"], limit=1000)
            api_output = client.get("/api/audit").text

    actions = [e["action"] for e in reversed(entries)]  # oldest first
    assert actions == [
        "login.failed",
        "login",
        "bot.create",
        "bot.edit",
        "bot.stop",
        "bot.start",
        "bot.restart",
        "alerts.update",
        "orphans.cleanup",
        "bot.delete",
        "logout",
        "login",
    ]
    assert page == entries[:3]
    assert older == entries[3:]
    assert {e["actor"] for e in entries} == {"admin"}
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True)
    by_action = {e["action"]: e for e in entries}
    assert by_action["login.failed"]["detail"] == {"client": "127.0.0.1", "status": 401}
    assert by_action["login"]["detail"] == {"client": "127.0.0.1"}
    create = by_action["bot.create"]
    assert create["target"] == "audited"
    assert create["detail"] == {
        "id": bot_id,
        "provider": "openai",
        "model": "gpt-5.1",
        "channel": "telegram",
    }
    assert by_action["bot.edit"]["detail"] == {
        "id": bot_id,
        "fields": ["model", "secrets.api_key", "secrets.channel_token"],
    }
    assert by_action["bot.delete"]["target"] == "audited"
    assert by_action["alerts.update"]["detail"]["webhook"] is True
    assert set(by_action["orphans.cleanup"]["detail"]) == {
        "containers",
        "secrets",
        "state",
        "grants",
        "failed",
    }
    assert all(isinstance(e["at"], float) for e in entries)
    _assert_no_canary(api_output, _table(svc.settings))


def test_key_changes_are_audited_with_provider_and_last4_only(
    settings: Settings, make_services: MakeServices
) -> None:
    svc: Services = make_services(
        replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0)
    )
    with ServerThread(create_app(svc.settings, svc)) as url, logged_in(url, ADMIN_PASSWORD) as c:
        added = c.post("/api/keys", json={"provider": "openai", "key": SHARED_KEY})
        assert added.status_code == 201, added.text
        key_id = added.json()["key"]["id"]
        assert c.delete(f"/api/keys/{key_id}").status_code == 204
        entries = _entries(c, limit=2)
        api_output = c.get("/api/audit").text
    deleted, add = entries
    assert (add["action"], add["target"]) == ("key.add", key_id)
    assert add["detail"] == {"provider": "openai", "last4": SHARED_KEY[-4:]}
    assert (deleted["action"], deleted["target"]) == ("key.delete", key_id)
    assert deleted["detail"] == {"provider": "openai", "last4": SHARED_KEY[-4:]}
    _assert_no_canary(api_output, _table(svc.settings))


@pytest.fixture
def cli_env(
    tmp_path: Path, settings: Settings, docker_api: docker.APIClient
) -> Iterator[dict[str, str]]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "BOTMAKER_DATA_DIR": str(settings.data_dir),
        "BOTMAKER_SECRETS_DIR": str(settings.secrets_dir),
        "BOTMAKER_BOT_IMAGE": settings.bot_image,
        "BOTMAKER_INSTANCE": settings.instance,
        "BOTMAKER_NETWORK": settings.network,
        "BOTMAKER_NETWORK_INTERNAL": "1",
        "BOTMAKER_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "BOTMAKER_BOT_MEMORY": "64m",
        "BOTMAKER_STOP_TIMEOUT": "3",
        "BOTMAKER_KEYRING": "off",
    }
    yield env
    cleanup_instance(docker_api, settings)


def test_cli_actions_are_audited_as_cli(
    cli_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    key, token = tmp_path / "key.txt", tmp_path / "token.txt"
    key.write_text(API_KEY + "\n")
    token.write_text(CHANNEL_TOKEN + "\n")

    def cli(*args: str) -> None:
        result = subprocess.run(
            [str(BOTMAKER), *args],
            env=cli_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        _assert_no_canary(result.stdout, result.stderr)

    cli(
        "bots",
        "create",
        "--name",
        "clibot",
        "--provider",
        "openai",
        "--model",
        "gpt-5.1",
        "--channel",
        "telegram",
        "--api-key-file",
        str(key),
        "--channel-token-file",
        str(token),
    )
    cli("bots", "stop", "clibot")
    cli("bots", "start", "clibot")
    cli("bots", "restart", "clibot")
    cli("bots", "delete", "clibot", "--yes")
    with sqlite3.connect(settings.db_path) as conn:
        rows = conn.execute("SELECT actor, action, target FROM audit ORDER BY id").fetchall()
    assert rows == [
        ("cli", action, "clibot")
        for action in ("bot.create", "bot.stop", "bot.start", "bot.restart", "bot.delete")
    ]
    _assert_no_canary(_table(settings))
