"""Leftovers with no bot row: this instance's labelled containers, secrets and state
folders, and keyring grants (tokens) of bots that no longer exist.

A crash between steps of a create or delete can leave them; BotMaker stopped while a
config check ran leaves that check's container (each is removed as soon as its output is
read), which is listed too once it has ended, though its bot lives. ``report`` only looks
(GET never changes anything); ``cleanup`` removes exactly what ``report`` finds at
that moment. Only containers carrying this instance's labels *and* a bot id are
considered (never an unlabelled container or another instance's), and only folders
named like a bot id (never ``.keyring``, the keyring's master key folder).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from botmaker.errors import BotMakerError
from botmaker.fsutil import is_bot_id
from botmaker.runtime.base import Backend, ManagedContainer
from botmaker.runtime.policy import CHECK_INFIX, container_name
from botmaker.secrets import SecretStore
from botmaker.services.keyring import KeyringService
from botmaker.state import StateStore
from botmaker.store import Store

log = logging.getLogger(__name__)


class OrphanService:
    def __init__(
        self,
        store: Store,
        runtime: Backend,
        secrets: SecretStore,
        state: StateStore,
        keyring: KeyringService | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.secrets = secrets
        self.state = state
        self.keyring = keyring

    def _grants(self) -> list[dict[str, Any]]:
        """The keyring's grants (bot id, created); none when the keyring is off or away."""
        if self.keyring is None or not self.keyring.enabled:
            return []
        try:
            return self.keyring.client.list_bots()
        except BotMakerError as exc:
            log.warning("orphaned keyring grants not checked: %s", exc.message)
            return []

    def remove(self, kind: str, item: dict[str, Any]) -> None:
        """Remove one orphan of ``kind`` as ``report`` listed it."""
        if kind == "containers":
            self.runtime.remove(item["id"])
        elif kind == "secrets":
            self.secrets.remove(item["bot_id"])
        elif kind == "state":
            self.state.remove(item["bot_id"])
        elif kind == "grants" and self.keyring is not None:
            self.keyring.client.delete_bot(item["bot_id"])  # revokes the token, drops its keys

    def report(self) -> dict[str, list[dict[str, Any]]]:
        # Look first, read the rows last: a create writes its row before anything else
        # and a delete removes it after everything else, so nothing in flight is listed.
        containers = self.runtime.managed_containers()
        secret_folders = _bot_folders(self.secrets.root)
        state_folders = _bot_folders(self.state.root)
        grants = self._grants()
        rows = {record.id for record in self.store.list_bots()}
        now = time.time()
        return {
            "containers": [
                {
                    "id": c.id,
                    "name": c.name,
                    "bot_id": c.bot_id,
                    "state": c.state,
                    "age_seconds": _age(now, c.created),
                }
                for c in containers
                if c.bot_id and (c.bot_id not in rows or _stranded_check(c))
            ],
            "secrets": [
                {"bot_id": name, "path": str(path), "age_seconds": _age(now, mtime)}
                for name, (path, mtime) in secret_folders.items()
                if name not in rows
            ],
            "state": [
                {"bot_id": name, "path": str(path), "age_seconds": _age(now, mtime)}
                for name, (path, mtime) in state_folders.items()
                if name not in rows
            ],
            "grants": [
                {
                    "bot_id": str(grant["bot_id"]),
                    "age_seconds": _age(now, float(grant.get("created_at") or 0)),
                }
                for grant in grants
                if grant.get("bot_id") and grant["bot_id"] not in rows
            ],
        }

    def cleanup(self) -> dict[str, list[dict[str, Any]]]:
        """Remove what ``report`` finds now; returns what was removed (and what failed)."""
        found = self.report()
        removed: dict[str, list[dict[str, Any]]] = {kind: [] for kind in found}
        removed["failed"] = []
        for kind, items in found.items():
            for item in items:
                try:
                    self.remove(kind, item)
                except BotMakerError as exc:
                    log.error("could not remove orphaned %s %s: %s", kind, item, exc.message)
                    removed["failed"].append({"kind": kind, **item, "message": exc.message})
                else:
                    log.info("removed orphaned %s of bot %s", kind, item["bot_id"])
                    removed[kind].append(item)
        return removed


def _bot_folders(root: Path) -> dict[str, tuple[Path, float]]:
    if not root.is_dir():
        return {}
    found: dict[str, tuple[Path, float]] = {}
    for path in root.iterdir():
        if is_bot_id(path.name) and path.is_dir() and not path.is_symlink():
            try:
                found[path.name] = (path, path.stat().st_mtime)
            except FileNotFoundError:
                continue
    return found


def _age(now: float, then: float) -> int | None:
    return max(0, int(now - then)) if then else None


def _stranded_check(container: ManagedContainer) -> bool:
    """A config check's container (see ``CHECK_INFIX``) that is not running:
    its check ended and nobody removed it (BotMaker stopped between the two)."""
    return (
        container.bot_id is not None
        and container.name.startswith(container_name(container.bot_id) + CHECK_INFIX)
        and container.state != "running"
    )
