"""The OpenAPI document describes every answer, and the typed answers are the views' JSON.

Every route answers through a response model (api/responses.py). Two things could go
wrong: an operation without a schema (clients and the fuzzer learn nothing of it), and
a model that drops, renames or adds a key the dashboard or the CLI reads. Both are
checked against a real server on loopback with the real engine; the second also with
the keyring on (keyring bots carry ``budget`` and ``key_tags``, others do not).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from botmaker.api import create_app
from botmaker.config import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread


def _described(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """A schema that says something: a model with fields, a list, or a stream's string."""
    if "$ref" in schema:
        target = components[schema["$ref"].rsplit("/", 1)[1]]
        return bool(target.get("properties"))
    return schema.get("type") in ("array", "string") or bool(schema.get("properties"))


def test_every_answer_of_the_api_is_described(client: httpx.Client) -> None:
    document = client.get("/api/openapi.json").json()
    components = document["components"]["schemas"]
    undescribed, seen = [], 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2"):
                    continue
                seen += 1
                content = response.get("content") or {}
                if code == "204":
                    assert content == {}, (method, path)  # no body: nothing to describe
                    continue
                if not content:
                    undescribed.append(f"{method} {path} {code}: no content")
                for media, body in content.items():
                    streams = (
                        "application/json",
                        "text/event-stream",
                        "application/x-ndjson",
                        "text/plain",  # /metrics: Prometheus' text format, a string
                    )
                    if media not in streams and not (
                        # an image or an archive (backup, export): binary, said so
                        (media.startswith("image/") or media == "application/gzip")
                        and (body.get("schema") or {}).get("format") == "binary"
                    ):
                        undescribed.append(f"{method} {path} {code}: {media}")
                    elif not _described(body.get("schema") or {}, components):
                        undescribed.append(f"{method} {path} {code}: {body.get('schema')}")
    assert seen >= 35, seen  # the whole document was read
    assert undescribed == []


def test_the_typed_answers_are_the_views_json(
    settings: Settings, make_services: MakeServices
) -> None:
    svc = make_services(settings, keyring="auto", keyring_port=0, keyring_admin_port=0)
    bodies: list[dict[str, Any]] = [  # a keyring bot with its own key, and a keyless provider's bot
        {"provider": "openai", "model": "gpt-5.1", "secrets": {"api_key": "sk-own-key-1234"}},
        {"provider": "ollama", "model": "llama3", "secrets": {}, "fallbacks": ["qwen3"]},
    ]
    live = ("status", "started_at", "uptime_seconds")
    with (
        ServerThread(create_app(settings, svc)) as url,
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        login = client.post("/api/login", json={"password": ADMIN_PASSWORD})
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        for index, body in enumerate(bodies):
            name = f"typed-{index}-{uuid.uuid4().hex[:6]}"
            secrets = {**body["secrets"], "channel_token": "123:abc"}
            request = {**body, "name": name, "channel": "telegram", "secrets": secrets}
            created = client.post("/api/bots", json=request)
            assert created.status_code == 201, created.text
            bot_id = created.json()["id"]
            detail = client.get(f"/api/bots/{bot_id}").json()
            (row,) = [b for b in client.get("/api/bots").json()["bots"] if b["id"] == bot_id]
            view = json.loads(json.dumps(svc.bots.get(bot_id).to_dict()))
            assert {k: v for k, v in detail.items() if k not in live} == {
                k: v for k, v in view.items() if k not in live
            }
            assert detail["status"].keys() == view["status"].keys()
            assert set(row) == set(view) - {"secrets", "config", "openclaw"}
            assert ("budget" in detail) is (index == 0)  # keyring bots only
            assert ("key_tags" in row) is (index == 0)
