"""A burst of parallel logins cannot try more passwords than the limit (issue 12, finding 4).

The limiter takes a slot *before* the slow argon2 check, so parallel attempts from one
client are counted while they run, not after: at most ``login_max_failures`` passwords
are evaluated per client per window, however many arrive at once.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from botmaker.services import Services
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
