"""BotMaker's side of the egress proxy's admin API (sync, httpx)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from botmaker.errors import BotMakerError


class EgressUnavailable(BotMakerError):
    """The egress proxy does not answer."""

    status = 503
    code = "egress_unavailable"


class EgressClient:
    def __init__(self, base_url: str, token_file: Path, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_file = token_file
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        token = self.token_file.read_text(encoding="utf-8").strip()
        try:
            response = self._http.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
        except httpx.HTTPError as exc:
            raise EgressUnavailable(f"the egress proxy does not answer: {exc}") from None
        if response.status_code >= 400:
            raise BotMakerError(f"egress proxy: {response.status_code} {response.text[:200]}")
        return response.json()

    def put_bots(self, bots: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", "/admin/bots", json={"bots": bots})
        return result

    def refusals(self, after: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/admin/refusals", params={"after": after})
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/admin/status")
        return result
