"""Admin authentication through the real HTTP server, on real SQLite files."""

from __future__ import annotations

import base64
import math
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from botmaker.api import create_app
from botmaker.api.deps import SESSION_COOKIE, csrf_token_for
from botmaker.config import Settings
from botmaker.services import Services
from botmaker.services.auth import FIRST_ADMIN
from tests.conftest import ADMIN_PASSWORD
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread

#: The ``run_server`` fixture: serve these services, answer the URL (stopped after the test).
RunServer = Callable[[Services], str]
#: /api/* paths served without a token (signing in: password or passkey). Anything else
#: under /api must ask for one. /api/docs is a dashboard page: without a session it
#: redirects to the login form (tests/test_api_docs.py); the OpenAPI document needs a
#: token like the rest.
PUBLIC_API_PATHS = frozenset(
    {"/api/login", "/api/login/passkey/options", "/api/login/passkey", "/api/docs"}
)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    """The status, and the one error shape ``{"error": {"code", "message", "field"?}}``."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) - {"field"} == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    error: dict[str, str] = body["error"]
    return error


def login(client: httpx.Client, password: str = ADMIN_PASSWORD) -> httpx.Response:
    return client.post("/api/login", json={"password": password})


@pytest.fixture
def run_server() -> Iterator[RunServer]:
    """Start a real server for given services; all are stopped after the test."""
    with_servers: list[ServerThread] = []

    def start(svc: Services) -> str:
        server = ServerThread(create_app(svc.settings, svc))
        url = server.__enter__()
        with_servers.append(server)
        return url

    yield start
    for server in reversed(with_servers):
        server.__exit__(None, None, None)


# -- login, token, cookie -----------------------------------------------------------------


def test_login_returns_a_token_and_a_strict_http_only_cookie(server: str) -> None:
    with httpx.Client(base_url=server) as c:
        response = login(c)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"token"}
    token = body["token"]
    assert response.headers["cache-control"] == "no-store"
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 1
    name_value, *attributes = [part.strip() for part in cookies[0].split(";")]
    assert name_value == f"{SESSION_COOKIE}={token}"
    flags = {a.split("=", 1)[0].lower(): a.partition("=")[2] for a in attributes}
    assert "httponly" in flags
    assert flags["samesite"].lower() == "strict"
    assert flags["path"] == "/"
    assert int(flags["max-age"]) == body["expires_in"]


def test_the_token_works_as_bearer_and_the_cookie_works_alone(server: str) -> None:
    with httpx.Client(base_url=server) as c:
        token = login(c).json()["token"]
    with httpx.Client(base_url=server) as bearer:
        response = bearer.get("/api/bots", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.json() == {"bots": []}
    with httpx.Client(base_url=server, cookies={SESSION_COOKIE: token}) as cookie:
        assert cookie.get("/api/bots").status_code == 200
        assert cookie.get("/api/providers").status_code == 200
    # Neither: refused; a made-up token or cookie: refused.
    with httpx.Client(base_url=server) as c:
        assert_error(c.get("/api/bots"), 401, "unauthorized")
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert_error(
            c.get("/api/bots", headers={"Authorization": f"Bearer {forged}"}), 401, "unauthorized"
        )
    with httpx.Client(base_url=server, cookies={SESSION_COOKIE: "bm1.x.y"}) as c:
        assert_error(c.get("/api/bots"), 401, "unauthorized")


def flat_routes(app: FastAPI) -> list[tuple[str, set[str], BaseRoute]]:
    """(path, methods, route) for every route, through included routers too."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts: list[Any] = list(iterate(app.routes)) if iterate else list(app.routes)
    flat = []
    for context in contexts:
        route = getattr(context, "original_route", context)
        path = getattr(context, "path", None)
        assert path is not None, f"a route without a path: {route!r}"
        flat.append((path, set(getattr(context, "methods", None) or ()), route))
    return flat


