"""One BotMaker with its keyring on, OpenAI's upstream a fake provider: the world of the
forms tests (tests/test_forms_api.py, tests/test_forms_browser.py), one per module."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx

from botmaker.api import create_app
from botmaker.config import BotLimits, Secret, Settings
from botmaker.services import Services, build_services
from tests.conftest import ADMIN_PASSWORD, cleanup_instance
from tests.support.checks import logged_in
from tests.support.fake_upstream import FakeUpstream
from tests.support.server import ServerThread

#: The one key the fake provider takes; any other is refused with a 401.
GOOD_KEY = "sk-good-provider-key-0123456789abcdef"
BAD_KEY = "sk-refused-provider-key-fedcba9876543210"


@dataclass
class World:
    url: str
    admin: httpx.Client
    services: Services
    upstream: FakeUpstream
    keyring_log: Path  # the keyring child's stderr


@contextlib.contextmanager
def keyed_world(tmp: Path, docker_api: docker.APIClient, image: str) -> Iterator[World]:
    tag = uuid.uuid4().hex[:10]
    settings = Settings(
        data_dir=tmp / "data",
        secrets_dir=tmp / "secrets",
        admin_password=Secret(ADMIN_PASSWORD),
        bot_image=image,
        instance=f"test-{tag}",
        network=f"bmtest-{tag}",
        network_internal=True,
        keyring="auto",
        keyring_port=0,
        keyring_admin_port=0,
        egress="off",
        egress_port=0,
        egress_admin_port=0,
        stop_timeout=1,
        limits=BotLimits(memory_bytes=32 * 1024**2, cpus=0.2, pids=32),
    )
    svc = build_services(settings)
    keyring_log = tmp / "keyring.log"
    saved = os.dup(2)
    try:
        with keyring_log.open("wb") as log:  # the keyring child inherits this as stderr
            os.dup2(log.fileno(), 2)
            try:
                svc.keyring.ensure()
            finally:
                os.dup2(saved, 2)
        with FakeUpstream(accept_keys={GOOD_KEY}) as upstream:
            svc.keyring.client.set_upstream("openai", upstream.url + "/v1", allow_private=True)
            with (
                ServerThread(create_app(settings, svc)) as url,
                logged_in(url, ADMIN_PASSWORD, timeout=60) as admin,
            ):
                yield World(url, admin, svc, upstream, keyring_log)
    finally:
        os.close(saved)
        cleanup_instance(docker_api, settings)
        svc.close()
