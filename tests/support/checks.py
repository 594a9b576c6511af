"""Assertions shared by the failure-path tests: the one error shape, and "nothing left"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
import httpx

from botmaker.fsutil import is_bot_id
from botmaker.runtime.policy import LABEL_INSTANCE
from botmaker.services import Services

#: The one error shape: ``{"error": {"code", "message", "field"?}}``, nothing else.
REQUIRED_ERROR_KEYS = frozenset({"code", "message"})
OPTIONAL_ERROR_KEYS = frozenset({"field"})


def error_of(response: httpx.Response) -> dict[str, str]:
    """The ``error`` object of a response, after checking it has exactly the one shape."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code,
        response.headers.get("content-type"),
        response.text[:300],
    )
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    keys = set(error)
    assert keys >= REQUIRED_ERROR_KEYS, body
    assert keys <= REQUIRED_ERROR_KEYS | OPTIONAL_ERROR_KEYS, f"extra keys in {body}"
    for key in keys:
        assert isinstance(error[key], str), body
        assert error[key].strip(), body
    return error


def assert_error(
    response: httpx.Response,
    status: int,
    code: str,
    field: str | None = None,
) -> dict[str, str]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    error = error_of(response)
    assert error["code"] == code, error
    if field is not None:
        assert error.get("field") == field, error
    return error


def instance_containers(api: docker.APIClient, services: Services) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = api.containers(
        all=True, filters={"label": f"{LABEL_INSTANCE}={services.settings.instance}"}
    )
    return containers


def secret_folders(services: Services) -> list[str]:
    """The bots' secret folders (not the keyring's ``.keyring`` master key folder)."""
    root = services.settings.secrets_dir
    return sorted(p.name for p in root.iterdir() if is_bot_id(p.name)) if root.exists() else []


def assert_nothing_left(services: Services, api: docker.APIClient) -> None:
    """No row, no secrets folder, no container, no keyring grant of this BotMaker instance."""
    assert services.store.list_bots() == []
    assert secret_folders(services) == []
    assert instance_containers(api, services) == []
    if services.keyring.enabled:
        assert services.keyring.client.status()["bots"] == 0


def log_in(client: httpx.Client, password: str, user: str = "admin") -> str:
    """Log ``client`` in as ``user`` (the admin by default): it then sends the Bearer
    token and no cookie, so a test proves the token path. Returns the token. The one
    place tests log in (tests of the login itself and of the cookie session post to
    /api/login on their own)."""
    response = client.post("/api/login", json={"user": user, "password": password})
    assert response.status_code == 200, response.text
    token = str(response.json()["token"])
    client.headers["Authorization"] = f"Bearer {token}"
    client.cookies.clear()
    return token


@contextmanager
def logged_in(
    url: str, password: str, timeout: float = 30, user: str = "admin"
) -> Iterator[httpx.Client]:
    """An API client holding a Bearer token (no cookie), closed on leaving."""
    with httpx.Client(base_url=url, timeout=timeout) as client:
        log_in(client, password, user)
        yield client


def timed(
    client: httpx.Client, method: str, path: str, **kwargs: Any
) -> tuple[httpx.Response, float]:
    """A request and how long it took (seconds)."""
    started = time.monotonic()
    response = client.request(method, path, **kwargs)
    return response, time.monotonic() - started
