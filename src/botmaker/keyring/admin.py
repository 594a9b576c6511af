"""The keyring's admin API: only BotMaker calls it (loopback or a private network).

Every request carries the admin token (``Authorization: Bearer``), compared in
constant time. Errors use BotMaker's shape, ``{"error": {"code", "message",
"field"}}``. Provider key plaintext goes in (``POST /admin/keys``) and never comes
out; a bot's token comes out once, when its grant is created or its token rotated.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from botmaker.errors import BotMakerError, InvalidInput, NotFound, Unauthorized
from botmaker.fsutil import is_bot_id
from botmaker.keyring.model import (
    BudgetIn,
    Grant,
    PoolId,
    Tag,
    UpstreamOverride,
    is_pool_id,
)
from botmaker.keyring.netpolicy import check_base_url
from botmaker.keyring.probe import check_key
from botmaker.keyring.service import Keyring
from botmaker.openclaw.catalog import PROVIDERS

log = logging.getLogger("botmaker.keyring.admin")

KEYRING = web.AppKey("keyring", Keyring)
ADMIN_TOKEN = web.AppKey("admin_token", str)
LISTEN = web.AppKey("listen", dict[str, str])  # {"data": host:port} once the proxy is bound

M = TypeVar("M", bound=BaseModel)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=64)
    secret: SecretStr = Field(min_length=1, max_length=16 * 1024)
    label: str = Field(default="", max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=16)
    bot_id: str | None = None


class KeyTestIn(BaseModel):
    """A key to try once against its provider; kept nowhere."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=64)
    secret: SecretStr = Field(min_length=1, max_length=16 * 1024)
    base_url: str | None = Field(default=None, max_length=2000)
    allow_private: bool = False


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: list[str] = Field(min_length=1, max_length=32)
    tags: list[Tag] = Field(default_factory=list, max_length=16)
    base_urls: dict[str, str] = Field(default_factory=dict)
    allow_private: bool = False
    budget: BudgetIn = Field(default_factory=BudgetIn)
    pool: PoolId | None = None  # bots naming the same pool share its budget


class PoolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget: BudgetIn


class UpstreamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(min_length=1, max_length=2000)
    allow_private: bool = False


class UnlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passphrase: SecretStr = Field(min_length=1, max_length=4096)


def _error(exc: BotMakerError) -> web.Response:
    return web.json_response(exc.to_dict(), status=exc.status)


async def _parse(request: web.Request, model: type[M]) -> M:
    try:
        raw = await request.read()
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from None


def _bot_id(request: web.Request) -> str:
    bot_id = request.match_info["bot_id"]
    if not is_bot_id(bot_id):
        raise InvalidInput("not a bot id", field="bot_id")
    return bot_id


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    expected = request.app[ADMIN_TOKEN]
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        return _error(Unauthorized("missing or wrong admin token"))
    try:
        return await handler(request)
    except BotMakerError as exc:
        return _error(exc)


async def status(request: web.Request) -> web.Response:
    keyring = request.app[KEYRING]
    store = keyring.store
    return web.json_response(
        {
            "locked": store.locked,
            "initialised": store.initialised(),
            "root_kind": store.root_kind(),
            "keys": len(store.list_keys()),
            "bots": len(store.list_grants()),
            "upstreams": {p: o.base_url for p, o in keyring.overrides().items()},
            "listen": request.app[LISTEN].get("data"),
        }
    )


async def unlock(request: web.Request) -> web.Response:
    body = await _parse(request, UnlockIn)
    keyring = request.app[KEYRING]
    keyring.store.unlock_with_passphrase(body.passphrase.get_secret_value())
    keyring.forget_keys()
    return web.json_response({"locked": keyring.store.locked})


async def list_keys(request: web.Request) -> web.Response:
    store = request.app[KEYRING].store
    provider = request.query.get("provider") or None
    bot_id = request.query.get("bot_id") or None
    keys = store.list_keys(provider=provider, bot_id=bot_id)
    return web.json_response({"keys": [k.to_dict() for k in keys]})


async def add_key(request: web.Request) -> web.Response:
    body = await _parse(request, KeyIn)
    secret = body.secret.get_secret_value()
    if secret != secret.strip() or any(c in secret for c in "\r\n\x00"):
        raise InvalidInput("the key must be one line without surrounding spaces", field="secret")
    info = request.app[KEYRING].add_key(
        body.provider,
        secret,
        label=body.label or f"{body.provider} key",
        tags=tuple(body.tags),
        bot_id=body.bot_id,
    )
    log.info("key %s added for %s", info.id, info.provider)
    return web.json_response({"key": info.to_dict()}, status=201)


