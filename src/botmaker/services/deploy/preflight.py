"""An upgrade's preflight: the bot's configuration tried on the NEW image before the
bot is touched.

A throwaway container of the new image, made from the bot's own container spec (its
user, secrets mounted read-only, limits) but with no network and ``/state`` mounted
from a copy of the bot's state (``<bot id>/scratch``, links and special files left
out): OpenClaw validates the config, ``doctor --fix --non-interactive`` applies the
new version's safe migrations to the copy, OpenClaw validates the result, and its
gateway must start on it and say ready on loopback (``openclaw/preflight.py``). Only
then does the upgrade swap containers, with the migrated ``openclaw.json``;
otherwise the bot is left as it was and the refusal carries OpenClaw's own message.
Images without OpenClaw have nothing to preflight (the upgrade's health wait and
rollback still guard them).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

from botmaker.errors import InvalidInput
from botmaker.fsutil import TooLarge
from botmaker.openclaw.cli import OpenClawCli, known_script
from botmaker.openclaw.preflight import PreflightReport, preflight_commands, verdict
from botmaker.openclaw.render import GATEWAY_PORT
from botmaker.runtime.base import Mount
from botmaker.runtime.policy import STATE_TARGET
from botmaker.services.configdiff import CONFIG_FILE
from botmaker.services.crashloop import reason_lines
from botmaker.state import CONFIG_LIMIT
from botmaker.store import BotRecord

from . import Deployer, channel_types

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preflight:
    """A passed preflight: the new image's CLI, the config it ran (migrated by its
    ``doctor --fix``; None when the image carries no OpenClaw) and what was found."""

    cli: OpenClawCli | None
    before: bytes | None  # the bot's openclaw.json as it was
    after: bytes | None  # as the new version's doctor left it
    report: PreflightReport | None
    seconds: float

    @property
    def migrated(self) -> bool:
        return self.after is not None and self.after != self.before

    def summary(self) -> str:
        if self.report is None:
            return "no OpenClaw in the image: nothing to preflight"
        migrated = "config migrated by doctor --fix" if self.migrated else "config unchanged"
        return (
            f"preflight passed in {self.seconds:.0f} s: config valid, {migrated}, "
            f"gateway ready after {self.report.gateway_seconds} s"
        )


class Preflighter:
    def __init__(self, deploy: Deployer) -> None:
        self.deploy = deploy
        self.state = deploy.state

    def run(self, record: BotRecord, image: str) -> Preflight:
        """Try ``record``'s configuration on ``image``; ``InvalidInput`` (OpenClaw's own
        words, the bot's secrets redacted) unless it is accepted and the gateway starts.
        """
        started = time.monotonic()
        spec = self.deploy.container_spec(replace(record, image=image))
        cli = self.deploy.check.cli(spec, record.id)
        if cli is None:
            if record.definition.gateway:
                raise InvalidInput(
                    f"{image} carries no OpenClaw, and the bot is an OpenClaw gateway",
                    field="image",
                )
            return Preflight(None, None, None, None, time.monotonic() - started)
        before = self.state.config(record.id)
        folder = self.state.copy_to_scratch(record.id, self.state.files(record.id), uid=record.uid)
        try:
            wait = max(10, math.ceil(self.deploy.settings.upgrade_timeout))
            mounts = tuple(m for m in spec.mounts if m.target != STATE_TARGET)
            trial = replace(spec, mounts=(*mounts, Mount(str(folder), STATE_TARGET, False)))
            script = known_script(cli, preflight_commands(GATEWAY_PORT, wait))
            timeout = wait + 3 * self.deploy.settings.validate_timeout
            result = self.deploy.check.run_script(trial, record.id, script, timeout)
            if result is None:
                raise InvalidInput(f"{image} cannot run the bot's preflight", field="image")
            try:
                report = verdict(result[1], image, channel_types(record))
            except InvalidInput as exc:
                known = self.deploy.secrets.values(record.id)
                lines = reason_lines(exc.message, known, lines=8, width=300).splitlines()
                message = " | ".join(lines)
                raise InvalidInput(message, field=exc.field) from None
            try:
                after = self.state.read_scratch(record.id, CONFIG_FILE, CONFIG_LIMIT)
            except TooLarge as exc:
                raise InvalidInput(
                    f"{image}'s doctor left an {CONFIG_FILE} of {exc.size} bytes "
                    f"(at most {CONFIG_LIMIT} are taken)",
                    field="image",
                ) from None
        finally:
            self.state.remove_scratch(record.id)
        flight = Preflight(cli, before, after, report, time.monotonic() - started)
        log.info("bot %s on %s: %s", record.name, image, flight.summary())
        return flight

    def adopt(self, record: BotRecord, flight: Preflight, image: str) -> None:
        """Put the migrated ``openclaw.json`` in the bot's state (kept as a
        ``config_changed`` event naming the new version's doctor)."""
        if not flight.migrated or flight.after is None:
            return
        self.state.write(record.id, {CONFIG_FILE: flight.after}, uid=record.uid)
        self.deploy.record_config_diff(
            record, flight.before, flight.after, f"doctor --fix of {image}"
        )

    def put_back(self, record: BotRecord, flight: Preflight) -> None:
        """Undo ``adopt``: the bot's ``openclaw.json`` as it was before the upgrade."""
        if flight.migrated and flight.before is not None:
            self.state.write(record.id, {CONFIG_FILE: flight.before}, uid=record.uid)
            self.deploy.record_config_diff(record, flight.after, flight.before, "rollback")
