"""Backups of a whole installation, and export/import of one bot between installations.

An archive is a gzipped tar, written atomically (temp file, fsync, rename) with mode
0600. It holds ``manifest.json`` (format, BotMaker version, creation time, schema
version, the bots), a consistent copy of the SQLite store made with SQLite's backup
API (never a copy of a live WAL file; sessions and half-created bots left out), each
bot's state folder (``openclaw.json``, workspace), the keyring's database when there
is one (already encrypted; its master key is never included), and — only when a
passphrase is given — each bot's secrets as one sealed blob per bot: AES-256-GCM
under a key derived from the passphrase with argon2id, bound to the bot's id. A
check value in the manifest lets a wrong passphrase fail before anything changes.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import re
import sqlite3
import tarfile
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botmaker import __version__
from botmaker.config import Settings
from botmaker.definition import BotDefinition
from botmaker.errors import BotMakerError, Conflict, InvalidInput
from botmaker.fsutil import fsync_dir, is_bot_id, running_as_root
from botmaker.keyring.crypto import KdfParams, RootKey, open_sealed, seal
from botmaker.keyring.model import KeyringCorrupt
from botmaker.runtime.policy import container_name
from botmaker.secrets import valid_secret_name
from botmaker.services.schemas import NAME_PATTERN
from botmaker.state import FILE_LIMIT
from botmaker.store import Database
from botmaker.store.migrations import MIGRATIONS
from botmaker.store.records import BotRecord
from botmaker.store.repository import utcnow

if TYPE_CHECKING:
    from botmaker.services import Services
    from botmaker.services.deploy import Deployer

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STORE_MEMBER = "store/botmaker.db"
KEYRING_MEMBER = "keyring/keyring.db"
_STATE_PREFIX = "bots/"  # bots/<id>/state/<relative path>
_SECRETS_PREFIX = "secrets/"  # secrets/<id>.sealed
_MAX_MEMBER = FILE_LIMIT


class BackupError(BotMakerError):
    code = "backup_error"
    status = 422


class WrongPassphrase(BackupError):
    code = "wrong_passphrase"


@dataclass
class RestoreReport:
    started: list[str] = field(default_factory=list)
    missing_secrets: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    keyring: str = "none"  # none | restored | kept (the target already had one)


# -- encryption --------------------------------------------------------------------------


def _new_key(passphrase: str) -> tuple[RootKey, dict[str, Any]]:
    key = RootKey.new_passphrase(passphrase)
    assert key.salt is not None
    assert key.params is not None
    info = {
        "cipher": "AES-256-GCM",
        "kdf": "argon2id",
        "params": key.params.to_dict(),
        "salt": base64.b64encode(key.salt).decode("ascii"),
        "check": base64.b64encode(key.check_value()).decode("ascii"),
    }
    return key, info


def _key_for(info: Mapping[str, Any], passphrase: str) -> RootKey:
    try:
        salt = base64.b64decode(str(info["salt"]), validate=True)
        check = base64.b64decode(str(info["check"]), validate=True)
        params = KdfParams.from_dict(dict(info["params"]))
    except (KeyError, TypeError, ValueError, KeyringCorrupt) as exc:
        raise BackupError(f"the archive's encryption header is damaged: {exc}") from None
    key = RootKey.from_passphrase(passphrase, salt, params)
    if not key.matches(check):
        raise WrongPassphrase("wrong passphrase: the archive's secrets cannot be decrypted")
    return key


def _aad(bot_id: str) -> bytes:
    return f"botmaker-backup:v{FORMAT_VERSION}:{bot_id}".encode()


def _seal_secrets(key: RootKey, bot_id: str, values: Mapping[str, str]) -> bytes:
    return seal(key.material, json.dumps(dict(values)).encode("utf-8"), _aad(bot_id))


def _open_secrets(key: RootKey, bot_id: str, blob: bytes) -> dict[str, str]:
    try:
        values = json.loads(open_sealed(key.material, blob, _aad(bot_id)))
    except (KeyringCorrupt, ValueError):
        raise BackupError(f"the sealed secrets of bot {bot_id} do not verify") from None
    if not isinstance(values, dict) or not all(
        isinstance(k, str) and valid_secret_name(k) and isinstance(v, str)
        for k, v in values.items()
    ):
        raise BackupError(f"the sealed secrets of bot {bot_id} are malformed")
    return values


# -- archive writing ---------------------------------------------------------------------


class _ArchiveWriter:
    """A tar.gz built in a temp file beside ``dest`` (0600), renamed into place on close.

    Used as a context manager: the archive is committed when the block ends normally
    and the temp file removed when it raises, so ``dest`` is whole or untouched.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        folder = dest.parent if str(dest.parent) else Path()
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
        os.fchmod(fd, 0o600)
        self.tmp = Path(name)
        self.raw = os.fdopen(fd, "wb")
        self.tar = tarfile.open(fileobj=self.raw, mode="w:gz")  # noqa: SIM115
        self.now = time.time()

    def add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o600
        info.mtime = int(self.now)
        self.tar.addfile(info, io.BytesIO(data))

    def __enter__(self) -> _ArchiveWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def commit(self) -> None:
        self.tar.close()
        self.raw.flush()
        os.fsync(self.raw.fileno())
        self.raw.close()
        os.replace(self.tmp, self.dest)
        fsync_dir(self.dest.parent if str(self.dest.parent) else Path())

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.tar.close()
        with contextlib.suppress(Exception):
            self.raw.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _sqlite_copy(source: Path) -> bytes:
    """A consistent copy of a live SQLite database through its backup API."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "copy.db"
        src = sqlite3.connect(source)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
            src.close()
        return target.read_bytes()


def _clean_store_copy(data: bytes) -> bytes:
    """The store copy without sessions (live credentials) and half-created bots."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.db"
        path.write_bytes(data)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("DELETE FROM sessions")
            conn.execute("DELETE FROM bots WHERE state != 'ready'")
            conn.execute("VACUUM")  # deleted pages must not keep old bytes
        finally:
            conn.close()
        return path.read_bytes()


