"""What deciding who may do what costs per request, at 100 users and 1,000 bots.

A real SQLite store seeded with 100 users (operators and viewers), 10 teams and 1,000
bots (each in a team, a tenth granted to a user directly). Per request the API does
what ``api.deps.Allow`` does: authenticate the session (its row, the user, their teams
and grants), find the route's bot, and ask ``policy.check``. Measured against the same
run's baseline: the session lookup alone, which every request paid before users.

    python -m bench.bench_policy
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from botmaker import policy
from botmaker.api.deps import owned
from botmaker.config import Settings
from botmaker.definition import BotDefinition
from botmaker.services.auth import AuthService, _digest
from botmaker.store import Database, Store

USERS, TEAMS, BOTS, ROUNDS = 100, 10, 1000, 5000


def _timed(label: str, call: Callable[[], object]) -> float:
    for _ in range(200):  # warm the page cache and the statement cache
        call()
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    p50 = statistics.median(samples)
    p99 = statistics.quantiles(samples, n=100)[98]
    print(f"{label:<58} p50 {p50:7.4f} ms   p99 {p99:7.4f} ms")
    return p50


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    db = Database(root / "botmaker.db")
    store = Store(db)
    accounts = store.accounts
    rng = random.Random(7)
    teams = [accounts.add_team(f"t{i:02d}", f"team-{i}").id for i in range(TEAMS)]
    users = []
    for i in range(USERS):
        role = "viewer" if i % 3 == 0 else "operator"
        user = accounts.add_user(
            user_id=f"u{i:03d}", name=f"user-{i}", role=role, password_hash="x"
        )
        users.append(user.id)
    for team in teams:
        accounts.set_members(team, rng.sample(users, 12))
    definition = BotDefinition.load(
        "{}",
        name="x",
        columns={"provider": "openai", "model": "gpt-5.1", "image": "img", "channel": "telegram"},
    )
    bots = []
    for i in range(BOTS):
        record = store.insert_bot(
            bot_id=f"bot-{i:04d}",
            name=f"bot-{i:04d}",
            provider="openai",
            model="gpt-5.1",
            channel="telegram",
            image="img",
            uid_base=200000,
            fixed_uid=None,
            definition=definition,
            owner_id=rng.choice(users),
            team_id=rng.choice(teams),
        )
        bots.append(record.id)
        if i % 10 == 0:
            accounts.set_grants(record.id, rng.sample(users, 2))
    settings = Settings(data_dir=root, secrets_dir=root / "secrets")
    auth = AuthService(settings, store)
    caller = users[1]  # an operator
    store.add_session("s1", _digest("secret"), 3600, user_id=caller)
    token = "bm1.s1.secret"
    print(f"{USERS} users, {TEAMS} teams, {BOTS} bots; {ROUNDS} rounds each")

    baseline = _timed(
        "baseline: the session row alone (before users)", lambda: store.get_session("s1")
    )
    principal = auth.authenticate(token)
    records = [store.get_bot(b) for b in bots[:100]]
    _timed(
        "policy.allowed alone (a bot action, principal in memory)",
        lambda: policy.allowed(principal, policy.Action.BOT_OPERATE, owned(rng.choice(records))),
    )
    _timed("authenticate: session, user, teams, grants", lambda: auth.authenticate(token))

    def whole() -> None:
        who = auth.authenticate(token)
        ref = rng.choice(bots)
        record = store.find_bot(ref)
        policy.allowed(who, policy.Action.BOT_OPERATE, owned(record))

    full = _timed("what Allow does: authenticate + find the bot + check", whole)
    print(
        f"authorisation over the baseline: +{full - baseline:.4f} ms per request"
        f" ({full / baseline:.1f}x the session lookup)"
    )
    db.close()


if __name__ == "__main__":
    main()
