"""The keyring process's state in memory: caches over the store, usage ledger, budgets.

The proxy asks this object, on every request, who the caller is, which keys to try
and where to send the request, and whether the bot's budget still allows it. The
answers come from memory (filled from the store and invalidated when the admin API
changes something), so a request costs no SQLite round trip; usage counters are
added up here and written to SQLite in batches by :meth:`Keyring.flush`.

A bot's grant may name a pool (BotMaker: the bot's team). A pool with a budget has
its own ledger, summing the usage of every bot whose grant names it; a request must
fit both the bot's budget and its pool's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from botmaker.errors import InvalidInput
from botmaker.keyring import scrub
from botmaker.keyring.metrics import KeyringMetrics
from botmaker.keyring.model import (
    AuthStyle,
    Budget,
    Event,
    Grant,
    KeyChoice,
    KeyInfo,
    UpstreamOverride,
    Usage,
    UsageDelta,
)
from botmaker.keyring.netpolicy import check_base_url
from botmaker.keyring.store import KeyringStore
from botmaker.openclaw.catalog import PROVIDERS

log = logging.getLogger("botmaker.keyring")

_MAX_CACHED_TOKENS = 50_000


@dataclass(frozen=True)
class Upstream:
    """Where one provider's requests go, and how the key travels."""

    provider: str
    base_url: str
    auth: AuthStyle
    allow_private: bool


@dataclass(frozen=True)
class Refusal:
    """Why a request was not forwarded (budget or rate limit): a 429 for the bot."""

    message: str
    retry_after: int
    kind: str  # budget_exceeded | rate_limited
    budget: str = ""  # which limit ("daily request budget of 100"): one event per limit


_today: tuple[int, str] = (-1, "")


