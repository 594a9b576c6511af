"""BotMaker with its keyring proxy on: bots hold a token, never the provider key.

Real engine, real BotMaker API on loopback, the real keyring child process, a fake
provider on loopback that only the keyring (on the host) can reach.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import httpx
import pytest
from playwright.sync_api import Browser, expect

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.runtime.policy import container_name
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.bots import (
    RunningBot,
    blocked_probe,
    exec_in,
    http_post,
    http_probe,
    wait_serving,
)
from tests.support.checks import logged_in
from tests.support.fake_upstream import FakeUpstream
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.support.waiting import wait_for

REAL_KEY = "sk-real-provider-key-0123456789abcdef"
SHARED_KEY = "sk-shared-provider-key-fedcba9876543210"


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def keyed(settings: Settings, make_services: MakeServices, upstream: FakeUpstream) -> Services:
    """BotMaker with BOTMAKER_KEYRING=auto (free ports); OpenAI's upstream is the fake."""
    svc: Services = make_services(
        replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0)
    )
    svc.keyring.client.set_upstream("openai", upstream.url + "/v1", allow_private=True)
    return svc


@pytest.fixture
def api(keyed: Services) -> Iterator[tuple[httpx.Client, str]]:
    with (
        ServerThread(create_app(keyed.settings, keyed)) as url,
        logged_in(url, ADMIN_PASSWORD, timeout=60) as client,
    ):
        yield client, url


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _running(svc: Services, body: dict[str, Any], client: httpx.Client) -> RunningBot:
    response = client.post("/api/bots", json=body)
    assert response.status_code == 201, response.text
    bot = response.json()
    record = svc.store.find_bot(bot["id"])
    return RunningBot(bot["id"], bot["name"], record.uid, container_name(bot["id"]), {})


def _call_proxy_from(
    docker_api: docker.APIClient, container: str, proxy: str, token_file: str
) -> str:
    url = urlsplit(proxy)
    assert url.hostname
    assert url.port
    payload = json.dumps({"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi"}]})
    result = http_post(
        docker_api,
        container,
        url.hostname,
        url.port,
        "/v1/openai/chat/completions",
        payload,
        bearer_file=token_file,
    )
    return result.text


