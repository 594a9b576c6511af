"""A Hypothesis state machine over create/start/stop/restart/delete/kill, on the real engine.

After every step, the three places a bot lives agree: its row, its labelled
container and its secrets folder exist together or not at all, and what the API
reports matches the engine.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from botmaker.config import BotLimits, Secret, Settings
from botmaker.errors import NotFound
from botmaker.fsutil import is_bot_id
from botmaker.runtime.policy import LABEL_BOT_ID, LABEL_INSTANCE, container_name
from botmaker.services import Services, build_services
from botmaker.services.schemas import BotCreate
from tests.conftest import ADMIN_PASSWORD, cleanup_instance

NAMES = ("ant", "bee", "cat")


def _settings(tmp: Path, image: str) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(
        data_dir=tmp / tag / "data",
        secrets_dir=tmp / tag / "secrets",
        admin_password=Secret(ADMIN_PASSWORD),
        bot_image=image,
        instance=f"test-{tag}",
        network=f"bmtest-{tag}",
        network_internal=True,
        keyring="off",
        stop_timeout=1,
        limits=BotLimits(memory_bytes=32 * 1024**2, cpus=0.2, pids=32),
    )


@pytest.fixture
def machine_env(
    tmp_path: Path, docker_api: docker.APIClient, standin_image: str, stubborn_image: str
) -> dict[str, Any]:
    return {"tmp": tmp_path, "api": docker_api, "images": (standin_image, stubborn_image)}


def test_lifecycle_state_machine_keeps_rows_containers_and_secrets_in_step(
    machine_env: dict[str, Any],
) -> None:
    api: docker.APIClient = machine_env["api"]

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.settings = _settings(machine_env["tmp"], machine_env["images"][0])
            self.svc: Services = build_services(self.settings)
            self.bots: dict[str, str] = {}  # name -> id, what the model expects to exist

        def teardown(self) -> None:
            cleanup_instance(api, self.settings)
            self.svc.close()

        @rule(name=st.sampled_from(NAMES), stubborn=st.booleans())
        def create(self, name: str, stubborn: bool) -> None:
            if stubborn:  # a bot that ignores SIGTERM: stop and delete must still be quick
                second = machine_env["images"][1]
                self.svc.deploy.settings = replace(self.settings, bot_image=second)
            try:
                body = {
                    "name": name,
                    "provider": "openai",
                    "model": "gpt-5.1",
                    "channel": "telegram",
                    "secrets": {"api_key": "sk-state", "channel_token": "1:state"},
                }
                if name in self.bots:
                    with pytest.raises(Exception, match="already exists"):
                        self.svc.bots.create(BotCreate.model_validate(body))
                else:
                    self.bots[name] = self.svc.bots.create(BotCreate.model_validate(body)).record.id
            finally:
                self.svc.deploy.settings = self.settings

        @precondition(lambda self: bool(self.bots))
        @rule(data=st.data())
        def stop(self, data: st.DataObject) -> None:
            name = data.draw(st.sampled_from(sorted(self.bots)))
            assert self.svc.bots.stop(name).status.state in ("exited", "stopped", "created")

        @precondition(lambda self: bool(self.bots))
        @rule(data=st.data())
        def start(self, data: st.DataObject) -> None:
            name = data.draw(st.sampled_from(sorted(self.bots)))
            assert self.svc.bots.start(name).status.state in ("running", "restarting")

        @precondition(lambda self: bool(self.bots))
        @rule(data=st.data())
        def restart(self, data: st.DataObject) -> None:
            name = data.draw(st.sampled_from(sorted(self.bots)))
            self.svc.bots.restart(name)

        @precondition(lambda self: bool(self.bots))
        @rule(data=st.data())
        def kill(self, data: st.DataObject) -> None:
            """Someone kills the container (SIGKILL) behind BotMaker's back."""
            name = data.draw(st.sampled_from(sorted(self.bots)))
            with contextlib.suppress(docker.errors.APIError):  # already stopped
                api.kill(container_name(self.bots[name]))

        @precondition(lambda self: bool(self.bots))
        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            name = data.draw(st.sampled_from(sorted(self.bots)))
            self.svc.bots.delete(name)
            bot_id = self.bots.pop(name)
            with pytest.raises(NotFound):
                self.svc.bots.get(bot_id)

        @invariant()
        def rows_containers_and_secrets_agree(self) -> None:
            rows = {r.id for r in self.svc.store.list_bots()}
            labelled = {
                c["Labels"][LABEL_BOT_ID]
                for c in api.containers(
                    all=True, filters={"label": f"{LABEL_INSTANCE}={self.settings.instance}"}
                )
                if LABEL_BOT_ID in c["Labels"]
            }
            root = self.settings.secrets_dir
            folders = (
                {p.name for p in root.iterdir() if is_bot_id(p.name)} if root.exists() else set()
            )
            assert rows == set(self.bots.values())
            assert labelled == rows
            assert folders == rows
            listed = {v.record.id: v.status.state for v in self.svc.bots.list()}
            assert set(listed) == rows
            assert "missing" not in listed.values()

    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=4,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        ),
    )
