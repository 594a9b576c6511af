"""A bot's definition: one frozen, typed model of everything a bot is.

A leaf module (pydantic only), so the store, the renderer and the services share it
without importing one another. In the ``bots`` row, provider, model, image and the
first channel's type are columns (an upgrade changes the image alone; lists read
them without parsing); the rest is the ``definition`` JSON column, which carries
``version``. JSON written before there was a version (rows before store migration
7, export archives of older installs) is upgraded on read by :func:`upgrade`, the
function that migration runs over every row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: The version of the JSON :meth:`BotDefinition.to_json` writes.
VERSION = 1

#: Fields kept in the row's own columns, not in its JSON.
COLUMNS = frozenset({"provider", "model", "image"})


class BotState(StrEnum):
    """Where a bot's row is in its life: being created, usable, or being deleted."""

    CREATING = "creating"
    READY = "ready"
    DELETING = "deleting"


class Desired(StrEnum):
    """What the admin asked for last: a recreated container is started only if running."""

    RUNNING = "running"
    STOPPED = "stopped"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Persona(_Frozen):
    """Who the bot is: its name and emoji, SOUL.md and USER.md."""

    name: str
    emoji: str = ""
    soul: str = ""
    user_notes: str = ""


class ChannelSpec(_Frozen):
    """One chat channel: its non-secret settings and who may message the bot directly.

    ``dm_policy`` None means the channel's default (``pairing`` where it has one).
    """

    type: str
    dm_policy: str | None = None
    allow_from: tuple[str, ...] = ()
    settings: Mapping[str, str] = Field(default_factory=dict)


class BudgetSpec(_Frozen):
    """Per-bot limits the keyring enforces; None is unlimited."""

    daily_tokens: int | None = None
    monthly_tokens: int | None = None
    daily_requests: int | None = None
    monthly_requests: int | None = None
    requests_per_minute: int | None = None


class LimitsSpec(_Frozen):
    """The bot's own container limits; None: the server's (``BOTMAKER_BOT_MEMORY``,
    ``BOTMAKER_BOT_CPUS``, ``BOTMAKER_BOT_PIDS``)."""

    memory_bytes: int | None = None
    cpus: float | None = None
    pids: int | None = None


#: A bot's egress mode (see :class:`EgressSpec`).
EgressModeName = Literal["open", "allowlist", "none"]


class EgressSpec(_Frozen):
    """Where the bot may connect through the egress proxy (the keyring is always allowed).

    ``open``: any public host; ``allowlist``: the host patterns in ``allow``; ``none``:
    nothing. A bot made before the egress proxy keeps ``open`` (what it had); a new bot
    gets ``allowlist`` with its channel's and provider's hosts.
    """

    mode: EgressModeName = "open"
    allow: tuple[str, ...] = ()


class BotDefinition(_Frozen):
    """Everything a bot is, as checked at create or edit time. Never a secret."""

    provider: str
    model: str
    image: str
    persona: Persona
    channels: tuple[ChannelSpec, ...] = Field(min_length=1)
    template: str | None = None
    fallbacks: tuple[str, ...] = ()
    base_url: str | None = None
    base_url_private: bool = False  # the admin allowed a base URL on a private network
    heartbeat: bool = False
    keyring: bool = False  # its provider key lives in the keyring proxy
    budget: BudgetSpec = BudgetSpec()
    key_tags: tuple[str, ...] = ()
    key_id: str | None = None  # the bot's own key in the keyring, if it brought one
    gateway: bool = False  # the image runs an OpenClaw gateway (probed for health)
    openclaw_version: str | None = None  # the image's OpenClaw (``--version``), if any
    openclaw_cli: tuple[str, ...] = ()  # how to run OpenClaw's CLI in the image
    previous_image: str | None = None  # the image before the last upgrade or rollback
    egress: EgressSpec = EgressSpec()
    limits: LimitsSpec = LimitsSpec()

    @property
    def channel(self) -> str:
        """The first channel's type (the row's ``channel`` column)."""
        return self.channels[0].type

    def stored(self) -> dict[str, Any]:
        """The JSON column's value: what differs from the defaults, and the version."""
        body = self.model_dump(mode="json", exclude=set(COLUMNS), exclude_defaults=True)
        body["persona"] = self.persona.model_dump()
        body["channels"] = [c.model_dump(mode="json", exclude_defaults=True) for c in self.channels]
        return {"version": VERSION, **body}

    def to_json(self) -> str:
        return json.dumps(self.stored(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(
        cls, stored: str | Mapping[str, Any] | None, *, name: str, columns: Mapping[str, str]
    ) -> BotDefinition:
        """A definition from its JSON (any version) and the row's columns (``provider``,
        ``model``, ``image``, ``channel``); ``name`` names the persona of a bot without one."""
        raw: Any = json.loads(stored or "{}") if isinstance(stored, str | None) else stored
        body = upgrade(
            raw if isinstance(raw, Mapping) else {}, name=name, channel=columns["channel"]
        )
        return cls.model_validate({**body, **{k: columns[k] for k in COLUMNS}})


def upgrade(stored: Mapping[str, Any], *, name: str, channel: str) -> dict[str, Any]:
    """Bring stored JSON of any version to this one (without the ``version`` key).

    Before version 1 the JSON had no version; a bot without a persona was named after
    itself, one without ``channels`` had the single channel of its ``channel`` column,
    and keys the model does not know were ignored by every reader.
    """
    body = dict(stored)
    version = body.pop("version", 0)
    if version == VERSION:
        return body
    if version != 0:
        raise ValueError(f"bot definition version {version!r} is not known to this BotMaker")
    known = set(BotDefinition.model_fields) - COLUMNS
    body = {k: v for k, v in body.items() if k in known and v is not None}
    body["persona"] = {"name": name, **(body.get("persona") or {})}
    body["channels"] = [
        {k: v for k, v in entry.items() if v is not None}
        for entry in body.get("channels") or [{"type": channel}]
    ]
    body["budget"] = {k: v for k, v in (body.get("budget") or {}).items() if v is not None}
    return body
