"""BotLocks: the one per-bot lock (re-entrant for its holder, never claimable while held)."""

from __future__ import annotations

import threading

from botmaker.services.deploy.locks import BotLocks


def test_a_held_bot_cannot_be_claimed_even_by_its_holder_and_waits_for_others() -> None:
    released: list[str] = []
    locks = BotLocks(on_release=released.append)
    order: list[str] = []
    with locks.hold("a"):
        with locks.hold("a"), locks.claim("a") as free:  # re-entered: no deadlock
            assert not free
        with locks.claim("b") as free:
            assert free  # another bot is free
        other = threading.Thread(target=lambda: _hold_and_note(locks, order))
        other.start()
        other.join(0.2)
        assert other.is_alive(), "a second operation on the bot did not wait"
        order.append("first done")
    other.join(5)
    assert order == ["first done", "second"]
    assert not locks.held("a")
    assert released == ["a", "b", "a", "a"]  # every release (not a failed claim) told


def _hold_and_note(locks: BotLocks, order: list[str]) -> None:
    with locks.hold("a"):
        order.append("second")
