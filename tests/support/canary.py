"""A canary tree on the host: files and folders a hostile bot must never get BotMaker
to change, read for it, or hand over.

``make_canary`` builds one (root-owned, one root-only file); ``canary_tree_digest``
records every entry's type, content (or link target), owner and mode, never following
a link, so a test compares the digest before and after an operation.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

#: The content of the canary's root-only file; it must never appear in a bot's folders.
CANARY_SECRET = b"canary: root-only host secret 6f1d9c\n"


def make_canary(root: Path) -> Path:
    """``root`` (0755) with ``secret`` (0600, CANARY_SECRET), ``folder/`` (0755) holding
    ``note`` (0644), all owned by the test's own user (root in the suite)."""
    root.mkdir(mode=0o755, parents=True)
    (root / "folder").mkdir(mode=0o755)
    for path, data, mode in (
        (root / "secret", CANARY_SECRET, 0o600),
        (root / "folder" / "note", b"canary note\n", 0o644),
    ):
        path.write_bytes(data)
        path.chmod(mode)
    return root


def canary_tree_digest(path: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``path`` (itself included) by relative name: (type, sha256 of
    the content or the link's target, uid, gid, mode). Links are never followed; link
    counts and times are left out (planting a hard link changes the count)."""
    digest: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(path):
        for name in [".", *dirs, *files] if folder == str(path) else [*dirs, *files]:
            entry = Path(folder) / name
            info = entry.lstat()
            kind = stat.S_IFMT(info.st_mode)
            if stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(entry.read_bytes()).hexdigest()
            elif stat.S_ISLNK(info.st_mode):
                content = os.readlink(entry)
            else:
                content = ""
            relative = os.path.relpath(entry, path)
            digest[relative] = (kind, content, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
    return digest


def holds_canary(folder: Path) -> list[str]:
    """Files under ``folder`` (links not followed, FIFOs not opened) holding CANARY_SECRET."""
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if stat.S_ISREG(path.lstat().st_mode) and CANARY_SECRET in path.read_bytes():
                found.append(os.path.relpath(path, folder))
    return found


def special_entries(folder: Path) -> list[str]:
    """Entries under ``folder`` that are neither regular files nor folders (links, FIFOs,
    devices): what BotMaker itself must never create."""
    found = []
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            mode = (Path(root) / name).lstat().st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                found.append(os.path.relpath(Path(root) / name, folder))
    return found