def test_a_bot_gets_a_token_and_reaches_the_provider_only_through_the_keyring(
    keyed: Services,
    api: tuple[httpx.Client, str],
    upstream: FakeUpstream,
    docker_api: docker.APIClient,
    browser: Browser,
) -> None:
    client, url = api
    team = client.post("/api/teams", json={"name": "support"}).json()
    body = bot_body(
        "alpha", secrets={"api_key": REAL_KEY, "channel_token": "123:tg"}, team="support"
    )
    bot = _running(keyed, body, client)
    view = client.get(f"/api/bots/{bot.id}").json()
    assert view["keyring"] is True
    assert sorted(view["secrets"]) == ["channel_token", "gateway_token", "keyring_token"]

    # The key is in the keyring (last 4 only), owned by this bot; nowhere on BotMaker's side.
    keys = client.get("/api/keys").json()["keys"]
    assert [(k["bot_id"], k["bot_name"], k["last4"]) for k in keys] == [
        (bot.id, "alpha", REAL_KEY[-4:])
    ]
    assert REAL_KEY not in json.dumps(keys)
    settings = keyed.settings
    for path in _files_under(settings.secrets_dir / bot.id) + _files_under(
        settings.data_dir / "bots" / bot.id
    ):
        assert REAL_KEY.encode() not in path.read_bytes(), path
    for path in _files_under(settings.data_dir) + _files_under(settings.secrets_dir):
        assert REAL_KEY.encode() not in path.read_bytes(), path  # keyring.db: encrypted
    inspect = json.dumps(docker_api.inspect_container(bot.container))
    assert REAL_KEY not in inspect

    # The rendered config sends OpenAI traffic to the proxy with the token file.
    config = json.loads(keyed.bots.state.folder(bot.id).joinpath("openclaw.json").read_text())
    provider = config["models"]["providers"]["openai"]
    proxy = keyed.keyring.proxy_base("openai").removesuffix("/v1/openai")
    assert provider["baseUrl"] == f"{proxy}/v1/openai"
    alias = provider["apiKey"]["provider"]
    assert config["secrets"]["providers"][alias]["path"] == "/run/secrets/keyring_token"

    # From inside the bot: the proxy answers with the provider's reply; the provider saw
    # the real key, not the bot's token.
    wait_serving(docker_api, bot)
    answer = _call_proxy_from(docker_api, bot.container, proxy, "/run/secrets/keyring_token")
    assert "Hello from the fake upstream" in answer, answer
    assert REAL_KEY not in answer
    seen = upstream.requests[-1]
    assert seen.key == REAL_KEY
    token = (settings.secrets_dir / bot.id / "keyring_token").read_text().strip()
    assert token not in json.dumps(seen.headers)

    usage = client.get("/api/usage").json()
    assert usage["bots"][bot.id]["name"] == "alpha"
    assert usage["bots"][bot.id]["today"]["requests"] == 1
    assert usage["bots"][bot.id]["today"]["input_tokens"] == upstream.input_tokens
    # Per team, summed over its bots; a member who is a viewer sees their team's.
    (row,) = usage["teams"].values()
    assert row["name"] == "support"
    assert row["bots"] == 1
    assert row["today"]["requests"] == 1
    assert row["month"]["input_tokens"] == upstream.input_tokens
    made = client.post(
        "/api/users", json={"name": "val", "role": "viewer", "password": "vals-own-password"}
    )
    assert made.status_code == 201, made.text
    assert client.put(f"/api/teams/{team['id']}/members", json={"members": ["val"]}).is_success
    keyed.store.accounts.update_user(made.json()["user"]["id"], must_change_password=False)
    with logged_in(url, "vals-own-password", user="val") as viewer:
        seen = viewer.get("/api/usage").json()
        assert list(seen["bots"]) == [bot.id]
        assert seen["teams"] == usage["teams"]
        assert seen["days"] == []  # fleet-wide totals are an admin's
        assert viewer.get("/api/keys").status_code == 403
        assert viewer.put(f"/api/teams/{team['id']}/budget", json={}).status_code == 403

    # A team budget, kept by the keyring and shared by the team's bots: one request a day.
    budget = client.put(f"/api/teams/{team['id']}/budget", json={"daily_requests": 1})
    assert budget.status_code == 200, budget.text
    assert budget.json()["budget"]["daily_requests"] == 1
    over = _call_proxy_from(docker_api, bot.container, proxy, "/run/secrets/keyring_token")
    assert "team daily request budget of 1 used up" in over, over
    assert client.get("/api/usage").json()["teams"][team["id"]]["budget"]["daily_requests"] == 1
    # The member sees the team's usage and budget on their account page.
    context = browser.new_context(base_url=url)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill("val")
    page.get_by_label("Password").fill("vals-own-password")
    page.get_by_role("button", name="Log in").click()
    page.goto("/account")
    row = page.locator('#teams-usage tr[data-team="support"]')
    expect(row).to_contain_text("1 req")
    expect(row).to_contain_text("daily requests 1")
    context.close()
    # Out of the team, the bot is out of its budget too.
    moved = client.put(f"/api/bots/{bot.id}/access", json={"team": ""})
    assert moved.status_code == 200, moved.text
    answer = _call_proxy_from(docker_api, bot.container, proxy, "/run/secrets/keyring_token")
    assert "Hello from the fake upstream" in answer, answer

    # Deleting the bot revokes its token and drops its own key.
    assert client.delete(f"/api/bots/{bot.id}").status_code == 204
    assert client.get("/api/keys").json()["keys"] == []
    with httpx.Client(base_url=proxy, timeout=10) as direct:
        refused = direct.post(
            "/v1/openai/chat/completions", json={}, headers={"Authorization": f"Bearer {token}"}
        )
    assert refused.status_code == 401