async def delete_key(request: web.Request) -> web.Response:
    request.app[KEYRING].delete_key(request.match_info["key_id"])
    return web.Response(status=204)


def _where(keyring: Keyring, provider: str) -> tuple[str, bool]:
    """Where a request for ``provider`` goes (the operator's override, else the
    provider's own base URL), and whether a private address is allowed there."""
    if provider not in PROVIDERS:
        raise InvalidInput(f"unknown provider {provider!r}", field="provider")
    override = keyring.overrides().get(provider)
    if override is not None:
        return override.base_url, override.allow_private
    if not PROVIDERS[provider].base_url:
        raise InvalidInput(
            f"provider {provider} has no base URL of its own: give one to test a key",
            field="base_url",
        )
    return PROVIDERS[provider].base_url, False


async def try_given_key(request: web.Request) -> web.Response:
    """One tiny call to the provider with the key in the body (never stored or logged)."""
    body = await _parse(request, KeyTestIn)
    if body.provider not in PROVIDERS:
        raise InvalidInput(f"unknown provider {body.provider!r}", field="provider")
    if body.base_url:
        url = check_base_url(body.base_url, allow_private=body.allow_private)
        private = body.allow_private
    else:
        url, private = _where(request.app[KEYRING], body.provider)
    secret = body.secret.get_secret_value()
    result = await check_key(body.provider, secret, url, allow_private=private)
    return web.json_response(result.to_dict())


async def try_stored_key(request: web.Request) -> web.Response:
    """One tiny call to the provider with a stored key, where its bots' calls go."""
    keyring = request.app[KEYRING]
    info = keyring.store.get_key(request.match_info["key_id"])
    secret = keyring.store.reveal(info.id)
    url, private = _where(keyring, info.provider)
    if info.bot_id is not None:  # a bot's own key: where that bot's calls go
        try:
            grant = keyring.store.get_grant(info.bot_id)
        except NotFound:
            grant = None
        if grant is not None and grant.base_urls.get(info.provider):
            url, private = grant.base_urls[info.provider], grant.allow_private
    result = await check_key(info.provider, secret, url, allow_private=private)
    log.info("key %s tested: %s", info.id, "ok" if result.ok else f"not ok ({result.status})")
    return web.json_response(result.to_dict())


async def list_grants(request: web.Request) -> web.Response:
    grants = request.app[KEYRING].store.list_grants()
    return web.json_response({"bots": [g.to_dict() for g in grants]})


async def get_grant(request: web.Request) -> web.Response:
    grant = request.app[KEYRING].store.get_grant(_bot_id(request))
    return web.json_response({"bot": grant.to_dict()})


async def put_grant(request: web.Request) -> web.Response:
    bot_id = _bot_id(request)
    body = await _parse(request, GrantIn)
    grant = Grant(
        bot_id=bot_id,
        providers=frozenset(body.providers),
        tags=frozenset(body.tags),
        base_urls=dict(body.base_urls),
        allow_private=body.allow_private,
        budget=body.budget.to_budget(),
        pool=body.pool,
    )
    keyring = request.app[KEYRING]
    token = keyring.put_grant(grant)
    payload: dict[str, Any] = {"bot": keyring.store.get_grant(bot_id).to_dict()}
    if token is not None:
        payload["token"] = token
        return web.json_response(payload, status=201)
    return web.json_response(payload)


async def rotate_token(request: web.Request) -> web.Response:
    token = request.app[KEYRING].rotate_token(_bot_id(request))
    return web.json_response({"token": token})


async def delete_grant(request: web.Request) -> web.Response:
    request.app[KEYRING].delete_grant(_bot_id(request))
    return web.Response(status=204)


def _pool_id(request: web.Request) -> str:
    pool_id = request.match_info["pool_id"]
    if not is_pool_id(pool_id):
        raise InvalidInput("not a pool id (1-64 of A-Z a-z 0-9 _ . -)", field="pool_id")
    return pool_id