def today() -> str:
    """The UTC date, ``YYYY-MM-DD`` (formatted once a day: the proxy asks per request)."""
    global _today
    day = int(time.time() // 86400)  # Unix time has exactly 86400 s per UTC day
    if day != _today[0]:
        _today = (day, datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d"))
    return _today[1]


class _Counts(Protocol):
    """Anything carrying the five usage counters (a delta, a stored total, a counter)."""

    @property
    def requests(self) -> int: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def rejected(self) -> int: ...


class _Counter:
    __slots__ = ("errors", "input_tokens", "output_tokens", "rejected", "requests")

    def __init__(self) -> None:
        self.requests = self.input_tokens = self.output_tokens = self.errors = self.rejected = 0

    def add(self, delta: _Counts) -> None:
        self.requests += delta.requests
        self.input_tokens += delta.input_tokens
        self.output_tokens += delta.output_tokens
        self.errors += delta.errors
        self.rejected += delta.rejected

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class _BotLedger:
    """One bot's (or one pool's) counters for the current day and month, and its
    rate-limit bucket."""

    __slots__ = (
        "bucket",
        "bucket_at",
        "day",
        "in_flight",
        "month",
        "month_key",
        "today_key",
        "warned",
    )

    def __init__(self, day: str) -> None:
        self.today_key = day
        self.month_key = day[:7]
        self.day = _Counter()
        self.month = _Counter()
        self.bucket = -1.0
        self.bucket_at = 0.0
        self.warned: set[str] = set()
        self.in_flight = 0  # admitted, not finished: counted against request budgets


class Keyring:
    def __init__(self, store: KeyringStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._tokens: dict[str, Grant] = {}
        self._candidates: dict[tuple[str, str], list[KeyChoice]] = {}
        self._overrides: dict[str, UpstreamOverride] = store.upstreams()
        self._ledgers: dict[str, _BotLedger] = {}
        self._pending: dict[tuple[str, str, str, str], _Counter] = defaultdict(_Counter)
        self._flushing = threading.Lock()  # held from taking the counters to writing them
        self.listeners: list[threading.Event] = []
        # pools: budgets by pool id, which pool each bot's grant names, the pools'
        # ledgers (rebuilt from SQLite when their membership changed), and per bot
        # how many of its admitted requests (of a bot in a pool) are still under way
        self._pool_budgets: dict[str, Budget] = store.pools()
        self._members: dict[str, str] = store.pool_members()
        self._pool_ledgers: dict[str, _BotLedger] = {}
        self._stale_pools: set[str] = set()
        self._pool_flights: dict[str, int] = {}
        self.metrics = KeyringMetrics(self)  # Prometheus: its own registry

    # -- who is calling, which keys, where to -----------------------------------------

    def authenticate(self, token: str) -> Grant | None:
        grant = self._tokens.get(token)
        if grant is not None:
            return grant
        grant = self.store.authenticate(token)
        if grant is not None:
            with self._lock:
                if len(self._tokens) >= _MAX_CACHED_TOKENS:
                    self._tokens.clear()
                self._tokens[token] = grant
        return grant

    def candidates(self, grant: Grant, provider: str) -> list[KeyChoice]:
        cache_key = (grant.bot_id, provider)
        keys = self._candidates.get(cache_key)
        if keys is None:
            keys = self.store.candidates(provider, bot_id=grant.bot_id, tags=grant.tags)
            with self._lock:
                self._candidates[cache_key] = keys
        return keys

    def upstream(self, grant: Grant, provider: str) -> Upstream | None:
        spec = PROVIDERS.get(provider)
        if spec is None:
            return None
        custom = grant.base_urls.get(provider)
        if custom:
            return Upstream(provider, custom, spec.key_auth, grant.allow_private)
        override = self._overrides.get(provider)
        if override is not None:
            return Upstream(provider, override.base_url, spec.key_auth, override.allow_private)
        if not spec.base_url:
            return None
        return Upstream(provider, spec.base_url, spec.key_auth, False)

    # -- admin changes (invalidate what they touch) ------------------------------------

    def add_key(
        self,
        provider: str,
        secret: str,
        *,
        label: str,
        tags: tuple[str, ...] = (),
        bot_id: str | None = None,
    ) -> KeyInfo:
        if provider not in PROVIDERS:
            raise InvalidInput(f"unknown provider {provider!r}", field="provider")
        if bot_id is not None and not self._has_grant(bot_id):
            raise InvalidInput(f"no bot {bot_id} is registered with the keyring", field="bot_id")
        info = self.store.add_key(provider, secret, label=label, tags=tags, bot_id=bot_id)
        self._forget_candidates()
        return info

    def delete_key(self, key_id: str) -> None:
        self.store.delete_key(key_id)
        self._forget_candidates()

    def put_grant(self, grant: Grant) -> str | None:
        for provider in grant.providers:
            if provider not in PROVIDERS:
                raise InvalidInput(f"unknown provider {provider!r}", field="providers")
        for provider, url in grant.base_urls.items():
            if provider not in grant.providers:
                raise InvalidInput(
                    f"base URL for {provider}, which the bot does not use",
                    field=f"base_urls.{provider}",
                )
            check_base_url(url, allow_private=grant.allow_private, field=f"base_urls.{provider}")
        token = self.store.put_grant(grant)
        self._forget_grants()
        self._set_pool(grant.bot_id, grant.pool)
        return token

    def rotate_token(self, bot_id: str) -> str:
        token = self.store.rotate_token(bot_id)
        self._forget_grants()
        return token

    def delete_grant(self, bot_id: str) -> None:
        self.store.delete_grant(bot_id)
        self._forget_grants()
        self._set_pool(bot_id, None)
        with self._lock:
            self._ledgers.pop(bot_id, None)

    def put_pool(self, pool_id: str, budget: Budget) -> None:
        """Create or replace a pool's budget; it applies from the next request."""
        self.store.put_pool(pool_id, budget)
        with self._lock:
            self._pool_budgets[pool_id] = budget

    def delete_pool(self, pool_id: str) -> None:
        """Drop a pool's budget (its bots keep their own budgets and their grants' pool)."""
        self.store.delete_pool(pool_id)
        with self._lock:
            self._pool_budgets.pop(pool_id, None)
            self._pool_ledgers.pop(pool_id, None)
            self._stale_pools.discard(pool_id)

    def pools(self) -> dict[str, Budget]:
        """Every pool with a budget."""
        return dict(self._pool_budgets)

    def pool_bots(self) -> dict[str, list[str]]:
        """The bots of each pool named by a grant, sorted."""
        found: dict[str, list[str]] = defaultdict(list)
        for bot_id, pool in sorted(self._members.items()):
            found[pool].append(bot_id)
        return dict(found)

    def _set_pool(self, bot_id: str, pool: str | None) -> None:
        """Note the pool a bot's grant now names; a pool it joins or leaves is counted
        again from SQLite before its next request."""
        with self._lock:
            old = self._members.get(bot_id)
            if pool is None:
                self._members.pop(bot_id, None)
            else:
                self._members[bot_id] = pool
            if old != pool:
                self._stale_pools.update(p for p in (old, pool) if p is not None)

    def set_upstream(self, override: UpstreamOverride) -> None:
        if override.provider not in PROVIDERS:
            raise InvalidInput(f"unknown provider {override.provider!r}", field="provider")
        check_base_url(override.base_url, allow_private=override.allow_private)
        self.store.set_upstream(override)
        self._overrides = self.store.upstreams()

    def delete_upstream(self, provider: str) -> None:
        self.store.delete_upstream(provider)
        self._overrides = self.store.upstreams()

    def overrides(self) -> dict[str, UpstreamOverride]:
        return dict(self._overrides)

    def _has_grant(self, bot_id: str) -> bool:
        return any(g.bot_id == bot_id for g in self.store.list_grants())

    def _forget_grants(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._candidates.clear()

    def _forget_candidates(self) -> None:
        with self._lock:
            self._candidates.clear()
        scrub.forget()  # the scrubbers' cache holds plaintext keys too

    def forget_keys(self) -> None:
        """Drop cached plaintext (after lock or a change made by another process)."""
        self._forget_candidates()

    # -- budgets and usage --------------------------------------------------------------

    def _ledger(self, bot_id: str, day: str) -> _BotLedger:
        ledger = self._ledgers.get(bot_id)
        if ledger is not None and ledger.today_key == day:
            return ledger
        fresh = _BotLedger(day)
        if ledger is not None and ledger.month_key == fresh.month_key:
            fresh.month = ledger.month
            fresh.bucket, fresh.bucket_at = ledger.bucket, ledger.bucket_at
        else:  # first request since start (or a new month): read what SQLite has
            self._read_month(fresh, day, {bot_id}, bot_id=bot_id)
        if ledger is not None:  # requests admitted yesterday are still under way
            fresh.in_flight = ledger.in_flight
        with self._lock:
            self._ledgers[bot_id] = fresh
        return fresh

    def _pool_ledger(self, pool_id: str, day: str) -> _BotLedger:
        ledger = self._pool_ledgers.get(pool_id)
        stale = pool_id in self._stale_pools
        if ledger is not None and not stale and ledger.today_key == day:
            return ledger
        fresh = _BotLedger(day)
        members = {bot for bot, pool in self._members.items() if pool == pool_id}
        if ledger is not None and ledger.month_key == fresh.month_key:
            fresh.bucket, fresh.bucket_at = ledger.bucket, ledger.bucket_at
            if ledger.today_key == day:  # membership changed: one event per period still
                fresh.warned = ledger.warned
        if ledger is not None and not stale and ledger.month_key == fresh.month_key:
            fresh.month = ledger.month
        else:  # first request since start, a new month, or bots joined or left
            self._read_month(fresh, day, members, pool=pool_id)
        fresh.in_flight = sum(self._pool_flights.get(bot, 0) for bot in members)
        with self._lock:
            self._pool_ledgers[pool_id] = fresh
            self._stale_pools.discard(pool_id)
        return fresh

    def _read_month(
        self,
        ledger: _BotLedger,
        day: str,
        bots: Collection[str],
        *,
        bot_id: str | None = None,
        pool: str | None = None,
    ) -> None:
        """Fill a fresh ledger with this month so far: what SQLite has for one bot or a
        pool's bots, plus what was counted here but not yet flushed."""
        with self._flushing:  # no counters between the pending map and the database
            for when, usage in self.store.usage_days(
                bot_id=bot_id, pool=pool, day_from=f"{ledger.month_key}-01", day_to=day
            ):
                ledger.month.add(usage)
                if when == day:
                    ledger.day.add(usage)
            with self._lock:
                pending = [(k[0], c) for k, c in self._pending.items() if k[1] in bots]
        for when, counter in pending:
            if when[:7] == ledger.month_key and when <= day:
                ledger.month.add(counter)
                if when == day:
                    ledger.day.add(counter)

    def admit(self, grant: Grant, now: float | None = None) -> Refusal | None:
        """None if the bot may send one more request now; else why not.

        The bot's own budget is checked first, then its pool's (if the pool has a
        budget); a refused request leaves nothing counted as under way. Every admitted
        request must be followed by :meth:`finish` with the same grant.
        """
        budget = grant.budget
        pool_id = grant.pool
        shared_budget = self._pool_budgets.get(pool_id) if pool_id is not None else None
        if shared_budget == _UNLIMITED:
            shared_budget = None
        if budget == _UNLIMITED and shared_budget is None:
            if pool_id is not None:
                self._take_off(grant.bot_id, pool_id)
            return None
        now = time.time() if now is None else now
        day = today()
        ledger: _BotLedger | None = None
        if budget != _UNLIMITED:
            ledger = self._ledger(grant.bot_id, day)
            refusal = _over_budget(budget, ledger, now)
            if refusal is not None:
                self._warn(grant.bot_id, ledger, refusal, refusal.message)
                return refusal
        shared: _BotLedger | None = None
        if pool_id is not None and shared_budget is not None:
            shared = self._pool_ledger(pool_id, day)
            refusal = _over_budget(shared_budget, shared, now, scope="team ")
            if refusal is not None:
                self._warn(grant.bot_id, shared, refusal, f"{refusal.message} (pool {pool_id})")
                return refusal
        # both buckets must have a token before either gives one
        refusal = _rate_limited(budget, ledger, now) if ledger is not None else None
        if refusal is None and shared is not None and shared_budget is not None:
            refusal = _rate_limited(shared_budget, shared, now, scope="team ")
        if refusal is not None:
            return refusal
        if ledger is not None:
            if budget.requests_per_minute:
                ledger.bucket -= 1.0
            ledger.in_flight += 1
        if shared is not None and shared_budget and shared_budget.requests_per_minute:
            shared.bucket -= 1.0
        if pool_id is not None:
            self._take_off(grant.bot_id, pool_id)
        return None

    def _take_off(self, bot_id: str, pool_id: str) -> None:
        """Count one admitted request of a bot in a pool as under way (also when the
        pool has no budget: it may get one before the request is over)."""
        self._pool_flights[bot_id] = self._pool_flights.get(bot_id, 0) + 1
        shared = self._pool_ledgers.get(pool_id)
        if shared is not None:
            shared.in_flight += 1

    def _warn(self, bot_id: str, ledger: _BotLedger, refusal: Refusal, detail: str) -> None:
        """One ``budget_exceeded`` event per limit and period (not for rate limits)."""
        if refusal.kind == "budget_exceeded" and refusal.budget not in ledger.warned:
            ledger.warned.add(refusal.budget)
            self.event(bot_id, "budget_exceeded", detail)

    def finish(self, grant: Grant) -> None:
        """A request :meth:`admit` let through is over, whatever came of it."""
        if grant.budget != _UNLIMITED:
            ledger = self._ledgers.get(grant.bot_id)
            if ledger is not None and ledger.in_flight > 0:
                ledger.in_flight -= 1
        if grant.pool is None:
            return
        flights = self._pool_flights.get(grant.bot_id, 0)
        if flights <= 0:
            return
        if flights == 1:
            del self._pool_flights[grant.bot_id]
        else:
            self._pool_flights[grant.bot_id] = flights - 1
        # the pool the bot is in now: a pool it moved to counted its requests under way
        pool = self._members.get(grant.bot_id)
        shared = self._pool_ledgers.get(pool) if pool is not None else None
        if shared is not None and shared.in_flight > 0:
            shared.in_flight -= 1

    def record(self, delta: UsageDelta) -> None:
        self.metrics.count(delta)
        with self._lock:
            self._pending[(delta.day, delta.bot_id, delta.key_id, delta.provider)].add(delta)
            ledger = self._ledgers.get(delta.bot_id)
            pool = self._members.get(delta.bot_id)
            shared = self._pool_ledgers.get(pool) if pool is not None else None
        for counted in (ledger, shared):
            if counted is not None and counted.today_key == delta.day:
                counted.day.add(delta)
                counted.month.add(delta)

    def flush(self) -> int:
        """Write the counters gathered since the last flush; returns how many rows."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, defaultdict(_Counter)
        if not pending:
            return 0
        deltas = [
            UsageDelta(
                day=day,
                bot_id=bot,
                key_id=key,
                provider=provider,
                requests=c.requests,
                input_tokens=c.input_tokens,
                output_tokens=c.output_tokens,
                errors=c.errors,
                rejected=c.rejected,
            )
            for (day, bot, key, provider), c in pending.items()
        ]
        try:
            self.store.add_usage(deltas)
        except Exception:
            with self._lock:  # keep them for the next flush
                for delta in deltas:
                    self._pending[(delta.day, delta.bot_id, delta.key_id, delta.provider)].add(
                        delta
                    )
            raise
        return len(deltas)

    def event(self, bot_id: str, kind: str, detail: str) -> Event:
        event = self.store.add_event(bot_id, kind, detail)
        log.warning("bot %s: %s: %s", bot_id, kind, detail)
        return event

    def usage_now(
        self,
    ) -> tuple[dict[str, Usage], dict[str, Usage], list[Grant], list[KeyInfo]]:
        """Per-bot usage today and this month (flushed first, as :meth:`usage_report`
        counts it), the grants and the keys: what the metrics scrape reads."""
        self.flush()
        day = today()
        month_start = f"{day[:7]}-01"
        return (
            self.store.usage_by_bot(day_from=day, day_to=day),
            self.store.usage_by_bot(day_from=month_start, day_to=day),
            self.store.list_grants(),
            self.store.list_keys(),
        )

    def usage_report(self, *, days: int) -> dict[str, object]:
        """Per-bot and per-key totals (today, this month) and per-day rows, for the admin API."""
        self.flush()
        day = today()
        month_start = f"{day[:7]}-01"
        first = datetime.fromtimestamp(time.time() - (days - 1) * 86400, UTC).strftime("%Y-%m-%d")
        by_bot_today = self.store.usage_by_bot(day_from=day, day_to=day)
        by_bot_month = self.store.usage_by_bot(day_from=month_start, day_to=day)
        by_key_today = self.store.usage_by_key(day_from=day, day_to=day)
        by_key_month = self.store.usage_by_key(day_from=month_start, day_to=day)
        grants = {g.bot_id: g for g in self.store.list_grants()}
        budgets = self.store.pools()
        members: dict[str, list[str]] = defaultdict(list)
        for member in sorted(grants.values(), key=lambda g: g.bot_id):
            if member.pool is not None:
                members[member.pool].append(member.bot_id)
        pools = {}
        for pool_id in sorted(set(budgets) | set(members)):
            names = members.get(pool_id, [])
            pools[pool_id] = {
                "today": _total(by_bot_today.get(b) for b in names).to_dict(),
                "month": _total(by_bot_month.get(b) for b in names).to_dict(),
                "budget": budgets.get(pool_id, Budget()).to_dict(),
                "bots": names,
            }
        bots = {}
        for bot_id in sorted(set(grants) | set(by_bot_month)):
            grant = grants.get(bot_id)
            bots[bot_id] = {
                "today": by_bot_today.get(bot_id, Usage()).to_dict(),
                "month": by_bot_month.get(bot_id, Usage()).to_dict(),
                "budget": (grant.budget if grant else Budget()).to_dict(),
                "registered": grant is not None,
            }
        keys = {}
        for info in self.store.list_keys():
            keys[info.id] = {
                "provider": info.provider,
                "label": info.label,
                "last4": info.last4,
                "bot_id": info.bot_id,
                "today": by_key_today.get(info.id, Usage()).to_dict(),
                "month": by_key_month.get(info.id, Usage()).to_dict(),
            }
        rows = [
            {"day": when, **usage.to_dict()}
            for when, usage in self.store.usage_days(bot_id=None, day_from=first, day_to=day)
        ]
        return {"day": day, "bots": bots, "pools": pools, "keys": keys, "days": rows}


_UNLIMITED = Budget()


def _seconds_to_midnight(now: float) -> int:
    return max(1, 86400 - int(now) % 86400)


def _seconds_to_month_end(now: float) -> int:
    moment = datetime.fromtimestamp(now, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return max(1, int(datetime(year, month, 1, tzinfo=UTC).timestamp() - now))


def _total(usages: Iterable[Usage | None]) -> Usage:
    total = _Counter()
    for usage in usages:
        if usage is not None:
            total.add(usage)
    return Usage(
        requests=total.requests,
        input_tokens=total.input_tokens,
        output_tokens=total.output_tokens,
        errors=total.errors,
        rejected=total.rejected,
    )


def _rate_limited(
    budget: Budget, ledger: _BotLedger, now: float, *, scope: str = ""
) -> Refusal | None:
    """Refill the ledger's token bucket; a refusal if it holds less than one token."""
    rpm = budget.requests_per_minute
    if not rpm:
        return None
    rate = rpm / 60.0
    if ledger.bucket < 0:
        ledger.bucket, ledger.bucket_at = float(rpm), now
    ledger.bucket = min(float(rpm), ledger.bucket + (now - ledger.bucket_at) * rate)
    ledger.bucket_at = now
    if ledger.bucket < 1.0:
        wait = max(1, int((1.0 - ledger.bucket) / rate + 0.999))
        return Refusal(
            f"{scope}rate limit of {rpm} requests per minute reached", wait, "rate_limited"
        )
    return None


def _over_budget(
    budget: Budget, ledger: _BotLedger, now: float, *, scope: str = ""
) -> Refusal | None:
    # requests still under way count against request budgets: parallel requests
    # must not all pass a budget that only some of them fit in
    checks = (
        (budget.daily_tokens, ledger.day.tokens, "daily token budget", _seconds_to_midnight),
        (budget.monthly_tokens, ledger.month.tokens, "monthly token budget", _seconds_to_month_end),
        (
            budget.daily_requests,
            ledger.day.requests + ledger.in_flight,
            "daily request budget",
            _seconds_to_midnight,
        ),
        (
            budget.monthly_requests,
            ledger.month.requests + ledger.in_flight,
            "monthly request budget",
            _seconds_to_month_end,
        ),
    )
    for limit, used, what, until in checks:
        if limit is not None and used >= limit:
            return Refusal(
                f"{scope}{what} of {limit} used up ({used} so far)",
                until(now),
                "budget_exceeded",
                budget=f"{scope}{what} of {limit}",
            )
    return None