def protected_operations(services: Services, anon: httpx.Client) -> list[tuple[str, str]]:
    """Every (method, path) under /api that must need a token, from the app and its schema."""
    app = create_app(services.settings, services)
    operations: set[tuple[str, str]] = set()
    api_paths: set[str] = set()
    for path, methods, route in flat_routes(app):
        if not path.startswith("/api"):
            continue
        api_paths.add(path)
        if path in PUBLIC_API_PATHS:
            continue
        assert isinstance(route, APIRoute), f"{path}: not an API route, so not protected"
        operations.update((method, path) for method in methods)
    token = services.auth.login(ADMIN_PASSWORD, "127.0.0.9")
    schema = anon.get("/api/openapi.json", headers={"Authorization": f"Bearer {token}"})
    assert schema.status_code == 200
    for path, item in schema.json()["paths"].items():
        assert path.startswith("/api") or path in ("/health", "/metrics"), path
        if path in PUBLIC_API_PATHS or not path.startswith("/api"):
            continue
        operations.update((method.upper(), path) for method in item)
    # Sanity: the API really is there, so an empty list cannot pass by accident.
    shapes = {(method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path in operations}
    assert ("GET", "/api/bots") in shapes
    assert ("POST", "/api/logout") in shapes
    assert ("GET", "/api/bots/{}/logs") in shapes
    assert ("DELETE", "/api/bots/{}") in shapes
    assert ("POST", "/api/login") not in shapes
    assert "/api/login" in api_paths
    return sorted(operations)


def test_every_api_route_but_login_needs_credentials(
    services: Services, anon: httpx.Client
) -> None:
    operations = protected_operations(services, anon)
    assert len(operations) >= 12
    for method, template in operations:
        path = re.sub(r"\{[^}]+\}", "nonexistent", template)
        for headers in ({}, {"Authorization": "Bearer bm1.deadbeef.not-a-token"}):
            response = anon.request(
                method, path, headers=headers, json={} if method == "POST" else None
            )
            error = assert_error(response, 401, "unauthorized")
            assert "token" in error["message"] or "log in" in error["message"], (method, path)


def test_health_needs_no_credentials(anon: httpx.Client) -> None:
    response = anon.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["store"] == {"ok": True}
    assert body["docker"] == {"ok": True}


def test_wrong_password_is_401_naming_the_password_field(anon: httpx.Client) -> None:
    response = login(anon, "not-the-password")
    error = assert_error(response, 401, "unauthorized")
    assert error["field"] == "password"
    assert "set-cookie" not in response.headers
    assert "token" not in response.json()


# -- rate limiting --------------------------------------------------------------------------


def test_failed_logins_are_rate_limited_per_client(server: str, services: Services) -> None:
    limit = services.settings.login_max_failures
    window = services.settings.login_window_seconds
    assert (limit, window) == (5, 300)
    with httpx.Client(base_url=server) as c:
        for _ in range(limit):
            assert_error(login(c, "wrong password!"), 401, "unauthorized")
        limited = login(c, "wrong password!")
        assert_error(limited, 429, "too_many_requests")
        retry_after = int(limited.headers["retry-after"])
        assert window - 30 <= retry_after <= window
        # While limited, even the right password is refused (no guessing through it).
        refused = login(c)
        assert_error(refused, 429, "too_many_requests")
        assert "set-cookie" not in refused.headers
        assert "token" not in refused.json()
    # Another client (another source address) is not affected.
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=server, transport=other) as c:
        assert login(c).status_code == 200


# -- tokens -----------------------------------------------------------------------------


def _b64url_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_tokens_carry_at_least_128_random_bits_and_are_stored_only_as_digests(
    server: str, services: Services
) -> None:
    with httpx.Client(base_url=server) as c:
        token = login(c).json()["token"]
    tokens = [token] + [services.auth.login(ADMIN_PASSWORD, "127.0.0.9") for _ in range(12)]
    secrets = []
    for t in tokens:
        prefix, session_id, secret = t.split(".")
        assert prefix == "bm1"
        assert re.fullmatch(r"[0-9a-f]{16}", session_id)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", secret)
        assert len(_b64url_bytes(secret)) * 8 >= 128  # the secret part alone
        secrets.append(secret)
    assert len(set(tokens)) == len(tokens)
    assert len({t.split(".")[1] for t in tokens}) == len(tokens)
    # The secret characters look uniformly random: ~6 bits of entropy per base64 character.
    counts = Counter("".join(secrets))
    total = sum(counts.values())
    entropy = -sum(n / total * math.log2(n / total) for n in counts.values())
    assert entropy > 5.7, entropy
    assert len(counts) > 55
    # No position is fixed across tokens (nothing is a counter or a timestamp).
    for position in range(len(secrets[0])):
        assert len({s[position] for s in secrets}) > 3, position
    # The store holds digests, never a usable token or secret.
    services.store.db.query("PRAGMA wal_checkpoint(FULL)")
    raw = b"".join(p.read_bytes() for p in _db_files(services.settings.db_path))
    for t, secret in zip(tokens, secrets, strict=True):
        assert secret.encode() not in raw
        assert t.encode() not in raw