def _bot_secrets(svc: Services, bot_id: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in svc.deploy.secrets.names(bot_id):
        value = svc.deploy.secrets.read(bot_id, name)
        if value is not None:
            values[name] = value
    return values


def _manifest(kind: str, bots: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "kind": kind,
        "botmaker_version": __version__,
        "created_at": utcnow(),
        "bots": bots,
        **extra,
    }


def _bot_summary(record: BotRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "provider": record.provider,
        "model": record.model,
        "channel": record.channel,
    }


def create_backup(svc: Services, dest: Path, passphrase: str | None = None) -> dict[str, Any]:
    """Write the whole installation to ``dest``; returns the manifest."""
    settings: Settings = svc.settings
    store_copy = _clean_store_copy(_sqlite_copy(settings.db_path))
    records = [r for r in svc.store.list_bots() if r.state == "ready"]
    key, crypto = _new_key(passphrase) if passphrase else (None, None)
    keyring_db = settings.keyring_dir / "keyring.db"
    manifest = _manifest(
        "backup",
        [_bot_summary(r) for r in records],
        schema_version=svc.store.db.schema_version(),
        secrets=crypto,
        keyring=keyring_db.is_file(),
    )
    with _ArchiveWriter(dest) as writer:
        writer.add(MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
        writer.add(STORE_MEMBER, store_copy)
        if keyring_db.is_file():
            writer.add(KEYRING_MEMBER, _sqlite_copy(keyring_db))
        for record in records:
            _add_bot(writer, svc, record, key)
    return manifest


def export_bot(
    svc: Services, ref: str, dest: Path, passphrase: str | None = None
) -> dict[str, Any]:
    """Write one bot (definition, state folder, sealed secrets) to ``dest``."""
    record = svc.bots.record(ref)
    if record.state != "ready":
        raise Conflict(f"bot {record.name} is still being created", field="id")
    key, crypto = _new_key(passphrase) if passphrase else (None, None)
    manifest = _manifest(
        "bot",
        [{**_bot_summary(record), "image": record.image, "definition": record.definition.stored()}],
        secrets=crypto,
    )
    with _ArchiveWriter(dest) as writer:
        writer.add(MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
        _add_bot(writer, svc, record, key)
    return manifest


def _add_bot(writer: _ArchiveWriter, svc: Services, record: BotRecord, key: RootKey | None) -> None:
    """A bot's state folder (its regular files only: never a link, FIFO, device or hard
    link, see StateStore.files) and, with a passphrase's key, its sealed secrets."""
    for relative, data in svc.deploy.state.files(record.id):
        writer.add(f"{_STATE_PREFIX}{record.id}/state/{relative}", data)
    if key is not None:
        blob = _seal_secrets(key, record.id, _bot_secrets(svc, record.id))
        writer.add(f"{_SECRETS_PREFIX}{record.id}.sealed", blob)


# -- archive reading ---------------------------------------------------------------------


@dataclass
class _Archive:
    manifest: dict[str, Any]
    members: dict[str, bytes]

    def state_of(self, bot_id: str) -> dict[str, bytes]:
        prefix = f"{_STATE_PREFIX}{bot_id}/state/"
        return {
            name.removeprefix(prefix): data
            for name, data in self.members.items()
            if name.startswith(prefix)
        }

    def sealed(self, bot_id: str) -> bytes | None:
        return self.members.get(f"{_SECRETS_PREFIX}{bot_id}.sealed")


def _safe_name(name: str) -> bool:
    """A relative path of plain parts: never absolute, never ``..``, no control characters."""
    parts = name.split("/")
    return all(
        p not in ("", ".", "..") and len(p) <= 255 and not any(ord(c) < 32 for c in p)
        for p in parts
    )


def _read_archive(path: Path, kind: str) -> _Archive:
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for info in tar:
                if not info.isfile():
                    continue  # directories, links and devices are never restored
                if not _safe_name(info.name) or info.size > _MAX_MEMBER:
                    raise BackupError(f"the archive has an unsafe member: {info.name!r}")
                handle = tar.extractfile(info)
                if handle is None:
                    continue
                members[info.name] = handle.read()
    except FileNotFoundError:
        raise InvalidInput(f"no archive at {path}", field="file") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{path} is not a readable BotMaker archive: {exc}") from None
    try:
        manifest = json.loads(members.pop(MANIFEST))
    except (KeyError, ValueError):
        raise BackupError(f"{path} has no valid {MANIFEST}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"{path}: unsupported archive format {manifest.get('format')!r}")
    if manifest.get("kind") != kind:
        what = "a whole-install backup" if kind == "backup" else "a bot export"
        raise BackupError(f"{path} is not {what} (it is a {manifest.get('kind')!r} archive)")
    for bot in manifest.get("bots") or []:
        if not is_bot_id(str(bot.get("id"))):
            raise BackupError(f"the archive names an invalid bot id: {bot.get('id')!r}")
    return _Archive(manifest, members)


def _decrypt_all(archive: _Archive, passphrase: str | None) -> dict[str, dict[str, str]] | None:
    """Every bot's secrets (None when the archive has none); fails before any change."""
    info = archive.manifest.get("secrets")
    if not info:
        return None
    if not passphrase:
        raise InvalidInput(
            "the archive's secrets are encrypted: give its passphrase (--passphrase-file)",
            field="passphrase",
        )
    key = _key_for(info, passphrase)
    result: dict[str, dict[str, str]] = {}
    for bot in archive.manifest["bots"]:
        blob = archive.sealed(bot["id"])
        if blob is not None:
            result[bot["id"]] = _open_secrets(key, bot["id"], blob)
    return result


# -- restore -----------------------------------------------------------------------------


def _write_sqlite(data: bytes, target: Path) -> None:
    """Replace the database at ``target`` with ``data`` through SQLite's backup API."""
    with tempfile.TemporaryDirectory() as folder:
        source_path = Path(folder) / "source.db"
        source_path.write_bytes(data)
        source = sqlite3.connect(source_path)
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
            source.close()
    target.chmod(0o600)


def _archived_schema(data: bytes) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "check.db"
        path.write_bytes(data)
        conn = sqlite3.connect(path)
        try:
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
            conn.execute("SELECT id FROM bots LIMIT 1")
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"the archived store is not a BotMaker database: {exc}") from None
        finally:
            conn.close()
        return int(row[0])


def restore_backup(settings: Settings, path: Path, passphrase: str | None) -> RestoreReport:
    """Restore an archive onto an installation that has no bots, then start every bot."""
    from botmaker.services import build_services

    archive = _read_archive(path, "backup")
    store_data = archive.members.get(STORE_MEMBER)
    if store_data is None:
        raise BackupError(f"{path} has no store copy")
    known = max(version for version, _, _ in MIGRATIONS)
    if _archived_schema(store_data) > known:
        raise BackupError("the archive comes from a newer BotMaker; upgrade before restoring")
    secrets = _decrypt_all(archive, passphrase)  # a wrong passphrase stops here

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    current = Database(settings.db_path)
    try:
        existing = current.query("SELECT name FROM bots ORDER BY name")
    finally:
        current.close()
    if existing:
        names = ", ".join(row["name"] for row in existing)
        raise Conflict(f"this installation already has bots ({names}); restore needs a fresh one")

    _write_sqlite(store_data, settings.db_path)
    report = RestoreReport()
    keyring_data = archive.members.get(KEYRING_MEMBER)
    if keyring_data is not None:
        keyring_db = settings.keyring_dir / "keyring.db"
        if keyring_db.exists():
            report.keyring = "kept"
            log.warning(
                "kept the existing keyring at %s; the archived one was not restored", keyring_db
            )
        else:
            settings.keyring_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_sqlite(keyring_data, keyring_db)
            report.keyring = "restored"

    svc = build_services(settings)
    try:
        for record in svc.store.list_bots():
            _restore_files(svc, record, archive.state_of(record.id), secrets)
            values = (secrets or {}).get(record.id)
            if not values:
                report.missing_secrets.append(record.name)
                continue
            try:
                svc.bots.start(record.id)
            except BotMakerError as exc:
                report.failed[record.name] = exc.message
            else:
                report.started.append(record.name)
    finally:
        svc.close()
    return report


def _restore_files(
    svc: Services,
    record: BotRecord,
    state: dict[str, bytes],
    secrets: dict[str, dict[str, str]] | None,
) -> None:
    uid = record.uid if running_as_root() else os.getuid()
    # Even with no files (a bot can leave none that a backup takes): the folder must
    # exist, the bot's own, before its bind mount (Swarm refuses a missing source).
    svc.deploy.state.write(record.id, state, uid=uid)
    values = (secrets or {}).get(record.id) or {}
    svc.deploy.secrets.write_all(record.id, values, uid=uid, gid=uid)


# -- import ------------------------------------------------------------------------------


def import_bot(
    svc: Services,
    path: Path,
    passphrase: str | None,
    new_name: str | None = None,
    *,
    owner_id: str | None = None,
) -> tuple[BotRecord, bool]:
    """Create the archived bot here; returns (record, started).

    Like a create: row (``creating``) → keyring grant → secrets → state → render →
    container → start → ``ready``, and any failure undoes every step. Without
    secrets in the archive the bot is stored but not started.
    """
    archive = _read_archive(path, "bot")
    bots = archive.manifest["bots"]
    if len(bots) != 1:
        raise BackupError(f"{path} does not hold exactly one bot")
    source = bots[0]
    name = new_name or str(source.get("name"))
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidInput(f"invalid bot name {name!r}", field="name")
    secrets_by_bot = _decrypt_all(archive, passphrase)
    values = dict((secrets_by_bot or {}).get(source["id"]) or {})
    settings: Settings = svc.settings
    definition = _imported_definition(source, name, image=settings.bot_image)
    keyed = definition.keyring
    deploy = svc.deploy
    if keyed and not deploy.keyring.enabled:
        raise InvalidInput(
            "this bot used the keyring, which is off here (BOTMAKER_KEYRING)", field="file"
        )
    values.pop("keyring_token", None)  # a fresh token comes from this keyring
    if keyed:  # the bot's own key stays in the old keyring: a shared key must serve it
        deploy.require_shared_key(definition.provider, list(definition.key_tags))
    bot_id = str(uuid.uuid4())
    record = deploy.insert(bot_id, name, definition, owner_id=owner_id)
    with deploy.locks.hold(bot_id):
        return _deploy_imported(deploy, record, values, archive.state_of(source["id"]))


def _imported_definition(source: Mapping[str, Any], name: str, *, image: str) -> BotDefinition:
    """The archived bot's definition (of any version) on this install's image; a bot's
    own keyring key does not travel."""
    columns = {key: str(source.get(key)) for key in ("provider", "model", "channel")}
    try:
        definition = BotDefinition.load(
            source.get("definition") or {}, name=name, columns=columns | {"image": image}
        )
    except ValueError as exc:
        raise BackupError(f"the archived bot's definition cannot be read: {exc}") from None
    return definition.model_copy(update={"key_id": None})


def _deploy_imported(
    deploy: Deployer, record: BotRecord, values: dict[str, str], state: dict[str, bytes] | None
) -> tuple[BotRecord, bool]:
    """An imported row's grant, secrets, state, config and container; all undone on failure."""
    bot_id, keyed, have_secrets = record.id, record.definition.keyring, bool(values)
    started = container_attempted = registered = False
    try:
        if keyed:
            registered = True
            record, values["keyring_token"] = deploy.register(record, None)
            values.pop("api_key", None)
        deploy.secrets.write_all(bot_id, values, uid=record.uid, gid=record.uid)
        if state:
            deploy.state.write(bot_id, state, uid=record.uid)
        deploy.render(record, "import")
        if have_secrets:  # as create does: OpenClaw validates the config before it starts
            deploy.images.ensure(record.image)
            record = deploy.validated(record)
        elif record.definition.gateway:
            deploy.health.watch(bot_id)
        if have_secrets:
            container_attempted = True
            record = deploy.create_container(record)
            deploy.runtime.start(container_name(bot_id))
            started = True
        desired = "running" if started else "stopped"  # no secrets: nothing to run with yet
        record = deploy.store.update_bot(bot_id, state="ready", desired=desired)
    except BaseException:
        deploy.undo_create(bot_id, remove_container=container_attempted, keyring=registered)
        raise
    return record, started
