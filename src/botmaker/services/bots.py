"""Bot use cases: create, list, start/stop/restart, delete, logs.

Ordering and rollback live here. A create is: row (``creating``) → keyring grant
→ secrets → render → image → container → start → ``ready``; any failure undoes
every step taken, so a bad or failed create leaves no row, no folder and no
container. A delete marks the row ``deleting`` first, then revokes the keyring
grant and removes the container, secrets, state and finally the row; every step
is idempotent, so a delete cut short (a crash) can simply be run again — which
is what the reconciler (``services/reconcile.py``) does with rows left behind.

``BOTMAKER_TEST_PAUSE_AT=<step>`` (read once, when the service is built) makes a
create or delete print ``@@paused <step>`` on stderr and sleep at that step, so
the crash-safety tests can SIGKILL the server exactly there.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from botmaker.config import Settings
from botmaker.errors import BotMakerError, Conflict, InvalidInput, NotFound, StorageFull
from botmaker.fsutil import running_as_root
from botmaker.keyring.model import Budget
from botmaker.openclaw.catalog import CHANNELS, PROVIDERS
from botmaker.openclaw.render import (
    API_KEY_FILE,
    GATEWAY_TOKEN_FILE,
    KEYRING_TOKEN_FILE,
    render_files,
    secret_file_for,
)
from botmaker.runtime.base import (
    MISSING,
    Backend,
    ContainerSpec,
    LogChunk,
    LogStream,
    RuntimeStatus,
)
from botmaker.runtime.policy import (
    LABEL_BOT_ID,
    LABEL_CHECK_FOR,
    BotIdentity,
    bot_container_spec,
    container_name,
)
from botmaker.secrets import SecretStore
from botmaker.services.definitions import bot_config, check_and_build, secret_files
from botmaker.services.health import HealthMonitor
from botmaker.services.images import ImageService
from botmaker.services.keyring import KeyringService
from botmaker.services.schemas import BotCreate, BotSecretsUpdate, BotUpdate
from botmaker.services.statuses import StatusCache
from botmaker.state import StateStore
from botmaker.store import BotRecord, Store

log = logging.getLogger(__name__)

#: The steps ``BOTMAKER_TEST_PAUSE_AT`` may name.
PAUSE_STEPS = frozenset(
    {
        "after_row",
        "after_secrets",
        "after_container",
        "after_start",
        "delete_after_mark",
        "delete_after_container",
    }
)


@dataclass(frozen=True)
class BotView:
    """A bot as callers see it: stored configuration plus live status. No secrets."""

    record: BotRecord
    status: RuntimeStatus
    secret_names: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        persona = r.spec.get("persona") or {}
        channels = r.spec.get("channels") or [{"type": r.channel}]
        body: dict[str, Any] = {
            "id": r.id,
            "name": r.name,
            "persona": {"name": persona.get("name", r.name), "emoji": persona.get("emoji", "")},
            "provider": r.provider,
            "model": r.model,
            "channel": r.channel,
            "channels": [c["type"] for c in channels],
            "image": r.image,
            "image_digest": r.image_digest,
            "container_name": container_name(r.id),
            "container_id": r.container_id,
            "state": r.state,
            "desired": r.desired,
            "status": self.status.to_dict(),
            **uptime(self.status),
            "keyring": bool(r.spec.get("keyring")),
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        if r.spec.get("keyring"):
            body["budget"] = Budget.from_dict(r.spec.get("budget")).to_dict()
            body["key_tags"] = list(r.spec.get("key_tags") or [])
        if self.secret_names is not None:  # the detailed view: also the editable configuration
            body["secrets"] = self.secret_names
            body["config"] = {
                "persona": {"name": r.name, "emoji": "", "soul": "", "user_notes": "", **persona},
                "template": r.spec.get("template"),
                "fallbacks": list(r.spec.get("fallbacks") or []),
                "base_url": r.spec.get("base_url"),
                "heartbeat": bool(r.spec.get("heartbeat")),
                "channels": [
                    {
                        "type": c["type"],
                        "dm_policy": c.get("dm_policy"),
                        "allow_from": list(c.get("allow_from") or []),
                        "settings": dict(c.get("settings") or {}),
                    }
                    for c in channels
                ],
            }
        return body


def uptime(status: RuntimeStatus, now: float | None = None) -> dict[str, Any]:
    """``started_at`` and ``uptime_seconds`` of a running container (else both None).

    Exact from an inspect (``State.StartedAt``); from a list, Docker gives only
    ``Up 5 minutes``, so both are as precise as ``docker ps``.
    """
    if not status.running:
        return {"started_at": None, "uptime_seconds": None}
    now = time.time() if now is None else now
    if status.started_at:
        try:
            started = datetime.fromisoformat(status.started_at).timestamp()
        except ValueError:
            started = None
        if started is not None:
            return {"started_at": status.started_at, "uptime_seconds": max(0, int(now - started))}
    if status.uptime_hint is None:
        return {"started_at": None, "uptime_seconds": None}
    started_at = datetime.fromtimestamp(now - status.uptime_hint, UTC)
    return {
        "started_at": started_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "uptime_seconds": int(status.uptime_hint),
    }


class BotService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        secrets: SecretStore,
        runtime: Backend,
        images: ImageService,
        state: StateStore,
        health: HealthMonitor,
        keyring: KeyringService,
    ) -> None:
        self.settings = settings
        self.keyring = keyring
        self.store = store
        self.secrets = secrets
        self.state = state
        self.health = health
        for record in store.list_bots():
            if record.spec.get("gateway"):
                health.watch(record.id)
        self.runtime = runtime
        self.statuses = StatusCache(runtime)  # fed by the monitor's event stream
        self.images = images
        self._streams_lock = threading.Lock()
        self.open_log_streams = 0
        self._busy_lock = threading.Lock()
        self._busy: Counter[str] = Counter()  # bot ids an operation is working on now
        self._cannot_validate: set[str] = set()  # image ids/digests without an openclaw command
        pause = os.environ.get("BOTMAKER_TEST_PAUSE_AT") or None
        self._pause_at = pause if pause in PAUSE_STEPS else None

    # -- crash-safety support -----------------------------------------------------------

    def _pause(self, step: str) -> None:
        """The test hook: stop here (forever) so a test can kill the process."""
        if self._pause_at == step:
            print(f"@@paused {step}", file=sys.stderr, flush=True)
            while True:  # pragma: no cover - ended by SIGKILL
                time.sleep(3600)

    @contextlib.contextmanager
    def busy(self, bot_id: str) -> Iterator[None]:
        """Mark a bot as being worked on (the reconciler leaves it alone meanwhile)."""
        with self._busy_lock:
            self._busy[bot_id] += 1
        try:
            yield
        finally:
            self.statuses.mark(bot_id)
            with self._busy_lock:
                self._busy[bot_id] -= 1
                if self._busy[bot_id] <= 0:
                    del self._busy[bot_id]

    @contextlib.contextmanager
    def claim(self, bot_id: str) -> Iterator[bool]:
        """For the reconciler: yields True (and marks the bot busy) if nothing works on it."""
        with self._busy_lock:
            free = self._busy[bot_id] == 0
            if free:
                self._busy[bot_id] += 1
        try:
            yield free
        finally:
            if free:
                self.statuses.mark(bot_id)
                with self._busy_lock:
                    self._busy[bot_id] -= 1
                    if self._busy[bot_id] <= 0:
                        del self._busy[bot_id]

    # -- queries ----------------------------------------------------------------------

    def list(self) -> list[BotView]:
        statuses = self.statuses.current()  # kept by the event stream, else one engine call
        return [
            BotView(record, self._status_of(record, statuses.get(record.id)))
            for record in self.store.list_bots()
        ]

    def names(self) -> dict[str, str]:
        """Bot names by id (no engine call)."""
        return {record.id: record.name for record in self.store.list_bots()}

    def get(self, ref: str) -> BotView:
        record = self.store.find_bot(ref)
        status = self.runtime.status(container_name(record.id))
        return BotView(record, self._status_of(record, status), self.secrets.names(record.id))

    def live(self, bot_id: str) -> BotView:
        """A bot with its live status (one inspect, also cached), without its secret names."""
        token = self.statuses.token(bot_id)
        try:
            record = self.store.get_bot(bot_id)
        except NotFound:
            self.statuses.forget(bot_id)
            raise
        status = self.runtime.status(container_name(record.id))
        self.statuses.put(record.id, status, token)
        return BotView(record, self._status_of(record, status))

    def record(self, ref: str) -> BotRecord:
        """A bot's stored row by id or name (no engine call)."""
        return self.store.find_bot(ref)

    def events(self, ref: str, *, limit: int, before: int | None) -> builtins.list[dict[str, Any]]:
        """A bot's recorded events, newest first (``before``: an event id, to page back)."""
        record = self.store.find_bot(ref)
        return self.store.bot_events(record.id, limit=limit, before_id=before)

    def gateway_token(self, ref: str) -> str:
        """The token of the bot's OpenClaw gateway, for the admin to reveal or copy."""
        record = self.store.find_bot(ref)
        token = self.secrets.read(record.id, GATEWAY_TOKEN_FILE)
        if token is None:
            raise NotFound(f"bot {record.name} has no gateway token", field="id")
        return token

    def _status_of(self, record: BotRecord, status: RuntimeStatus | None) -> RuntimeStatus:
        if status is None or status.state == "missing":
            if record.state == "creating":
                return RuntimeStatus(state="creating", detail="being created")
            return MISSING
        return self.health.health_of(record.id, status)

    # -- create -----------------------------------------------------------------------

    def create(self, request: BotCreate) -> BotView:
        keyed = self._uses_keyring(request)
        definition = check_and_build(request, keyring=keyed)
        if keyed and request.secrets.api_key is None:
            self._require_shared_key(request.provider, request.key_tags)
        bot_id = str(uuid.uuid4())
        with self.busy(bot_id):
            return self._create(request, bot_id, keyed, definition)

    def _create(
        self, request: BotCreate, bot_id: str, keyed: bool, definition: dict[str, Any]
    ) -> BotView:
        record = self.store.insert_bot(
            bot_id=bot_id,
            name=request.name,
            provider=request.provider,
            model=request.model,
            channel=definition["channels"][0]["type"],
            image=self.settings.bot_image,
            uid_base=self.settings.bot_uid_base,
            fixed_uid=None if running_as_root() else os.getuid(),
            definition=json.dumps(definition),
        )
        container_attempted = registered = False
        try:
            self._pause("after_row")
            files = {**secret_files(request), GATEWAY_TOKEN_FILE: secrets.token_urlsafe(32)}
            if keyed:  # the provider key goes to the keyring; the bot gets a token for it
                registered = True
                record, files[KEYRING_TOKEN_FILE] = self._register(
                    record, files.pop(API_KEY_FILE, None)
                )
                definition = record.spec
            self.secrets.write_all(bot_id, files, uid=record.uid, gid=record.uid)
            self._pause("after_secrets")
            self._render(record)
            self.images.ensure(record.image)
            if self._validate(record):  # an OpenClaw image: its gateway gets probed
                record = self.store.update_bot(
                    bot_id, definition=json.dumps({**definition, "gateway": True})
                )
                self.health.watch(bot_id)
            container_attempted = True
            record = self._create_container(record)
            self._pause("after_container")
            self.runtime.start(container_name(bot_id))
            self._pause("after_start")
            record = self.store.update_bot(bot_id, state="ready")
        except BaseException:
            self._undo_create(bot_id, remove_container=container_attempted, keyring=registered)
            raise
        log.info("created bot %s (%s)", record.name, record.id)
        return self.get(bot_id)

    # -- keyring ----------------------------------------------------------------------

    def _uses_keyring(self, request: BotCreate) -> bool:
        """Keyed providers go through the keyring when it is on (keyless ones need not)."""
        if not self.keyring.enabled:
            return False
        return request.secrets.api_key is not None or PROVIDERS[request.provider].key_required

    def _require_shared_key(self, provider: str, tags: builtins.list[str]) -> None:
        keys = [k for k in self.keyring.client.list_keys(provider=provider) if k.bot_id is None]
        usable = [k for k in keys if not k.tags or set(k.tags) & set(tags)]
        if not usable:
            raise InvalidInput(
                f"the keyring has no key for provider {provider}: add one (POST /api/keys, "
                "botmaker keys add) or give secrets.api_key",
                field="secrets.api_key",
            )

    def _grant(self, record: BotRecord) -> dict[str, Any]:
        spec = record.spec
        return {
            "providers": [record.provider],
            "base_urls": {record.provider: spec["base_url"]} if spec.get("base_url") else {},
            "allow_private": bool(spec.get("base_url_private")),
            "tags": list(spec.get("key_tags") or []),
            "budget": Budget.from_dict(spec.get("budget")),
        }

    def _register(self, record: BotRecord, api_key: str | None) -> tuple[BotRecord, str]:
        """Give the bot a keyring grant (and its own key, if it brought one) and a token."""
        client = self.keyring.client
        token = client.put_bot(record.id, **self._grant(record))
        if token is None:  # a grant was left from an interrupted create: a fresh token
            token = client.rotate_token(record.id)
        if api_key is not None:
            info = client.add_key(
                record.provider, api_key, label=f"{record.name} (bot's own key)", bot_id=record.id
            )
            record = self.store.update_bot(
                record.id, definition=json.dumps({**record.spec, "key_id": info.id})
            )
        return record, token

    def _proxy_base(self, record: BotRecord) -> str | None:
        return self.keyring.proxy_base(record.provider) if record.spec.get("keyring") else None

    def _identity(self, record: BotRecord) -> BotIdentity:
        return BotIdentity(
            id=record.id,
            name=record.name,
            image=record.image,
            uid=record.uid,
            facts={"provider": record.provider, "model": record.model, "channel": record.channel},
            state_folder=self.state.folder(record.id),
        )

    def _spec(self, record: BotRecord) -> ContainerSpec:
        return bot_container_spec(
            self._identity(record), self.settings, self.secrets.folder(record.id)
        )

    def restore_container(self, record: BotRecord) -> None:
        """Recreate the missing container of a ready bot from its configuration, and start
        it unless the bot was last stopped on purpose."""
        self.images.ensure(record.image)
        record = self._create_container(record)
        if record.desired == "running":
            self.runtime.start(container_name(record.id))

    def _create_container(self, record: BotRecord) -> BotRecord:
        self.runtime.ensure_network()
        container_id = self.runtime.create(self._spec(record))
        return self.store.update_bot(record.id, container_id=container_id)

    def _render(self, record: BotRecord) -> None:
        config = bot_config(
            record, frozenset(self.secrets.names(record.id)), proxy_base=self._proxy_base(record)
        )
        self.state.write(record.id, render_files(config), uid=record.uid)

    def _validate(self, record: BotRecord) -> bool:
        """Ask OpenClaw itself (in the bot image) whether it accepts the rendered config.

        True when OpenClaw validated it, False when the image cannot (not OpenClaw).
        """
        mode = self.settings.validate_config
        if mode == "never":
            return False
        image_key = self.runtime.image_digest(record.image) if mode == "auto" else None
        if image_key is not None and image_key in self._cannot_validate:
            return False  # this very image had no openclaw command: no check container again
        spec = bot_container_spec(
            self._identity(record), self.settings, self.secrets.folder(record.id)
        )
        labels = {k: v for k, v in spec.labels.items() if k != LABEL_BOT_ID}
        check = replace(
            spec,
            name=f"{spec.name}-check-{secrets.token_hex(3)}",
            labels={**labels, LABEL_CHECK_FOR: record.id},  # not listed as the bot
            network="none",
            restart_policy="no",
            init=False,
            entrypoint=("/bin/sh", "-c"),
            command=(_CHECK_SCRIPT,),
        )
        result = self.runtime.run_once(check, self.settings.validate_timeout)
        output = result[1] if result is not None else ""
        if result is None or _MARKER not in output or f"{_MARKER} rc=127" in output:
            if mode == "always":
                raise InvalidInput(
                    f"image {record.image} has no openclaw command to validate with", field="image"
                )
            log.info("image %s cannot validate OpenClaw configs; skipped", record.image)
            if image_key is not None and result is not None:  # it ran: the image lacks openclaw
                self._cannot_validate.add(image_key)
            return False
        validation, _, rest = output.partition(_MARKER)
        exit_code = _exit_code(rest)
        report = _json_report(validation)
        if not (exit_code == 0 and report.get("valid", False)):
            issues = report.get("issues") or []
            first = issues[0] if issues else {}
            path = str(first.get("path", ""))
            message = str(first.get("message") or report.get("error") or validation[-300:])
            raise InvalidInput(
                f"OpenClaw rejects the configuration at {path or 'openclaw.json'}: {message}",
                field=field_for_config_path(path),
            )
        available = _channel_ids(_json_report(rest.partition("\n")[2]))
        types = [c["type"] for c in record.spec.get("channels") or [{"type": record.channel}]]
        for index, channel in enumerate(types):
            if available is not None and channel not in available:
                plugin = CHANNELS[channel].plugin or "its plugin"
                raise InvalidInput(
                    f"image {record.image} lacks the OpenClaw plugin for {channel} "
                    f"({plugin}); add it to the image or choose another channel",
                    field="channel" if len(types) == 1 else f"channels.{index}.type",
                )
        return True

    def undo_create(self, bot_id: str) -> None:
        """Take back every step of a create cut short (the reconciler, after a crash).

        The keyring grant goes first; if the keyring cannot be reached this raises and
        leaves everything else, so a later pass can try again.
        """
        record = self.store.get_bot(bot_id)
        if record.spec.get("keyring") or self.keyring.enabled:
            self.keyring.client.delete_bot(bot_id)  # idempotent; raises when down
        self.runtime.remove(container_name(bot_id))
        self.secrets.remove(bot_id)
        self.state.remove(bot_id)
        self.store.delete_bot(bot_id)
        self.health.watch(bot_id, enabled=False)

    def _undo_create(self, bot_id: str, *, remove_container: bool, keyring: bool) -> None:
        # No container step taken, no engine call: a down or hung engine would only
        # make the failed request wait another timeout.
        steps: list[Callable[[], None]] = [
            lambda: self.secrets.remove(bot_id),
            lambda: self.state.remove(bot_id),
            lambda: self.store.delete_bot(bot_id),
        ]
        if keyring:
            steps.insert(0, lambda: self.keyring.client.delete_bot(bot_id))
        if remove_container:
            steps.insert(0, lambda: self.runtime.remove(container_name(bot_id)))
        self.health.watch(bot_id, enabled=False)
        for step in steps:
            try:
                step()
            except BotMakerError as exc:
                log.error("rollback of bot %s incomplete: %s", bot_id, exc.message)

    # -- update -----------------------------------------------------------------------

    def update(self, ref: str, patch: BotUpdate) -> BotView:
        with self.busy(self.store.find_bot(ref).id):
            return self._update(ref, patch)

    def _update(self, ref: str, patch: BotUpdate) -> BotView:
        """Change a bot's definition: re-render, validate, recreate and start its container.

        Any failure puts back the previous definition, secrets and rendering, the
        previous keyring grant and key, and the previous container.
        """
        old = self._ready(ref)
        keyed = bool(old.spec.get("keyring"))
        merged = self._merged(old, patch)
        definition = check_and_build(merged, keyring=keyed)
        for kept in ("gateway", "key_id"):
            if old.spec.get(kept):
                definition[kept] = old.spec[kept]
        new_files = _secret_files(patch)
        new_key = new_files.pop(API_KEY_FILE, None) if keyed else None
        old_values = {name: self.secrets.read(old.id, name) for name in new_files}
        recreating = False  # the old container is untouched until validation passed
        added: str | None = None
        try:
            if new_files:
                self.secrets.write_all(old.id, new_files, uid=old.uid, gid=old.uid)
            record = self.store.update_bot(
                old.id, model=merged.model, definition=json.dumps(definition)
            )
            if keyed:
                if new_key is not None:
                    added = self.keyring.client.add_key(
                        old.provider, new_key, label=f"{old.name} (bot's own key)", bot_id=old.id
                    ).id
                    definition["key_id"] = added
                    record = self.store.update_bot(old.id, definition=json.dumps(definition))
                self.keyring.client.put_bot(old.id, **self._grant(record))
            self._render(record)
            self._validate(record)
            recreating = True
            self._recreate(record)
        except BaseException:
            self._undo_update(old, old_values, recreate=recreating, added_key=added)
            raise
        if added is not None and old.spec.get("key_id"):
            self._forget_key(str(old.spec["key_id"]))
        log.info("updated bot %s (%s)", record.name, record.id)
        return self.get(record.id)

    def _forget_key(self, key_id: str) -> None:
        try:
            self.keyring.client.delete_key(key_id)
        except NotFound:
            pass
        except BotMakerError as exc:
            log.error("the replaced key %s stays in the keyring: %s", key_id, exc.message)

    def _merged(self, record: BotRecord, patch: BotUpdate) -> BotCreate:
        """The bot as a full create request with the patch applied (secrets as placeholders)."""
        spec = record.spec
        channel = (spec.get("channels") or [{}])[0]
        present = set(self.secrets.names(record.id))
        if len(spec.get("channels") or []) > 1:
            return self._merged_multi(record, patch, present)
        given = patch.secrets or BotSecretsUpdate()
        placeholder = "(unchanged)"
        extra = {
            name.removeprefix("channel_"): placeholder
            for name in present
            if name.startswith("channel_") and name not in ("channel_token", "channel_config")
        }
        extra.update({k: v.get_secret_value() for k, v in given.channel_credentials.items()})
        secrets_in: dict[str, Any] = {"channel_credentials": extra}
        for name in ("api_key", "channel_token"):
            value = getattr(given, name)
            if value is not None:
                secrets_in[name] = value.get_secret_value()
            elif name in present:
                secrets_in[name] = placeholder
        body = {
            **_patched_common(record, patch),
            "channel": record.channel,
            "secrets": secrets_in,
            "dm_policy": patch.dm_policy or channel.get("dm_policy"),
            "allow_from": channel.get("allow_from", [])
            if patch.allow_from is None
            else patch.allow_from,
            "channel_settings": channel.get("settings", {})
            if patch.channel_settings is None
            else patch.channel_settings,
        }
        try:
            return BotCreate.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"{field}: {first['msg']}", field=field) from None

    def _merged_multi(self, record: BotRecord, patch: BotUpdate, present: set[str]) -> BotCreate:
        """Like ``_merged`` for a bot with several channels: only non-channel fields change."""
        channel_fields = ("dm_policy", "allow_from", "channel_settings")
        touched = [f for f in channel_fields if getattr(patch, f) is not None]
        if patch.secrets and (patch.secrets.channel_token or patch.secrets.channel_credentials):
            touched.append("secrets.channel_token")
        if touched:
            raise InvalidInput(
                "this bot has several channels; change them by creating the bot anew",
                field=touched[0],
            )
        spec = record.spec
        channels = []
        for index, entry in enumerate(spec["channels"]):
            channel = CHANNELS[entry["type"]]
            credentials = {
                c.name: "(unchanged)"
                for c in channel.credentials
                if c.secret and secret_file_for(channel, c.name, index) in present
            }
            channels.append(
                {
                    "type": entry["type"],
                    "credentials": credentials,
                    "settings": entry.get("settings", {}),
                    "dm_policy": entry.get("dm_policy"),
                    "allow_from": entry.get("allow_from", []),
                }
            )
        api_key = patch.secrets.api_key if patch.secrets else None
        body = {
            **_patched_common(record, patch),
            "channels": channels,
            "secrets": {"api_key": api_key.get_secret_value()}
            if api_key
            else ({"api_key": "(unchanged)"} if "api_key" in present else {}),
        }
        return BotCreate.model_validate(body)

    def _want(self, record: BotRecord, desired: str) -> BotRecord:
        """Remember whether the bot should run. A full disk must not stop an operator
        from stopping or starting a bot: then the flag stays as it was (logged)."""
        if record.desired == desired:
            return record
        try:
            return self.store.update_bot(record.id, desired=desired)
        except StorageFull as exc:
            log.warning(
                "bot %s: could not record that it should be %s: %s",
                record.name,
                desired,
                exc.message,
            )
            return record

    def _recreate(self, record: BotRecord) -> None:
        self.runtime.ensure_network()
        container_id = self.runtime.recreate(self._spec(record))  # Swarm: updated in place
        record = self.store.update_bot(record.id, container_id=container_id)
        record = self._want(record, "running")  # an edit starts the bot to prove the new config
        self.runtime.start(container_name(record.id))
        status = self.runtime.status(container_name(record.id))
        if status.state not in ("running", "restarting"):
            raise InvalidInput(
                f"the bot did not start with the new configuration ({status.state})",
                field="config",
            )

    def _undo_update(
        self,
        old: BotRecord,
        old_values: dict[str, str | None],
        *,
        recreate: bool,
        added_key: str | None,
    ) -> None:
        steps: list[Callable[[], object]] = [
            lambda: self.store.update_bot(old.id, model=old.model, definition=old.definition),
            lambda: self._restore_secrets(old, old_values),
            lambda: self._render(old),
        ]
        if old.spec.get("keyring"):
            steps.insert(1, lambda: self.keyring.client.put_bot(old.id, **self._grant(old)))
        if added_key is not None:
            steps.insert(1, lambda: self._forget_key(added_key))
        if recreate:
            steps.append(lambda: self._recreate(old))
        for step in steps:
            try:
                step()
            except BotMakerError as exc:
                log.error("rollback of bot %s update incomplete: %s", old.id, exc.message)

    def _restore_secrets(self, old: BotRecord, values: dict[str, str | None]) -> None:
        for name, value in values.items():
            if value is None:
                self.secrets.remove_one(old.id, name)
            else:
                self.secrets.write_all(old.id, {name: value}, uid=old.uid, gid=old.uid)

    # -- lifecycle --------------------------------------------------------------------

    def start(self, ref: str) -> BotView:
        with self.busy(self.store.find_bot(ref).id):
            return self._start(ref)

    def _start(self, ref: str) -> BotView:
        record = self._ready(ref)
        record = self._want(record, "running")
        if self.runtime.status(container_name(record.id)).state == "missing":
            self.images.ensure(record.image)
            record = self._create_container(record)  # removed by hand: recreate it
        self.runtime.start(container_name(record.id))
        return self.get(record.id)

    def stop(self, ref: str) -> BotView:
        record = self._ready(ref)
        with self.busy(record.id):
            record = self._want(record, "stopped")
            if self.runtime.status(container_name(record.id)).state != "missing":
                self.runtime.stop(container_name(record.id), self.settings.stop_timeout)
            return self.get(record.id)

    def restart(self, ref: str) -> BotView:
        record = self._ready(ref)
        if self.runtime.status(container_name(record.id)).state == "missing":
            return self.start(record.id)
        with self.busy(record.id):
            record = self._want(record, "running")
            self.runtime.restart(container_name(record.id), self.settings.stop_timeout)
            return self.get(record.id)

    def delete(self, ref: str) -> None:
        """Mark the row ``deleting``, revoke its keyring token, kill and remove the
        container (no stop timeout), then secrets, state and the row.

        Every step is idempotent: a delete cut short can be run again. If the keyring
        cannot revoke the token, or (for a bot without one) the engine cannot remove the
        container, nothing is deleted (503) and the row is ``ready`` again.
        """
        record = self.store.find_bot(ref)
        with self.busy(record.id):
            previous = record.state
            if previous != "deleting":
                record = self.store.update_bot(record.id, state="deleting")
            self._pause("delete_after_mark")
            keyed = bool(record.spec.get("keyring"))
            try:
                self._revoke(record)
            except BotMakerError:
                self._unmark(record, previous)  # keyring down: nothing deleted
                raise
            try:
                self.runtime.remove(container_name(record.id))
            except BotMakerError:
                if not keyed:  # engine down: nothing deleted, the bot stays as it was
                    self._unmark(record, previous)
                raise  # (a revoked bot stays ``deleting``: the reconciler finishes it)
            self._remove_rest(record)

    def _unmark(self, record: BotRecord, previous: str) -> None:
        if previous == "ready":
            with contextlib.suppress(BotMakerError):
                self.store.update_bot(record.id, state="ready")

    def finish_delete(self, record: BotRecord) -> None:
        """The steps of a delete after the row was marked; each one idempotent."""
        self._revoke(record)
        self.runtime.remove(container_name(record.id))
        self._remove_rest(record)

    def _revoke(self, record: BotRecord) -> None:
        if record.spec.get("keyring"):
            self.keyring.client.delete_bot(record.id)  # down: 503 and nothing deleted

    def _remove_rest(self, record: BotRecord) -> None:
        self._pause("delete_after_container")
        self.secrets.remove(record.id)
        self.state.remove(record.id)
        self.store.delete_bot(record.id)
        self.health.watch(record.id, enabled=False)
        log.info("deleted bot %s (%s)", record.name, record.id)

    def _ready(self, ref: str) -> BotRecord:
        record = self.store.find_bot(ref)
        if record.state == "creating":
            raise Conflict(f"bot {record.name} is still being created", field="id")
        if record.state == "deleting":
            raise Conflict(f"bot {record.name} is being deleted", field="id")
        return record

    # -- logs -------------------------------------------------------------------------

    def logs(self, ref: str, *, tail: int, follow: bool) -> LogStream:
        record = self.store.find_bot(ref)
        stream = self.runtime.logs(container_name(record.id), tail=tail, follow=follow)
        return _CountedStream(stream, self)

    def _count(self, delta: int) -> None:
        with self._streams_lock:
            self.open_log_streams += delta


