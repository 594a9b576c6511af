"""BotMaker finds OpenClaw's CLI in real images of either layout, from the image alone.

The official image keeps OpenClaw in ``/app`` and starts ``node openclaw.mjs`` with
nothing on PATH; our PATH layout has ``openclaw`` on PATH; the busybox stand-in has
no OpenClaw at all. Each is asked once (a check container of the image itself, no
network), and the answer is remembered per image id: a second question runs nothing.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import docker
import pytest

from botmaker.config import Settings
from botmaker.openclaw.cli import OpenClawCli
from botmaker.runtime.base import ContainerSpec
from botmaker.runtime.policy import LABEL_CHECK_FOR, BotIdentity, bot_container_spec
from tests.support.bots import create_bot
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import VERSION, openclaw_image
from tests.support.openclaw_lab import LIMITS
from tests.support.waiting import wait_for


def spec_for(settings: Settings, image: str, tmp_path: Path) -> ContainerSpec:
    state = tmp_path / "state"
    secrets = tmp_path / "secrets"
    for folder in (state, secrets):
        folder.mkdir(exist_ok=True)
    identity = BotIdentity(
        id="discovery", name="discovery", image=image, uid=settings.bot_uid_base, facts={}
    )
    return bot_container_spec(identity, settings, secrets)


def checks_for(api: docker.APIClient, bot_ids: list[str], since: float) -> int:
    """Check containers the engine created for these bots since ``since``."""
    events = api.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "create"},
        decode=True,
    )
    return sum(
        1
        for e in events
        if e.get("Actor", {}).get("Attributes", {}).get(LABEL_CHECK_FOR) in bot_ids
    )


@pytest.mark.parametrize(
    ("layout", "expected"),
    [("official", ("node", "/app/openclaw.mjs")), ("path", ("openclaw",))],
)
def test_the_cli_is_found_in_each_layout_and_remembered(
    layout: str,
    expected: tuple[str, ...],
    settings: Settings,
    make_services: MakeServices,
    docker_api: docker.APIClient,
    tmp_path: Path,
) -> None:
    image = openclaw_image(docker_api, layout=layout)
    svc = make_services(settings, bot_image=image)
    spec = spec_for(settings, image, tmp_path)
    first, second = (uuid.uuid4().hex for _ in range(2))
    since = time.time()
    for bot_id in (first, first, second):
        assert svc.deploy.check.cli(spec, bot_id) == OpenClawCli(expected, VERSION)
    assert checks_for(docker_api, [first, second], since) == 1, "the image was asked again"


def test_an_image_without_openclaw_is_no_gateway_and_is_asked_once(
    settings: Settings,
    make_services: MakeServices,
    docker_api: docker.APIClient,
    standin_image: str,
    tmp_path: Path,
) -> None:
    svc = make_services(settings)
    spec = spec_for(settings, standin_image, tmp_path)
    bot_id = uuid.uuid4().hex
    since = time.time()
    assert svc.deploy.check.cli(spec, bot_id) is None
    assert svc.deploy.check.cli(spec, bot_id) is None
    assert checks_for(docker_api, [bot_id], since) == 1


def test_a_gateway_stored_before_image_layouts_were_read_is_found_at_start_up(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    """A bot on the official image with validation switched off is still a gateway
    probed to healthy; one stored by an older BotMaker, which never had its gateway
    recognised, is found by the start-up reconciliation, which starts probing it."""
    image = openclaw_image(docker_api)
    svc = make_services(settings, bot_image=image, validate_config="never", limits=LIMITS)
    # A custom provider: OpenClaw 2026.9.6 fetches @openclaw/codex from the npm registry
    # when an ``openai`` gateway first starts, and the test network reaches no registry.
    bot = create_bot(
        svc, "old-official", provider="custom", model="m", base_url="http://10.255.255.1/v1"
    )
    record = svc.store.find_bot(bot.id)
    assert record.definition.openclaw_cli == ("node", "/app/openclaw.mjs")  # found at create
    # Validation is off, yet the gateway is probed: BotMaker sees it become healthy.
    health = svc.bots.health
    assert health.watching(bot.id)

    def verdict() -> str | None:
        health.probe_all()
        status = health.health_of(bot.id, svc.runtime.status(bot.container))
        return status.health if status.health == "healthy" else None

    assert wait_for(verdict, timeout=90, interval=1.0) == "healthy"
    svc.bots.stop(bot.id)
    unknown = {"gateway": False, "openclaw_cli": (), "openclaw_version": None}
    svc.store.update_bot(bot.id, definition=record.definition.model_copy(update=unknown))

    restarted = make_services(settings, bot_image=image, validate_config="never")
    assert not restarted.bots.health.watching(bot.id)
    actions = restarted.reconciler.run_once(startup=True)
    assert {
        "bot_id": bot.id,
        "name": "old-official",
        "openclaw": "found",
        "action": "found_openclaw_gateway",
    } in actions
    found = restarted.store.find_bot(bot.id).definition
    assert (found.gateway, found.openclaw_cli, found.openclaw_version) == (
        True,
        ("node", "/app/openclaw.mjs"),
        VERSION,
    )
    assert restarted.bots.health.watching(bot.id)
    assert restarted.reconciler.run_once(startup=False) == []  # asked once, not every pass
