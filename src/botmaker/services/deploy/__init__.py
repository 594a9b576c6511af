"""The deployment core every bot use case shares.

From a stored row to a running container: render the OpenClaw config, ask OpenClaw
to validate it, build the hardened container spec, create, recreate or restore the
container, and the keyring grant the row implies. Plus the ONE per-bot lock
(``locks``) every operation holds while it works, and the step observer
(``steps``) the use cases report their steps to.

The use cases (``services/bots/*``, ``upgrades``, ``migrate``, ``reconcile``, the
import in ``backup``) decide the order and the rollback; they call only what is
public here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botmaker.config import Settings
from botmaker.definition import BotDefinition
from botmaker.errors import BotMakerError, Conflict, InvalidInput, StorageFull
from botmaker.fsutil import running_as_root
from botmaker.keyring.model import Budget
from botmaker.openclaw.cli import OpenClawCli
from botmaker.openclaw.render import GatewayAccess, render_files, ui_base_path
from botmaker.runtime.base import Backend, ContainerSpec
from botmaker.runtime.policy import BotIdentity, bot_container_spec, container_name
from botmaker.secrets import SecretStore
from botmaker.services.botstate import Operations, cause_by
from botmaker.services.configdiff import CONFIG_CHANGED, CONFIG_FILE, config_diff
from botmaker.services.definitions import bot_config
from botmaker.services.deploy.check import CheckResult, ConfigCheck
from botmaker.services.deploy.locks import BotLocks
from botmaker.services.deploy.steps import NO_STEPS, StepObserver
from botmaker.services.health import HealthMonitor
from botmaker.services.images import ImageService
from botmaker.services.keyring import KeyringService
from botmaker.state import StateStore
from botmaker.store import BotRecord, Store

if TYPE_CHECKING:
    from botmaker.services.egress import EgressService

log = logging.getLogger(__name__)

__all__ = ["BotLocks", "Deployer", "StepObserver", "channel_types"]


def channel_types(record: BotRecord) -> list[str]:
    """The types of the bot's channels."""
    return [c.type for c in record.definition.channels]


