"""Canary rollouts on the real engine, with stand-in images: the canary first, then
batches; a pause on failure that leaves the rest untouched; a rerun that resumes; the
digest pinned; the audit; the API's checks; the channel; the CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from botmaker.store import BotRecord
from tests.conftest import ADMIN_PASSWORD, bot_body, cleanup_instance
from tests.support.checks import logged_in
from tests.support.cli import botmaker_env
from tests.support.fixtures import MakeServices
from tests.support.images import STANDIN_REPO, inspect_image
from tests.support.server import ServerThread
from tests.test_cli import BOTMAKER, Cli
from tests.test_upgrades import UPGRADE_TIMEOUT, _import

NAMES = ("alpha", "bravo", "charlie", "delta")
#: A stand-in tagged as an OpenClaw version, for BOTMAKER_OPENCLAW_CHANNEL.
CHANNEL_VERSION = "2026.99.1"


@pytest.fixture(scope="module")
def images(docker_api: docker.APIClient) -> dict[str, str]:
    """A working stand-in under another image id, one whose entrypoint exits 1, and the
    working one again tagged as a version of the stand-in's repository."""
    return {
        "next": _import(docker_api, "rollout-next", '["/bin/sh", "/entrypoint.sh"]'),
        "broken": _import(docker_api, "rollout-broken", '["/bin/sh", "-c", "exit 1"]'),
        "version": _import(docker_api, CHANNEL_VERSION, '["/bin/sh", "/entrypoint.sh"]'),
    }


@pytest.fixture
def svc(settings: Settings, make_services: MakeServices) -> Services:
    services: Services = make_services(settings, upgrade_timeout=UPGRADE_TIMEOUT)
    services.upgrades.settle = 2.0
    return services


@pytest.fixture
def client(svc: Services) -> Iterator[httpx.Client]:
    with ServerThread(create_app(svc.settings, svc)) as url, logged_in(url, ADMIN_PASSWORD) as c:
        yield c


def _fleet(svc: Services) -> list[BotRecord]:
    return [svc.bots.create(BotCreate.model_validate(bot_body(n))).record for n in NAMES]


def _container(api: docker.APIClient, bot_id: str) -> tuple[str, str, str]:
    """The bot's container: id, state, the image it was created from (Config.Image)."""
    info = api.inspect_container(f"botmaker-{bot_id}")
    return str(info["Id"]), str(info["State"]["Status"]), str(info["Config"]["Image"])


def _kinds(svc: Services, bot_id: str) -> list[str]:
    return [e["kind"] for e in svc.store.bot_events(bot_id, limit=100)]


def _actions(svc: Services) -> list[tuple[str, str, str]]:
    """The audit log oldest first: (actor, action, target)."""
    return [(e["actor"], e["action"], e["target"]) for e in reversed(svc.audit.entries())]


def test_the_canary_goes_first_then_batches_and_a_rerun_resumes(
    svc: Services, images: dict[str, str], docker_api: docker.APIClient
) -> None:
    bots = _fleet(svc)
    target = images["next"]
    digest = inspect_image(docker_api, target)["Id"]  # an imported image: no RepoDigests

    # One bot moved by a rollout of its own: later rollouts find it current.
    first = svc.rollouts.run(target, ["charlie"])
    assert first["summary"] == {"upgraded": 1}, first
    assert first["canary"] == bots[2].id

    begun = time.monotonic()
    result = svc.rollouts.run(target, None, batch=2)
    took = time.monotonic() - begun
    print(f"\nrollout of 3 bots (canary + batch of 2), 1 current: {took:.1f} s")
    assert result["paused"] is False, result
    assert result["digest"] == digest
    assert result["summary"] == {"upgraded": 3, "current": 1}, result
    alpha, bravo, charlie, delta = bots
    assert result["canary"] == alpha.id
    assert result["batches"] == [[alpha.id], [bravo.id, delta.id]]
    by_name = {r["name"]: r for r in result["results"]}
    assert [r["name"] for r in result["results"]] == list(NAMES)
    assert by_name["charlie"]["status"] == "current"
    assert [by_name[n]["batch"] for n in ("alpha", "bravo", "delta")] == [0, 1, 1]
    # The canary was done before the batch began; the batch's two ran at once.
    canary, batch = by_name["alpha"], [by_name["bravo"], by_name["delta"]]
    assert canary["finished_at"] <= min(r["started_at"] for r in batch)
    assert max(r["started_at"] for r in batch) < min(r["finished_at"] for r in batch)
    # Every bot runs the digest resolved once, created from it; the row keeps the tag.
    for record in bots:
        row = svc.store.get_bot(record.id)
        assert (row.image, row.image_digest) == (target, digest)
        assert _container(docker_api, record.id)[1:] == ("running", digest)
        assert by_name[record.name]["digest"] == digest
    # The events tell the order: each bot started, then upgraded; the canary first.
    events = {
        r.id: {e["kind"]: e["at"] for e in svc.store.bot_events(r.id, limit=100)}
        for r in (alpha, bravo, delta)
    }
    assert events[alpha.id]["upgraded"] <= events[bravo.id]["upgrade_started"]
    assert events[alpha.id]["upgraded"] <= events[delta.id]["upgrade_started"]
    assert _kinds(svc, charlie.id).count("upgrade_started") == 1  # only its own rollout

    # The same rollout again: nothing to do, nothing touched.
    containers = {r.id: _container(docker_api, r.id)[0] for r in bots}
    again = svc.rollouts.run(target, None, batch=2)
    assert again["summary"] == {"current": 4}, again
    assert again["canary"] is None
    assert again["batches"] == []
    assert {r.id: _container(docker_api, r.id)[0] for r in bots} == containers

    actions = [a for a in _actions(svc) if a[1].startswith(("rollout.", "bot.upgrade"))]
    assert [a[1] for a in actions] == [
        *("rollout.start", "bot.upgrade", "rollout.batch", "rollout.finish"),
        *("rollout.start", "bot.upgrade", "rollout.batch"),
        *("bot.upgrade", "bot.upgrade", "rollout.batch", "rollout.finish"),
        *("rollout.start", "rollout.finish"),
    ]
    assert {actor for actor, _, _ in actions} == {"admin"}
    assert {target for _, action, target in actions if action == "bot.upgrade"} == set(NAMES)


