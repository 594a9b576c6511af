"""Sample an endpoint's response time in the background while something else happens."""

from __future__ import annotations

import math
import threading
import time

import httpx


class Sampler:
    """GET ``path`` every ``interval`` seconds until the ``with`` block ends.

    A failure (an exception or a status other than 200) counts as a sample of the
    client's whole timeout, so it can only make the percentiles worse.
    """

    def __init__(
        self,
        base_url: str,
        path: str,
        *,
        interval: float = 0.05,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=5.0, headers=headers)
        self.path = path
        self.interval = interval
        self.seconds: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sample {path}", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                status = self.client.get(self.path).status_code
            except httpx.HTTPError as exc:
                self.failures.append(repr(exc))
                self.seconds.append(5.0)
            else:
                self.seconds.append(time.perf_counter() - started)
                if status != 200:
                    self.failures.append(f"HTTP {status}")
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.client.close()

    def percentile(self, share: float) -> float:
        ordered = sorted(self.seconds)
        assert ordered, f"no sample of {self.path}"
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

    def summary(self) -> str:
        """``p50/p99/max in ms over n requests`` (for the ledger and the report)."""
        ms = [1000 * self.percentile(p) for p in (0.5, 0.99, 1.0)]
        failed = f", {len(self.failures)} failed" if self.failures else ""
        count = len(self.seconds)
        return f"p50 {ms[0]:.0f} / p99 {ms[1]:.0f} / max {ms[2]:.0f} ms, {count} requests{failed}"

    def held(self, p99_limit: float) -> bool:
        """Every request answered 200, and the 99th percentile is under the limit."""
        return not self.failures and len(self.seconds) >= 10 and self.percentile(0.99) < p99_limit