async def list_pools(request: web.Request) -> web.Response:
    keyring = request.app[KEYRING]
    bots = keyring.pool_bots()
    pools = [
        {"id": pool_id, "budget": budget.to_dict(), "bots": bots.get(pool_id, [])}
        for pool_id, budget in sorted(keyring.pools().items())
    ]
    return web.json_response({"pools": pools})


async def put_pool(request: web.Request) -> web.Response:
    pool_id = _pool_id(request)
    body = await _parse(request, PoolIn)
    keyring = request.app[KEYRING]
    budget = body.budget.to_budget()
    keyring.put_pool(pool_id, budget)
    bots = keyring.pool_bots().get(pool_id, [])
    return web.json_response({"pool": {"id": pool_id, "budget": budget.to_dict(), "bots": bots}})


async def delete_pool(request: web.Request) -> web.Response:
    request.app[KEYRING].delete_pool(_pool_id(request))
    return web.Response(status=204)


async def list_upstreams(request: web.Request) -> web.Response:
    overrides = request.app[KEYRING].overrides()
    return web.json_response(
        {
            "upstreams": [
                {"provider": o.provider, "base_url": o.base_url, "allow_private": o.allow_private}
                for o in overrides.values()
            ]
        }
    )


async def put_upstream(request: web.Request) -> web.Response:
    body = await _parse(request, UpstreamIn)
    provider = request.match_info["provider"]
    request.app[KEYRING].set_upstream(
        UpstreamOverride(provider, body.base_url.rstrip("/"), body.allow_private)
    )
    return web.json_response({"provider": provider, "base_url": body.base_url.rstrip("/")})


async def delete_upstream(request: web.Request) -> web.Response:
    keyring = request.app[KEYRING]
    provider = request.match_info["provider"]
    if provider not in keyring.overrides():
        raise NotFound(f"no upstream override for {provider}", field="provider")
    keyring.delete_upstream(provider)
    return web.Response(status=204)


async def usage(request: web.Request) -> web.Response:
    try:
        days = int(request.query.get("days", "31"))
    except ValueError:
        raise InvalidInput("days must be a number", field="days") from None
    if not 1 <= days <= 366:
        raise InvalidInput("days must be between 1 and 366", field="days")
    return web.json_response(request.app[KEYRING].usage_report(days=days))


async def events(request: web.Request) -> web.Response:
    try:
        after = int(request.query.get("after", "0"))
        limit = min(int(request.query.get("limit", "100")), 1000)
    except ValueError:
        raise InvalidInput("after and limit must be numbers", field="after") from None
    bot_id = request.query.get("bot_id") or None
    found = request.app[KEYRING].store.events(after_id=after, bot_id=bot_id, limit=limit)
    return web.json_response({"events": [e.to_dict() for e in found]})


async def metrics(request: web.Request) -> web.Response:
    """The keyring's Prometheus exposition (made in a thread: it flushes the counters
    and reads SQLite, which must not hold up the proxy's event loop)."""
    body = await asyncio.to_thread(request.app[KEYRING].metrics.exposition)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def admin_api(keyring: Keyring, admin_token: str) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=1024 * 1024)
    app[KEYRING] = keyring
    app[ADMIN_TOKEN] = admin_token
    app[LISTEN] = {}
    r = app.router
    r.add_get("/admin/status", status)
    r.add_post("/admin/unlock", unlock)
    r.add_get("/admin/keys", list_keys)
    r.add_post("/admin/keys", add_key)
    r.add_delete("/admin/keys/{key_id}", delete_key)
    r.add_post("/admin/keys/test", try_given_key)
    r.add_post("/admin/keys/{key_id}/test", try_stored_key)
    r.add_get("/admin/bots", list_grants)
    r.add_get("/admin/bots/{bot_id}", get_grant)
    r.add_put("/admin/bots/{bot_id}", put_grant)
    r.add_post("/admin/bots/{bot_id}/token", rotate_token)
    r.add_delete("/admin/bots/{bot_id}", delete_grant)
    r.add_get("/admin/pools", list_pools)
    r.add_put("/admin/pools/{pool_id}", put_pool)
    r.add_delete("/admin/pools/{pool_id}", delete_pool)
    r.add_get("/admin/upstreams", list_upstreams)
    r.add_put("/admin/upstreams/{provider}", put_upstream)
    r.add_delete("/admin/upstreams/{provider}", delete_upstream)
    r.add_get("/admin/usage", usage)
    r.add_get("/admin/events", events)
    r.add_get("/admin/metrics", metrics)
    return app
