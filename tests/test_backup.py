"""``botmaker backup``/``restore`` and ``bots export``/``import``, between two real installs."""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from botmaker.config import Settings
from tests.conftest import cleanup_instance
from tests.support.bots import exec_in
from tests.support.cli import botmaker_env
from tests.test_cli import BOTMAKER, Cli

PASSPHRASE = "a long backup passphrase, 2026"
SECRET_NAMES = ("api_key", "channel_token", "gateway_token")

MakeInstall = Callable[[], Cli]


@pytest.fixture
def make_install(
    tmp_path: Path, standin_image: str, docker_api: docker.APIClient
) -> Iterator[MakeInstall]:
    """Fresh installs: own data and secrets folders, instance name and network."""
    made: list[Cli] = []

    def make() -> Cli:
        root = tmp_path / f"install-{len(made)}"
        # No admin password in the environment: each install keeps the one in its store.
        env = botmaker_env(
            root, standin_image, "bk", NO_COLOR="1", TERM="dumb", BOTMAKER_ADMIN_PASSWORD=""
        )
        cli = Cli(env, Settings.from_env(env), root)
        made.append(cli)
        return cli

    assert BOTMAKER.is_file()
    yield make
    for cli in made:
        cleanup_instance(docker_api, cli.settings)


def _create(cli: Cli, name: str, provider: str, model: str) -> str:
    key, token = cli.tmp / f"{name}.key", cli.tmp / f"{name}.token"
    key.write_text(f"sk-canary-{name}-{uuid.uuid4().hex}\n")
    token.write_text(f"4242:canary-{name}-{uuid.uuid4().hex}\n")
    result = cli(
        "bots",
        "create",
        "--name",
        name,
        "--provider",
        provider,
        "--model",
        model,
        "--channel",
        "telegram",
        "--api-key-file",
        str(key),
        "--channel-token-file",
        str(token),
    )
    assert result.returncode == 0, result.stderr
    return str(_bots(cli)[name]["id"])


def _bots(cli: Cli) -> dict[str, dict[str, object]]:
    listed = cli("bots", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {bot["name"]: bot for bot in json.loads(listed.stdout)}


def _secrets(cli: Cli, bot_id: str) -> dict[str, str]:
    folder = cli.settings.secrets_dir / bot_id
    return {name: (folder / name).read_text() for name in SECRET_NAMES}


def _definitions(cli: Cli) -> dict[str, tuple[str, str, str, str]]:
    conn = sqlite3.connect(cli.settings.db_path)
    try:
        rows = conn.execute("SELECT name, provider, model, channel, definition FROM bots")
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}
    finally:
        conn.close()


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar
            if m.isfile()
        }


def _passphrase_file(cli: Cli, value: str = PASSPHRASE) -> str:
    path = cli.tmp / f"passphrase-{uuid.uuid4().hex[:6]}"
    path.write_text(value + "\n")
    return str(path)


def test_backup_and_restore_onto_a_fresh_install(
    make_install: MakeInstall, docker_api: docker.APIClient
) -> None:
    old = make_install()
    ids = {
        "alpha": _create(old, "alpha", "openai", "gpt-5.1"),
        "beta": _create(old, "beta", "anthropic", "claude-opus-5"),
    }
    notes = old.settings.data_dir / "bots" / ids["alpha"] / "state" / "workspace" / "NOTES.md"
    notes.write_text("remember the milk\n")
    secrets = {name: _secrets(old, bot_id) for name, bot_id in ids.items()}
    definitions = _definitions(old)

    archive = old.tmp / "full.tar.gz"
    made = old("backup", str(archive), "--passphrase-file", _passphrase_file(old))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    members = _members(archive)
    manifest = json.loads(members["manifest.json"])
    assert manifest["format"] == 1
    assert sorted(b["name"] for b in manifest["bots"]) == ["alpha", "beta"]
    assert "store/botmaker.db" in members
    assert f"bots/{ids['alpha']}/state/openclaw.json" in members
    assert members[f"bots/{ids['alpha']}/state/workspace/NOTES.md"] == b"remember the milk\n"
    blob = b"".join(members.values())
    for values in secrets.values():  # encrypted: no value appears in clear
        assert not any(value.encode() in blob for value in values.values())

    cleanup_instance(docker_api, old.settings)  # the old machine is gone
    new = make_install()
    wrong = new("restore", str(archive), "--passphrase-file", _passphrase_file(new, "not it"))
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert "wrong passphrase" in wrong.stderr
    assert _bots(new) == {}  # nothing restored
    assert not (new.settings.data_dir / "bots").exists()

    restored = new("restore", str(archive), "--passphrase-file", _passphrase_file(new))
    assert restored.returncode == 0, restored.stderr
    assert "restored alpha: started" in restored.stdout
    assert "restored beta: started" in restored.stdout
    bots = _bots(new)
    assert {n: (b["provider"], b["model"], b["id"]) for n, b in bots.items()} == {
        "alpha": ("openai", "gpt-5.1", ids["alpha"]),
        "beta": ("anthropic", "claude-opus-5", ids["beta"]),
    }
    assert all(b["status"]["state"] == "running" for b in bots.values())  # type: ignore[index]
    assert _definitions(new) == definitions
    for name, bot_id in ids.items():
        container = f"botmaker-{bot_id}"
        labels = docker_api.inspect_container(container)["Config"]["Labels"]
        assert new.settings.instance in labels.values()
        for secret, value in secrets[name].items():
            seen = exec_in(docker_api, container, f"cat /run/secrets/{secret}")
            assert seen.code == 0, seen.text
            assert seen.out == value
    notes_inside = exec_in(docker_api, f"botmaker-{ids['alpha']}", "cat /state/workspace/NOTES.md")
    assert notes_inside.out == "remember the milk\n"

    again = new("restore", str(archive), "--passphrase-file", _passphrase_file(new))
    assert again.returncode == 2
    assert "already has bots" in again.stderr