def _db_files(db_path: Path) -> list[Path]:
    candidates = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
    return [p for p in candidates if p.exists()]


def test_tokens_expire_when_their_stored_expiry_passes(
    settings: Settings, make_services: MakeServices, run_server: Any
) -> None:
    svc: Services = make_services(settings, token_ttl_seconds=60)
    url = run_server(svc)
    with httpx.Client(base_url=url) as c:
        response = login(c)
        assert response.json()["expires_in"] == 60
        token = response.json()["token"]
    session_id = token.split(".")[1]
    session = svc.store.get_session(session_id)
    assert session is not None
    assert 59 <= session.expires_at - time.time() <= 61
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers) as c:
        assert c.get("/api/bots").status_code == 200
        # Age the session row by 61 seconds, as if a minute had passed.
        with svc.store.db.write() as conn:
            conn.execute(
                "UPDATE sessions SET created_at = created_at - 61, expires_at = expires_at - 61"
                " WHERE id = ?",
                (session_id,),
            )
        error = assert_error(c.get("/api/bots"), 401, "unauthorized")
        assert "expired" in error["message"]
        assert svc.store.get_session(session_id) is None  # and the expired row is gone
        assert_error(c.get("/api/bots"), 401, "unauthorized")


def test_tokens_expire_after_a_short_ttl_in_real_time(
    settings: Settings, make_services: MakeServices, run_server: Any
) -> None:
    svc: Services = make_services(settings, token_ttl_seconds=2)
    url = run_server(svc)
    with httpx.Client(base_url=url) as c:
        token = login(c).json()["token"]
    session = svc.store.get_session(token.split(".")[1])
    assert session is not None
    with httpx.Client(base_url=url, cookies={SESSION_COOKIE: token}) as c:
        assert c.get("/api/bots").status_code == 200
        time.sleep(max(0.0, session.expires_at - time.time()) + 0.1)
        error = assert_error(c.get("/api/bots"), 401, "unauthorized")
        assert "expired" in error["message"]


def test_logout_revokes_the_token_and_clears_the_cookie(server: str) -> None:
    with httpx.Client(base_url=server) as c:
        token = login(c).json()["token"]
        other = login(c).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server) as c:
        response = c.post("/api/logout", headers=headers)
        assert response.status_code == 204
        cleared = response.headers["set-cookie"]
        assert cleared.startswith(f'{SESSION_COOKIE}=""') or cleared.startswith(
            f"{SESSION_COOKIE}=;"
        )
        assert "max-age=0" in cleared.lower()
        assert_error(c.get("/api/bots", headers=headers), 401, "unauthorized")
        assert_error(c.post("/api/logout", headers=headers), 401, "unauthorized")
        # Only that session ended.
        assert c.get("/api/bots", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    # Logging out with the cookie (and its CSRF token) revokes the cookie's token.
    with httpx.Client(base_url=server, cookies={SESSION_COOKIE: other}) as c:
        assert c.post("/api/logout", headers=csrf(other)).status_code == 204
        c.cookies.clear()
        with_cookie = {"Cookie": f"{SESSION_COOKIE}={other}"}
        assert_error(c.get("/api/bots", headers=with_cookie), 401, "unauthorized")


def test_cookie_authenticated_writes_from_another_origin_are_refused(server: str) -> None:
    with httpx.Client(base_url=server) as c:
        token = login(c).json()["token"]
    with httpx.Client(base_url=server, cookies={SESSION_COOKIE: token}) as c:
        for origin in ("https://evil.example", "null", server.replace("127.0.0.1", "localhost")):
            refused = c.post("/api/logout", headers={"Origin": origin})
            error = assert_error(refused, 403, "forbidden")
            assert "cross-site" in error["message"]
            assert_error(c.post("/api/bots", json={}, headers={"Origin": origin}), 403, "forbidden")
        # The refused logouts did nothing: the session still works.
        assert c.get("/api/bots").status_code == 200
        # A foreign Origin is refused even with the right CSRF token.
        refused = c.post("/api/logout", headers={"Origin": "https://evil.example", **csrf(token)})
        assert_error(refused, 403, "forbidden")
        # Reads with a foreign Origin are harmless and allowed (SameSite keeps them cookie-less
        # in browsers anyway); writes from our own origin, or without Origin, pass the check.
        assert c.get("/api/bots", headers={"Origin": "https://evil.example"}).status_code == 200
        own = {"Origin": server, **csrf(token)}
        assert c.post("/api/bots/nope/stop", headers=own).status_code == 404
        assert c.post("/api/bots/nope/stop", headers=csrf(token)).status_code == 404
    # A Bearer token is not ambient (a browser never adds it), so Origin does not matter.
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}) as c:
        response = c.post("/api/bots/nope/stop", headers={"Origin": "https://evil.example"})
        assert response.status_code == 404


