"""A hostile bot plants links and special files in its ``/state``; then every admin
operation runs on it. Nothing outside the bot's folders may change, nothing may hang,
and every answer must be a sensible one (never a 500).

From inside a real bot container (as the bot's own user), the bot replaces
``/state/workspace`` and ``/state/openclaw.json`` with symlinks to a canary tree on
the host (the link's target is resolved by whoever follows it: root BotMaker, on the
host), links the canary's root itself, makes a hard link (to its own file: hard links
cannot cross into the host's mounts), FIFOs and a nested link. After each plant an
operation runs — edit (re-render), restart, export, backup, import, delete, orphan
clean-up, restore, and (once) a move between runtimes that is rolled back — and the
canary tree is hashed (content, owner, mode) and compared.
"""

from __future__ import annotations

import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import docker
import httpx
import pytest

from botmaker.config import Settings
from botmaker.runtime.policy import STATE_TARGET
from botmaker.services import Services
from botmaker.services.backup import create_backup, export_bot, import_bot, restore_backup
from botmaker.services.migrate import migrate_runtime
from tests.conftest import cleanup_instance
from tests.support.attacks import defended
from tests.support.bots import RunningBot, create_bot, exec_in
from tests.support.canary import (
    CANARY_SECRET,
    canary_tree_digest,
    holds_canary,
    make_canary,
    special_entries,
)
from tests.support.fixtures import MakeServices

T = TypeVar("T")
PASSPHRASE = "a passphrase for the hostile-bot backup"
#: An operation that touches no container must be quick; one that recreates one may
#: wait for it to stop (stop_timeout 3 s) and start.
QUICK, SLOW = 5.0, 30.0


def plant(api: docker.APIClient, bot: RunningBot, canary: Path) -> None:
    """From inside the bot, as its own user: links to the host, a hard link, FIFOs."""
    script = f"""set -e
cd {STATE_TARGET}
rm -rf workspace openclaw.json host mine hard fifo deep
ln -s {canary}/folder workspace
ln -s {canary}/secret openclaw.json
ln -s {canary} host
echo mine > mine
ln mine hard
mkfifo fifo
mkdir -p deep/a
mkfifo deep/a/pipe
ln -s {canary}/secret deep/a/link
"""
    done = exec_in(api, bot.container, script)
    assert done.code == 0, done.text


@dataclass
class Scene:
    svc: Services
    api: docker.APIClient
    client: httpx.Client
    canary: Path
    digest: dict[str, tuple[object, ...]]

    def timed(self, operation: Callable[[], T]) -> tuple[T, float]:
        started = time.monotonic()
        result = operation()
        return result, time.monotonic() - started

    def check(self, attack: str, answer: str, seconds: float, limit: float, ok: bool) -> None:
        """Record ``attack``: it held when the answer was right, in time, and the canary
        tree is as it was."""
        unchanged = canary_tree_digest(self.canary) == self.digest
        outcome = (
            f"{answer} in {seconds:.1f} s; host canary {'unchanged' if unchanged else 'CHANGED'}"
        )
        defended("filesystem", attack, outcome, ok and unchanged and seconds < limit)

    def bot_sees_canary(self, bot: RunningBot) -> bool:
        seen = exec_in(self.api, bot.container, f"cat {STATE_TARGET}/openclaw.json")
        return CANARY_SECRET.decode().strip() in seen.out

    def folders(self, bot_id: str) -> list[Path]:
        settings = self.svc.settings
        return [settings.data_dir / "bots" / bot_id, settings.secrets_dir / bot_id]


@pytest.fixture
def scene(
    services: Services, client: httpx.Client, docker_api: docker.APIClient, tmp_path: Path
) -> Scene:
    canary = make_canary(tmp_path / "host")
    return Scene(services, docker_api, client, canary, canary_tree_digest(canary))


def archive_holds_canary(path: Path) -> bool:
    with tarfile.open(path) as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None and CANARY_SECRET in handle.read():
                return True
    return False