def test_backup_without_passphrase_has_no_secrets(
    make_install: MakeInstall, docker_api: docker.APIClient
) -> None:
    old = make_install()
    bot_id = _create(old, "alpha", "openai", "gpt-5.1")
    values = _secrets(old, bot_id)
    archive = old.tmp / "plain.tar.gz"
    made = old("backup", str(archive))
    assert made.returncode == 0, made.stderr
    assert "WITHOUT secrets" in made.stdout
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    members = _members(archive)
    assert not any(name.startswith("secrets/") for name in members)
    for name, data in members.items():
        for value in values.values():
            assert value.encode() not in data, name

    cleanup_instance(docker_api, old.settings)
    new = make_install()
    restored = new("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "restored alpha: secrets missing, not started" in restored.stdout
    bots = _bots(new)
    assert list(bots) == ["alpha"]
    assert bots["alpha"]["status"]["state"] == "missing"  # type: ignore[index]
    filters = {"label": f"botmaker.instance={new.settings.instance}"}
    assert docker_api.containers(all=True, filters=filters) == []


def test_export_and_import_one_bot(make_install: MakeInstall, docker_api: docker.APIClient) -> None:
    one, two = make_install(), make_install()
    bot_id = _create(one, "alpha", "openai", "gpt-5.1")
    values = _secrets(one, bot_id)
    archive = one.tmp / "alpha.tar.gz"
    made = one("bots", "export", "alpha", str(archive), "--passphrase-file", _passphrase_file(one))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    wrong = two("bots", "import", str(archive), "--passphrase-file", _passphrase_file(two, "nope"))
    assert wrong.returncode == 2
    assert "wrong passphrase" in wrong.stderr
    assert _bots(two) == {}

    not_whole = two("restore", str(archive), "--passphrase-file", _passphrase_file(two))
    assert not_whole.returncode == 2
    assert "not a whole-install backup" in not_whole.stderr

    imported = two(
        "bots",
        "import",
        str(archive),
        "--passphrase-file",
        _passphrase_file(two),
        "--name",
        "gamma",
    )
    assert imported.returncode == 0, imported.stderr
    assert "started" in imported.stdout
    bots = _bots(two)
    assert list(bots) == ["gamma"]
    gamma = bots["gamma"]
    assert gamma["id"] != bot_id
    assert (gamma["provider"], gamma["model"]) == ("openai", "gpt-5.1")
    assert gamma["status"]["state"] == "running"  # type: ignore[index]
    assert json.loads(_definitions(two)["gamma"][3]) == json.loads(_definitions(one)["alpha"][3])
    for secret, value in values.items():
        seen = exec_in(docker_api, f"botmaker-{gamma['id']}", f"cat /run/secrets/{secret}")
        assert seen.out == value
    # The original is untouched.
    assert _bots(one)["alpha"]["status"]["state"] == "running"  # type: ignore[index]


def test_a_damaged_archive_is_refused(make_install: MakeInstall) -> None:
    new = make_install()
    bogus = new.tmp / "bogus.tar.gz"
    with tarfile.open(bogus, "w:gz") as tar:
        data = b'{"format": 1, "kind": "backup", "bots": []}'
        info = tarfile.TarInfo("../escape")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    refused = new("restore", str(bogus))
    assert refused.returncode == 2
    assert "unsafe member" in refused.stderr
    assert _bots(new) == {}
