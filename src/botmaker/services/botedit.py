"""What an edit of a bot would change, before it is made, and the bot's ``openclaw.json``.

``preview`` checks an edit exactly as ``PATCH /api/bots/{bot}`` does (the same
``apply_update``), then renders the new ``openclaw.json`` in memory and diffs it with
the file the bot runs now. Nothing is written: no row, secret, state file or grant.
The answer names each changed setting (before and after), the secrets the edit
replaces (by name only) and whether applying it recreates the container.

``rendered_config`` reads the bot's ``openclaw.json`` as BotMaker last wrote it. The
file holds no secret value (every credential is a SecretRef to a file under
``/run/secrets``); the bot's own secret values are still replaced by ``[redacted]``
before it leaves, as the config diffs are (``configdiff``), in case a tool that
rewrote the file inlined one.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from botmaker.definition import BotDefinition
from botmaker.errors import Conflict, NotFound
from botmaker.fsutil import TooLarge
from botmaker.openclaw.render import API_KEY_FILE, render_files
from botmaker.services.configdiff import CONFIG_FILE, REDACTED, config_diff
from botmaker.services.definitions import (
    apply_update,
    bot_config,
    patch_secret_files,
    stale_secret_files,
)
from botmaker.services.deploy import Deployer
from botmaker.services.schemas import BotUpdate
from botmaker.state import CONFIG_LIMIT
from botmaker.store import BotRecord

#: Definition fields an edit cannot change or that are BotMaker's own bookkeeping.
_INTERNAL = frozenset(
    {
        "image",
        "keyring",
        "key_id",
        "key_tags",
        "gateway",
        "openclaw_version",
        "openclaw_cli",
        "previous_image",
    }
)
#: Changes that need no new rendering and no new container: the keyring applies them
#: (a budget; whether the bot's base URL may be private: only the keyring connects
#: there, and only a keyring bot's base URL is checked for it).
_LIVE = ("budget.", "base_url_private")
#: Where the bot reads its configuration (``OPENCLAW_CONFIG_PATH``).
CONFIG_PATH = f"/state/{CONFIG_FILE}"


def edited(deploy: Deployer, old: BotRecord, patch: BotUpdate) -> BotRecord:
    """The bot's row as the edit would leave it (checked; nothing stored)."""
    present = set(deploy.secrets.names(old.id))
    definition = apply_update(old, patch, present)
    check_keyring_key(deploy, old, definition, patch)
    return replace(
        old, provider=definition.provider, model=definition.model, stored=definition.to_json()
    )


def check_keyring_key(
    deploy: Deployer, old: BotRecord, definition: BotDefinition, patch: BotUpdate
) -> None:
    """A keyring bot moving to another provider needs a key for it there: its own new
    one (``secrets.api_key``) or a shared key it may use."""
    own = patch.secrets is not None and patch.secrets.api_key is not None
    if old.definition.keyring and definition.provider != old.provider and not own:
        deploy.require_shared_key(definition.provider, list(definition.key_tags))