@pytest.mark.parametrize("runtime", ["docker", "swarm"], indirect=True)
def test_plants_then_every_admin_operation(scene: Scene, tmp_path: Path) -> None:
    svc, api, client = scene.svc, scene.api, scene.client
    alpha = create_bot(svc, "alpha")
    gamma = create_bot(svc, "gamma")

    plant(api, alpha, scene.canary)
    edited, took = scene.timed(
        lambda: client.patch(f"/api/bots/{alpha.id}", json={"persona": {"name": "Marvin"}})
    )
    previous = svc.settings.data_dir / "bots" / alpha.id / "previous"
    clean = not holds_canary(previous) and not scene.bot_sees_canary(alpha)
    scene.check(
        "links to host folder and file, then edit (re-render)",
        f"HTTP {edited.status_code}, host file {'never copied' if clean else 'COPIED'}",
        took,
        SLOW,
        edited.status_code == 200 and clean,
    )

    plant(api, alpha, scene.canary)
    restarted, took = scene.timed(lambda: client.post(f"/api/bots/{alpha.id}/restart"))
    scene.check(
        "links, hard link, FIFOs, then restart",
        f"HTTP {restarted.status_code}",
        took,
        SLOW,
        restarted.status_code == 200,
    )

    exported = tmp_path / "alpha.tar.gz"
    _, took = scene.timed(lambda: export_bot(svc, alpha.id, exported))
    leaked = archive_holds_canary(exported)
    scene.check(
        "links, hard link, FIFOs, then export",
        f"exported, host file {'IN the archive' if leaked else 'not in the archive'}",
        took,
        QUICK,
        not leaked,
    )

    backup = tmp_path / "backup.tar.gz"
    _, took = scene.timed(lambda: create_backup(svc, backup, PASSPHRASE))
    leaked = archive_holds_canary(backup)
    scene.check(
        "links, hard link, FIFOs, then backup",
        f"backed up, host file {'IN the archive' if leaked else 'not in the archive'}",
        took,
        QUICK,
        not leaked,
    )

    (beta, started), took = scene.timed(lambda: import_bot(svc, exported, None, "beta"))
    odd = special_entries(svc.settings.data_dir / "bots" / beta.id)
    scene.check(
        "links, hard link, FIFOs, then import of the export",
        f"imported (started: {started}), links or FIFOs made: {odd or 'none'}",
        took,
        QUICK,
        not odd and beta.state == "ready",
    )

    plant(api, gamma, scene.canary)
    svc.store.delete_bot(gamma.id)  # a crash between a delete's steps: only leftovers remain
    cleaned, took = scene.timed(lambda: client.post("/api/admin/cleanup"))
    gone = not any(path.exists() for path in scene.folders(gamma.id))
    scene.check(
        "links, hard link, FIFOs, then orphan clean-up",
        f"HTTP {cleaned.status_code}, folders {'removed' if gone else 'LEFT'}",
        took,
        SLOW,
        cleaned.status_code == 200 and gone and not cleaned.json()["failed"],
    )

    plant(api, alpha, scene.canary)
    deleted, took = scene.timed(lambda: client.delete(f"/api/bots/{alpha.id}"))
    gone = not any(path.exists() for path in scene.folders(alpha.id))
    scene.check(
        "links, hard link, FIFOs, then delete",
        f"HTTP {deleted.status_code}, folders {'removed' if gone else 'LEFT'}",
        took,
        SLOW,
        deleted.status_code == 204 and gone,
    )

    restored_settings = _fresh_install(svc.settings, tmp_path / "restored")
    try:
        report, took = scene.timed(lambda: restore_backup(restored_settings, backup, PASSPHRASE))
        bots = restored_settings.data_dir / "bots"
        made, holding = special_entries(bots), holds_canary(bots)
        scene.check(
            "links, hard link, FIFOs in a backup, then restore",
            f"restored {report.started} (failed: {report.failed or 'none'}), "
            f"links or FIFOs made: {made or 'none'}",
            took,
            SLOW,
            sorted(report.started) == ["alpha", "gamma"] and not made and not holding,
        )
    finally:
        cleanup_instance(api, restored_settings)


def _fresh_install(settings: Settings, root: Path) -> Settings:
    tag = root.name
    return replace(
        settings,
        data_dir=root / "data",
        secrets_dir=root / "secrets",
        instance=f"{settings.instance}-{tag}",
        network=f"{settings.network}-{tag}"[:60],
    )


@pytest.fixture
def keyed(
    settings: Settings, make_services: MakeServices, swarm_manager: str
) -> tuple[Settings, Services]:
    """Docker, with the keyring on (a move re-renders a keyring bot's configuration)."""
    make_services(replace(settings, runtime="swarm")).close()  # registered for clean-up only
    keyed_settings = replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0)
    svc: Services = make_services(keyed_settings)
    return keyed_settings, svc