def _patched_common(record: BotRecord, patch: BotUpdate) -> dict[str, Any]:
    """The fields every edit may change, with the patch applied to the stored values."""
    spec = record.spec
    persona: dict[str, Any] | None = spec.get("persona")
    if patch.persona is not None:
        persona = patch.persona.model_dump()
    elif patch.template is not None:
        persona = None
    fallbacks = spec.get("fallbacks") or []
    return {
        "name": record.name,
        "provider": record.provider,
        "model": patch.model or record.model,
        "template": patch.template if persona is None else None,
        "persona": persona,
        "fallbacks": fallbacks if patch.fallbacks is None else patch.fallbacks,
        "base_url": patch.base_url if patch.base_url is not None else spec.get("base_url"),
        "base_url_private": bool(spec.get("base_url_private")),
        "heartbeat": bool(spec.get("heartbeat")) if patch.heartbeat is None else patch.heartbeat,
        "budget": patch.budget.model_dump() if patch.budget is not None else spec.get("budget"),
        "key_tags": spec.get("key_tags") or [],
    }


def _secret_files(patch: BotUpdate) -> dict[str, str]:
    if patch.secrets is None:
        return {}
    files = {
        name: value.get_secret_value()
        for name, value in (
            ("api_key", patch.secrets.api_key),
            ("channel_token", patch.secrets.channel_token),
        )
        if value is not None
    }
    for name, value in patch.secrets.channel_credentials.items():
        files[f"channel_{name}"] = value.get_secret_value()
    return files


