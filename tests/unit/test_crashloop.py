"""Crash-loop detection (services/crashloop.py): the pure bookkeeping, driven with
explicit times, and the cleaning of hostile log lines."""

from __future__ import annotations

from botmaker.runtime.base import RuntimeStatus
from botmaker.services.crashloop import CrashLoops, Rules, reason_lines

T0 = 1_800_000_000.0
RULES = Rules(restarts=3, window=60.0, never_live=45.0, stable=60.0)


def never(_: str) -> float | None:
    return None


def plain(_: str) -> bool:
    return False


def gateway(_: str) -> bool:
    return True


def crash(loops: CrashLoops, at: float, code: int = 1, bot: str = "b1") -> None:
    """An exit by itself at ``at``, restarted 0.1 s later."""
    loops.exited(bot, at, code, f"fatal at {at}")
    loops.started(bot, at + 0.1)


def test_three_exits_within_the_window_start_one_episode() -> None:
    loops = CrashLoops(RULES)
    assert loops.exited("b1", T0, 1, "boom") is None
    loops.started("b1", T0 + 0.1)
    assert loops.exited("b1", T0 + 20, 1, "boom") is None
    loops.started("b1", T0 + 20.2)
    episode = loops.exited("b1", T0 + 40, 2, "config invalid")
    assert episode is not None
    assert (episode.rule, episode.restarts, episode.exit_code) == ("restarts", 3, 2)
    assert episode.reason == "config invalid"
    assert episode.detail == "crash loop: exited 3 times within 60 s; last exit code 2"
    # Further exits count on in the same episode, never a second one.
    assert loops.exited("b1", T0 + 41, 3) is None
    current = loops.episode("b1")
    assert current is not None
    assert (current.restarts, current.exit_code) == (4, 3)
    assert "(4 restarts in all)" in current.detail


def test_exits_spread_wider_than_the_window_are_no_loop() -> None:
    loops = CrashLoops(RULES)
    for at in (T0, T0 + 35, T0 + 70, T0 + 105):  # never 3 within 60 s
        crash(loops, at)
    assert loops.episode("b1") is None
    started, ended = loops.sweep(T0 + 300, never, plain)
    assert (started, ended) == ([], [])
    assert loops.looping() == []


def test_a_deliberate_stop_ends_the_episode_and_forgets_the_exits() -> None:
    loops = CrashLoops(RULES)
    crash(loops, T0)
    crash(loops, T0 + 1)
    assert loops.stopped("b1") is None  # two exits: no episode yet, but forgotten
    crash(loops, T0 + 2)
    assert loops.episode("b1") is None
    crash(loops, T0 + 3)
    crash(loops, T0 + 4)
    assert loops.episode("b1") is not None
    ended = loops.stopped("b1")
    assert ended is not None
    assert ended.rule == "restarts"
    assert loops.episode("b1") is None


def test_recovery_needs_a_stable_run_and_a_live_gateway() -> None:
    loops = CrashLoops(RULES)
    for at in (T0, T0 + 1, T0 + 2):
        crash(loops, at)
    assert loops.episode("b1") is not None
    # Running again since T0 + 2.1: not yet stable 30 s later.
    assert loops.sweep(T0 + 32, never, plain) == ([], [])
    # A gateway that never answered /healthz since its restart stays in the episode.
    assert loops.sweep(T0 + 100, never, gateway) == ([], [])
    assert loops.sweep(T0 + 100, lambda _: T0 + 1.0, gateway) == ([], [])  # before restart
    started, ended = loops.sweep(T0 + 100, lambda _: T0 + 30, gateway)
    assert started == []
    assert [e.bot_id for e in ended] == ["b1"]
    assert loops.episode("b1") is None


def test_a_plain_bot_recovers_after_running_stable() -> None:
    loops = CrashLoops(RULES)
    for at in (T0, T0 + 1, T0 + 2):
        crash(loops, at)
    _, ended = loops.sweep(T0 + 62.2, never, plain)
    assert [e.bot_id for e in ended] == ["b1"]


def test_waiting_for_a_restart_is_not_stable() -> None:
    """Docker's restart back-off can exceed the stable time: a bot that has not started
    again since its last exit is still looping."""
    loops = CrashLoops(RULES)
    for at in (T0, T0 + 1):
        crash(loops, at)
    loops.exited("b1", T0 + 2, 1)  # no start follows
    assert loops.sweep(T0 + 500, never, plain) == ([], [])
    assert loops.episode("b1") is not None


