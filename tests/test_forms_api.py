"""Forms that help, the API side: POST /api/bots/validate and /api/keys/validate check a
(partial) body with the create's own rules and say every problem in words; 422s name the
field in words; POST /api/keys/test and /api/keys/{id}/test make one call to the provider
through the keyring (here the fake upstream) and never keep, log or return the key.

Real BotMaker on loopback, real engine (the duplicate name is a real bot), the real
keyring child process, a fake provider on loopback.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from tests.conftest import bot_body
from tests.support.forms import BAD_KEY, GOOD_KEY, World, keyed_world
from tests.support.images import STANDIN_TAG

NEW_PASSWORD = "a-new-password-for-forms-1"


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    docker_api: docker.APIClient,
    standin_images: dict[str, str],
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("forms")
    with keyed_world(tmp, docker_api, standin_images[STANDIN_TAG]) as world:
        yield world


@pytest.fixture
def client(world: World) -> httpx.Client:
    return world.admin


def _validate(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/api/bots/validate", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _problems(result: dict[str, Any]) -> dict[str, str]:
    return {p["field"]: p["message"] for p in result["problems"]}


def _files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders if folder.exists() for p in folder.rglob("*"))


# -- POST /api/bots/validate --------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": "My Bot"}, "name", "Bot name: must be 1-63 lowercase letters"),
        ({"name": "9lives"}, "name", "Bot name: must be 1-63"),
        ({"provider": "nope"}, "provider", "Provider: unknown provider; choose one of"),
        ({"model": "gpt 5"}, "model", "Model: use letters, digits"),
        ({"channel": "pigeon"}, "channel", "Chat channel: unknown channel"),
        ({"template": "nope"}, "template", "Template: unknown template"),
        ({"base_url": "ftp://x"}, "base_url", "Base URL: must be an http:// or https:// URL"),
        ({"fallbacks": ["ok", "not ok"]}, "fallbacks", "Fallback models: 'not ok': use letters"),
        ({"persona": {"name": "x" * 65}}, "persona.name", "Persona name: "),
        ({"persona": {"name": "Bob", "colour": "red"}}, "persona.colour", "Colour: unknown field"),
        ({"egress": {"allow": ["exa mple.com"]}}, "egress.allow", "Allowed hosts: "),
        ({"surprise": 1}, "surprise", "Surprise: unknown field"),
    ],
)
def test_each_field_is_refused_in_words(
    client: httpx.Client, change: dict[str, Any], field: str, words: str
) -> None:
    result = _validate(client, change)
    problems = _problems(result)
    assert list(problems) == [field], result
    assert problems[field].startswith(words), problems[field]
    assert not problems[field].startswith(f"{field}:")  # never the raw key
    assert result["valid"] is False
    assert result["complete"] is False


def test_a_partial_body_is_judged_by_what_it_gives(client: httpx.Client) -> None:
    assert _validate(client, {}) == {
        "valid": True,
        "complete": False,
        "problems": [],
        "warnings": [],
        "suggestions": {},
    }
    assert _validate(client, {"name": "fine-name", "model": "gpt-5.1"})["valid"] is True
    # a whole body is checked across fields, as the create does
    missing = bot_body("whole", secrets={"api_key": "sk-test-key-123456"})
    result = _validate(client, missing)
    token = "Channel token: channel telegram needs its Bot token from @BotFather"
    assert _problems(result) == {"secrets.channel_token": token}
    whole = _validate(client, bot_body("whole"))
    assert (whole["valid"], whole["complete"]) == (True, True)
    no_key = _validate(client, bot_body("whole", secrets={"channel_token": "123:tg"}))
    assert _problems(no_key) == {  # with the keyring: a shared key would do
        "secrets.api_key": "API key: the keyring has no key for provider openai: add one "
        "(the Keys page, POST /api/keys or botmaker keys add) or give the bot its own API key"
    }


def test_the_own_key_is_warned_about_not_refused(client: httpx.Client) -> None:
    body = bot_body("warned", secrets={"api_key": "abc-not-openai-key", "channel_token": "1:t"})
    result = _validate(client, body)
    assert result["valid"] is True  # the create takes it (a gateway key may look like this)
    assert result["warnings"] == [
        {
            "field": "secrets.api_key",
            "message": 'API key: this is not an OpenAI API key: those start with "sk-"',
        }
    ]
    assert "abc-not-openai-key" not in json.dumps(result)
    # with a base URL of its own, a key may look like anything
    custom = _validate(client, {**body, "base_url": "https://llm.example.com/v1"})
    assert custom["warnings"] == []


def test_a_name_is_suggested_from_the_persona_and_duplicates_are_caught(
    client: httpx.Client,
) -> None:
    persona = {"persona": {"name": "My Support Bot!"}}
    assert _validate(client, persona)["suggestions"] == {"name": "my-support-bot"}
    assert _validate(client, {"persona": {"name": "42 Answers"}})["suggestions"] == {
        "name": "bot-42-answers"
    }
    assert _validate(client, {"persona": {"name": "???"}})["suggestions"] == {}
    # a name the user typed is never replaced by a suggestion
    assert _validate(client, {**persona, "name": "mine"})["suggestions"] == {}

    made = client.post("/api/bots", json=bot_body("my-support-bot"))
    assert made.status_code == 201, made.text
    taken = _validate(client, {"name": "my-support-bot"})
    assert _problems(taken) == {"name": "Bot name: a bot named 'my-support-bot' already exists"}
    assert _validate(client, persona)["suggestions"] == {"name": "my-support-bot-2"}


def test_validating_creates_nothing(world: World) -> None:
    client, svc = world.admin, world.services
    settings = svc.settings

    def everything() -> tuple[Any, ...]:
        with sqlite3.connect(settings.db_path) as conn:
            rows = conn.execute("SELECT count(*) FROM bots").fetchone()
        keys = client.get("/api/keys").json()["keys"]
        return rows, keys, sorted(svc.runtime.list()), _files(settings.data_dir / "bots")

    before, asked = everything(), len(world.upstream.requests)
    own = {"api_key": "sk-own-ghost-key-0123456789", "channel_token": "1:t"}
    for body in (bot_body("ghost", secrets=own), bot_body("Ghost"), {"name": "ghost"}):
        _validate(client, body)
    assert _validate(client, bot_body("ghost", secrets=own))["complete"] is True
    assert everything() == before
    assert not (settings.secrets_dir / "ghost").exists()
    assert "ghost" not in client.get("/api/bots").text
    assert len(world.upstream.requests) == asked  # nor was any provider asked


def test_a_422_names_the_field_in_words(client: httpx.Client) -> None:
    refused = client.post("/api/bots", json=bot_body("Not Valid"))
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["field"] == "name"
    assert error["message"].startswith("Bot name: must be 1-63 lowercase letters")
    bad_url = client.put("/api/alerts", json={"webhook_url": "not a url"})
    assert bad_url.status_code == 422, bad_url.text
    error = bad_url.json()["error"]
    assert error["field"] == "webhook_url"
    assert error["message"].startswith("Webhook URL")
    assert "webhook_url" not in error["message"]


def test_a_key_body_is_validated_as_post_api_keys(client: httpx.Client) -> None:
    answer = client.post("/api/keys/validate", json={"provider": "openai", "key": "abc"})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["valid"] is False
    assert result["problems"] == [
        {
            "field": "key",
            "message": 'Key: this is not an OpenAI API key: those start with "sk-"',
        }
    ]
    short = client.post("/api/keys/validate", json={"provider": "openai", "key": "sk-abc"})
    assert "too short for an API key" in short.json()["problems"][0]["message"]
    good = client.post("/api/keys/validate", json={"provider": "groq", "key": "gsk_" + "x" * 20})
    assert good.json()["valid"] is True
    assert good.json()["complete"] is True


# -- POST /api/keys/test -----------------------------------------------------------------


def _user(admin: httpx.Client, url: str, name: str, role: str) -> dict[str, str]:
    made = admin.post("/api/users", json={"name": name, "role": role})
    assert made.status_code == 201, made.text
    first = made.json()["password"]
    with httpx.Client(base_url=url, timeout=30) as c:
        token = c.post("/api/login", json={"user": name, "password": first}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        changed = c.put(
            "/api/me/password",
            headers=auth,
            json={"current_password": first, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 204, changed.text
    return auth


def test_a_key_is_tried_once_through_the_keyring_and_kept_nowhere(world: World) -> None:
    url, admin, upstream = world.url, world.admin, world.upstream
    upstream.clear()
    good = admin.post("/api/keys/test", json={"provider": "openai", "key": GOOD_KEY})
    assert good.status_code == 200, good.text
    assert good.json() == {
        "ok": True,
        "provider": "openai",
        "status": 200,
        "message": "OpenAI accepted the key",
    }
    (seen,) = upstream.requests  # one call, the cheapest: the models list
    assert (seen.method, seen.path, seen.key) == ("GET", "/v1/models", GOOD_KEY)

    bad = admin.post("/api/keys/test", json={"provider": "openai", "key": BAD_KEY})
    assert bad.status_code == 200, bad.text
    result = bad.json()
    assert result["ok"] is False
    assert result["status"] == 401
    # the provider's words, with the key it echoed scrubbed
    assert result["message"].startswith("OpenAI refused the key: Incorrect API key provided")
    assert "[redacted]" in result["message"]
    assert len(upstream.requests) == 2

    # a key of the wrong form is refused before any call
    wrong = admin.post("/api/keys/test", json={"provider": "openai", "key": "abc"})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["field"] == "key"
    assert len(upstream.requests) == 2

    # a stored key, by id: where its bots' calls go
    added = admin.post("/api/keys", json={"provider": "openai", "key": GOOD_KEY})
    assert added.status_code == 201, added.text
    key_id = added.json()["key"]["id"]
    stored = admin.post(f"/api/keys/{key_id}/test")
    assert stored.status_code == 200, stored.text
    assert stored.json()["ok"] is True
    assert upstream.requests[-1].key == GOOD_KEY
    missing = admin.post("/api/keys/key_0000000000000000/test")
    assert missing.status_code == 404, missing.text

    # who may: an operator may, a viewer may not
    operator = _user(admin, url, "olga", "operator")
    viewer = _user(admin, url, "vera", "viewer")
    with httpx.Client(base_url=url, timeout=30) as c:
        body = {"provider": "openai", "key": GOOD_KEY}
        assert c.post("/api/keys/test", json=body, headers=operator).json()["ok"] is True
        refused = c.post("/api/keys/test", json=body, headers=viewer)
        assert refused.status_code == 403, refused.text
        assert c.post(f"/api/keys/{key_id}/test", headers=viewer).status_code == 403
        assert c.post("/api/keys/validate", json=body, headers=viewer).status_code == 403
        assert c.post("/api/bots/validate", json={}, headers=viewer).status_code == 403
        assert c.post("/api/bots/validate", json={}, headers=operator).status_code == 200
    calls = len(upstream.requests)
    assert calls == 4
    audit = admin.get("/api/audit").text

    with sqlite3.connect(world.services.settings.db_path) as conn:
        table = json.dumps(conn.execute("SELECT * FROM audit").fetchall())
    logged = world.keyring_log.read_text(errors="replace")
    assert "key test for openai: 127.0.0.1 answered 401" in logged  # the status, only
    for text in (logged, audit, table, good.text, bad.text, stored.text):
        assert GOOD_KEY not in text
        assert BAD_KEY not in text
