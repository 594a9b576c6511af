"""BotMaker's side of the keyring: a small client for its admin API.

This is the only way BotMaker reaches the keyring (it never opens the keyring's
database). Connection failures become :class:`KeyringUnavailable` (503); the
keyring's own errors come back as the same BotMaker error classes, field included.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from botmaker.errors import (
    BadRequest,
    BotMakerError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from botmaker.keyring.model import Budget, KeyInfo, KeyringCorrupt, KeyringLocked, is_pool_id


class KeyringUnavailable(BotMakerError):
    status = 503
    code = "keyring_unavailable"


_BY_STATUS: dict[int, type[BotMakerError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
}


def _check_pool(pool_id: str) -> None:
    if not is_pool_id(pool_id):
        raise InvalidInput("not a pool id (1-64 of A-Z a-z 0-9 _ . -)", field="pool_id")


def _key(data: dict[str, Any]) -> KeyInfo:
    return KeyInfo(
        id=data["id"],
        provider=data["provider"],
        label=data["label"],
        tags=tuple(data.get("tags") or ()),
        last4=data["last4"],
        bot_id=data.get("bot_id"),
        kek_version=int(data.get("kek_version", 0)),
        created_at=float(data.get("created_at", 0)),
    )


class KeyringClient:
    def __init__(self, url: str, token_file: Path, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token_file = token_file
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _token(self) -> str:
        try:
            return self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise KeyringUnavailable(
                f"cannot read the keyring admin token at {self.token_file}: {exc.strerror}"
            ) from None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        path = quote(path, safe="/")  # ids come from callers: never let one reshape the URL
        headers = {"Authorization": f"Bearer {self._token()}"}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise KeyringUnavailable(
                f"the keyring at {self.url} does not answer ({type(exc).__name__})"
            ) from None
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.is_success:
            return body
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = str(error.get("message") or f"keyring answered {response.status_code}")
        field = error.get("field")
        code = error.get("code")
        if code == KeyringLocked.code:
            raise KeyringLocked(message)
        if code == KeyringCorrupt.code:
            raise KeyringCorrupt(message)
        kind = _BY_STATUS.get(response.status_code, KeyringUnavailable)
        raise kind(message, field=str(field) if field else None)

    # -- status -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/admin/status")
        return result

    # -- keys ---------------------------------------------------------------------------

    def add_key(
        self,
        provider: str,
        secret: str,
        *,
        label: str = "",
        tags: list[str] | None = None,
        bot_id: str | None = None,
    ) -> KeyInfo:
        body = {"provider": provider, "secret": secret, "label": label, "tags": tags or []}
        if bot_id is not None:
            body["bot_id"] = bot_id
        return _key(self._call("POST", "/admin/keys", json=body)["key"])

    def list_keys(self, *, provider: str | None = None, bot_id: str | None = None) -> list[KeyInfo]:
        params = {k: v for k, v in (("provider", provider), ("bot_id", bot_id)) if v}
        return [_key(k) for k in self._call("GET", "/admin/keys", params=params)["keys"]]

    def delete_key(self, key_id: str) -> None:
        self._call("DELETE", f"/admin/keys/{key_id}")

    def test_key(
        self,
        provider: str,
        secret: str,
        *,
        base_url: str | None = None,
        allow_private: bool = False,
    ) -> dict[str, Any]:
        """Have the keyring try ``secret`` once against the provider (stored nowhere):
        ``{"ok", "provider", "status", "message"}``."""
        body: dict[str, Any] = {"provider": provider, "secret": secret}
        if base_url:
            body["base_url"] = base_url
            body["allow_private"] = allow_private
        result: dict[str, Any] = self._call("POST", "/admin/keys/test", json=body, timeout=30)
        return result

    def test_stored_key(self, key_id: str) -> dict[str, Any]:
        """Have the keyring try a stored key once against its provider."""
        result: dict[str, Any] = self._call("POST", f"/admin/keys/{key_id}/test", timeout=30)
        return result

    # -- bots ---------------------------------------------------------------------------

    def put_bot(
        self,
        bot_id: str,
        *,
        providers: list[str],
        base_urls: dict[str, str] | None = None,
        allow_private: bool = False,
        tags: list[str] | None = None,
        budget: Budget | None = None,
        pool: str | None = None,
    ) -> str | None:
        """Register (or update) a bot's grant; returns its token when newly registered.

        ``pool`` (BotMaker: the bot's team id) makes the bot share that pool's budget;
        ``None`` takes it out of any pool (the whole grant is replaced).
        """
        body: dict[str, Any] = {
            "providers": providers,
            "base_urls": base_urls or {},
            "allow_private": allow_private,
            "tags": tags or [],
            "budget": (budget or Budget()).to_dict(),
        }
        if pool is not None:
            body["pool"] = pool
        result = self._call("PUT", f"/admin/bots/{bot_id}", json=body)
        token = result.get("token")
        return str(token) if token else None

    def list_bots(self) -> list[dict[str, Any]]:
        """Every grant (bot id, providers, budget, ``created_at``…), never a token."""
        result: list[dict[str, Any]] = self._call("GET", "/admin/bots")["bots"]
        return result

    def get_bot(self, bot_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/admin/bots/{bot_id}")["bot"]
        return result

    def rotate_token(self, bot_id: str) -> str:
        return str(self._call("POST", f"/admin/bots/{bot_id}/token")["token"])

    def delete_bot(self, bot_id: str) -> None:
        """Revoke the bot's token and delete its own keys (idempotent)."""
        self._call("DELETE", f"/admin/bots/{bot_id}")

    # -- pools (budgets shared by the bots whose grants name the pool) ----------------------

    def put_pool(self, pool_id: str, budget: Budget | Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace a pool's budget; returns ``{"id", "budget", "bots"}``."""
        _check_pool(pool_id)
        limits = budget.to_dict() if isinstance(budget, Budget) else dict(budget)
        result: dict[str, Any] = self._call(
            "PUT", f"/admin/pools/{pool_id}", json={"budget": limits}
        )["pool"]
        return result

    def delete_pool(self, pool_id: str) -> bool:
        """Drop a pool's budget; False if it had none (the grants keep naming the pool)."""
        _check_pool(pool_id)
        try:
            self._call("DELETE", f"/admin/pools/{pool_id}")
        except NotFound:
            return False
        return True

    def pools(self) -> list[dict[str, Any]]:
        """Every pool with a budget: ``{"id", "budget", "bots"}``, by id."""
        result: list[dict[str, Any]] = self._call("GET", "/admin/pools")["pools"]
        return result

    # -- metrics --------------------------------------------------------------------------

    def metrics(self, *, timeout: float) -> bytes:
        """The keyring's Prometheus exposition (``/admin/metrics``), within ``timeout``."""
        headers = {"Authorization": f"Bearer {self._token()}"}
        try:
            response = self._http.get("/admin/metrics", headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise KeyringUnavailable(
                f"the keyring at {self.url} does not answer ({type(exc).__name__})"
            ) from None
        if not response.is_success:
            raise KeyringUnavailable(f"the keyring's metrics answered {response.status_code}")
        return response.content

    # -- usage ----------------------------------------------------------------------------

    def usage(self, *, days: int = 31) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/admin/usage", params={"days": days})
        return result

    def events(self, *, after: int = 0, bot_id: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, str | int] = {"after": after}
        if bot_id:
            params["bot_id"] = bot_id
        events: list[dict[str, Any]] = self._call("GET", "/admin/events", params=params)["events"]
        return events

    def set_upstream(self, provider: str, base_url: str, *, allow_private: bool = False) -> None:
        self._call(
            "PUT",
            f"/admin/upstreams/{provider}",
            json={"base_url": base_url, "allow_private": allow_private},
        )
