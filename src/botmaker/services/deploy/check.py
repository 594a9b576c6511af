"""Ask OpenClaw itself, in the bot's image, whether it accepts a rendered config.

A one-off check container: the bot's own container spec without a network, its
labels marking it as a check (not listed as the bot), running a ``/bin/sh`` script.
The first check of an image also finds its OpenClaw CLI (``openclaw/cli.py``: on
PATH, from the image's CMD/ENTRYPOINT and WorkingDir, or ``node
<WorkingDir>/openclaw.mjs``) and its version; the answer is kept per image id, so
an image is asked once whether it carries OpenClaw, and later checks run the CLI it
named directly. Whether a bot is an OpenClaw gateway follows from that answer, not
from whether validation is switched on. What validation output means is decided by
the pure functions in ``openclaw/check.py``.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, replace

from botmaker.config import Settings
from botmaker.errors import InvalidInput
from botmaker.openclaw.check import CHECK_COMMANDS, judge
from botmaker.openclaw.cli import (
    OpenClawCli,
    candidates,
    discovered,
    discovery_script,
    known_script,
    parse_discovery,
)
from botmaker.runtime.base import Backend, ContainerSpec
from botmaker.runtime.policy import CHECK_INFIX, LABEL_BOT_ID, LABEL_CHECK_FOR

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    """What a check learned: the image's OpenClaw CLI (None: the image carries no
    OpenClaw) and whether OpenClaw validated the config (False when it was not asked)."""

    cli: OpenClawCli | None
    validated: bool


class ConfigCheck:
    def __init__(self, settings: Settings, runtime: Backend) -> None:
        self.settings = settings
        self.runtime = runtime
        self._clis: dict[str, OpenClawCli | None] = {}  # image id -> its CLI, None: none
        self._lock = threading.Lock()

    # -- the image's CLI --------------------------------------------------------------

    def cli(self, spec: ContainerSpec, bot_id: str) -> OpenClawCli | None:
        """The OpenClaw CLI of ``spec.image`` (None if it carries no OpenClaw), found
        by running the image once; remembered per image id."""
        image_id, options = self._options(spec.image)
        if image_id is not None and image_id in self._known():
            return self._known()[image_id]
        result = self.run_script(spec, bot_id, discovery_script(options))
        return self._learn(image_id, options, result)

    def run_script(
        self, spec: ContainerSpec, bot_id: str, script: str, timeout: float | None = None
    ) -> tuple[int, str] | None:
        """Run ``script`` with ``/bin/sh`` in a throwaway check container made from the
        bot's ``spec`` (its image, user, mounts and limits; no network, npm offline, no
        restarts);
        (exit code, output), or None when the container cannot start at all."""
        labels = {k: v for k, v in spec.labels.items() if k != LABEL_BOT_ID}
        check = replace(
            spec,
            name=f"{spec.name}{CHECK_INFIX}{secrets.token_hex(3)}",
            labels={**labels, LABEL_CHECK_FOR: bot_id},  # not listed as the bot
            network="none",
            # No network: npm (which OpenClaw's doctor and plugin checks ask) answers
            # from its cache at once instead of retrying the registry for minutes.
            env={**spec.env, "npm_config_offline": "true"},
            restart_policy="no",
            init=False,
            entrypoint=("/bin/sh", "-c"),
            command=(script,),
        )
        return self.runtime.run_once(check, timeout or self.settings.validate_timeout)

    def script_for(self, spec: ContainerSpec, bot_id: str, commands: str) -> str | None:
        """A script running ``commands`` with ``"$@"`` set to the image's CLI; None when
        the image carries no OpenClaw."""
        cli = self.cli(spec, bot_id)
        return None if cli is None else known_script(cli, commands)

    # -- validation -------------------------------------------------------------------

    def check(self, spec: ContainerSpec, bot_id: str, channels: list[str]) -> CheckResult:
        """Find the image's CLI and, unless validation is off, have OpenClaw validate
        the rendered config: ``InvalidInput`` (OpenClaw's own message) when it rejects
        it, or when ``BOTMAKER_VALIDATE_CONFIG=always`` and the image has no OpenClaw."""
        mode = self.settings.validate_config
        if mode == "never":
            return CheckResult(self.cli(spec, bot_id), validated=False)
        image_id, options = self._options(spec.image)
        known = self._known()
        if image_id is not None and image_id in known:
            cli = known[image_id]
            if cli is None:
                return self._without_openclaw(spec)
            output = self._output(self.run_script(spec, bot_id, known_script(cli, CHECK_COMMANDS)))
        else:
            result = self.run_script(spec, bot_id, discovery_script(options, CHECK_COMMANDS))
            cli = self._learn(image_id, options, result)
            if cli is None:
                return self._without_openclaw(spec)
            output = self._output(result)
        judge(output, spec.image, channels)
        return CheckResult(cli, validated=True)

    def _without_openclaw(self, spec: ContainerSpec) -> CheckResult:
        if self.settings.validate_config == "always":
            raise InvalidInput(
                f"image {spec.image} has no OpenClaw CLI to validate with", field="image"
            )
        log.info("image %s carries no OpenClaw: nothing to validate, no gateway", spec.image)
        return CheckResult(None, validated=False)

    # -- helpers ----------------------------------------------------------------------

    def _options(self, image: str) -> tuple[str | None, list[tuple[str, ...]]]:
        config = self.runtime.image_config(image)
        if config is None:
            return None, candidates((), (), "")
        return config.id, candidates(config.entrypoint, config.cmd, config.workdir)

    def _known(self) -> dict[str, OpenClawCli | None]:
        with self._lock:
            return dict(self._clis)

    def _learn(
        self,
        image_id: str | None,
        options: list[tuple[str, ...]],
        result: tuple[int, str] | None,
    ) -> OpenClawCli | None:
        """The CLI a discovery run chose; remembered when the run reached a verdict (a
        container that could not start says nothing about the image)."""
        output = self._output(result)
        cli = parse_discovery(output, options)
        if image_id is not None and discovered(output):
            with self._lock:
                self._clis[image_id] = cli
            if cli is not None:
                log.info("image %s: OpenClaw %s (%s)", image_id[:19], cli.version, cli.shell())
        return cli

    @staticmethod
    def _output(result: tuple[int, str] | None) -> str:
        return result[1] if result is not None else ""
