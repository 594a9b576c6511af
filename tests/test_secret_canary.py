"""A bot's secrets live in its secret files and nowhere else.

A bot is created with unique canary strings as its secrets, and the whole API is
exercised around it, including error paths that echo request bodies in other
software. Then every place a secret could leak to is searched: API responses and
headers, BotMaker's logs and console output, the container's configuration and
output, and the SQLite files. Positive controls show each search can find things:
the canaries are in the secret files, and other strings from the same requests
are found in the same places.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from botmaker.services import Services
from tests.support.waiting import wait_for


class Canary:
    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.api_key = f"sk-CANARY-API-{self.token}"
        self.channel_token = f"CANARY-TOK-{self.token}"
        self.config_secret = f"CANARY-CFG-{self.token}"
        self.channel_config = json.dumps({"webhook_secret": self.config_secret, "chat": 42})

    @property
    def secrets(self) -> dict[str, str]:
        return {
            "api_key": self.api_key,
            "channel_token": self.channel_token,
            "channel_config": self.channel_config,
        }

    @property
    def needles(self) -> list[str]:
        """The canaries, their shared token and its halves, plain and base64."""
        values = [self.api_key, self.channel_token, self.config_secret, self.channel_config]
        plain = [*values, self.token, self.token[:12], self.token[-12:]]
        encoded = [base64.b64encode(v.encode()).decode() for v in values]
        return plain + encoded

    def assert_absent(self, where: str, text: str | bytes) -> None:
        haystack = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        for needle in self.needles:
            assert needle not in haystack, f"a secret leaked into {where}"


def body_of(name: str, secrets: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "provider": "openai",
        "model": "gpt-5.1",
        "channel": "telegram",
        "secrets": secrets,
    }
    body.update(overrides)
    return body


def rendered(response: httpx.Response, text: str | None = None) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
    body = response.text if text is None else text
    request = f"{response.request.method} {response.request.url} -> {response.status_code}"
    return f"{request}\n{headers}\n{body}"


def files_under(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def canary() -> Canary:
    return Canary()


def test_secrets_never_leave_the_secret_files(
    client: httpx.Client,
    anon: httpx.Client,
    services: Services,
    docker_api: docker.APIClient,
    canary: Canary,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # capfd captures file descriptors 1 and 2 *and* sys.stdout/sys.stderr (pytest
    # refuses capsys and capfd together), so it sees print(), logging handlers and
    # anything written straight to the fds by BotMaker, uvicorn or libraries.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="botmaker")
    name = f"canary-{uuid.uuid4().hex[:8]}"
    seen: list[str] = []

    def call(method: str, url: str, expect: int, via: httpx.Client = client, **kw: Any) -> Any:
        response = via.request(method, url, **kw)
        seen.append(rendered(response))
        assert response.status_code == expect, (method, url, response.status_code, response.text)
        return response.json() if response.content else None

    # -- the API, around a bot with canary secrets ------------------------------------
    call("GET", "/health", 200, via=anon)
    bot = call("POST", "/api/bots", 201, json=body_of(name, canary.secrets))
    bot_id = bot["id"]
    container = f"botmaker-{bot_id}"
    assert bot["secrets"] == ["api_key", "channel_config", "channel_token", "gateway_token"]

    def container_logs() -> str:
        return docker_api.logs(container, stdout=True, stderr=True).decode("utf-8", "replace")

    wait_for(lambda: "secret channel_token present" in container_logs())
    assert any(b["id"] == bot_id for b in call("GET", "/api/bots", 200)["bots"])
    call("GET", f"/api/bots/{bot_id}", 200)
    call("GET", f"/api/bots/{name}", 200)
    assert call("POST", f"/api/bots/{bot_id}/stop", 200)["status"]["state"] == "exited"
    assert call("POST", f"/api/bots/{bot_id}/start", 200)["status"]["state"] == "running"
    assert call("POST", f"/api/bots/{name}/restart", 200)["status"]["state"] == "running"
    wait_for(lambda: container_logs().count("secret channel_config present") >= 3)

    with client.stream("GET", f"/api/bots/{bot_id}/logs?follow=false&tail=1000") as stream:
        assert stream.status_code == 200
        sse_text = "".join(stream.iter_text())
    seen.append(rendered(stream, sse_text))
    assert "standin: secret api_key present" in sse_text  # positive control
    assert "event: end" in sse_text

    # -- error paths, every one carrying the canaries ---------------------------------
    call("POST", "/api/bots", 409, json=body_of(name, canary.secrets))  # duplicate name
    call("POST", "/api/bots", 422, json=body_of("Not A Valid Name!", canary.secrets))
    call("POST", "/api/bots", 422, json=body_of("other", canary.secrets, provider="nope"))
    call(
        "POST",
        "/api/bots",
        422,
        json=body_of("other", {**canary.secrets, "password": canary.api_key}),
    )
    call(
        "POST",
        "/api/bots",
        422,
        json=body_of("other", {**canary.secrets, "api_key": canary.api_key + "x" * 17_000}),
    )
    call(
        "POST",
        "/api/bots",
        422,
        json=body_of("other", {**canary.secrets, "channel_token": {"v": canary.channel_token}}),
    )
    call(
        "POST",
        "/api/bots",
        422,
        json=body_of("other", {**canary.secrets, "api_key": f"{canary.api_key}\x00"}),
    )
    broken = json.dumps(body_of("other", canary.secrets))[:-7]  # not JSON any more
    call(
        "POST",
        "/api/bots",
        400,
        content=broken.encode(),
        headers={"Content-Type": "application/json"},
    )
    huge = {**canary.secrets, "channel_config": canary.channel_config + " " * 300_000}
    call("POST", "/api/bots", 413, json=body_of("other", huge))
    call("POST", "/api/bots", 401, via=anon, json=body_of("other", canary.secrets))

    # -- positive controls: the canaries are where they belong ------------------------
    folder = services.settings.secrets_dir / bot_id
    for file_name, value in canary.secrets.items():
        assert (folder / file_name).read_text(encoding="utf-8") == value
    secret_files = files_under(services.settings.secrets_dir)
    holders = {path for path, data in secret_files.items() if canary.token.encode() in data}
    assert holders == {folder / n for n in canary.secrets}, holders  # and nowhere else

    # -- where they must not be -------------------------------------------------------
    assert len(seen) == 19
    assert sum(bot_id in text for text in seen) >= 8  # positive control: bodies are there
    for text in seen:
        assert "content-type: " in text.lower()  # positive control: headers are there
        canary.assert_absent("an API response", text)

    info = docker_api.inspect_container(container)
    canary.assert_absent("docker inspect", json.dumps(info))
    config = info["Config"]
    for key in ("Env", "Cmd", "Entrypoint", "Labels"):
        canary.assert_absent(f"the container's {key}", json.dumps(config[key]))
    assert f"BOTMAKER_BOT_ID={bot_id}" in config["Env"]  # positive control
    canary.assert_absent("docker inspect args", json.dumps([info["Path"], info["Args"]]))

    output = container_logs()
    assert "standin: secret api_key present" in output  # positive control
    canary.assert_absent("the container's output", output)

    def check_store(stage: str) -> None:
        data_files = files_under(services.settings.data_dir)
        db = services.settings.db_path
        assert db in data_files
        everything = b"".join(data_files.values())
        assert name.encode() in everything  # positive control: the row was written
        for path, data in data_files.items():
            canary.assert_absent(f"{path.name} ({stage})", data)
        for suffix in ("-wal", "-shm"):  # read directly, in case rglob missed them
            sibling = db.with_name(db.name + suffix)
            if sibling.exists():
                canary.assert_absent(f"{sibling.name} ({stage})", sibling.read_bytes())

    check_store("after use")

    # Deleting the bot leaves no canary behind either.
    call("DELETE", f"/api/bots/{bot_id}", 204)
    assert not folder.exists()
    assert not any(
        canary.token.encode() in data
        for data in files_under(services.settings.secrets_dir).values()
    )
    check_store("after delete")

    # -- BotMaker's own logs and console output ---------------------------------------
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith(f"created bot {name}") for m in messages)  # positive control
    assert any(m.startswith(f"deleted bot {name}") for m in messages)
    canary.assert_absent("the log records", "\n".join(messages))
    canary.assert_absent("the formatted log", caplog.text)
    for record in caplog.records:
        canary.assert_absent(f"log record args ({record.name})", repr(record.args))
        canary.assert_absent(f"log record exception ({record.name})", str(record.exc_text))
        canary.assert_absent(f"log record extras ({record.name})", repr(vars(record)))
    out, err = capfd.readouterr()
    canary.assert_absent("stdout", out)
    canary.assert_absent("stderr", err)
