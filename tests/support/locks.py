"""Locks shared by every test process on this machine (pytest-xdist workers, and other
runs of the suite on the same engine), for what is machine-wide: the images the tests
build under fixed tags, the engine's swarm mode, the two real OpenClaw bots the machine
can run at once, and the machine itself for the tests that time BotMaker under attack.

A lock is an exclusive ``flock`` on a file in one folder of the machine's temporary
directory; the kernel releases it when its holder exits, however it exits.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FOLDER = Path(tempfile.gettempdir()) / "botmaker-test-locks"
#: Real OpenClaw bots (about 1 GB and a core each while they start) running at once.
OPENCLAW_SLOTS = 2


def _open(name: str) -> int:
    FOLDER.mkdir(exist_ok=True)
    return os.open(FOLDER / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o666)


@contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """Hold the machine-wide lock ``name`` (waiting for it as long as it takes)."""
    fd = _open(name)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _take_slot() -> int | None:
    """A free OpenClaw slot's locked file, or None if all are taken."""
    for slot in range(OPENCLAW_SLOTS):
        fd = _open(f"openclaw-slot-{slot}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd
    return None


@contextmanager
def openclaw_slots(count: int = 1) -> Iterator[None]:
    """Hold ``count`` of the machine's :data:`OPENCLAW_SLOTS` while real OpenClaw bots run.

    Slots are taken one by one under a gate lock, so two takers never each hold part of
    what they need (a deadlock); a holder gives its slots back without the gate. A
    holder must not ask again before it gives them back.
    """
    assert 0 < count <= OPENCLAW_SLOTS
    held: list[int] = []
    try:
        with machine_lock("openclaw-gate"):
            while len(held) < count:
                fd = _take_slot()
                if fd is None:
                    time.sleep(0.2)
                else:
                    held.append(fd)
        yield
    finally:
        for fd in held:
            os.close(fd)


_room: int | None = None  # this process's shared hold of the machine (machine_shared)
_holds = 0  # and how many times it is held


@contextmanager
def machine_shared() -> Iterator[None]:
    """Run beside other tests, but never beside a test in :func:`machine_alone`.

    A readers-writer lock that lets a waiting writer in first: a reader passes the
    turnstile (held by a waiting writer) before it shares the room. Nested holds in one
    process count, and pass neither (a process that shares the room waits for nothing).
    """
    global _room, _holds
    if _holds == 0:
        room = _open("machine-room")
        try:
            with machine_lock("machine-turnstile"):
                fcntl.flock(room, fcntl.LOCK_SH)
        except BaseException:
            os.close(room)
            raise
        _room = room
    _holds += 1
    try:
        yield
    finally:
        _holds -= 1
        if _holds == 0 and _room is not None:
            os.close(_room)
            _room = None


@contextmanager
def machine_alone() -> Iterator[None]:
    """Run with no other test on the machine (the ones in :func:`machine_shared`): wait
    until those running end; those starting meanwhile wait for this one."""
    assert _holds == 0, "a test that needs the machine alone cannot share it too"
    room = _open("machine-room")
    try:
        with machine_lock("machine-turnstile"):
            fcntl.flock(room, fcntl.LOCK_EX)
        yield
    finally:
        os.close(room)
