"""Bad input: a 4xx naming the field, in the one error shape, and nothing left behind.

Every case goes through the real HTTP server to a real engine; afterwards there is
no row in the store, no folder under the secrets dir and no container carrying this
instance's label.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Secret, Settings
from botmaker.services import Services, build_services
from tests.conftest import ADMIN_PASSWORD, bot_body, cleanup_instance
from tests.support.checks import (
    assert_error,
    assert_nothing_left,
    error_of,
    instance_containers,
    logged_in,
    secret_folders,
)
from tests.support.images import STANDIN_TAG
from tests.support.server import ServerThread

API_KEY = "sk-test-key"
CHANNEL_TOKEN = "123:telegram-token"


def with_secrets(**secrets: Any) -> dict[str, Any]:
    return bot_body("alpha", secrets=secrets)


def without(key: str) -> dict[str, Any]:
    body = bot_body("alpha")
    del body[key]
    return body


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory,
    docker_api: docker.APIClient,
    standin_images: dict[str, str],
) -> Iterator[tuple[httpx.Client, Services]]:
    """One server for the many refused requests (each case still checks nothing is left)."""
    tmp = tmp_path_factory.mktemp("validation")
    tag = uuid.uuid4().hex[:10]
    settings = Settings(
        data_dir=tmp / "data",
        secrets_dir=tmp / "secrets",
        admin_password=Secret(ADMIN_PASSWORD),
        bot_image=standin_images[STANDIN_TAG],
        instance=f"test-{tag}",
        network=f"bmtest-{tag}",
        network_internal=True,
        keyring="auto",  # refused creates leave nothing in the keyring either
        keyring_port=0,
        keyring_admin_port=0,
    )
    svc = build_services(settings)
    try:
        with ServerThread(create_app(settings, svc)) as url, logged_in(url, ADMIN_PASSWORD) as c:
            yield c, svc
    finally:
        cleanup_instance(docker_api, settings)
        svc.close()


# (case id, JSON body, expected field): each must be a 422 "invalid" naming the field.
INVALID: list[tuple[str, Any, str]] = [
    ("name-uppercase", bot_body("Alpha"), "name"),
    ("name-all-uppercase", bot_body("ALPHA"), "name"),
    ("name-starts-with-digit", bot_body("1alpha"), "name"),
    ("name-starts-with-hyphen", bot_body("-alpha"), "name"),
    ("name-64-chars", bot_body("a" * 64), "name"),
    ("name-empty", bot_body(""), "name"),
    ("name-underscore", bot_body("my_bot"), "name"),
    ("name-space", bot_body("my bot"), "name"),
    ("name-trailing-newline", bot_body("alpha\n"), "name"),
    ("name-missing", without("name"), "name"),
    ("provider-unknown", bot_body(provider="nope"), "provider"),
    ("provider-missing", without("provider"), "provider"),
    ("channel-unknown", bot_body(channel="carrier-pigeon"), "channel"),
    ("channel-missing", without("channel"), "channel"),
    ("model-empty", bot_body(model=""), "model"),
    ("model-with-space", bot_body(model="gpt 5"), "model"),
    ("secrets-missing", without("secrets"), "secrets"),
    ("api-key-missing", with_secrets(channel_token=CHANNEL_TOKEN), "secrets.api_key"),
    ("channel-token-missing", with_secrets(api_key=API_KEY), "secrets.channel_token"),
    (
        "slack-app-token-missing",
        bot_body(channel="slack"),
        "secrets.channel_credentials.app_token",
    ),
    ("api-key-blank", with_secrets(api_key="   ", channel_token=CHANNEL_TOKEN), "secrets.api_key"),
    ("api-key-empty", with_secrets(api_key="", channel_token=CHANNEL_TOKEN), "secrets.api_key"),
    (
        "api-key-whitespace",
        with_secrets(api_key="\t\r\n", channel_token=CHANNEL_TOKEN),
        "secrets.api_key",
    ),
    (
        "channel-token-blank",
        with_secrets(api_key=API_KEY, channel_token=" "),
        "secrets.channel_token",
    ),
    (
        "channel-token-nul",
        with_secrets(api_key=API_KEY, channel_token="to\x00ken"),
        "secrets.channel_token",
    ),
    ("unknown-top-level-field", bot_body(image="evil/image:1"), "image"),
    ("unknown-top-level-field-2", bot_body(privileged=True), "privileged"),
    (
        "unknown-secret-field",
        with_secrets(api_key=API_KEY, channel_token=CHANNEL_TOKEN, password="hunter2-secret"),
        "secrets.password",
    ),
    ("type-name-int", {**bot_body(), "name": 123}, "name"),
    ("type-name-null", {**bot_body(), "name": None}, "name"),
    ("type-provider-list", bot_body(provider=["openai"]), "provider"),
    ("type-model-int", bot_body(model=5), "model"),
    ("type-secrets-string", bot_body(secrets="sk-test-key"), "secrets"),
    ("type-secrets-list", bot_body(secrets=[API_KEY, CHANNEL_TOKEN]), "secrets"),
    (
        "type-api-key-int",
        with_secrets(api_key=12345, channel_token=CHANNEL_TOKEN),
        "secrets.api_key",
    ),
    (
        "type-channel-token-object",
        with_secrets(api_key=API_KEY, channel_token={"value": "x"}),
        "secrets.channel_token",
    ),
]


@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param(body, field, id=case) for case, body, field in INVALID],
)
def test_invalid_input_is_422_naming_the_field_and_leaves_nothing(
    shared: tuple[httpx.Client, Services],
    docker_api: docker.APIClient,
    body: Any,
    field: str,
) -> None:
    client, services = shared
    response = client.post("/api/bots", json=body)
    error = assert_error(response, 422, "invalid", field)
    assert len(error["message"]) > 5
    for value in (API_KEY, CHANNEL_TOKEN, "hunter2-secret"):
        assert value not in response.text  # a secret is never echoed back
    assert_nothing_left(services, docker_api)
    assert client.get("/api/bots").json() == {"bots": []}


# (case id, raw body, content type): each must be a 400 "bad_request" naming "body".
MALFORMED: list[tuple[str, bytes, str]] = [
    ("truncated", json.dumps(bot_body("alpha")).encode()[:-5], "application/json"),
    ("not-json", b"name=alpha&provider=openai", "application/json"),
    ("single-quotes", b"{'name': 'alpha'}", "application/json"),
    ("trailing-comma", b'{"name": "alpha",}', "application/json"),
    ("empty", b"", "application/json"),
    ("json-array", json.dumps([bot_body("alpha")]).encode(), "application/json"),
    ("json-string", b'"alpha"', "application/json"),
    ("json-null", b"null", "application/json"),
    ("invalid-utf8", b'{"name": "\xff\xfe"}', "application/json"),
]


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [pytest.param(raw, ctype, id=case) for case, raw, ctype in MALFORMED],
)
def test_malformed_body_is_400_naming_body_and_leaves_nothing(
    shared: tuple[httpx.Client, Services],
    docker_api: docker.APIClient,
    raw: bytes,
    content_type: str,
) -> None:
    client, services = shared
    response = client.post("/api/bots", content=raw, headers={"Content-Type": content_type})
    assert_error(response, 400, "bad_request", "body")
    assert_nothing_left(services, docker_api)


def padded_body(size: int) -> bytes:
    """A valid create request padded with JSON whitespace to exactly ``size`` bytes."""
    raw = json.dumps(bot_body("alpha")).encode()
    assert len(raw) < size
    return raw + b" " * (size - len(raw))


def test_oversize_body_with_content_length_is_413(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    limit = services.settings.max_body_bytes
    response = client.post(
        "/api/bots",
        content=padded_body(limit + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.request.headers["content-length"] == str(limit + 1)
    error = assert_error(response, 413, "payload_too_large", "body")
    assert str(limit) in error["message"]
    assert_nothing_left(services, docker_api)


def test_oversize_chunked_body_without_content_length_is_413(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    limit = services.settings.max_body_bytes
    raw = padded_body(limit + 1)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 8192):
            yield raw[start : start + 8192]

    response = client.post(
        "/api/bots", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    error = assert_error(response, 413, "payload_too_large", "body")
    assert str(limit) in error["message"]
    assert_nothing_left(services, docker_api)


def test_body_of_exactly_the_limit_is_accepted(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    """The limit is "more than max_body_bytes": the same request one byte shorter passes."""
    limit = services.settings.max_body_bytes
    response = client.post(
        "/api/bots", content=padded_body(limit), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert len(instance_containers(docker_api, services)) == 1


def test_longest_valid_name_is_accepted(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    """63 characters pass (so the 64-character refusal above is the length rule)."""
    name = "a" + "-0" * 31
    assert len(name) == 63
    response = client.post("/api/bots", json=bot_body(name))
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name
    assert [b.name for b in services.store.list_bots()] == [name]


def test_duplicate_name_is_409_naming_name_and_keeps_the_first(
    client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    first = client.post("/api/bots", json=bot_body("alpha"))
    assert first.status_code == 201, first.text
    second = client.post("/api/bots", json=bot_body("alpha", provider="anthropic"))
    error = assert_error(second, 409, "conflict", "name")
    assert "alpha" in error["message"]
    bots = services.store.list_bots()
    assert [(b.id, b.provider) for b in bots] == [(first.json()["id"], "openai")]
    assert secret_folders(services) == [first.json()["id"]]
    containers = instance_containers(docker_api, services)
    assert [c["Labels"]["botmaker.bot-id"] for c in containers] == [first.json()["id"]]


def test_concurrent_creates_of_one_name_make_exactly_one_bot(
    server: str, client: httpx.Client, services: Services, docker_api: docker.APIClient
) -> None:
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    responses: list[httpx.Response] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def create() -> None:
        try:
            with httpx.Client(base_url=server, headers=client.headers, timeout=60) as c:
                barrier.wait(timeout=10)
                response = c.post("/api/bots", json=bot_body("same-name"))
            with lock:
                responses.append(response)
        except BaseException as exc:
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=create) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert len(responses) == threads_count
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (threads_count - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "conflict", "name")
    (created,) = [r.json() for r in responses if r.status_code == 201]
    assert created["status"]["state"] == "running"

    assert [b.id for b in services.store.list_bots()] == [created["id"]]
    assert secret_folders(services) == [created["id"]]
    containers = instance_containers(docker_api, services)
    assert [c["Labels"]["botmaker.bot-id"] for c in containers] == [created["id"]]
    assert [b["name"] for b in client.get("/api/bots").json()["bots"]] == ["same-name"]


def test_every_error_response_has_the_one_shape(
    client: httpx.Client, anon: httpx.Client, services: Services
) -> None:
    limit = services.settings.max_body_bytes
    assert client.post("/api/bots", json=bot_body("alpha")).status_code == 201

    def chunked() -> Iterator[bytes]:
        yield padded_body(limit + 1)

    cases: list[tuple[str, httpx.Response, int, str]] = [
        ("no token", anon.get("/api/bots"), 401, "unauthorized"),
        (
            "bad token",
            anon.get("/api/bots", headers={"Authorization": "Bearer nope"}),
            401,
            "unauthorized",
        ),
        ("unknown bot", client.get("/api/bots/nope"), 404, "not_found"),
        ("unknown route", client.get("/api/nothing-here"), 404, "not_found"),
        ("wrong method", client.put("/api/bots", json={}), 405, "method_not_allowed"),
        (
            "wrong method on bot",
            client.put("/api/bots/alpha", json={}),
            405,
            "method_not_allowed",
        ),
        ("duplicate", client.post("/api/bots", json=bot_body("alpha")), 409, "conflict"),
        (
            "too large",
            client.post(
                "/api/bots",
                content=padded_body(limit + 1),
                headers={"Content-Type": "application/json"},
            ),
            413,
            "payload_too_large",
        ),
        (
            "too large, chunked",
            client.post(
                "/api/bots", content=chunked(), headers={"Content-Type": "application/json"}
            ),
            413,
            "payload_too_large",
        ),
        ("schema", client.post("/api/bots", json=bot_body("Bad")), 422, "invalid"),
        (
            "service rule",
            client.post("/api/bots", json=with_secrets(channel_token="t")),
            422,
            "invalid",
        ),
        (
            "malformed",
            client.post("/api/bots", content=b"{", headers={"Content-Type": "application/json"}),
            400,
            "bad_request",
        ),
        (
            "malformed, not UTF-8",
            client.post(
                "/api/bots",
                content=b'{"name": "\xff"}',
                headers={"Content-Type": "application/json"},
            ),
            400,
            "bad_request",
        ),
        ("bad query", client.get("/api/bots/alpha/logs?tail=-1"), 422, "invalid"),
        ("bad login", anon.post("/api/login", json={"password": ""}), 422, "invalid"),
    ]
    for label, response, status, code in cases:
        assert response.status_code == status, (label, response.status_code, response.text)
        error = error_of(response)
        assert error["code"] == code, (label, error)
    # Same key sets for the same kind of error, whatever raised it.
    by_status: dict[int, set[frozenset[str]]] = {}
    for _, response, status, _ in cases:
        by_status.setdefault(status, set()).add(frozenset(response.json()["error"]))
    assert by_status[422] == {frozenset({"code", "message", "field"})}
    assert by_status[413] == {frozenset({"code", "message", "field"})}
    assert by_status[400] == {frozenset({"code", "message", "field"})}