#: Validate the rendered config, then list the channel plugins the image has.
_MARKER = "@@botmaker-check"
_CHECK_SCRIPT = (
    "openclaw config validate --json; "
    f'echo "{_MARKER} rc=$?"; '
    "openclaw plugins list --json 2>/dev/null"
)


def _exit_code(rest: str) -> int:
    match = re.match(r" rc=(\d+)", rest)
    return int(match.group(1)) if match else -1


def _channel_ids(report: dict[str, Any]) -> set[str] | None:
    """Channels some installed plugin provides; None if the list could not be read."""
    plugins = report.get("plugins")
    if not isinstance(plugins, list):
        return None
    return {
        str(channel)
        for plugin in plugins
        if isinstance(plugin, dict)
        for channel in plugin.get("channelIds") or ()
    }


def _json_report(output: str) -> dict[str, Any]:
    """The JSON object OpenClaw printed (it may print notices around it)."""
    start = output.find("{")
    end = output.rfind("}")
    if start < 0 or end < start:
        return {}
    try:
        value = json.loads(output[start : end + 1])
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def field_for_config_path(path: str) -> str:
    """Map a path in openclaw.json to the API field a user would fix."""
    if path.startswith("models.providers"):
        return "base_url" if path.endswith("baseUrl") else "provider"
    if path.startswith("agents.defaults.model"):
        return "fallbacks" if "fallbacks" in path else "model"
    if path.startswith("channels."):
        if "dmPolicy" in path:
            return "dm_policy"
        if "allowFrom" in path:
            return "allow_from"
        return "channel"
    if path.startswith("agents.defaults.heartbeat"):
        return "heartbeat"
    return "config"


class _CountedStream:
    """Keeps ``BotService.open_log_streams`` honest, so tests can see streams end."""

    def __init__(self, inner: LogStream, service: BotService) -> None:
        self.inner = inner
        self.service = service
        self._closed = False
        service._count(+1)

    def __iter__(self) -> Iterator[LogChunk]:
        return iter(self.inner)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self.inner.close()
            self.service._count(-1)
