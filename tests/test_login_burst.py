"""A burst of parallel logins cannot try more passwords than the limit (issue 12, finding 4).

The limiter takes a slot *before* the slow argon2 check, so parallel attempts from one
client are counted while they run, not after: at most ``login_max_failures`` passwords
are evaluated per client per window, however many arrive at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from botmaker.errors import TooManyRequests
from botmaker.services import Services
from botmaker.services.auth import LoginRateLimiter
from tests.conftest import ADMIN_PASSWORD

BURST = 50


def test_fifty_parallel_wrong_passwords_evaluate_at_most_the_limit(
    server: str, services: Services
) -> None:
    limit = services.settings.login_max_failures
    window = services.settings.login_window_seconds
    start = threading.Barrier(BURST)

    def attempt(n: int) -> httpx.Response:
        with httpx.Client(base_url=server, timeout=60) as c:
            start.wait()
            return c.post("/api/login", json={"password": f"wrong password {n}"})

    with ThreadPoolExecutor(BURST) as pool:
        responses = list(pool.map(attempt, range(BURST)))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {401, 429}, statuses
    assert 1 <= statuses[401] <= limit, statuses
    for response in responses:
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "too_many_requests"
            assert 1 <= int(response.headers["retry-after"]) <= window
    # The audit saw each attempt; exactly the evaluated ones were wrong passwords.
    failed = [e for e in services.audit.entries(limit=200) if e["action"] == "login.failed"]
    assert Counter(e["detail"]["status"] for e in failed) == statuses
    # Within the window even the right password is refused: the burst used up the
    # client's attempts, and a correct guess must not be told apart from a wrong one.
    with httpx.Client(base_url=server, timeout=30) as c:
        refused = c.post("/api/login", json={"password": ADMIN_PASSWORD})
    assert refused.status_code == 429, refused.text
    assert "set-cookie" not in refused.headers


def test_the_limiter_hands_out_at_most_its_slots_to_threads() -> None:
    limiter = LoginRateLimiter(max_failures=3, window=60)
    start = threading.Barrier(40)
    granted: list[int] = []
    refused: list[int] = []

    def attempt(n: int) -> None:
        start.wait()
        try:
            limiter.acquire("10.0.0.1")
        except TooManyRequests as exc:
            refused.append(exc.retry_after)
            return
        granted.append(n)
        time.sleep(0.05)  # the password check
        limiter.failed("10.0.0.1")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 3, granted
    assert len(refused) == 37
    assert all(retry >= 1 for retry in refused)
    with pytest.raises(TooManyRequests):
        limiter.acquire("10.0.0.1")
    limiter.acquire("10.0.0.2")  # per client


def test_a_slot_in_use_counts_and_a_success_clears_the_client() -> None:
    limiter = LoginRateLimiter(max_failures=2, window=60)
    limiter.acquire("a")
    limiter.acquire("a")  # two checks running at once
    with pytest.raises(TooManyRequests) as raised:
        limiter.acquire("a")
    assert raised.value.retry_after >= 1
    limiter.failed("a")
    limiter.succeeded("a")  # the other one was right: the client starts afresh
    limiter.acquire("a")
    limiter.failed("a")
    limiter.acquire("a")
    limiter.failed("a")
    with pytest.raises(TooManyRequests):
        limiter.acquire("a")


def test_clients_with_a_check_running_are_never_forgotten() -> None:
    limiter = LoginRateLimiter(max_failures=1, window=60, max_clients=2)
    limiter.acquire("busy")  # its password check is running
    for n in range(10):  # many other clients fill the table
        limiter.acquire(f"other-{n}")
        limiter.failed(f"other-{n}")
    with pytest.raises(TooManyRequests):
        limiter.acquire("busy")
