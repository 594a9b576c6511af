"""Fuzz the API from its own OpenAPI document (schemathesis), logged in.

Every operation gets generated inputs, valid and invalid; none may answer 5xx.
Invalid input must be refused with a 4xx. The server is a real BotMaker on
loopback with the real engine, the stand-in image and the keyring proxy on.

Left out: the two endless Server-Sent Event streams, logout (it would end the
session mid-run) and the image pull and upgrades (they would reach for a registry).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from botmaker.api import create_app
from botmaker.config import BotLimits, Secret, Settings
from botmaker.services import build_services
from tests.conftest import ADMIN_PASSWORD, cleanup_instance
from tests.support.checks import log_in
from tests.support.images import STANDIN_TAG
from tests.support.server import ServerThread

EXCLUDED = (
    r"(/logs$|/events/stream$|/api/logout$|/api/login$"
    r"|/api/image/pull$|/api/image/upgrade$|/api/bots/[^/]+/image$)"  # these pull images
)


@pytest.fixture(scope="module")
def fuzz_target(
    tmp_path_factory: pytest.TempPathFactory,
    docker_api: docker.APIClient,
    standin_images: dict[str, str],
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    tag = uuid.uuid4().hex[:10]
    config = Settings(
        data_dir=tmp / "data",
        secrets_dir=tmp / "secrets",
        admin_password=Secret(ADMIN_PASSWORD),
        bot_image=standin_images[STANDIN_TAG],
        instance=f"test-{tag}",
        network=f"bmtest-{tag}",
        network_internal=True,
        keyring="auto",
        keyring_port=0,
        keyring_admin_port=0,
        stop_timeout=1,
        limits=BotLimits(memory_bytes=32 * 1024**2, cpus=0.2, pids=32),
    )
    svc = build_services(config)
    try:
        with (
            ServerThread(create_app(config, svc)) as url,
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            yield {"url": url, "token": log_in(client, ADMIN_PASSWORD)}
    finally:
        cleanup_instance(docker_api, config)
        svc.close()


def operations(url: str, token: str) -> list[Any]:
    """The operations of the OpenAPI document (it needs a token like the rest of /api)."""
    schema = schemathesis.openapi.from_url(
        f"{url}/api/openapi.json", headers={"Authorization": f"Bearer {token}"}
    ).exclude(path_regex=EXCLUDED)
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        found.append(result.ok())
    return found


def test_no_input_makes_the_api_fail(fuzz_target: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {fuzz_target['token']}"}
    found = operations(fuzz_target["url"], fuzz_target["token"])
    assert len(found) >= 20, [op.label for op in found]  # the document is read whole
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for operation in found:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            response = case.call(headers=headers, timeout=60)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.body!r:.200} -> "
                    f"{response.status_code}: {response.text[:200]}"
                )

        check()
    assert failures == [], "\n".join(failures)
    # It did exercise the API: many calls, and both accepted and refused inputs.
    assert sum(statuses.values()) > 200, statuses
    assert any(code < 300 for code in statuses), statuses
    assert statuses.get(422, 0) > 20, statuses
    print(f"\n[fuzz] {len(found)} operations, responses by status: {sorted(statuses.items())}")
