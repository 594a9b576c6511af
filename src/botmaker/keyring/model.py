"""The keyring's vocabulary: keys (without their secret), grants, budgets, usage.

Plain frozen dataclasses shared by the keyring's store, proxy and admin API, and by
BotMaker's keyring client. Nothing here holds a plaintext provider key except
:class:`KeyChoice`, which only exists inside the keyring process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from botmaker.errors import BotMakerError

AuthStyle = Literal["authorization-bearer", "x-api-key", "x-goog-api-key", "none"]

#: Token prefix: ``bk1_<token id>_<secret>`` (the id finds the row, the secret is hashed).
TOKEN_PREFIX = "bk1_"  # noqa: S105 - a prefix, not a secret


class KeyringLocked(BotMakerError):
    """The keyring has no (or the wrong) master key: it cannot decrypt provider keys."""

    status = 503
    code = "keyring_locked"


class KeyringCorrupt(BotMakerError):
    """A stored ciphertext failed authentication (tampered with, or moved to another row)."""

    status = 500
    code = "keyring_corrupt"


#: A key shorter than this shows none of its characters: its last 4 would be most of it.
SHOWN_TAIL_MIN_LENGTH = 12


def key_tail(secret: str) -> str:
    """What a listing may show of a key: its last 4 characters, none of a short key."""
    return secret[-4:] if len(secret) >= SHOWN_TAIL_MIN_LENGTH else ""


@dataclass(frozen=True)
class KeyInfo:
    """A stored provider key, described without its secret."""

    id: str
    provider: str
    label: str
    tags: tuple[str, ...]
    last4: str
    bot_id: str | None  # set: the key belongs to that bot only (given at bot create)
    kek_version: int
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["tags"] = list(self.tags)
        return body


@dataclass(frozen=True)
class KeyChoice:
    """A key chosen for one upstream request: its description and its plaintext."""

    info: KeyInfo
    secret: str

    def __repr__(self) -> str:  # never show the secret
        return f"KeyChoice({self.info.id!r}, provider={self.info.provider!r})"


@dataclass(frozen=True)
class Budget:
    """A bot's (or a pool's) limits; ``None`` means unlimited."""

    daily_tokens: int | None = None
    monthly_tokens: int | None = None
    daily_requests: int | None = None
    monthly_requests: int | None = None
    requests_per_minute: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Budget:
        data = data or {}
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


#: A pool id: bots whose grants name the same pool share the pool's budget (BotMaker
#: uses a team's id).
POOL_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
PoolId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


def is_pool_id(value: object) -> bool:
    return isinstance(value, str) and POOL_ID.fullmatch(value) is not None


#: A key tag: a bot whose grant lists a tag uses keys with that tag before untagged ones.
Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")]
_Limit = Annotated[int, Field(ge=1, le=10**15)]


class BudgetIn(BaseModel):
    """A budget as the APIs accept it (BotMaker's and the keyring's admin API)."""

    model_config = ConfigDict(extra="forbid")

    daily_tokens: _Limit | None = None
    monthly_tokens: _Limit | None = None
    daily_requests: _Limit | None = None
    monthly_requests: _Limit | None = None
    requests_per_minute: Annotated[int, Field(ge=1, le=1_000_000)] | None = None

    def to_budget(self) -> Budget:
        return Budget(**self.model_dump())


@dataclass(frozen=True)
class Grant:
    """What one bot may do through the proxy: providers, key tags, upstreams, budget.

    ``pool`` names a group of bots (BotMaker: the bot's team) whose pool budget, if
    the pool has one, the bot shares with the others on top of its own budget.
    """

    bot_id: str
    providers: frozenset[str]
    tags: frozenset[str] = frozenset()
    base_urls: Mapping[str, str] = field(default_factory=dict)  # provider -> custom base URL
    allow_private: bool = False  # the admin allowed this bot's custom base URLs on private ranges
    budget: Budget = field(default_factory=Budget)
    created_at: float = 0.0
    pool: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bot_id": self.bot_id,
            "providers": sorted(self.providers),
            "tags": sorted(self.tags),
            "base_urls": dict(self.base_urls),
            "allow_private": self.allow_private,
            "budget": self.budget.to_dict(),
            "pool": self.pool,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class UpstreamOverride:
    """An admin-set base URL for a catalog provider (e.g. a regional endpoint, a test server)."""

    provider: str
    base_url: str
    allow_private: bool = False


@dataclass(frozen=True)
class UsageDelta:
    """What one proxied request adds to the counters of (day, bot, key)."""

    day: str  # YYYY-MM-DD, UTC
    bot_id: str
    key_id: str  # "" when the request was refused before a key was chosen
    provider: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    rejected: int = 0  # refused by budget or rate limit


@dataclass(frozen=True)
class Usage:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    rejected: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "tokens": self.tokens}


@dataclass(frozen=True)
class Event:
    id: int
    at: float
    bot_id: str
    kind: str  # budget_exceeded | key_failed | ...
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