def test_a_gateway_restarted_and_never_live_is_a_loop_after_the_bound() -> None:
    loops = CrashLoops(RULES)
    loops.exited("gw", T0, 1, "Error: invalid config")
    loops.started("gw", T0 + 1)
    assert loops.sweep(T0 + 40, never, gateway) == ([], [])  # within the bound
    # Not a gateway (no probes): the rule does not apply.
    assert loops.sweep(T0 + 46, never, plain) == ([], [])
    started, _ = loops.sweep(T0 + 46.5, never, gateway)
    assert [(e.bot_id, e.rule, e.restarts, e.exit_code) for e in started] == [
        ("gw", "never_live", 1, 1)
    ]
    assert started[0].reason == "Error: invalid config"
    assert "never live" in started[0].detail
    assert loops.sweep(T0 + 47, never, gateway) == ([], [])  # once per episode


def test_a_gateway_live_after_its_restart_is_fine() -> None:
    loops = CrashLoops(RULES)
    loops.exited("gw", T0, 137)
    loops.started("gw", T0 + 1)
    assert loops.sweep(T0 + 90, lambda _: T0 + 25, gateway) == ([], [])
    assert loops.looping() == []
    # Healthy and quiet: the track is dropped (nothing is kept per healthy bot).
    assert loops._tracks == {}


def test_a_healthy_fleet_is_never_flagged() -> None:
    loops = CrashLoops(RULES)
    for n in range(1000):
        loops.started(f"bot{n}", T0)  # starts alone track nothing
    assert loops.sweep(T0 + 3600, never, gateway) == ([], [])
    assert loops._tracks == {}


def test_the_status_shows_the_loop_with_restarts_and_exit_code() -> None:
    loops = CrashLoops(RULES)
    running = RuntimeStatus(state="running", container_id="c1", health="unhealthy")
    assert loops.overlay("b1", running) is running
    for at in (T0, T0 + 1, T0 + 2):
        crash(loops, at, code=3)
    shown = loops.overlay("b1", running)
    assert shown.health == "crash_loop"
    assert shown.summary == "crash_loop"
    assert shown.exit_code == 3
    assert shown.detail == "crash loop: exited 3 times within 60 s; last exit code 3"
    restarting = loops.overlay("b1", RuntimeStatus(state="restarting", exit_code=3))
    assert restarting.summary == "crash_loop"
    assert restarting.to_dict()["summary"] == "crash_loop"
    missing = RuntimeStatus(state="missing")
    assert loops.overlay("b1", missing) is missing


# -- hostile log lines ---------------------------------------------------------------------


def test_reason_lines_keep_the_last_lines_cleaned_and_cut() -> None:
    tail = "\n".join(
        [
            "starting",
            "\x1b[31mError:\x1b[0m config \x07invalid\x00 at \x1b]0;title\x07line 3",
            "",
            "   ",
            "x" * 500,
            "\u202eevil\u202c bidi",
        ]
    )
    text = reason_lines(tail, lines=3, width=80)
    assert text.splitlines() == [
        "Error: config invalid at line 3",
        "x" * 79 + "…",
        "evil bidi",
    ]
    assert reason_lines(None) == ""
    assert reason_lines("\n\n") == ""


def test_reason_lines_redact_known_secrets_and_credential_shapes() -> None:
    canary = "canary-9f8e7d6c5b4a"
    tail = "\n".join(
        [
            f"provider answered 401 for key {canary}",
            "Authorization: Bearer abc.def.ghi",
            "using api_key=sk-live-0123456789abcdef and token: 'tok-x1'",
            "telegram 123456789:AAH4x-abcdefghijklmnopqrstuvwxyz012 refused",
            "gateway token 3q2-7ZxQp9WmL0aVbC4dE5fG6hI7jK8lM9nO0pQ1rS2 seen",
            "path /app/node_modules/openclaw/dist/gateway/server-startup.js:12",
            "standin: secret channel_token present (17 bytes)",
        ]
    )
    text = reason_lines(tail, [canary, "ab"], lines=10)
    assert canary not in text
    for leaked in ("abc.def.ghi", "sk-live-0123456789abcdef", "tok-x1", "AAH4x", "3q2-7ZxQp9W"):
        assert leaked not in text, leaked
    lines = text.splitlines()
    assert lines[0] == "provider answered 401 for key [redacted]"
    assert lines[1] == "Authorization: Bearer [redacted]"
    assert lines[5] == "path /app/node_modules/openclaw/dist/gateway/server-startup.js:12"
    assert lines[6] == "standin: secret channel_token present (17 bytes)"
