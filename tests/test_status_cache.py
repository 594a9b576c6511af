"""Bot statuses kept by the event stream: listing bots asks the engine nothing.

The engine is real and so are its events; the only instrument is a counter around
the backend's ``list`` and ``status`` (the calls still go to the engine).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import docker
import pytest

from botmaker.runtime.policy import container_name
from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from tests.conftest import bot_body
from tests.support.waiting import wait_for


def count_engine_calls(svc: Services, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    calls: Counter[str] = Counter()
    for name in ("list", "status"):
        real: Callable[..., Any] = getattr(svc.runtime, name)

        def counted(*args: Any, _real: Callable[..., Any] = real, _name: str = name) -> Any:
            calls[_name] += 1
            return _real(*args)

        monkeypatch.setattr(svc.runtime, name, counted)
    return calls


def statuses(svc: Services) -> dict[str, str]:
    return {view.record.name: view.status.state for view in svc.bots.list()}


def test_listing_bots_needs_no_engine_call_once_the_event_stream_is_live(
    services: Services, docker_api: docker.APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = services
    names = ["one", "two", "three"]
    for name in names:
        svc.bots.create(BotCreate.model_validate(bot_body(name)))
    svc.monitor.start()
    wait_for(lambda: svc.bots.statuses.live, timeout=10)
    calls = count_engine_calls(svc, monkeypatch)

    first = statuses(svc)  # operations marked their bots: at most one inspect each
    assert first == dict.fromkeys(names, "running")
    assert calls["list"] == 0
    assert calls["status"] <= len(names)
    before = calls["status"]
    for _ in range(20):
        assert statuses(svc) == first
    assert calls == Counter({"status": before}), "20 lists cost engine calls"

    # Changes made behind BotMaker's back arrive by event, still without a list call.
    docker_api.kill(container_name(svc.bots.record("two").id))
    wait_for(lambda: statuses(svc)["two"] == "exited", timeout=10)
    docker_api.remove_container(container_name(svc.bots.record("three").id), force=True)
    wait_for(lambda: statuses(svc)["three"] == "missing", timeout=10)
    assert calls["list"] == 0

    # Through BotMaker: the operation's own answer and the next list agree at once.
    assert svc.bots.stop("one").status.state == "exited"
    assert statuses(svc)["one"] == "exited"
    assert svc.bots.start("two").status.state == "running"
    assert statuses(svc)["two"] == "running"
    assert calls["list"] == 0

    # Without the event stream nothing is trusted: one list call per listing again.
    svc.monitor.stop()
    assert not svc.bots.statuses.live
    statuses(svc)
    assert calls["list"] == 1