def test_a_bot_reaches_the_data_plane_and_nothing_else_of_botmakers(
    keyed: Services, api: tuple[httpx.Client, str], docker_api: docker.APIClient
) -> None:
    client, url = api
    keyed.keyring.client.add_key("openai", SHARED_KEY, label="shared")
    alpha = _running(keyed, bot_body("alpha", secrets={"channel_token": "1:a"}), client)
    bravo = _running(keyed, bot_body("bravo", secrets={"channel_token": "2:b"}), client)
    wait_serving(docker_api, alpha)
    wait_serving(docker_api, bravo)
    proxy = urlsplit(keyed.keyring.proxy_base("openai"))
    assert proxy.hostname
    assert proxy.port
    status = keyed.keyring.status()
    admin_port = urlsplit(keyed.keyring.client.url).port
    botmaker_port = urlsplit(url).port
    assert admin_port
    assert botmaker_port

    # The data plane: reachable (positive control for the probes below).
    reached = http_probe(docker_api, alpha.container, proxy.hostname, proxy.port)
    assert "HTTP/1." in reached.out, reached
    assert status["locked"] is False

    # The admin API and BotMaker's API listen on loopback: not reachable from a bot, on
    # the gateway address or anywhere else.
    for port in (admin_port, botmaker_port):
        for host in (proxy.hostname, "127.0.0.1"):
            result = blocked_probe(docker_api, alpha.container, host, port)
            assert "HTTP/1." not in result.out, (host, port, result)
    # Another bot: ICC is off.
    bravo_ip = docker_api.inspect_container(bravo.container)["NetworkSettings"]["Networks"][
        keyed.settings.network
    ]["IPAddress"]
    assert "ok bravo" in http_probe(docker_api, bravo.container, "127.0.0.1", 8080).out
    result = blocked_probe(docker_api, alpha.container, bravo_ip, 8080)
    assert "HTTP/1." not in result.out, result

    # One bot's token is not another's: alpha cannot use bravo's grant by guessing.
    exec_in(docker_api, alpha.container, "echo bk1_000000000000_guess > /tmp/guess")
    answer = _call_proxy_from(
        docker_api, alpha.container, f"http://{proxy.hostname}:{proxy.port}", "/tmp/guess"
    )
    assert " 401 Unauthorized" in answer, answer


def test_without_any_key_for_the_provider_create_is_refused_and_leaves_nothing(
    keyed: Services, api: tuple[httpx.Client, str], docker_api: docker.APIClient
) -> None:
    client, _ = api
    response = client.post("/api/bots", json=bot_body("lonely", secrets={"channel_token": "1:a"}))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "secrets.api_key"
    assert keyed.store.list_bots() == []
    assert keyed.keyring.client.status()["bots"] == 0
    assert not [p for p in keyed.settings.secrets_dir.iterdir() if not p.name.startswith(".")]

    added = client.post(
        "/api/keys", json={"provider": "openai", "key": SHARED_KEY, "label": "team"}
    )
    assert added.status_code == 201, added.text
    assert added.json()["key"]["last4"] == SHARED_KEY[-4:]
    assert SHARED_KEY not in added.text
    created = client.post("/api/bots", json=bot_body("lonely", secrets={"channel_token": "1:a"}))
    assert created.status_code == 201, created.text
    # A shared key is not deleted with a bot, and can be deleted on its own.
    assert client.delete(f"/api/bots/{created.json()['id']}").status_code == 204
    key_id = added.json()["key"]["id"]
    assert [k["id"] for k in client.get("/api/keys").json()["keys"]] == [key_id]
    assert client.delete(f"/api/keys/{key_id}").status_code == 204
    assert client.get("/api/keys").json()["keys"] == []


def test_budgets_and_key_replacement_go_to_the_keyring(
    keyed: Services, api: tuple[httpx.Client, str]
) -> None:
    client, _ = api
    body = bot_body(
        "thrifty",
        secrets={"api_key": REAL_KEY, "channel_token": "1:a"},
        budget={"daily_requests": 100, "requests_per_minute": 10},
        key_tags=["team-a"],
    )
    created = client.post("/api/bots", json=body)
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]
    assert created.json()["budget"]["daily_requests"] == 100
    grant = keyed.keyring.client.get_bot(bot_id)
    assert grant["budget"]["requests_per_minute"] == 10
    assert grant["tags"] == ["team-a"]

    new_key = "sk-rotated-provider-key-5555aaaa"
    patched = client.patch(
        f"/api/bots/{bot_id}",
        json={"budget": {"daily_tokens": 5000}, "secrets": {"api_key": new_key}},
    )
    assert patched.status_code == 200, patched.text
    grant = keyed.keyring.client.get_bot(bot_id)
    assert grant["budget"]["daily_tokens"] == 5000
    assert grant["budget"]["daily_requests"] is None
    keys = keyed.keyring.client.list_keys(bot_id=bot_id)
    assert [k.last4 for k in keys] == [new_key[-4:]]  # the old key is gone
    assert "api_key" not in keyed.bots.secrets.names(bot_id)

    # A refused edit (budget field invalid) changes nothing in the keyring.
    refused = client.patch(f"/api/bots/{bot_id}", json={"budget": {"daily_tokens": 0}})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"].startswith("budget")
    assert keyed.keyring.client.get_bot(bot_id)["budget"]["daily_tokens"] == 5000