def csrf(token: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf_token_for(token)}


def test_cookie_authenticated_writes_need_the_sessions_csrf_token(server: str) -> None:
    with httpx.Client(base_url=server) as c:
        token = login(c).json()["token"]
        other = login(c).json()["token"]
    assert csrf_token_for(token) != csrf_token_for(other)
    assert re.fullmatch(r"[0-9a-f]{64}", csrf_token_for(token))
    assert token not in csrf_token_for(token)
    with httpx.Client(base_url=server, cookies={SESSION_COOKIE: token}) as c:
        for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "0" * 64}, csrf(other)):
            for method, path in (("POST", "/api/bots/nope/stop"), ("DELETE", "/api/bots/nope")):
                error = assert_error(c.request(method, path, headers=headers), 403, "forbidden")
                assert "CSRF" in error["message"]
            error = assert_error(c.post("/api/bots", json={}, headers=headers), 403, "forbidden")
            assert "CSRF" in error["message"]
        # Reads need no token.
        assert c.get("/api/bots").status_code == 200
        # With this session's token the write goes through (404: there is no such bot).
        assert c.post("/api/bots/nope/stop", headers=csrf(token)).status_code == 404
        assert c.delete("/api/bots/nope", headers=csrf(token)).status_code == 404
        assert c.post("/api/logout", headers=csrf(token)).status_code == 204
    # A Bearer token is not ambient: no CSRF token needed.
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {other}"}) as c:
        assert c.post("/api/bots/nope/stop").status_code == 404


# -- the generated password ---------------------------------------------------------------


GENERATED = re.compile(r"generated an admin password.*?\n\s+(\S+)\n", re.DOTALL)


def test_a_generated_password_is_shown_once_stored_hashed_and_works(
    settings: Settings,
    make_services: MakeServices,
    run_server: RunServer,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    no_password = replace(settings, admin_password=None)
    assert no_password.admin_password is None
    first: Services = make_services(no_password)
    url = run_server(first)
    out, err = capfd.readouterr()
    match = GENERATED.search(err)
    assert match, err
    password = match.group(1)
    assert len(password) >= 20
    assert err.count(password) == 1
    assert password not in out
    assert password not in caplog.text  # not in any log record either
    with httpx.Client(base_url=url) as c:
        assert login(c, password).status_code == 200
        assert login(c, ADMIN_PASSWORD).status_code == 401
    # Stored only as an argon2id hash, and nowhere in the SQLite files in plaintext.
    stored = _admin_hash(first)
    assert stored is not None
    assert stored.startswith("$argon2id$")
    first.store.db.query("PRAGMA wal_checkpoint(FULL)")
    for path in _db_files(no_password.db_path):
        assert password.encode() not in path.read_bytes(), path
    with sqlite3.connect(no_password.db_path) as db:
        rows = db.execute("SELECT key, value FROM admin_settings").fetchall()
    assert dict(rows) == {"runtime": "docker"}  # the hash is the admin user's, nowhere else
    # A second start on the same data dir keeps it and prints nothing.
    second: Services = make_services(no_password)
    url2 = run_server(second)
    _, err2 = capfd.readouterr()
    assert "generated" not in err2
    assert password not in err2
    assert _admin_hash(second) == stored
    with httpx.Client(base_url=url2) as c:
        assert login(c, password).status_code == 200


def _admin_hash(svc: Services) -> str | None:
    admin = svc.store.accounts.user_by_name(FIRST_ADMIN)
    assert admin is not None
    return admin.password_hash


def test_a_configured_password_is_never_stored(
    settings: Settings,
    make_services: MakeServices,
    run_server: RunServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    svc: Services = make_services(settings)
    url = run_server(svc)
    assert "generated" not in capfd.readouterr().err
    with httpx.Client(base_url=url) as c:
        assert login(c).status_code == 200
    assert _admin_hash(svc) is None
    svc.store.db.query("PRAGMA wal_checkpoint(FULL)")
    for path in _db_files(settings.db_path):
        assert ADMIN_PASSWORD.encode() not in path.read_bytes()


# -- the password from the environment ----------------------------------------------------