def settings_changes(before: BotDefinition, after: BotDefinition) -> list[dict[str, Any]]:
    """Each changed setting, by dotted field name, with its value before and after."""
    old, new = _flat(before), _flat(after)
    return [
        {"field": key, "before": old.get(key), "after": new.get(key)}
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def needs_recreate(changes: list[dict[str, Any]], secrets: list[str]) -> bool:
    """Whether applying the edit renders the configuration again and recreates the
    container: everything but a budget change alone does."""
    return bool(secrets) or any(not c["field"].startswith(_LIVE) for c in changes)


def preview(deploy: Deployer, ref: str, patch: BotUpdate) -> dict[str, Any]:
    """What ``PATCH`` with ``patch`` would change; refused exactly as the edit would be."""
    old = deploy.ready(ref)
    new = edited(deploy, old, patch)
    changes = settings_changes(old.definition, new.definition)
    files = patch_secret_files(patch)
    secrets = sorted(files)
    names = set(deploy.secrets.names(old.id)) | set(files)
    names -= set(stale_secret_files(old.definition, new.definition, files, names))
    if old.definition.keyring:
        names.discard(API_KEY_FILE)  # a keyring bot's key goes to the keyring, not a file
    before = deploy.state.config(old.id)
    config = bot_config(
        new,
        frozenset(names),
        proxy_base=deploy.keyring.proxy_base(new.provider) if new.definition.keyring else None,
        access=deploy.gateway_access(new),
    )
    after = render_files(config, before)[CONFIG_FILE]
    diff = config_diff(_canonical(before), _canonical(after), known=deploy.secrets.values(old.id))
    recreate = needs_recreate(changes, secrets)
    return {
        "id": old.id,
        "name": old.name,
        "changes": changes,
        "secrets": secrets,
        "config_diff": diff.text if diff else None,
        "config_summary": diff.summary if diff else None,
        "recreate": recreate,
        "effect": _effect(changes, secrets, recreate),
    }


def _effect(changes: list[dict[str, Any]], secrets: list[str], recreate: bool) -> str:
    if not changes and not secrets:
        return "Nothing changes."
    if recreate:
        return (
            "Applying re-renders openclaw.json, has OpenClaw validate it, and recreates the "
            "container: the bot restarts. A refused or failed edit puts everything back."
        )
    return "Applied at once (by the keyring); the bot keeps running."


def rendered_config(deploy: Deployer, ref: str) -> dict[str, Any]:
    """The bot's ``openclaw.json`` as it is on disk, the bot's secret values redacted."""
    record = deploy.store.find_bot(ref)
    try:
        data = deploy.state.read(record.id, CONFIG_FILE, CONFIG_LIMIT)
    except TooLarge as exc:  # the bot wrote it so (it owns its state folder)
        raise Conflict(
            f"bot {record.name}'s {CONFIG_FILE} is {exc.size} bytes, more than the "
            f"{CONFIG_LIMIT} BotMaker reads; its next edit renders it anew"
        ) from None
    if data is None:
        raise NotFound(f"bot {record.name} has no {CONFIG_FILE} yet")
    text = data.decode("utf-8", errors="replace")
    for value in sorted(
        (v for v in deploy.secrets.values(record.id) if len(v) >= 4), key=len, reverse=True
    ):
        text = text.replace(value, REDACTED)
    try:
        config: Any = json.loads(text)
    except (ValueError, RecursionError):
        config = None
    if _deeper_than(config, MAX_CONFIG_DEPTH):  # shown as text only
        config = None
    return {
        "id": record.id,
        "name": record.name,
        "path": CONFIG_PATH,
        "config": config,
        "text": text,
        "secret_refs": secret_refs(config),
    }


#: Deeper JSON than this is shown as text, not walked (BotMaker's renders nest about 6).
MAX_CONFIG_DEPTH = 64


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists/objects more than ``limit`` deep (no recursion)."""
    level: list[Any] = [value]
    for _ in range(limit + 1):
        level = [
            inner
            for item in level
            if isinstance(item, dict | list)
            for inner in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return True


def secret_refs(config: Any, path: str = "") -> list[dict[str, Any]]:
    """Every SecretRef (``{"source", "provider", "id"}``) in the config, with its JSON path."""
    found: list[dict[str, Any]] = []
    if isinstance(config, dict):
        if {"source", "provider", "id"} <= config.keys() and isinstance(config["source"], str):
            return [{"path": path or "/", "ref": config}]
        for key, value in config.items():
            found += secret_refs(value, f"{path}/{key}")
    elif isinstance(config, list):
        for index, value in enumerate(config):
            found += secret_refs(value, f"{path}/{index}")
    return found


def _canonical(data: bytes | None) -> bytes | None:
    """The JSON with its keys sorted: a render that only moves keys is no change."""
    if data is None:
        return None
    try:
        parsed = json.loads(data)
    except ValueError:
        return data
    return (json.dumps(parsed, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _flat(definition: BotDefinition) -> dict[str, Any]:
    body = definition.model_dump(mode="json", exclude=set(_INTERNAL))
    out: dict[str, Any] = {}
    _flatten(body, "", out)
    return out


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):  # an empty one adds no field
        for key, item in value.items():
            _flatten(item, f"{prefix}{key}.", out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for index, item in enumerate(value):
            _flatten(item, f"{prefix}{index}.", out)
    else:
        out[prefix.rstrip(".")] = value
