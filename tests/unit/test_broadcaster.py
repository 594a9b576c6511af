"""The broadcaster behind the live-status SSE stream: a slow subscriber never holds up the
others; it loses its oldest messages and is told to resync. On a real engine:
tests/test_monitor.py.
"""

from __future__ import annotations

import time

from botmaker.services.monitor import Broadcaster, Message


def test_a_slow_subscriber_loses_its_oldest_messages_and_is_told_to_resync() -> None:
    broadcaster = Broadcaster(queue_size=3)
    slow, fast = broadcaster.subscribe(), broadcaster.subscribe()
    started = time.monotonic()
    for n in range(1000):
        broadcaster.publish("status", {"n": n})
        assert fast.get(timeout=1) == Message("status", {"n": n})
    assert time.monotonic() - started < 5  # publishing never waited for the slow one
    first, *rest = slow.drain()
    assert first == Message("resync", {"reason": "overflow", "dropped": 997})
    assert [m.data["n"] for m in rest] == [997, 998, 999]
    assert slow.drain() == []
    slow.close()
    assert broadcaster.subscribers == 1
    broadcaster.publish("status", {"n": 1000})
    assert slow.drain() == []  # closed: nothing more
