"""Listing every bot's DM pairing requests: parallel, bounded in time, one bot's failure
is its own.

The bots are stand-in containers on the real engine whose image carries a fake
OpenClaw CLI (``/bin/openclaw``, a shell script: it reports a version, so BotMaker
finds it as the image's CLI, and answers ``pairing list`` according to the bot's
name). One bot answers properly, one prints no JSON, one fails with OpenClaw's
``Reason:`` line, one floods its output, one never answers: the listing returns
within its deadline with the good bot's request and each other bot's own error.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator

import docker
import pytest

from botmaker.config import Settings
from botmaker.errors import RuntimeFailure
from botmaker.services.gateway.pairing import MAX_OUTPUT, PairingService
from botmaker.services.schemas import BotCreate
from tests.conftest import bot_body
from tests.support.fakeimages import import_image, remove_image
from tests.support.fixtures import MakeServices
from tests.support.images import rootfs_tar
from tests.support.waiting import wait_for

FAKE_OPENCLAW = f"""#!/bin/sh
case "$1" in
  --version) echo "OpenClaw 2026.9.6" ;;
  config) echo '{{"valid": true}}' ;;
  pairing)
    case "$BOTMAKER_BOT_NAME" in
      slow*) exec sleep 60 ;;
      broken*) echo "no pairing for you" ;;
      failing*) echo "[openclaw] Reason: database is locked" >&2; exit 1 ;;
      flood*) yes '{{"channel": "telegram"}}' | head -c {MAX_OUTPUT * 4} ;;
      *) printf '{{"channel":"%s","requests":[{{"id":"%s","code":"ABCD2345",\
"createdAt":"2026-12-05T12:00:00.000Z","lastSeenAt":"2026-12-05T12:00:01.000Z",\
"meta":{{"firstName":"Tess","accountId":"default"}}}}]}}\\n' "$3" "$BOTMAKER_BOT_NAME" ;;
    esac ;;
  *) exit 0 ;;
esac
"""


@pytest.fixture
def fake_openclaw_image(docker_api: docker.APIClient) -> Iterator[str]:
    buffer = io.BytesIO(rootfs_tar())
    with tarfile.open(fileobj=buffer, mode="a") as tar:
        data = FAKE_OPENCLAW.encode()
        info = tarfile.TarInfo("bin/openclaw")
        info.size, info.mode, info.mtime = len(data), 0o755, time.time()
        tar.addfile(info, io.BytesIO(data))
    reference = "botmaker-test-fake-openclaw:pairing"
    import_image(
        docker_api,
        reference,
        buffer.getvalue(),
        ['ENTRYPOINT ["/bin/sh", "/entrypoint.sh"]', "ENV STANDIN_IGNORE_TERM=0 PATH=/bin"],
    )
    yield reference
    remove_image(docker_api, reference)


def test_each_bot_is_read_in_parallel_within_the_deadline_and_fails_alone(
    settings: Settings, make_services: MakeServices, fake_openclaw_image: str
) -> None:
    svc = make_services(settings, bot_image=fake_openclaw_image, validate_config="never")
    names = ("broken-bot", "failing-bot", "flood-bot", "good-bot", "slow-bot")
    for name in names:
        view = svc.bots.create(BotCreate.model_validate(bot_body(name)))
        assert view.record.definition.gateway  # the fake CLI was found in the image
    wait_for(
        lambda: all(s.running for s in svc.runtime.list().values()) or None,
        timeout=30,
        interval=0.2,
    )
    pairing = PairingService(svc.deploy, svc.bots.statuses.current, workers=2, deadline=6)

    started = time.monotonic()
    listed = {item.name: item for item in pairing.pending()}
    assert time.monotonic() - started < 12  # the slow bot does not hold the listing

    assert list(listed) == sorted(names)
    good = listed["good-bot"]
    assert good.error is None
    assert good.channels == ("telegram",)
    [request] = good.requests
    assert (request.code, request.sender, request.name) == ("ABCD2345", "good-bot", "Tess")
    assert "no JSON" in (listed["broken-bot"].error or "")
    assert "database is locked" in (listed["failing-bot"].error or "")
    assert f"more than {MAX_OUTPUT} bytes" in (listed["flood-bot"].error or "")
    assert listed["slow-bot"].error == "no answer within 6 s"
    for name in names[:3] + names[4:]:
        assert listed[name].requests == ()

    # One bot asked alone: its own error, as a clear failure.
    with pytest.raises(RuntimeFailure, match="database is locked"):
        pairing.bot("failing-bot")
