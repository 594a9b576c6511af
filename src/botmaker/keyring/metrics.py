"""The keyring process's Prometheus metrics, in a registry of its own.

Counted as requests pass through the proxy (since the process started; labels: the
bot's id, the provider, the key's id — never the key, never a path or a message):
requests, input and output tokens, errors, refusals by reason, and the time from
forwarding a request to the end of its answer.

Read at scrape time from what ``GET /api/usage`` reports (the same counters in
SQLite, flushed first): each bot's tokens and requests this UTC day and month, and
its budgets, so a dashboard shows spend against budget and an alert fires before a
budget runs out. The admin API serves :meth:`KeyringMetrics.exposition` at
``/admin/metrics``; BotMaker's ``/metrics`` appends it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from botmaker.keyring.model import UsageDelta

if TYPE_CHECKING:
    from botmaker.keyring.service import Keyring

#: Seconds from forwarding a request to the end of its answer: models answer in
#: seconds, long streams in minutes.
_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)


class KeyringMetrics:
    def __init__(self, keyring: Keyring) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        labels = ["bot", "provider", "key"]
        self.requests = Counter(
            "botmaker_keyring_requests",
            "Requests forwarded to a provider (one per answer relayed, whatever its status).",
            labels,
            registry=self.registry,
        )
        self.tokens = Counter(
            "botmaker_keyring_tokens",
            "Tokens the provider reported using, by type (input, output).",
            [*labels, "type"],
            registry=self.registry,
        )
        self.errors = Counter(
            "botmaker_keyring_errors",
            "Failed provider calls: unreachable, retried on the next key, error answers, "
            "broken streams (key empty: no key to try).",
            labels,
            registry=self.registry,
        )
        self.refusals = Counter(
            "botmaker_keyring_refusals",
            "Requests the keyring refused before a provider saw them, by reason "
            "(budget_exceeded, rate_limited, or the refused target's code).",
            ["bot", "provider", "reason"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "botmaker_keyring_request_duration_seconds",
            "Time from forwarding a request to the provider to the end of its answer.",
            labels,
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_UsageCollector(keyring))

    def count(self, delta: UsageDelta) -> None:
        """Add one usage delta (what :meth:`Keyring.record` is given) to the counters."""
        if not (delta.requests or delta.errors or delta.input_tokens or delta.output_tokens):
            return  # a refusal only: counted with its reason by :meth:`refused`
        labels = (delta.bot_id, delta.provider, delta.key_id)
        if delta.requests:
            self.requests.labels(*labels).inc(delta.requests)
        if delta.input_tokens:
            self.tokens.labels(*labels, "input").inc(delta.input_tokens)
        if delta.output_tokens:
            self.tokens.labels(*labels, "output").inc(delta.output_tokens)
        if delta.errors:
            self.errors.labels(*labels).inc(delta.errors)

    def refused(self, bot_id: str, provider: str, reason: str) -> None:
        self.refusals.labels(bot_id, provider, reason).inc()

    def observe(self, bot_id: str, provider: str, key_id: str, seconds: float) -> None:
        self.duration.labels(bot_id, provider, key_id).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _UsageCollector(Collector):
    """Each bot's usage this day and month and its budgets, as ``/admin/usage`` has them."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        today, month, grants, keys = self.keyring.usage_now()
        periods = (("day", today), ("month", month))
        tokens = GaugeMetricFamily(
            "botmaker_keyring_bot_tokens",
            "Tokens a bot used this UTC day or month (GET /api/usage's today/month tokens).",
            labels=["bot", "period"],
        )
        requests = GaugeMetricFamily(
            "botmaker_keyring_bot_requests",
            "Requests a bot made this UTC day or month (GET /api/usage's requests).",
            labels=["bot", "period"],
        )
        token_budget = GaugeMetricFamily(
            "botmaker_keyring_bot_token_budget",
            "A bot's token budget for the day or month (only where one is set).",
            labels=["bot", "period"],
        )
        request_budget = GaugeMetricFamily(
            "botmaker_keyring_bot_request_budget",
            "A bot's request budget for the day or month (only where one is set).",
            labels=["bot", "period"],
        )
        for period, usage in periods:
            for bot_id, used in usage.items():
                tokens.add_metric([bot_id, period], float(used.tokens))
                requests.add_metric([bot_id, period], float(used.requests))
        for grant in grants:
            budget = grant.budget
            for period, token_limit, request_limit in (
                ("day", budget.daily_tokens, budget.daily_requests),
                ("month", budget.monthly_tokens, budget.monthly_requests),
            ):
                if token_limit is not None:
                    token_budget.add_metric([grant.bot_id, period], float(token_limit))
                if request_limit is not None:
                    request_budget.add_metric([grant.bot_id, period], float(request_limit))
        info = GaugeMetricFamily(
            "botmaker_keyring_key_info",
            "A provider key in the keyring (1): its id, provider, label and owning bot "
            "(empty: shared). Never the key.",
            labels=["key", "provider", "label", "bot"],
        )
        for key in keys:
            info.add_metric([key.id, key.provider, key.label, key.bot_id or ""], 1.0)
        yield from (tokens, requests, token_budget, request_budget, info)
        yield GaugeMetricFamily(
            "botmaker_keyring_locked",
            "1 if the keyring is locked (its master key or passphrase missing or wrong).",
            value=1.0 if self.keyring.store.locked else 0.0,
        )
        yield GaugeMetricFamily(
            "botmaker_keyring_bots", "Bots registered with the keyring.", value=float(len(grants))
        )
