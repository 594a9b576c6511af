"""Reading OpenClaw's verdict on a rendered configuration.

A check container (in the bot's own image) runs ``CHECK_COMMANDS`` with the image's
OpenClaw CLI (found by ``openclaw/cli.py``): ``config validate --json``, a marker line
with its exit code, then ``plugins list --json``. The functions here are pure: from
that output to "accepted" or an ``InvalidInput`` naming the API field a user would fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from botmaker.errors import InvalidInput
from botmaker.openclaw.catalog import CHANNELS

#: With ``"$@"`` set to the image's OpenClaw CLI (``openclaw/cli.py``): validate the
#: rendered config, then list the channel plugins the image has.
MARKER = "@@botmaker-check"
CHECK_COMMANDS = (
    f'"$@" config validate --json; echo "{MARKER} rc=$?"; "$@" plugins list --json 2>/dev/null'
)


def judge(output: str, image: str, channels: Sequence[str]) -> None:
    """Raise ``InvalidInput`` unless OpenClaw accepted the configuration and the image
    has a plugin for each of ``channels``."""
    validation, _, rest = output.partition(MARKER)
    report = json_report(validation)
    if not (exit_code(rest) == 0 and report.get("valid", False)):
        issues = report.get("issues") or []
        first = issues[0] if issues else {}
        path = str(first.get("path", ""))
        message = str(first.get("message") or report.get("error") or validation[-300:])
        raise InvalidInput(
            f"OpenClaw rejects the configuration at {path or 'openclaw.json'}: {message}",
            field=field_for_config_path(path),
        )
    available = channel_ids(json_report(rest.partition("\n")[2]))
    for index, channel in enumerate(channels):
        if available is not None and channel not in available:
            plugin = CHANNELS[channel].plugin or "its plugin"
            raise InvalidInput(
                f"image {image} lacks the OpenClaw plugin for {channel} "
                f"({plugin}); add it to the image or choose another channel",
                field="channel" if len(channels) == 1 else f"channels.{index}.type",
            )


def exit_code(rest: str) -> int:
    """The exit code on the marker line (``-1`` if it is not there)."""
    match = re.match(r" rc=(\d+)", rest)
    return int(match.group(1)) if match else -1


def channel_ids(report: dict[str, Any]) -> set[str] | None:
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


def json_report(output: str) -> dict[str, Any]:
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
