"""A full disk under the data and secrets folders: creates fail clearly, reads go on.

The folders live on a 4 MiB tmpfs (mounting needs root, as the suite runs in CI);
once a filler file has taken every byte, a create must be refused with 507
``storage_full`` and leave nothing behind, while the existing bot stays listed and
readable.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.fsutil import is_bot_id, running_as_root
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import instance_containers, logged_in
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    assert running_as_root(), "mounting a tmpfs needs root (CI runs the suite as root)"
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> None:
    with (folder / "filler").open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()


def test_a_full_disk_refuses_creates_cleanly_and_reads_keep_working(
    small_disk: Path, settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> None:
    svc = make_services(
        replace(settings, data_dir=small_disk / "data", secrets_dir=small_disk / "secrets")
    )
    with (
        ServerThread(create_app(svc.settings, svc)) as url,
        logged_in(url, ADMIN_PASSWORD) as client,
    ):
        first = client.post("/api/bots", json=bot_body("before"))
        assert first.status_code == 201, first.text
        _fill(small_disk)

        for name in ("after", f"again-{uuid.uuid4().hex[:6]}"):
            refused = client.post("/api/bots", json=bot_body(name))
            assert refused.status_code == 507, refused.text
            error = refused.json()["error"]
            assert error["code"] == "storage_full"
            assert "full" in error["message"]

        # Nothing partial: one row, one secrets folder, one container — the first bot's.
        listed = client.get("/api/bots")
        assert listed.status_code == 200, listed.text
        assert [b["name"] for b in listed.json()["bots"]] == ["before"]
        folders = [p.name for p in svc.settings.secrets_dir.iterdir() if is_bot_id(p.name)]
        assert folders == [first.json()["id"]]
        assert len(instance_containers(docker_api, svc)) == 1
        # Reads and lifecycle calls that write nothing keep working.
        assert client.get(f"/api/bots/{first.json()['id']}").status_code == 200
        assert client.post("/api/bots/before/stop").status_code == 200

        (small_disk / "filler").unlink()  # space again: creates work again
        again = client.post("/api/bots", json=bot_body("after"))
        assert again.status_code == 201, again.text
