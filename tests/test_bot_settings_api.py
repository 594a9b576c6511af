"""Editing a bot beyond persona and model, through the real API on a real engine: its
own container limits, a preview of an edit (what changes, the openclaw.json diff,
whether the bot restarts) that changes nothing, a budget edit the keyring applies
without a restart, and the rendered openclaw.json with SecretRefs and no secret value;
who may call the new routes."""

from __future__ import annotations

from dataclasses import replace

import docker
import httpx

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.services import Services
from botmaker.services.configdiff import CONFIG_FILE
from tests.conftest import ADMIN_PASSWORD
from tests.support.bots import create_bot, resolve_container
from tests.support.checks import assert_error, error_of, logged_in
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread

MIB = 1024**2


def test_limits_are_the_bots_own_and_reach_the_container(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    bot = create_bot(services, "roomy")
    before = client.get(f"/api/bots/{bot.id}").json()
    assert before["config"]["limits"] == {"memory_bytes": None, "cpus": None, "pids": None}
    info = docker_api.inspect_container(resolve_container(docker_api, bot.container))
    assert info["HostConfig"]["Memory"] == services.settings.limits.memory_bytes

    patched = client.patch(
        f"/api/bots/{bot.id}", json={"limits": {"memory": "96m", "cpus": 0.25, "pids": 100}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["config"]["limits"] == {
        "memory_bytes": 96 * MIB,
        "cpus": 0.25,
        "pids": 100,
    }
    info = docker_api.inspect_container(resolve_container(docker_api, bot.container))
    host = info["HostConfig"]
    assert (host["Memory"], host["MemorySwap"]) == (96 * MIB, 96 * MIB)
    assert (host["NanoCpus"], host["PidsLimit"]) == (250_000_000, 100)

    # A field set to null goes back to the server's; the others stay.
    back = client.patch(f"/api/bots/{bot.id}", json={"limits": {"memory": None}})
    assert back.status_code == 200, back.text
    assert back.json()["config"]["limits"] == {"memory_bytes": None, "cpus": 0.25, "pids": 100}
    info = docker_api.inspect_container(resolve_container(docker_api, bot.container))
    assert info["HostConfig"]["Memory"] == services.settings.limits.memory_bytes


BAD_LIMITS = [
    ({"memory": "lots"}, "limits.memory"),
    ({"memory": "1m"}, "limits.memory"),
    ({"cpus": 0}, "limits.cpus"),
    ({"pids": 5}, "limits.pids"),
    ({"swap": "1g"}, "limits.swap"),
]


def test_a_bad_limit_is_refused_on_its_field_and_changes_nothing(
    client: httpx.Client, services: Services
) -> None:
    bot = create_bot(services, "strict")
    stored = services.store.get_bot(bot.id).stored
    for limits, field in BAD_LIMITS:
        for method, route in (("PATCH", ""), ("POST", "/preview")):
            response = client.request(method, f"/api/bots/{bot.id}{route}", json={"limits": limits})
            assert response.status_code == 422, response.text
            assert error_of(response)["field"] == field
    assert services.store.get_bot(bot.id).stored == stored


def test_a_preview_names_each_change_and_the_config_diff_and_changes_nothing(
    client: httpx.Client, services: Services
) -> None:
    bot = create_bot(services, "careful")
    record = services.store.get_bot(bot.id)
    config = services.deploy.state.read(bot.id, CONFIG_FILE)
    changed = _config_changes(services, bot.id)
    body = {
        "model": "gpt-5.1-mini",
        "limits": {"memory": "128m"},
        "channel_settings": {"api_root": "https://tg.example.com"},
        "secrets": {"channel_token": "456:rotated-token-value"},
    }
    response = client.post(f"/api/bots/{bot.id}/preview", json=body)
    assert response.status_code == 200, response.text
    preview = response.json()
    changes = {c["field"]: (c["before"], c["after"]) for c in preview["changes"]}
    assert changes == {
        "model": ("gpt-5.1", "gpt-5.1-mini"),
        "limits.memory_bytes": (None, 128 * MIB),
        "channels.0.settings.api_root": (None, "https://tg.example.com"),
    }
    assert preview["secrets"] == ["channel_token"]
    assert preview["recreate"] is True
    assert "restarts" in preview["effect"]
    diff = preview["config_diff"]
    assert '+        "primary": "openai/gpt-5.1-mini"' in diff or "gpt-5.1-mini" in diff
    assert "tg.example.com" in diff
    assert "rotated-token-value" not in response.text
    assert bot.secrets["channel_token"] not in response.text
    # Nothing was written: row, config, secret, events.
    assert services.store.get_bot(bot.id).stored == record.stored
    assert services.store.get_bot(bot.id).model == "gpt-5.1"
    assert services.deploy.state.read(bot.id, CONFIG_FILE) == config
    assert services.bots.secrets.read(bot.id, "channel_token") == bot.secrets["channel_token"]
    assert _config_changes(services, bot.id) == changed

    nothing = client.post(f"/api/bots/{bot.id}/preview", json={"model": "gpt-5.1"}).json()
    assert nothing["changes"] == []
    assert nothing["config_diff"] is None
    assert nothing["recreate"] is False
    assert nothing["effect"] == "Nothing changes."
    # Refused as the edit would be, on the field.
    refused = client.post(f"/api/bots/{bot.id}/preview", json={"dm_policy": "everyone"})
    assert refused.status_code == 422
    assert error_of(refused)["field"] == "dm_policy"


def _config_changes(services: Services, bot_id: str) -> int:
    events = services.store.bot_events(bot_id, limit=100)
    return sum(1 for e in events if e["kind"] == "config_changed")


def test_the_rendered_config_shows_secret_refs_and_never_a_secret(
    client: httpx.Client, services: Services
) -> None:
    bot = create_bot(services, "open-book")
    response = client.get(f"/api/bots/{bot.id}/openclaw-config")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["path"] == "/state/openclaw.json"
    assert body["config"]["agents"]["defaults"]["model"]["primary"] == "openai/gpt-5.1"
    refs = {r["path"]: r["ref"] for r in body["secret_refs"]}
    token = refs["/channels/telegram/botToken"]
    assert token["source"] == "file"
    for value in services.bots.secrets.values(bot.id):
        assert value not in response.text
    # A value a tool inlined into the file is still not shown.
    raw = services.deploy.state.read(bot.id, CONFIG_FILE)
    assert raw is not None
    leaked = raw.replace(
        b'"gateway": {', f'"leak": "{bot.secrets["api_key"]}",\n  "gateway": {{'.encode(), 1
    )
    services.deploy.state.write(bot.id, {CONFIG_FILE: leaked}, uid=bot.uid)
    again = client.get(f"/api/bots/{bot.id}/openclaw-config")
    assert bot.secrets["api_key"] not in again.text
    assert again.json()["config"]["leak"] == "[redacted]"
    assert_error(client.get("/api/bots/nobody/openclaw-config"), 404, "not_found")


def test_who_may_preview_and_read_the_config(
    client: httpx.Client, server: str, services: Services
) -> None:
    bot = create_bot(services, "guarded")
    other = create_bot(services, "elsewhere")
    users = {"vera": "viewer", "olga": "operator"}
    for name, role in users.items():
        made = client.post(
            "/api/users", json={"name": name, "role": role, "password": f"{name}s-password-12"}
        )
        assert made.status_code == 201, made.text
        services.store.accounts.update_user(made.json()["user"]["id"], must_change_password=False)
    assert client.put(f"/api/bots/{bot.id}/access", json={"users": list(users)}).is_success
    preview = {"model": "gpt-5.1-mini"}
    with (
        logged_in(server, "veras-password-12", user="vera") as vera,
        logged_in(server, "olgas-password-12", user="olga") as olga,
    ):
        # A viewer reads the config (no secret in it) but may not preview an edit.
        assert vera.get(f"/api/bots/{bot.id}/openclaw-config").status_code == 200
        assert_error(vera.post(f"/api/bots/{bot.id}/preview", json=preview), 403, "forbidden")
        # An operator does both on a bot in reach; a bot out of reach does not exist.
        assert olga.get(f"/api/bots/{bot.id}/openclaw-config").status_code == 200
        assert olga.post(f"/api/bots/{bot.id}/preview", json=preview).status_code == 200
        for caller in (vera, olga):
            assert_error(caller.get(f"/api/bots/{other.id}/openclaw-config"), 404, "not_found")
            assert_error(
                caller.post(f"/api/bots/{other.id}/preview", json=preview), 404, "not_found"
            )
    with httpx.Client(base_url=server) as anon:
        assert anon.get(f"/api/bots/{bot.id}/openclaw-config").status_code == 401
        assert anon.post(f"/api/bots/{bot.id}/preview", json=preview).status_code == 401


def test_a_budget_edit_is_applied_by_the_keyring_without_a_restart(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    keyed = make_services(replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0))
    bot = create_bot(
        keyed, "thrifty", {"api_key": "sk-thrifty-own-key-1234", "channel_token": "1:a"}
    )
    with (
        ServerThread(create_app(keyed.settings, keyed)) as url,
        logged_in(url, ADMIN_PASSWORD, timeout=60) as client,
    ):
        container = docker_api.inspect_container(resolve_container(docker_api, bot.container))
        body = {"budget": {"daily_tokens": 5000}}
        preview = client.post(f"/api/bots/{bot.id}/preview", json=body).json()
        assert [c["field"] for c in preview["changes"]] == ["budget.daily_tokens"]
        assert preview["recreate"] is False
        assert preview["config_diff"] is None, preview["config_diff"]
        patched = client.patch(f"/api/bots/{bot.id}", json=body)
        assert patched.status_code == 200, patched.text
        assert patched.json()["budget"]["daily_tokens"] == 5000
        assert keyed.keyring.client.get_bot(bot.id)["budget"]["daily_tokens"] == 5000
        after = docker_api.inspect_container(resolve_container(docker_api, bot.container))
        assert after["Id"] == container["Id"]  # the same container, not restarted
        assert after["State"]["StartedAt"] == container["State"]["StartedAt"]
        # With anything else in the edit the bot is recreated, as always.
        both = {"budget": {"daily_tokens": 6000}, "model": "gpt-5.1-mini"}
        assert client.post(f"/api/bots/{bot.id}/preview", json=both).json()["recreate"] is True


def test_a_private_base_url_is_allowed_by_an_edit_and_applied_by_the_keyring(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    keyed = make_services(replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0))
    bot = create_bot(keyed, "lan", {"api_key": "sk-lan-own-key-12345678", "channel_token": "1:a"})
    lan = "http://192.168.1.50:11434/v1"
    with (
        ServerThread(create_app(keyed.settings, keyed)) as url,
        logged_in(url, ADMIN_PASSWORD, timeout=60) as client,
    ):
        path = f"/api/bots/{bot.id}"
        first = docker_api.inspect_container(resolve_container(docker_api, bot.container))
        # A LAN address without the admin's say-so: refused on the field, nothing changed.
        refused = client.patch(path, json={"base_url": lan})
        assert_error(refused, 422, "invalid", "base_url")
        assert client.get(path).json()["config"]["base_url"] is None
        assert keyed.keyring.client.get_bot(bot.id)["allow_private"] is False

        both = {"base_url": lan, "base_url_private": True}
        preview = client.post(f"{path}/preview", json=both).json()
        assert [c["field"] for c in preview["changes"]] == ["base_url", "base_url_private"]
        assert preview["changes"][1] == {
            "field": "base_url_private",
            "before": False,
            "after": True,
        }
        patched = client.patch(path, json=both)
        assert patched.status_code == 200, patched.text
        config = patched.json()["config"]
        assert (config["base_url"], config["base_url_private"]) == (lan, True)
        grant = keyed.keyring.client.get_bot(bot.id)
        assert grant["allow_private"] is True
        assert grant["base_urls"] == {"openai": lan}

        # Turning it off while the base URL is private: refused, naming the base URL.
        turned_off = client.patch(path, json={"base_url_private": False})
        assert_error(turned_off, 422, "invalid", "base_url")
        assert keyed.keyring.client.get_bot(bot.id)["allow_private"] is True

        # Back to a public address; then the flag alone is the keyring's, no restart.
        public = client.patch(path, json={"base_url": "https://llm.example.com/v1"})
        assert public.status_code == 200, public.text
        running = docker_api.inspect_container(resolve_container(docker_api, bot.container))
        assert running["Id"] != first["Id"]  # a base URL is rendered: recreated
        alone = {"base_url_private": False}
        preview = client.post(f"{path}/preview", json=alone).json()
        assert (preview["recreate"], preview["config_diff"]) == (False, None)
        assert preview["effect"].startswith("Applied at once")
        off = client.patch(path, json=alone)
        assert off.status_code == 200, off.text
        assert off.json()["config"]["base_url_private"] is False
        assert keyed.keyring.client.get_bot(bot.id)["allow_private"] is False
        after = docker_api.inspect_container(resolve_container(docker_api, bot.container))
        assert (after["Id"], after["State"]["StartedAt"]) == (
            running["Id"],
            running["State"]["StartedAt"],
        )
