"""Plain records read from the store."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from functools import cached_property

from botmaker.definition import BotDefinition, BotState, Desired


@dataclass(frozen=True)
class BotRecord:
    id: str
    seq: int
    name: str
    provider: str
    model: str
    channel: str
    image: str
    uid: int
    container_id: str | None
    state: BotState
    created_at: str
    updated_at: str
    stored: str = "{}"  # the ``definition`` column: JSON, read as ``definition``
    image_digest: str | None = None  # the image the container runs: RepoDigests[0] or its Id
    desired: Desired = Desired.RUNNING  # what the admin asked for last
    owner_id: str | None = None  # the user who made it (None: made before users, or gone)
    team_id: str | None = None  # the team it belongs to, if any

    @cached_property
    def definition(self) -> BotDefinition:
        """Everything the bot is (typed), from its columns and its JSON."""
        columns = {"provider": self.provider, "model": self.model, "image": self.image}
        return BotDefinition.load(
            self.stored, name=self.name, columns=columns | {"channel": self.channel}
        )

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> BotRecord:
        values = {key: row[key] for key in row.keys()}  # noqa: SIM118
        values["stored"] = values.pop("definition")
        values["state"] = BotState(values["state"])
        values["desired"] = Desired(values["desired"])
        return cls(**values)


@dataclass(frozen=True)
class SessionRecord:
    id: str
    secret_hash: str
    created_at: float
    expires_at: float
    user_id: str | None = None


@dataclass(frozen=True)
class UserRecord:
    id: str
    name: str
    email: str | None
    role: str
    password_hash: str | None
    source: str
    subject: str | None  # single sign-on: "<issuer>#<sub>"
    disabled: bool
    must_change_password: bool
    created_at: float
    last_login_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> UserRecord:
        values = {key: row[key] for key in row.keys()}  # noqa: SIM118
        values["disabled"] = bool(values["disabled"])
        values["must_change_password"] = bool(values["must_change_password"])
        return cls(**values)


@dataclass(frozen=True)
class TeamRecord:
    id: str
    name: str
    created_at: float
    members: tuple[str, ...] = ()  # user ids


@dataclass(frozen=True)
class TokenRecord:
    id: str
    user_id: str
    name: str
    secret_hash: str
    scopes: tuple[str, ...]
    bots: tuple[str, ...] | None
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TokenRecord:
        values = {key: row[key] for key in row.keys()}  # noqa: SIM118
        values["scopes"] = tuple(json.loads(values["scopes"]))
        bots = values["bots"]
        values["bots"] = None if bots is None else tuple(json.loads(bots))
        return cls(**values)