def test_a_failed_create_removes_the_grant_and_the_key(
    keyed: Services, api: tuple[httpx.Client, str]
) -> None:
    client, _ = api
    body = bot_body("doomed", secrets={"api_key": REAL_KEY, "channel_token": "1:a"})
    # An image that cannot be had (a registry on a closed loopback port): the create fails
    # after the keyring registered the bot.
    keyed.deploy.settings = replace(keyed.deploy.settings, bot_image="127.0.0.1:9/missing:nope")
    response = client.post("/api/bots", json=body)
    assert response.status_code >= 400, response.text
    assert keyed.store.list_bots() == []
    assert keyed.keyring.client.status()["bots"] == 0
    assert keyed.keyring.client.list_keys() == []


def test_keyring_unreachable_refuses_create_cleanly(
    settings: Settings, make_services: MakeServices, tmp_path: Path
) -> None:
    token = tmp_path / "admin.token"
    token.write_text("whatever\n")
    svc: Services = make_services(
        replace(
            settings,
            keyring="external",
            keyring_url="http://127.0.0.1:9",
            keyring_proxy_url="http://127.0.0.1:9",
            keyring_token_path=token,
        )
    )
    with (
        ServerThread(create_app(svc.settings, svc)) as url,
        logged_in(url, ADMIN_PASSWORD) as client,
    ):
        body = bot_body("cut-off", secrets={"api_key": REAL_KEY, "channel_token": "1:a"})
        response = client.post("/api/bots", json=body)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "keyring_unavailable"
        assert svc.store.list_bots() == []
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["keyring"]["ok"] is False


def test_the_keyring_child_stops_with_botmaker(keyed: Services) -> None:
    keyed.keyring.ensure()
    process = keyed.keyring._process
    assert process is not None
    assert process.poll() is None
    keyed.keyring.stop()
    assert process.poll() is not None
    wait_for(lambda: subprocess.run(["kill", "-0", str(process.pid)], check=False).returncode)


def test_a_grant_whose_bot_row_is_gone_is_an_orphan_and_is_revoked(
    keyed: Services, api: tuple[httpx.Client, str]
) -> None:
    """A crash can leave a keyring grant behind a row (e.g. a restore of an older store):
    the orphan report lists it, and cleanup revokes its token and drops its own key."""
    client, _ = api
    body = bot_body("alpha", secrets={"api_key": REAL_KEY, "channel_token": "123:tg"})
    kept = _running(
        keyed, bot_body("bravo", secrets={"api_key": REAL_KEY, "channel_token": "1"}), client
    )
    gone = _running(keyed, body, client)
    token = (keyed.settings.secrets_dir / gone.id / "keyring_token").read_text().strip()
    proxy = keyed.keyring.proxy_base("openai").removesuffix("/v1/openai")
    keyed.store.delete_bot(gone.id)  # the row alone disappears

    report = client.get("/api/admin/orphans").json()
    assert [g["bot_id"] for g in report["grants"]] == [gone.id]
    assert token not in json.dumps(report)
    removed = client.post("/api/admin/cleanup").json()
    assert [g["bot_id"] for g in removed["grants"]] == [gone.id]
    assert client.get("/api/admin/orphans").json()["grants"] == []
    assert [k["bot_id"] for k in client.get("/api/keys").json()["keys"]] == [kept.id]
    with httpx.Client(base_url=proxy, timeout=10) as direct:
        refused = direct.post(
            "/v1/openai/chat/completions", json={}, headers={"Authorization": f"Bearer {token}"}
        )
    assert refused.status_code == 401
