"""The last change to a bot's ``openclaw.json``, kept as a bot event for diagnosis.

Whenever BotMaker writes a bot's config and it changed (create, edit, migrate,
rollback) — or an upgrade's ``doctor --fix`` rewrote it — the unified diff of the
previous and new file is recorded as a ``config_changed`` event (the diff in the
event's ``logs``), so a bot that crash-loops after a change shows what changed.

``openclaw.json`` never holds a secret value: every credential is a SecretRef or a
path under ``/run/secrets`` (``openclaw/render.py``). As a second line of defence the
bot's own secret values are still replaced by ``[redacted]`` before the diff is kept,
in case a tool that rewrote the file inlined one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from botmaker.state import CONFIG_FILE as CONFIG_FILE  # the file whose changes are kept

CONFIG_CHANGED = "config_changed"
#: The longest diff kept; a longer one is cut at a line and says so.
MAX_DIFF_CHARS = 16 * 1024
REDACTED = "[redacted]"


@dataclass(frozen=True)
class ConfigDiff:
    text: str  # the unified diff, at most MAX_DIFF_CHARS (plus the cut note)
    added: int  # lines
    removed: int

    @property
    def summary(self) -> str:
        return f"+{self.added} -{self.removed} lines"


def config_diff(
    before: bytes | None,
    after: bytes | None,
    *,
    known: Iterable[str] = (),
    limit: int = MAX_DIFF_CHARS,
) -> ConfigDiff | None:
    """The unified diff from ``before`` to ``after`` (None: no file); None if equal.

    ``known``: secret values to redact should either side hold one.
    """
    if before == after:
        return None
    values = sorted((v for v in known if len(v) >= 4), key=len, reverse=True)
    old = _lines(before, values)
    new = _lines(after, values)
    lines = list(
        difflib.unified_diff(
            old,
            new,
            fromfile=f"{CONFIG_FILE} (before)" if before is not None else "/dev/null",
            tofile=f"{CONFIG_FILE} (after)" if after is not None else "/dev/null",
            n=3,
        )
    )
    if not lines:  # the files differ only where secrets were redacted
        return None
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return ConfigDiff(_bounded(lines, limit), added, removed)


def _lines(data: bytes | None, secrets: list[str]) -> list[str]:
    if data is None:
        return []
    text = data.decode("utf-8", errors="replace")
    for value in secrets:
        text = text.replace(value, REDACTED)
    return [line if line.endswith("\n") else line + "\n" for line in text.splitlines(True)]


def _bounded(lines: list[str], limit: int) -> str:
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) > limit:
            kept.append(f"… (diff cut at {limit} characters)\n")
            break
        kept.append(line)
        size += len(line)
    return "".join(kept)
