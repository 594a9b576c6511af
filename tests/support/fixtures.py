"""The types of the shared fixtures in tests/conftest.py that are callables, so a test
annotates its parameters with them instead of ``Any`` and mypy checks the calls."""

from __future__ import annotations

from typing import Any, Protocol

from botmaker.config import Settings
from botmaker.services import Services
from botmaker.services.deploy.steps import StepObserver


class MakeServices(Protocol):
    """The ``make_services`` fixture: services built for ``settings`` (with ``changes``
    applied to them, and ``steps`` observing a deployment's steps), everything they make
    removed after the test."""

    def __call__(
        self, settings: Settings, /, *, steps: StepObserver | None = None, **changes: Any
    ) -> Services: ...
