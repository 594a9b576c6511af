"""The command line against a BotMaker elsewhere: its HTTP API with an API token.

With ``BOTMAKER_URL`` and ``BOTMAKER_TOKEN_FILE`` (or ``BOTMAKER_TOKEN``) set, the bot
commands of ``botmaker`` (list, start, stop, restart, delete, logs, usage) call that
server's API with the token instead of opening the local data folder, so they see and
do exactly what the token's user may: the server's policy decides, as for any client.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from botmaker.errors import BotMakerError


class RemoteError(BotMakerError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def from_env(environ: dict[str, str] | None = None) -> Remote | None:
    env = os.environ if environ is None else environ
    url = env.get("BOTMAKER_URL")
    if not url:
        return None
    token = env.get("BOTMAKER_TOKEN")
    path = env.get("BOTMAKER_TOKEN_FILE")
    if path:
        token = Path(path).read_text(encoding="utf-8").strip()
    if not token:
        raise BotMakerError("BOTMAKER_URL needs BOTMAKER_TOKEN_FILE (or BOTMAKER_TOKEN)")
    return Remote(url, token)


class Remote:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(60.0, read=None),
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RemoteError(0, f"{self.client.base_url} does not answer: {exc}") from None
        if response.is_success:
            return response.json() if response.content else None
        raise RemoteError(response.status_code, _message(response))

    def bot_path(self, bot: str, suffix: str = "") -> str:
        return f"/api/bots/{quote(bot, safe='')}{suffix}"

    def logs(self, bot: str, *, tail: int, follow: bool) -> Iterator[tuple[str, str]]:
        """(stream, line) pairs of the bot's log stream (Server-Sent Events)."""
        params: dict[str, str | int] = {"tail": tail, "follow": str(follow).lower()}
        path = self.bot_path(bot, "/logs")
        with self.client.stream("GET", path, params=params) as response:
            if not response.is_success:
                response.read()
                raise RemoteError(response.status_code, _message(response))
            event, data = "", []
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif not line and event:
                    if event == "end":
                        return
                    if event in ("stdout", "stderr"):
                        yield event, "\r".join(data)
                    event, data = "", []


def _message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['message']} ({response.status_code})"
    except (ValueError, KeyError, TypeError):
        return f"the server answered {response.status_code}"
