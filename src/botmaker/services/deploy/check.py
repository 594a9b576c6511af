"""Ask OpenClaw itself, in the bot's image, whether it accepts a rendered config.

A one-off check container: the bot's own container spec without a network, its
labels marking it as a check (not listed as the bot), running ``CHECK_SCRIPT``.
What the output means is decided by the pure functions in ``openclaw/check.py``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace

from botmaker.config import Settings
from botmaker.errors import InvalidInput
from botmaker.openclaw.check import CHECK_SCRIPT, has_openclaw, judge
from botmaker.runtime.base import Backend, ContainerSpec
from botmaker.runtime.policy import LABEL_BOT_ID, LABEL_CHECK_FOR

log = logging.getLogger(__name__)


class ConfigCheck:
    def __init__(self, settings: Settings, runtime: Backend) -> None:
        self.settings = settings
        self.runtime = runtime
        self.cannot_validate: set[str] = set()  # image ids/digests without an openclaw command

    def validate(self, spec: ContainerSpec, bot_id: str, channels: list[str]) -> bool:
        """True when OpenClaw validated the config, False when the image cannot (not
        OpenClaw, or validation is off); ``InvalidInput`` when OpenClaw rejects it."""
        mode = self.settings.validate_config
        if mode == "never":
            return False
        image_key = self.runtime.image_digest(spec.image) if mode == "auto" else None
        if image_key is not None and image_key in self.cannot_validate:
            return False  # this very image had no openclaw command: no check container again
        labels = {k: v for k, v in spec.labels.items() if k != LABEL_BOT_ID}
        check = replace(
            spec,
            name=f"{spec.name}-check-{secrets.token_hex(3)}",
            labels={**labels, LABEL_CHECK_FOR: bot_id},  # not listed as the bot
            network="none",
            restart_policy="no",
            init=False,
            entrypoint=("/bin/sh", "-c"),
            command=(CHECK_SCRIPT,),
        )
        result = self.runtime.run_once(check, self.settings.validate_timeout)
        output = result[1] if result is not None else ""
        if result is None or not has_openclaw(output):
            if mode == "always":
                raise InvalidInput(
                    f"image {spec.image} has no openclaw command to validate with", field="image"
                )
            log.info("image %s cannot validate OpenClaw configs; skipped", spec.image)
            if image_key is not None and result is not None:  # it ran: the image lacks openclaw
                self.cannot_validate.add(image_key)
            return False
        judge(output, spec.image, channels)
        return True
