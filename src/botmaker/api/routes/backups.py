"""Backups and bot archives over HTTP: the whole installation, one bot's export, and
importing an exported bot (``services/backup.py``, as ``botmaker backup``, ``bots
export`` and ``bots import`` do). Admins only (``admin.backup``): an archive holds
every bot's state and, with a passphrase, their secrets (sealed with it).

Restoring a whole backup stays a command (``botmaker restore``): it replaces the
store of an installation that has no bots, which a running server must not do.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from botmaker import policy
from botmaker.api.deps import allow, caller, owned, services
from botmaker.api.responses import answers
from botmaker.errors import BotMakerError, InvalidInput
from botmaker.policy import Action
from botmaker.services.backup import create_backup, export_bot, import_bot

router = APIRouter(prefix="/api", tags=["backup"])

#: The largest bot archive an import accepts (the body limit of that one route).
IMPORT_MAX_BYTES = 64 * 1024 * 1024
IMPORT_PATH = "/api/bots/import"

ARCHIVE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A gzipped tar archive (manifest.json first)",
        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
    }
}

_PASSPHRASE = Field(
    default=None,
    min_length=8,
    max_length=1024,
    description="include the secrets, sealed with this passphrase (omitted: no secrets)",
)


class ArchiveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passphrase: str | None = _PASSPHRASE


class Imported(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    started: bool = Field(description="false when the archive held no secrets")


def _archive(request: Request, stem: str, write: Any) -> FileResponse:
    """Write an archive with ``write(path)`` into a private temp folder under the data
    folder and send it; the folder is removed once sent (or on failure)."""
    folder = Path(tempfile.mkdtemp(prefix=".archive-", dir=services(request).settings.data_dir))
    name = f"{stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.tar.gz"
    try:
        write(folder / name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        folder / name,
        media_type="application/gzip",
        filename=name,
        headers={"Cache-Control": "no-store"},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.post(
    "/backup",
    summary="Download a backup of the whole installation (store, state folders, keyring; "
    "the secrets only sealed with a passphrase)",
    response_class=FileResponse,
    responses=ARCHIVE,
    dependencies=[allow(Action.ADMIN_BACKUP)],
)
def backup(request: Request, body: ArchiveRequest | None = None) -> FileResponse:
    svc = services(request)
    passphrase = body.passphrase if body else None
    response = _archive(request, "botmaker-backup", lambda p: create_backup(svc, p, passphrase))
    svc.audit.record("backup.download", "", secrets=passphrase is not None)
    return response


class ExportRequest(ArchiveRequest):
    bot: str = Field(min_length=1, max_length=255, description="the bot's id or name")


@router.post(
    "/bots/export",
    summary="Download one bot as an archive another BotMaker imports",
    response_class=FileResponse,
    responses=ARCHIVE,
    dependencies=[allow(Action.ADMIN_BACKUP)],
)
def export(body: ExportRequest, request: Request) -> FileResponse:
    svc = services(request)
    record = svc.store.find_bot(body.bot)
    policy.check(caller(request), Action.BOT_READ, owned(record), body.bot)  # a token's bots
    response = _archive(
        request,
        f"botmaker-bot-{record.name}",
        lambda p: export_bot(svc, record.id, p, body.passphrase),
    )
    svc.audit.record("bot.export", record.name, id=record.id, secrets=body.passphrase is not None)
    return response


@answers(
    router,
    "POST",
    "/bots/import",
    Imported,
    "Create a bot from an exported archive (multipart: file, name?, passphrase?)",
    status_code=201,
    dependencies=[allow(Action.ADMIN_BACKUP)],
)
def import_archive(
    request: Request,
    file: Annotated[UploadFile, File(description="the archive of POST /api/bots/export")],
    name: Annotated[str | None, Form(max_length=63)] = None,
    passphrase: Annotated[str | None, Form(max_length=1024)] = None,
) -> Imported:
    svc = services(request)
    folder = Path(tempfile.mkdtemp(prefix=".import-", dir=svc.settings.data_dir))
    path = folder / "bot.tar.gz"
    try:
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        if path.stat().st_size == 0:
            raise InvalidInput("the uploaded file is empty", field="file")
        try:
            record, started = import_bot(
                svc, path, passphrase or None, name or None, owner_id=caller(request).user_id
            )
        except BotMakerError as exc:
            if exc.field is None or exc.field == "file":  # about the archive: say so
                exc.message = exc.message.replace(str(path), "the uploaded file")
                exc.args = (exc.message,)
                exc.field = "passphrase" if exc.code == "wrong_passphrase" else "file"
            raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    svc.audit.record("bot.import", record.name, id=record.id, started=started)
    return Imported(id=record.id, name=record.name, started=started)
