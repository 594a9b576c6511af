"""The bot state model (services/botstate.py): every state from its inputs, and the
operations that explain engine events."""

from __future__ import annotations

import threading
import time

import pytest

from botmaker.policy import Principal, Role, acting
from botmaker.runtime.base import RuntimeStatus
from botmaker.services.botstate import (
    AFTERMATH,
    STATES,
    Operations,
    Probing,
    cause_by,
    state_of,
)

RUNNING = RuntimeStatus(state="running", container_id="c1")
NOW = time.time()


def _iso(seconds_ago: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(NOW - seconds_ago, UTC).isoformat().replace("+00:00", "Z")


def _channels(state: str, since: float = 300, error: str | None = None) -> dict[str, object]:
    return {
        "checked_at": _iso(1),
        "error": None,
        "accounts": [
            {
                "channel": "telegram",
                "label": "Telegram",
                "state": state,
                "error": error,
                "since": _iso(since),
            }
        ],
    }


def _healthy() -> RuntimeStatus:
    return RuntimeStatus(state="running", container_id="c1", health="healthy")


@pytest.mark.parametrize(
    ("status", "desired", "expected"),
    [
        # asked to stop: stopped, whatever the exit code (137: killed after the timeout)
        (
            RuntimeStatus(state="exited", exit_code=137),
            "stopped",
            ("stopped", "exit code 137 (killed)"),
        ),
        (RuntimeStatus(state="exited", exit_code=0), "stopped", ("stopped", "exit code 0")),
        # not asked: crashed, with its code (0 too: it should be running)
        (RuntimeStatus(state="exited", exit_code=1), "running", ("crashed", "exit code 1")),
        (RuntimeStatus(state="exited", exit_code=0), "running", ("crashed", "exit code 0")),
        (
            RuntimeStatus(state="exited", exit_code=137, oom_killed=True),
            "running",
            ("crashed", "exit code 137 (out of memory)"),
        ),
        (RuntimeStatus(state="created"), "running", ("stopped", "created, not started")),
        (RuntimeStatus(state="restarting"), "running", ("restarting", "by the restart policy")),
        (
            RuntimeStatus(state="missing", detail="no container"),
            "running",
            ("missing", "no container"),
        ),
        (RuntimeStatus(state="creating", detail="being created"), "running", ("creating", "")),
        (RuntimeStatus(state="paused"), "running", ("paused", "")),
        (
            RuntimeStatus(state="running", health="starting", detail="gateway starting"),
            "running",
            ("starting", "gateway starting"),
        ),
        (
            RuntimeStatus(state="running", health="unhealthy", detail="/readyz: not ready"),
            "running",
            ("unhealthy", "/readyz: not ready"),
        ),
        (
            RuntimeStatus(state="running", health="crash_loop", detail="3 exits in 60 s"),
            "running",
            ("crash_loop", "3 exits in 60 s"),
        ),
        (_healthy(), "running", ("healthy", "")),
    ],
)
def test_each_state_from_the_engine_and_what_was_asked(
    status: RuntimeStatus, desired: str, expected: tuple[str, str]
) -> None:
    assert state_of(status, desired=desired) == expected
    assert expected[0] in STATES


def test_a_live_gateway_with_a_channel_down_is_degraded_and_says_which() -> None:
    down = _channels("disconnected", error="401: Unauthorized")
    assert state_of(_healthy(), desired="running", channels=down, now=NOW) == (
        "degraded",
        "Telegram: disconnected (401: Unauthorized)",
    )
    # Still connecting a moment after its start: not yet degraded; a minute on: it is.
    assert (
        state_of(_healthy(), desired="running", channels=_channels("connecting", 5), now=NOW)[0]
        == "healthy"
    )
    assert (
        state_of(_healthy(), desired="running", channels=_channels("connecting", 120), now=NOW)[0]
        == "degraded"
    )
    assert (
        state_of(_healthy(), desired="running", channels=_channels("connected"), now=NOW)[0]
        == "healthy"
    )
    # A gateway that does not answer stays unhealthy (worse than degraded).
    sick = RuntimeStatus(state="running", health="unhealthy", detail="no answer: ReadTimeout")
    assert state_of(sick, desired="running", channels=down, now=NOW)[0] == "unhealthy"
    # Live, but its readiness names the channel: degraded, in the channel's words when
    # the gateway reported them, else its readiness's.
    not_ready = RuntimeStatus(state="running", health="unhealthy", detail="not ready: telegram")
    assert state_of(not_ready, desired="running", channels=down, now=NOW) == (
        "degraded",
        "Telegram: disconnected (401: Unauthorized)",
    )
    assert state_of(not_ready, desired="running", now=NOW) == ("degraded", "not ready: telegram")
    bare = RuntimeStatus(state="running", health="unhealthy", detail="not ready: 503")
    assert state_of(bare, desired="running", now=NOW)[0] == "unhealthy"


def test_health_unknown_says_why() -> None:
    why = "BotMaker does not probe it: its image has no OpenClaw gateway it knows"
    assert state_of(RUNNING, desired="running", probing=Probing(False, why)) == (
        "health_unknown",
        why,
    )
    assert state_of(RUNNING, desired="running") == ("health_unknown", "not probed yet")


def test_an_operation_under_way_shows_at_once() -> None:
    ops = Operations()
    with ops.running("b1", "stop", "stop by alice", "alice") as op:
        assert state_of(_healthy(), desired="stopped", operation=op) == (
            "stopping",
            "stop by alice",
        )
    with ops.running("b1", "restart", "restart by alice", "alice") as op:
        assert state_of(_healthy(), desired="running", operation=op) == (
            "restarting",
            "restart by alice",
        )
        # the container already exited within the restart: still restarting, no crash
        exited = RuntimeStatus(state="exited", exit_code=137)
        assert state_of(exited, desired="running", operation=op)[0] == "restarting"
    with ops.running("b1", "start") as op:
        assert (
            state_of(RuntimeStatus(state="exited", exit_code=0), desired="running", operation=op)[0]
            == "starting"
        )
    # A recreate (edit, upgrade) shows the engine's own state as it goes.
    with ops.running("b1", "recreate", "edit by alice: model") as op:
        assert state_of(_healthy(), desired="running", operation=op)[0] == "healthy"


def test_operations_explain_events_during_and_shortly_after() -> None:
    ops = Operations()
    told: list[str] = []
    ops.listeners.append(told.append)
    before = time.time() - 5
    with ops.running("b1", "stop", "stop by alice", "alice"):
        assert ops.current("b1") is not None
        during = ops.behind("b1", time.time())
        assert during is not None
        assert during.cause == "stop by alice"
        # A nested one (a restart's start) is the outer one's.
        with ops.running("b1", "start") as inner:
            assert inner.kind == "stop"
    assert told == ["b1", "b1"]  # began, ended: the monitor publishes the state each time
    assert ops.current("b1") is None
    after = ops.behind("b1", time.time() + 1)
    assert after is not None
    assert after.actor == "alice"
    assert ops.behind("b1", time.time() + AFTERMATH + 5) is None
    assert ops.behind("b1", before) is None  # an event from before it is not its own
    assert ops.behind("other", time.time()) is None


def test_a_listener_that_fails_never_fails_the_operation() -> None:
    ops = Operations()

    def boom(bot_id: str) -> None:
        raise RuntimeError("listener bug")

    ops.listeners.append(boom)
    with ops.running("b1", "stop", "stop"):
        pass
    assert ops.current("b1") is None


def test_cause_names_the_caller_of_the_request() -> None:
    assert cause_by("edit", "model") == ("edit: model", None)
    alice = Principal(user_id="u1", name="alice", role=Role.OPERATOR)
    token = acting.set(alice)
    try:
        assert cause_by("edit", "model") == ("edit by alice: model", "alice")
        ops = Operations()
        with ops.running("b1", "stop") as op:
            assert (op.cause, op.actor) == ("stop by alice", "alice")
    finally:
        acting.reset(token)


def test_operations_are_thread_safe() -> None:
    ops = Operations()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(200):
                with ops.running(f"b{n}", "stop", "stop"):
                    assert ops.current(f"b{n}") is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(ops.current(f"b{n}") is None for n in range(8))
