"""A closed engine connection stays closed (the real engine): a call from a thread that
outlived ``close`` (a loop step past its join timeout, a request still streaming) fails
at once rather than opening a new connection pool behind the close."""

from __future__ import annotations

import threading

import pytest

from botmaker.config import Settings
from botmaker.errors import EngineUnavailable
from botmaker.runtime.engine import Engine


def test_a_closed_engine_refuses_late_calls(settings: Settings) -> None:
    engine = Engine(settings)
    engine.ping()
    engine.close()

    refused: list[str] = []

    def late() -> None:  # a background step that did not stop in time
        try:
            engine.ping()
        except EngineUnavailable as exc:
            refused.append(exc.message)

    thread = threading.Thread(target=late)
    thread.start()
    thread.join()
    assert refused == [
        "the Docker engine does not answer (ping): the connection to the Docker engine is closed"
    ]
    with pytest.raises(EngineUnavailable, match="closed"):
        engine.client(5.0)  # an exec's or an event stream's own connection
    engine.close()  # twice is fine