class Deployer:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        secrets: SecretStore,
        state: StateStore,
        runtime: Backend,
        images: ImageService,
        keyring: KeyringService,
        health: HealthMonitor,
        *,
        locks: BotLocks,
        steps: StepObserver = NO_STEPS,
    ) -> None:
        self.settings = settings
        self.store = store
        self.secrets = secrets
        self.state = state
        self.runtime = runtime
        self.images = images
        self.keyring = keyring
        self.health = health
        self.locks = locks
        self.steps = steps
        self.check = ConfigCheck(settings, runtime)
        self.egress: EgressService | None = None  # set by build_services
        #: What is being done to each bot now, and why (the state and events show it).
        self.operations = Operations()
        self._pins: dict[str, list[str]] = {}  # image reference -> exact images (``pinned``)
        # bot id -> [its previous image, that image's digest, armed] (``returns_pinned``)
        self._returns: dict[str, list[Any]] = {}
        self._pins_lock = threading.Lock()

    # -- rows -------------------------------------------------------------------------

    def insert(
        self,
        bot_id: str,
        name: str,
        definition: BotDefinition,
        *,
        owner_id: str | None = None,
        team_id: str | None = None,
    ) -> BotRecord:
        """The new bot's row (state ``creating``), its uid allocated: as root each bot
        gets its own uid from ``BOTMAKER_BOT_UID_BASE``; otherwise all run as ours."""
        return self.store.insert_bot(
            bot_id=bot_id,
            name=name,
            provider=definition.provider,
            model=definition.model,
            channel=definition.channel,
            image=definition.image,
            uid_base=self.settings.bot_uid_base,
            fixed_uid=None if running_as_root() else os.getuid(),
            definition=definition,
            owner_id=owner_id,
            team_id=team_id,
        )

    def ready(self, ref: str) -> BotRecord:
        """The bot's row, unless a create or delete of it is unfinished."""
        record = self.store.find_bot(ref)
        if record.state == "creating":
            raise Conflict(f"bot {record.name} is still being created", field="id")
        if record.state == "deleting":
            raise Conflict(f"bot {record.name} is being deleted", field="id")
        return record

    def want(self, record: BotRecord, desired: str) -> BotRecord:
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

    # -- configuration ----------------------------------------------------------------

    def render(self, record: BotRecord, source: str = "render") -> None:
        """Write the bot's OpenClaw state folder from its row and secret names; a change
        to ``openclaw.json`` is kept as a ``config_changed`` event (``source``: why)."""
        keyed = record.definition.keyring
        proxy_base = self.keyring.proxy_base(record.provider) if keyed else None
        config = bot_config(
            record,
            frozenset(self.secrets.names(record.id)),
            proxy_base=proxy_base,
            access=self.gateway_access(record),
        )
        before = self.state.config(record.id)
        files = render_files(config, before)
        self.state.write(record.id, files, uid=record.uid)
        self.record_config_diff(record, before, files[CONFIG_FILE], source)

    def gateway_access(self, record: BotRecord) -> GatewayAccess:
        """Who the bot's gateway trusts: BotMaker's address on the bots' network (the
        only peer there that can reach a bot), the origins of BotMaker's pages, and the
        path its Control UI is proxied at."""
        return GatewayAccess(
            trusted_proxies=(self.runtime.network_gateway(),),
            origins=(self.settings.ui_origin(record.id),),
            base_path=ui_base_path(record.id),
        )

    def record_config_diff(
        self, record: BotRecord, before: bytes | None, after: bytes | None, source: str
    ) -> dict[str, Any] | None:
        """Keep the diff of the bot's ``openclaw.json`` from ``before`` to ``after`` as a
        ``config_changed`` event (bounded, the bot's secret values redacted); None when
        nothing changed. For every writer of the file: renders, ``doctor --fix``."""
        diff = config_diff(before, after, known=self.secrets.values(record.id))
        if diff is None:
            return None
        cause, actor = cause_by(source)
        return self.store.add_bot_event(
            record.id,
            kind=CONFIG_CHANGED,
            at=time.time(),
            detail=f"{CONFIG_FILE} changed ({source}): {diff.summary}",
            logs=diff.text,
            cause=cause,
            actor=actor,
        )

    def validate(self, record: BotRecord) -> CheckResult:
        """Find the bot image's OpenClaw CLI and ask OpenClaw whether it accepts the
        rendered config (``InvalidInput`` with OpenClaw's message when it does not)."""
        return self.check.check(self.container_spec(record), record.id, channel_types(record))

    def validated(self, record: BotRecord) -> BotRecord:
        """``validate``; whether the bot is an OpenClaw gateway (probed for health)
        follows from its image carrying OpenClaw, validated or not."""
        return self.carries(record, self.validate(record).cli)

    def learn_openclaw(self, record: BotRecord) -> BotRecord:
        """Ask the bot's image (once per image id) whether it carries OpenClaw, and
        record the answer: for bots stored before BotMaker could find OpenClaw's CLI
        in every image layout. Only ever turns probing on: a bot watched for another
        reason stays watched when its image has no OpenClaw."""
        cli = self.check.cli(self.container_spec(record), record.id)
        return self.carries(record, cli, unwatch=False)

    def carries(
        self, record: BotRecord, cli: OpenClawCli | None, *, unwatch: bool = True
    ) -> BotRecord:
        """Record the OpenClaw the bot's image carries; its gateway gets probed."""
        facts = {
            "gateway": cli is not None,
            "openclaw_version": cli.version if cli else None,
            "openclaw_cli": cli.argv if cli else (),
        }
        definition = record.definition
        if any(getattr(definition, key) != value for key, value in facts.items()):
            definition = definition.model_copy(update=facts)
            record = self.store.update_bot(record.id, definition=definition)
        if definition.gateway or unwatch:
            self.health.watch(record.id, enabled=definition.gateway)
        return record

    # -- containers -------------------------------------------------------------------

    @contextmanager
    def pinned(self, image: str, exact: str | None) -> Iterator[None]:
        """While inside, containers of bots on ``image`` are made from ``exact`` (its digest
        or id, resolved once): every bot of a rollout runs the same image, even if the tag
        moves meanwhile. The bot's row keeps the reference it was given."""
        if exact is None or exact == image:
            yield
            return
        with self._pins_lock:
            self._pins.setdefault(image, []).append(exact)
        try:
            yield
        finally:
            with self._pins_lock:
                stack = self._pins[image]
                stack.remove(exact)
                if not stack:
                    del self._pins[image]

    @contextmanager
    def returns_pinned(self, record: BotRecord) -> Iterator[None]:
        """While inside, once the bot's container has been recreated (on a new image), a
        container made again for its previous image (a rollback) comes from the digest
        it ran before, not from that tag: the tag may have moved to the new image."""
        if record.image_digest is None:
            yield
            return
        with self._pins_lock:
            self._returns[record.id] = [record.image, record.image_digest, False]
        try:
            yield
        finally:
            with self._pins_lock:
                self._returns.pop(record.id, None)

    def container_spec(self, record: BotRecord) -> ContainerSpec:
        with self._pins_lock:
            pins = self._pins.get(record.image)
            image = pins[-1] if pins else record.image
            back = self._returns.get(record.id)
            if back is not None and back[2] and back[0] == record.image:
                image = back[1]
        identity = BotIdentity(
            id=record.id,
            name=record.name,
            image=image,
            uid=record.uid,
            facts={"provider": record.provider, "model": record.model, "channel": record.channel},
            state_folder=self.state.folder(record.id),
            **self._egress_identity(),
            **record.definition.limits.model_dump(),
        )
        return bot_container_spec(identity, self.settings, self.secrets.folder(record.id))

    def _egress_identity(self) -> dict[str, Any]:
        if self.egress is None or not self.egress.enabled:
            return {}
        keyring_url = self.keyring.data_plane_url() if self.keyring.enabled else None
        return {
            "proxy_url": self.egress.proxy_url(),
            "no_proxy": self.egress.no_proxy(keyring_url),
        }

    def create_container(self, record: BotRecord) -> BotRecord:
        self.runtime.ensure_network()
        container_id = self.runtime.create(self.container_spec(record))
        return self.store.update_bot(record.id, container_id=container_id)

    def restore_container(self, record: BotRecord, cause: str = "reconcile") -> None:
        """Recreate the missing container of a ready bot from its configuration, and start
        it unless the bot was last stopped on purpose."""
        self.images.ensure(record.image)
        with self.operations.running(record.id, "recreate", cause, None):
            record = self.create_container(record)
            if record.desired == "running":
                self.runtime.start(container_name(record.id))

    def recreate(
        self, record: BotRecord, cause: str | None = None, actor: str | None = None
    ) -> None:
        """Replace the bot's container with one of its current configuration, and start
        it: an edit or upgrade proves the new configuration by running it. ``cause``
        (``edit by admin: model``, ``upgrade``) goes on the events it leads to."""
        with self.operations.running(record.id, "recreate", cause, actor):
            self._recreate(record)

    def _recreate(self, record: BotRecord) -> None:
        self.runtime.ensure_network()
        self.steps.step("recreate", record.id)
        container_id = self.runtime.recreate(self.container_spec(record))  # Swarm: in place
        with self._pins_lock:
            if (back := self._returns.get(record.id)) is not None:
                back[2] = True  # a next one is a return to the previous image
        record = self.store.update_bot(record.id, container_id=container_id)
        record = self.want(record, "running")
        self.runtime.start(container_name(record.id))
        status = self.runtime.status(container_name(record.id))
        if status.state not in ("running", "restarting"):
            raise InvalidInput(
                f"the bot did not start with the new configuration ({status.state})",
                field="config",
            )

    # -- keyring ----------------------------------------------------------------------

    def grant(self, record: BotRecord) -> dict[str, Any]:
        """What the keyring lets the bot use: its provider, base URL, key tags, budget,
        and its team as its pool (a team budget set in the keyring applies to it)."""
        definition = record.definition
        base_url = definition.base_url
        return {
            "providers": [record.provider],
            "base_urls": {record.provider: base_url} if base_url else {},
            "allow_private": definition.base_url_private,
            "tags": list(definition.key_tags),
            "budget": Budget(**definition.budget.model_dump()),
            "pool": record.team_id,
        }

    def regrant(self, record: BotRecord) -> None:
        """Tell the keyring what the bot may use now (after its team, so its pool, changed);
        a bot that does not use the keyring has nothing to tell."""
        if self.keyring.enabled and record.definition.keyring:
            self.keyring.client.put_bot(record.id, **self.grant(record))

    def register(self, record: BotRecord, api_key: str | None) -> tuple[BotRecord, str]:
        """Give the bot a keyring grant (and its own key, if it brought one) and a token."""
        client = self.keyring.client
        token = client.put_bot(record.id, **self.grant(record))
        if token is None:  # a grant was left from an interrupted create: a fresh token
            token = client.rotate_token(record.id)
        if api_key is not None:
            info = client.add_key(
                record.provider, api_key, label=f"{record.name} (bot's own key)", bot_id=record.id
            )
            own_key = record.definition.model_copy(update={"key_id": info.id})
            record = self.store.update_bot(record.id, definition=own_key)
        return record, token

    def require_shared_key(self, provider: str, tags: list[str]) -> None:
        """A keyed bot without its own key needs a shared key it may use."""
        keys = [k for k in self.keyring.client.list_keys(provider=provider) if k.bot_id is None]
        if not [k for k in keys if not k.tags or set(k.tags) & set(tags)]:
            raise InvalidInput(
                f"the keyring has no key for provider {provider}: add one (the Keys page, "
                "POST /api/keys or botmaker keys add) or give the bot its own API key",
                field="secrets.api_key",
            )

    # -- taking back ------------------------------------------------------------------

    def undo_create(self, bot_id: str, *, remove_container: bool, keyring: bool) -> None:
        """Take back the steps a failed create (or import) took; log what stays."""
        # No container step taken, no engine call: a down or hung engine would only
        # make the failed request wait another timeout.
        steps: list[Callable[[], object]] = [
            lambda: self.secrets.remove(bot_id),
            lambda: self.state.remove(bot_id),
            lambda: self.store.delete_bot(bot_id),
        ]
        if keyring:
            steps.insert(0, lambda: self.keyring.client.delete_bot(bot_id))
        if remove_container:
            steps.insert(0, lambda: self.runtime.remove(container_name(bot_id)))
        self.health.watch(bot_id, enabled=False)
        run_all(steps, f"rollback of bot {bot_id}")


def run_all(steps: list[Callable[[], object]], what: str) -> None:
    """Run every step of a rollback; one failing is logged and does not stop the rest."""
    for step in steps:
        try:
            step()
        except BotMakerError as exc:
            log.error("%s incomplete: %s", what, exc.message)
