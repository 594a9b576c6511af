"""What the benchmarks share: an isolated instance's settings and seeded stopped bots."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from botmaker.config import BotLimits, Secret, Settings
from botmaker.runtime.policy import BotIdentity, bot_container_spec
from botmaker.services import Services

PASSWORD = "benchmark-password-123"


def bench_settings(root: Path, image: str, **changes: Any) -> Settings:
    """A BotMaker instance of its own under ``root``: labels, an internal network,
    small limits, the keyring off (pass changes to differ)."""
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "data_dir": root / "data",
        "secrets_dir": root / "secrets",
        "admin_password": Secret(PASSWORD),
        "bot_image": image,
        "instance": f"bench-{tag}",
        "network": f"bmbench-{tag}",
        "network_internal": True,
        "keyring": "off",
        "limits": BotLimits(memory_bytes=32 * 1024**2, cpus=0.1, pids=32),
    }
    values.update(changes)
    return Settings(**values)


def add_stopped_bot(svc: Services, i: int, secrets_folder: Path) -> None:
    """A stopped bot as BotMaker keeps one: a ``ready`` row and a created, never started
    container (the reconciler would recreate a missing one)."""
    settings = svc.settings
    record = svc.store.insert_bot(
        bot_id=str(uuid.uuid4()),
        name=f"row-{i:04d}",
        provider="anthropic",
        model="claude-sonnet-5",
        channel="telegram",
        image=settings.bot_image,
        uid_base=settings.bot_uid_base,
        fixed_uid=None,
        definition=json.dumps({"persona": {"name": f"row {i}", "emoji": "🤖"}}),
    )
    identity = BotIdentity(record.id, record.name, record.image, record.uid, {})
    container_id = svc.runtime.create(bot_container_spec(identity, settings, secrets_folder))
    svc.store.update_bot(record.id, state="ready", container_id=container_id)