def test_plants_then_a_move_between_runtimes_that_is_rolled_back(
    keyed: tuple[Settings, Services], docker_api: docker.APIClient, tmp_path: Path
) -> None:
    """The finding's whole chain: ``openclaw.json`` links to a root-only host file, a
    move renders (the old code copied the host file into ``previous``), the new runtime
    refuses the bot, and the rollback puts ``previous`` back where the bot reads it.

    The refusal: one of the bot's secret files is larger than a Swarm secret may be
    (500 KB), so creating the bot's service fails and the move is rolled back.
    """
    settings, svc = keyed
    canary = make_canary(tmp_path / "host")
    digest = canary_tree_digest(canary)
    bot = create_bot(svc, "alpha")  # the keyring is on: the bot uses it
    plant(docker_api, bot, canary)
    oversized = {"channel_oversized": "x" * 600_000}
    svc.bots.secrets.write_all(bot.id, oversized, uid=bot.uid, gid=bot.uid)
    svc.close()  # BotMaker is stopped for a move
    started = time.monotonic()
    results = migrate_runtime(settings, "swarm")
    took = time.monotonic() - started
    unchanged = canary_tree_digest(canary) == digest
    previous = settings.data_dir / "bots" / bot.id / "previous"
    seen = exec_in(docker_api, bot.container, f"cat {STATE_TARGET}/openclaw.json").out
    clean = not holds_canary(previous) and CANARY_SECRET.decode().strip() not in seen
    outcome = [f"{r['result']}: {r.get('message', '')[:40]}" for r in results]
    defended(
        "filesystem",
        "links to host folder and file, then migrate-runtime rolled back",
        f"{outcome} in {took:.1f} s; host canary {'unchanged' if unchanged else 'CHANGED'}, "
        f"host file {'never copied' if clean else 'COPIED'}",
        [r["result"] for r in results] == ["failed"] and unchanged and clean and took < SLOW,
    )


def test_a_bloated_deep_or_linked_openclaw_json_is_never_read_whole(
    scene: Scene, tmp_path: Path
) -> None:
    """The bot page's ``openclaw.json`` view and every re-render read the bot's file:
    a link to a host file is not followed, a 2 GiB file (sparse: the bot's disk holds
    none of it) is refused unread, JSON nested 50,000 deep is shown as text only, and
    the next edit renders the file anew. An export leaves out a state file larger than
    an import takes, unread."""
    svc, api, client = scene.svc, scene.api, scene.client
    bot = create_bot(svc, "alpha")
    view = f"/api/bots/{bot.id}/openclaw-config"
    config = f"{STATE_TARGET}/openclaw.json"

    plant(api, bot, scene.canary)
    linked, took = scene.timed(lambda: client.get(view))
    scene.check(
        "openclaw.json linked to a host file, then the config view",
        f"HTTP {linked.status_code}",
        took,
        QUICK,
        linked.status_code == 404 and CANARY_SECRET.decode().strip() not in linked.text,
    )

    done = exec_in(api, bot.container, f"rm -f {config} && truncate -s 2G {config}")
    assert done.code == 0, done.text
    bloated, took = scene.timed(lambda: client.get(view))
    scene.check(
        "a 2 GiB openclaw.json, then the config view",
        f"HTTP {bloated.status_code}: {bloated.text[:120]}",
        took,
        QUICK,
        bloated.status_code == 409 and "2147483648 bytes" in bloated.json()["error"]["message"],
    )
    state = STATE_TARGET
    done = exec_in(api, bot.container, f"truncate -s 300M {state}/big.bin; echo a > {state}/kept")
    assert done.code == 0, done.text
    exported = tmp_path / "alpha.tar.gz"
    _, took = scene.timed(lambda: export_bot(svc, bot.id, exported))
    with tarfile.open(exported) as tar:
        names = [member.name.rsplit("/state/", 1)[-1] for member in tar]
    scene.check(
        "a 300 MiB and a 2 GiB file in the state folder, then export",
        f"exported {sorted(names)}",
        took,
        QUICK,
        "big.bin" not in names and "openclaw.json" not in names and "kept" in names,
    )
    edited, took = scene.timed(
        lambda: client.patch(f"/api/bots/{bot.id}", json={"persona": {"name": "Marvin"}})
    )
    rendered = client.get(view)
    scene.check(
        "a 2 GiB openclaw.json, then an edit (re-render)",
        f"HTTP {edited.status_code}, then the view: HTTP {rendered.status_code}",
        took,
        SLOW,
        edited.status_code == 200
        and rendered.status_code == 200
        and rendered.json()["config"]["gateway"]["port"] > 0,
    )

    depth = 50_000
    deep = "[" * depth + "]" * depth
    done = exec_in(api, bot.container, f"printf '%s' '{deep}' > {config}")
    assert done.code == 0, done.text
    nested, took = scene.timed(lambda: client.get(view))
    scene.check(
        f"JSON nested {depth} deep in openclaw.json, then the config view",
        f"HTTP {nested.status_code}",
        took,
        QUICK,
        nested.status_code == 200
        and nested.json()["config"] is None
        and nested.json()["text"] == deep,
    )
