"""Plain records read from the store."""

from __future__ import annotations

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
