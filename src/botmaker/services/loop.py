"""One background thread that runs a step, waits, and runs it again until stopped.

The API server's watchers (gateway probes, resource sampling, alert delivery and
keyring polling, reconciliation, the engine's event stream) all have this shape;
each passes its step and its interval. A step that raises is logged and the loop
goes on: a watcher outlives one bad round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundLoop:
    def __init__(
        self,
        name: str,
        step: Callable[[], object],
        interval: Callable[[], float],
        *,
        join_timeout: float = 30.0,
        paced: bool = False,
    ) -> None:
        """``interval``: seconds to wait after a step (read each time, so it may change);
        ``paced``: count the step's own time in the interval (a steady sampling rate)."""
        self.name = name
        self.step = step
        self.interval = interval
        self.join_timeout = join_timeout
        self.paced = paced
        self._stopping = threading.Event()
        self._kick = threading.Event()  # set by stop() and wake()
        self._thread: threading.Thread | None = None

    def stopping(self) -> bool:
        """Whether ``stop`` was asked for (a long step checks this to end early)."""
        return self._stopping.is_set()

    @property
    def started(self) -> bool:
        """Started and not stopped since."""
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._kick.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run the next step now rather than after the interval."""
        self._kick.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (for a step's own retries); True if stopping."""
        return self._stopping.wait(seconds)

    def request_stop(self) -> None:
        """Ask the loop to end after the current step (see ``join``)."""
        self._stopping.set()
        self._kick.set()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout)
            self._thread = None

    def stop(self) -> None:
        self.request_stop()
        self.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.step()
            except Exception:  # the loop outlives any one step
                log.exception("%s: step failed", self.name)
            delay = self.interval()
            if self.paced:
                delay -= time.monotonic() - started
            self._kick.wait(max(0.0, delay))
            self._kick.clear()
