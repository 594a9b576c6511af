"""How the suite shares the machine: pytest-xdist workers (``scripts/check``), real
OpenClaw bots, and the tests that need the machine alone.

Each test module is one unit of work for xdist, run whole by one worker in file order,
as it runs without xdist: its module-scoped fixtures (and the images, labs and processes
they make, some under fixed names) are made once and seen by its own tests alone.

The tests that run a real OpenClaw bot are the exception. Such a bot takes about 1 GB
and a core for its first 20 seconds, and this machine runs two at most: each of those
tests holds one of the machine's two OpenClaw slots while it runs, two if it runs two
bots at once (:data:`TWO_BOTS`; tests/support/locks.py), whichever process runs it
(xdist's workers, other runs of the suite). For xdist they are units across modules,
:data:`LANES`, handed out first (they are the longest by far), each run one test after
another by one worker while the other workers take the modules. In a lane the tests
that take both slots come last (with two lanes, the other one is then likely done).

A few tests time BotMaker while a bot attacks the host: they need the machine alone
(:data:`ALONE`). ``scripts/check`` runs them after the others, in a second pytest run
(``--alone=only``; ``--alone=exclude`` in the first); run among the others, each waits
until no other test runs (locks.py: machine_alone), and they come last.

The xdist controller only sees node ids (it collects nothing), so membership is decided
here by node id, not by a marker. :func:`tests.support.openclaw_image.build` fails a
test that asks for a real OpenClaw image and is in no lane, so a new such test cannot
run without its slot.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

#: The tests that run a real OpenClaw bot (node id prefixes: modules, or single tests),
#: by lane, with their time in a serial run on 2 cores (s). One lane: the suite is
#: CPU-bound on 2 cores (about 1,300 CPU-seconds, a third of them OpenClaw's), so a
#: second lane would gain little and slow every bot's start; a bigger machine can split
#: this one in two (the slots keep two bots at most either way).
LANES: dict[str, tuple[str, ...]] = {
    "openclaw": (
        "tests/test_pairing_e2e.py::",  # 210
        "tests/test_openclaw_e2e.py::",  # 310 (both layouts)
        "tests/test_openclaw_versions.py::",  # 140 (builds the second version's image)
        "tests/test_upgrade_preflight.py::",  # 125 (on that image too)
        "tests/test_control_ui.py::",  # 55
        "tests/test_channel_login.py::",  # 55
        "tests/test_channel_health.py::",  # 40
        "tests/test_chat.py::",  # 40
        "tests/test_openclaw_discovery.py::",  # 40
        "tests/test_openclaw_config.py::",  # 10
        "tests/test_openclaw_stop.py::",  # 30
        "tests/test_egress_openclaw.py::",  # 60
        "tests/hostile/test_keyring_exfil.py::test_openclaw_",  # 10
    ),
}
#: Tests that run two OpenClaw bots at once (node id prefixes): they hold both slots,
#: and come last in their lane.
TWO_BOTS = (
    # an OpenAI and an Anthropic bot, started together
    "tests/test_openclaw_e2e.py::test_real_openclaw_bots_of_several_providers_",
    # an upgrade's preflight runs the new image's gateway beside the running bot
    "tests/test_upgrade_preflight.py::",
)
#: Module-scoped fixtures that keep a bot for several tests: they hold its slot
#: themselves, for as long as the bot lives; their tests take none of their own.
BOT_FIXTURES = frozenset({"claw"})
#: Tests that time BotMaker's answers while a bot attacks the host (a 99th percentile
#: under 200 ms): they run with no other test on the machine.
ALONE = ("tests/hostile/test_resources.py::",)


def lane_of(nodeid: str) -> str | None:
    """The OpenClaw lane of a test, or None if it runs no real OpenClaw bot."""
    for lane, prefixes in LANES.items():
        if nodeid.startswith(prefixes):
            return lane
    return None


def unit_of(nodeid: str) -> str:
    """The unit of work of a test: its OpenClaw lane, or its module's path."""
    return lane_of(nodeid) or nodeid.split("::", 1)[0]


def bots_at_once(nodeid: str, fixturenames: list[str]) -> int:
    """How many OpenClaw slots a test holds while it runs (0: it runs no OpenClaw)."""
    if lane_of(nodeid) is None or BOT_FIXTURES & set(fixturenames):
        return 0
    return 2 if nodeid.startswith(TWO_BOTS) else 1


def alone(nodeid: str) -> bool:
    """Whether a test needs the machine alone (:data:`ALONE`)."""
    return nodeid.startswith(ALONE)


class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
    """xdist's ``loadscope`` with :func:`unit_of` as the scope, and the units handed out
    in collection order (the workers collect the lanes first: :func:`order`)."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        config.option.loadscopereorder = False

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


def on_worker() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


def order(items: list[pytest.Item]) -> None:
    """On a worker: the lanes first (in :data:`LANES` order, each in file order but for
    its two-bot tests, last), then the modules in file order, those needing the machine
    alone last."""
    lanes = list(LANES)

    def key(item: pytest.Item) -> tuple[int, bool]:
        lane = lane_of(item.nodeid)
        if lane is not None:
            return lanes.index(lane), item.nodeid.startswith(TWO_BOTS)
        return len(lanes), alone(item.nodeid)

    items.sort(key=key)


def running_test() -> str:
    """The node id of the test running in this process (``PYTEST_CURRENT_TEST``)."""
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
