"""Named steps of the use cases, reported to an observer.

A use case calls ``steps.step(name, bot_id)`` at the points a crash or a concurrent
operation matters (after the row is written, before the container is recreated, ...).
Production gets ``NO_STEPS``; tests inject an observer that acts at one exact step
instead of sleeping and hoping. ``PauseAt`` is the crash-safety tests' observer for a
server in a subprocess: built by the composition root only when
``BOTMAKER_TEST_PAUSE_AT`` is set, it prints ``@@paused <step>`` on stderr and sleeps
there, so the test can SIGKILL the process exactly at that step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Protocol

#: The steps ``BOTMAKER_TEST_PAUSE_AT`` may name.
PAUSE_STEPS = frozenset(
    {
        "after_row",
        "after_secrets",
        "after_container",
        "after_start",
        "delete_after_mark",
        "delete_after_container",
    }
)


class StepObserver(Protocol):
    def step(self, name: str, bot_id: str) -> None:
        """Called by a use case on reaching the step ``name`` for the bot ``bot_id``."""


class NoSteps:
    """Production: nothing watches the steps."""

    def step(self, name: str, bot_id: str) -> None:
        return None


NO_STEPS = NoSteps()


class PauseAt:
    """Stop (forever) at one step so a test can kill the process there."""

    def __init__(self, at: str) -> None:
        self.at = at

    def step(self, name: str, bot_id: str) -> None:
        if name == self.at:
            print(f"@@paused {name}", file=sys.stderr, flush=True)
            while True:  # pragma: no cover - ended by SIGKILL
                time.sleep(3600)


def steps_from_env(environ: Mapping[str, str]) -> StepObserver:
    """``PauseAt`` when ``BOTMAKER_TEST_PAUSE_AT`` names a known step, else ``NO_STEPS``."""
    at = environ.get("BOTMAKER_TEST_PAUSE_AT") or ""
    return PauseAt(at) if at in PAUSE_STEPS else NO_STEPS
