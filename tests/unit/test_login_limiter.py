"""The login limiter on its own: slots taken before the password check, per client, in a
window (issue 12, finding 4). Over real HTTP: tests/test_login_burst.py, tests/test_auth.py.
"""

from __future__ import annotations

import threading
import time

import pytest

from botmaker.errors import TooManyRequests
from botmaker.services.auth import LoginRateLimiter


def test_the_limit_lifts_when_the_window_has_passed() -> None:
    limiter = LoginRateLimiter(max_failures=3, window=0.5)

    def fail(client: str) -> None:
        limiter.acquire(client)  # a slot, taken before the password check
        limiter.failed(client)

    for _ in range(3):
        fail("10.0.0.1")
    with pytest.raises(TooManyRequests) as raised:
        limiter.acquire("10.0.0.1")
    assert raised.value.retry_after == 1  # whole seconds, at least one
    fail("10.0.0.2")  # per client
    time.sleep(0.6)
    fail("10.0.0.1")  # the failures aged out
    # A success clears the count.
    fail("10.0.0.1")
    limiter.acquire("10.0.0.1")
    limiter.succeeded("10.0.0.1")
    fail("10.0.0.1")
    fail("10.0.0.1")
    limiter.acquire("10.0.0.1")


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