def test_a_failing_canary_pauses_the_rollout_and_leaves_the_rest_untouched(
    svc: Services,
    client: httpx.Client,
    images: dict[str, str],
    docker_api: docker.APIClient,
    standin_image: str,
) -> None:
    bots = _fleet(svc)
    before = {r.id: _container(docker_api, r.id) for r in bots}

    begun = time.monotonic()
    response = client.post(
        "/api/image/upgrade", json={"image": images["broken"], "batch": 2}, timeout=120
    )
    print(f"\nrollout paused after a failing canary: {time.monotonic() - begun:.1f} s")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["paused"] is True, result
    assert "after the canary" in result["paused_reason"]
    assert result["summary"] == {"rolled_back": 1, "pending": 3}, result
    assert result["failures"] == 1
    canary, *rest = result["results"]
    assert (canary["name"], canary["status"], canary["batch"]) == ("alpha", "rolled_back", 0)
    assert _container(docker_api, bots[0].id)[1:] == ("running", standin_image)
    for record, shown in zip(bots[1:], rest, strict=True):
        assert shown["status"] == "pending", shown
        assert "the rollout paused" in shown["detail"]
        assert _container(docker_api, record.id) == before[record.id]  # the same container
        assert svc.store.get_bot(record.id).image == standin_image
        assert "upgrade_started" not in _kinds(svc, record.id)
    assert "upgrade_rolled_back" in _kinds(svc, bots[0].id)
    audit = client.get("/api/audit").json()["entries"]
    paused = [e for e in audit if e["action"] == "rollout.paused"]
    assert len(paused) == 1
    assert paused[0]["actor"] == "admin"
    assert paused[0]["detail"]["pending"] == ["bravo", "charlie", "delta"]
    assert "rollout.finish" not in {e["action"] for e in audit}

    # Resumed once a working image is out: the canary is tried again first.
    resumed = client.post(
        "/api/image/upgrade", json={"image": images["next"], "bots": ["alpha", "bravo"]}
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["summary"] == {"upgraded": 2}


def test_max_failures_lets_failures_pass_until_it_is_exceeded(
    svc: Services, images: dict[str, str], docker_api: docker.APIClient, standin_image: str
) -> None:
    bots = _fleet(svc)
    delta = _container(docker_api, bots[3].id)

    begun = time.monotonic()
    result = svc.rollouts.run(images["broken"], None, batch=2, max_failures=1)
    print(f"\nrollout of 3 failing bots, paused before the 4th: {time.monotonic() - begun:.1f} s")
    # The canary's failure is allowed; the batch after it brings 3 > 1: paused there.
    assert result["paused"] is True, result
    assert [r["status"] for r in result["results"]] == ["rolled_back"] * 3 + ["pending"]
    assert result["failures"] == 3
    assert "after batch 1" in result["paused_reason"]
    for record in bots[:3]:
        assert _container(docker_api, record.id)[1:] == ("running", standin_image)
    assert _container(docker_api, bots[3].id) == delta


def test_a_rollback_returns_to_the_digest_even_when_the_tag_moved(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    """``latest``'s case: the tag a bot runs moves to a broken image; the rollout to that
    tag rolls the canary back to the digest it ran, not to the tag."""
    moving = _import(docker_api, "rollout-moving", '["/bin/sh", "/entrypoint.sh"]')
    svc = make_services(settings, upgrade_timeout=UPGRADE_TIMEOUT, bot_image=moving)
    svc.upgrades.settle = 1.0
    bot = svc.bots.create(BotCreate.model_validate(bot_body("alpha"))).record
    first = svc.rollouts.run(moving, None)  # records the digest it runs
    good = inspect_image(docker_api, moving)["Id"]
    assert (first["summary"], first["digest"]) == ({"upgraded": 1}, good), first

    _import(docker_api, "rollout-moving", '["/bin/sh", "-c", "exit 1"]')  # the tag moves
    bad = inspect_image(docker_api, moving)["Id"]
    assert bad != good
    result = svc.rollouts.run(moving, None)
    assert result["digest"] == bad
    assert result["results"][0]["status"] == "rolled_back", result
    assert _container(docker_api, bot.id)[1:] == ("running", good)
    row = svc.store.get_bot(bot.id)
    assert (row.image, row.image_digest) == (moving, good)


def test_bad_rollout_requests_are_refused_and_change_nothing(
    svc: Services, client: httpx.Client, docker_api: docker.APIClient
) -> None:
    bot = svc.bots.create(BotCreate.model_validate(bot_body("alpha"))).record
    container = _container(docker_api, bot.id)
    for body, field in (
        ({"batch": 0}, "batch"),
        ({"batch": 51}, "batch"),
        ({"batch": "two"}, "batch"),
        ({"max_failures": -1}, "max_failures"),
        ({"max_failures": 1001}, "max_failures"),
        ({"image": "a b"}, "image"),
        ({"image": ""}, "image"),
        ({"colour": "blue"}, "colour"),
    ):
        refused = client.post("/api/image/upgrade", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"]["field"] == field, (body, refused.text)
    assert client.post("/api/image/upgrade", json={"bots": ["nobody"]}).status_code == 404
    assert _container(docker_api, bot.id) == container
    assert "upgrade_started" not in _kinds(svc, bot.id)
    assert not [e for e in svc.audit.entries() if e["action"].startswith("rollout.")]
    # The OpenAPI document describes the answer.
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]
    fields = schema["FleetUpgradeResult"]["properties"]
    assert {"digest", "canary", "batches", "paused", "paused_reason", "results"} <= set(fields)
    statuses = schema["RolloutBotResult"]["properties"]["status"]["enum"]
    assert {"current", "pending", "upgraded", "rolled_back"} <= set(statuses)


def test_without_an_image_the_channel_chooses_it(
    settings: Settings,
    make_services: MakeServices,
    images: dict[str, str],
    docker_api: docker.APIClient,
) -> None:
    svc = make_services(settings, upgrade_timeout=UPGRADE_TIMEOUT, openclaw_channel=CHANNEL_VERSION)
    svc.upgrades.settle = 1.0
    bot = svc.bots.create(BotCreate.model_validate(bot_body("alpha"))).record
    result = svc.rollouts.run(None, None)
    assert result["image"] == f"{STANDIN_REPO}:{CHANNEL_VERSION}" == images["version"]
    assert result["channel"] == CHANNEL_VERSION
    assert result["summary"] == {"upgraded": 1}, result
    assert svc.store.get_bot(bot.id).image == images["version"]


@pytest.fixture
def cli(tmp_path: Path, standin_image: str, docker_api: docker.APIClient) -> Iterator[Cli]:
    env = botmaker_env(
        tmp_path, standin_image, "ro", BOTMAKER_UPGRADE_TIMEOUT="6", COLUMNS="200", NO_COLOR="1"
    )
    settings = Settings.from_env(env)
    yield Cli(env, settings, tmp_path)
    cleanup_instance(docker_api, settings)


def test_upgrade_from_the_command_line(
    cli: Cli, images: dict[str, str], make_services: MakeServices
) -> None:
    assert BOTMAKER.is_file()
    for name in ("alpha", "bravo"):
        created = cli.create(name, *cli.secret_files())
        assert created.returncode == 0, created.stderr

    neither = cli("upgrade")
    assert neither.returncode == 2
    assert "--all" in neither.stderr
    assert cli("upgrade", "--all", "--batch", "0").returncode == 2

    paused = cli("upgrade", "--all", "--image", images["broken"], "--batch", "2", timeout=120)
    assert paused.returncode == 1, (paused.stdout, paused.stderr)
    lines = paused.stdout.splitlines()
    assert lines[0] == f"image {images['broken']}"
    assert lines[1].startswith("digest sha256:")
    assert lines[2].split()[:3] == ["alpha", "rolled_back", "canary"]
    assert lines[3].split()[:2] == ["bravo", "pending"]
    assert "rollout paused" in paused.stdout
    assert "paused: " in paused.stderr

    done = cli("upgrade", "alpha", "--image", images["next"], "--json", timeout=120)
    assert done.returncode == 0, (done.stdout, done.stderr)
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["summary"] == {"upgraded": 1}
    assert result["results"][0]["digest"] == result["digest"]

    svc = make_services(cli.settings)
    actors = {e["actor"] for e in svc.audit.entries() if e["action"].startswith("rollout.")}
    assert actors == {"cli"}
