"""BackgroundLoop: the one thread shape of the API server's watchers."""

from __future__ import annotations

import threading

from botmaker.services.loop import BackgroundLoop


def test_a_failing_step_is_logged_and_the_loop_goes_on_until_stopped() -> None:
    calls: list[int] = []
    twice = threading.Event()

    def step() -> None:
        calls.append(1)
        if len(calls) == 2:
            twice.set()
        if len(calls) == 1:
            raise RuntimeError("one bad round")

    loop = BackgroundLoop("test-loop", step, lambda: 0.01)
    loop.start()
    assert twice.wait(5), "the loop ended after a step raised"
    loop.stop()
    assert not loop.started
    seen = len(calls)
    threading.Event().wait(0.1)
    assert len(calls) == seen  # nothing runs after stop


def test_wake_runs_the_next_step_before_the_interval() -> None:
    ran = threading.Semaphore(0)
    loop = BackgroundLoop("test-wake", ran.release, lambda: 3600.0)
    loop.start()
    try:
        assert ran.acquire(timeout=5)  # the first step runs at once
        loop.wake()
        assert ran.acquire(timeout=5), "wake() did not cut the hour-long wait short"
    finally:
        loop.stop()


def test_stop_ends_a_step_waiting_on_the_loop() -> None:
    waited: list[bool] = []
    waiting = threading.Event()

    def step() -> None:
        waiting.set()
        waited.append(loop.wait(3600))

    loop = BackgroundLoop("test-wait", step, lambda: 0.0)
    loop.start()
    assert waiting.wait(5)
    loop.stop()
    assert waited == [True]  # the step's own hour-long wait returned because of the stop
