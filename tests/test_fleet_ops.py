"""Fleet operations over HTTP: backup download, bot export and import, the fleet's event
history (the notification centre's source) and a rollout's progress — each through the
one policy, on a real server, engine and store with stand-in bots."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from tests.conftest import bot_body
from tests.support.checks import logged_in
from tests.test_users import NEW_PASSWORD, _add_user, _password_changed

PASSPHRASE = "an export passphrase, 2026"


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: (tar.extractfile(m) or io.BytesIO()).read() for m in tar if m.isfile()}


def _wait(check: Any, timeout: float = 20) -> Any:
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


@pytest.fixture
def people(server: str, client: httpx.Client) -> Iterator[dict[str, httpx.Client]]:
    """An operator and a viewer, each signed in with a chosen password."""
    clients = {}
    for name, role in (("olga", "operator"), ("vera", "viewer")):
        _, first = _add_user(client, name, role)
        _password_changed(server, name, first)
        clients[role] = logged_in(server, NEW_PASSWORD, user=name)
    opened = {role: cm.__enter__() for role, cm in clients.items()}
    yield opened
    for cm in clients.values():
        cm.__exit__(None, None, None)


def test_backup_export_and_import_are_admin_only_and_round_trip(
    client: httpx.Client, people: dict[str, httpx.Client]
) -> None:
    made = client.post("/api/bots", json=bot_body("alpha"))
    assert made.status_code == 201, made.text
    alpha = made.json()["id"]

    backup = client.post("/api/backup", json={})
    assert backup.status_code == 200, backup.text
    assert backup.headers["content-type"] == "application/gzip"
    assert "attachment" in backup.headers["content-disposition"]
    members = _members(backup.content)
    manifest = json.loads(members["manifest.json"])
    assert manifest["kind"] == "backup"
    assert [b["name"] for b in manifest["bots"]] == ["alpha"]
    assert "store/botmaker.db" in members
    assert not any(name.startswith("secrets/") for name in members)  # no passphrase

    short = client.post("/api/backup", json={"passphrase": "short"})
    assert short.status_code == 422
    assert short.json()["error"]["field"] == "passphrase"
    for role in ("operator", "viewer"):
        refused = people[role].post("/api/backup", json={})
        assert refused.status_code == 403, (role, refused.text)
        assert people[role].post("/api/bots/export", json={"bot": alpha}).status_code == 403

    exported = client.post("/api/bots/export", json={"bot": "alpha", "passphrase": PASSPHRASE})
    assert exported.status_code == 200, exported.text
    archive = exported.content
    assert any(name.startswith("secrets/") for name in _members(archive))

    def upload(name: str, passphrase: str, data: bytes = archive) -> httpx.Response:
        return client.post(
            "/api/bots/import",
            files={"file": ("alpha.tar.gz", data, "application/gzip")},
            data={"name": name, "passphrase": passphrase},
        )

    before = {b["name"] for b in client.get("/api/bots").json()["bots"]}
    wrong = upload("alpha-copy", "not the passphrase at all")
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["error"]["field"] == "passphrase"
    garbage = upload("alpha-copy", PASSPHRASE, b"not an archive")
    assert garbage.status_code == 422, garbage.text
    assert garbage.json()["error"]["field"] == "file"
    assert "/" not in garbage.json()["error"]["message"].split(":")[0]  # no temp path
    taken = upload("alpha", PASSPHRASE)
    assert taken.status_code == 409, taken.text
    assert {b["name"] for b in client.get("/api/bots").json()["bots"]} == before  # nothing left

    refused = people["operator"].post(
        "/api/bots/import", files={"file": ("a.tar.gz", archive, "application/gzip")}
    )
    assert refused.status_code == 403
    assert people["operator"].get("/api/image/rollout").status_code == 403

    imported = upload("alpha-copy", PASSPHRASE)
    assert imported.status_code == 201, imported.text
    assert imported.json()["started"] is True
    copy = client.get(f"/api/bots/{imported.json()['id']}")
    assert copy.status_code == 200
    assert copy.json()["name"] == "alpha-copy"
    actions = [e["action"] for e in client.get("/api/audit").json()["entries"]]
    assert {"backup.download", "bot.export", "bot.import"} <= set(actions)


def test_the_event_history_shows_only_bots_in_reach(
    client: httpx.Client, people: dict[str, httpx.Client], docker_api: docker.APIClient
) -> None:
    bots = {}
    for name in ("seen", "unseen"):
        made = client.post("/api/bots", json=bot_body(name))
        assert made.status_code == 201, made.text
        bots[name] = made.json()
    granted = client.put(f"/api/bots/{bots['seen']['id']}/access", json={"users": ["vera"]})
    assert granted.status_code == 200, granted.text
    for bot in bots.values():
        docker_api.kill(bot["container_name"])  # not asked for: a death

    def died(c: httpx.Client) -> list[dict[str, Any]]:
        events = c.get("/api/events", params={"kind": ["died", "oom"]}).json()["events"]
        return [e for e in events if e["kind"] == "died"]

    everything = _wait(lambda: len(died(client)) >= 2 and died(client))
    assert {e["bot_name"] for e in everything} == {"seen", "unseen"}
    assert all("logs" not in e for e in everything)
    mine = died(people["viewer"])
    assert {e["bot_name"] for e in mine} == {"seen"}
    # Newest first, paged with before=.
    all_kinds = client.get("/api/events", params={"limit": 2}).json()["events"]
    assert len(all_kinds) == 2
    assert all_kinds[0]["id"] > all_kinds[1]["id"]
    older = client.get("/api/events", params={"before": all_kinds[1]["id"]}).json()["events"]
    assert all(e["id"] < all_kinds[1]["id"] for e in older)
    assert client.get("/api/events", params={"limit": 0}).status_code == 422


def test_a_rollouts_progress_is_readable_by_admins(
    client: httpx.Client, standin_image: str
) -> None:
    assert client.get("/api/image/rollout").json() == {"rollout": None}
    made = client.post("/api/bots", json=bot_body("roller"))
    assert made.status_code == 201, made.text
    rolled = client.post(
        "/api/image/upgrade", json={"image": standin_image, "bots": ["roller"]}, timeout=120
    )
    assert rolled.status_code == 200, rolled.text
    status = rolled.json()["results"][0]["status"]
    progress = client.get("/api/image/rollout").json()["rollout"]
    assert progress["running"] is False
    assert progress["image"] == standin_image
    assert progress["finished_at"] >= progress["started_at"]
    assert [(b["name"], b["state"]) for b in progress["bots"]] == [("roller", status)]
    assert progress["counts"]["total"] == 1
    assert progress["counts"]["done"] + progress["counts"]["failed"] == 1
    assert progress["counts"]["waiting"] == progress["counts"]["upgrading"] == 0
