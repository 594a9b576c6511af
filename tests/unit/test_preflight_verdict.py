"""The upgrade preflight's script and verdict (openclaw/preflight.py), without an engine."""

from __future__ import annotations

import subprocess

import pytest

from botmaker.errors import InvalidInput
from botmaker.openclaw.check import MARKER
from botmaker.openclaw.cli import OpenClawCli, known_script
from botmaker.openclaw.preflight import _PROBE, PART, parts, preflight_commands, verdict

IMAGE = "ghcr.io/openclaw/openclaw:2026.9.6"
PLUGINS = '{"plugins": [{"id": "telegram", "channelIds": ["telegram"]}]}'


def _output(*, valid: bool = True, gateway: str = "verdict=ready seconds=14 exit=143") -> str:
    report = (
        '{"valid": true}'
        if valid
        else (
            '{"valid": false, "issues": [{"path": "channels.telegram.apiRoot", '
            '"message": "Invalid URL"}]}'
        )
    )
    return "\n".join(
        [
            f"{PART} part=before",
            '{"valid": true}',
            f"{PART} rc=0",
            f"{PART} part=doctor",
            "Doctor complete.",
            f"{PART} rc=0",
            f"{PART} part=check",
            report,
            f"{MARKER} rc={0 if valid else 1}",
            PLUGINS,
            f"{PART} rc=0",
            *(
                [
                    f"{PART} part=gateway",
                    f"{PART} {gateway}",
                    f'{PART} probe={{"healthz":[200,{{"ok":true}}]}}',
                    "[gw] up",
                    f"{PART} rc=0",
                ]
                if valid
                else []
            ),
        ]
    )


def test_the_script_is_valid_shell_and_the_probe_fits_in_single_quotes() -> None:
    assert "'" not in _PROBE
    script = known_script(OpenClawCli(("node", "/app/openclaw.mjs"), "2026.9.6"), "")
    script += preflight_commands(18789, 60)
    subprocess.run(["/bin/sh", "-n", "-c", script], check=True)
    assert '"$@" doctor --fix --non-interactive' in script


def test_a_passing_preflight_reports_the_gateway_time() -> None:
    report = verdict(_output(), IMAGE, ["telegram"])
    assert report.valid_before
    assert report.gateway_seconds == 14
    assert "Doctor complete." in report.doctor


def test_parts_split_by_marker_with_their_exit_codes() -> None:
    found = parts(_output())
    assert set(found) == {"before", "doctor", "check", "gateway"}
    assert found["doctor"][0] == 0
    assert "Doctor complete." in found["doctor"][1]
    cut = parts(f"{PART} part=doctor\nstill running")
    assert cut["doctor"] == (-1, "still running")


def test_openclaw_rejecting_the_migrated_config_is_refused_with_its_words() -> None:
    with pytest.raises(InvalidInput) as refused:
        verdict(_output(valid=False), IMAGE, ["telegram"])
    assert "apiRoot" in refused.value.message
    assert "Invalid URL" in refused.value.message
    assert "after doctor --fix" in refused.value.message
    assert refused.value.field == "channel"


def test_a_missing_channel_plugin_is_refused() -> None:
    with pytest.raises(InvalidInput, match="lacks the OpenClaw plugin for discord"):
        verdict(_output(), IMAGE, ["discord"])


@pytest.mark.parametrize(
    ("gateway", "words"),
    [
        ("verdict=exited seconds=3 exit=1", "its gateway exited (exit code 1)"),
        ("verdict=timeout seconds=120 exit=143", "not ready within 120 s"),
    ],
)
def test_a_gateway_that_exits_or_never_gets_ready_is_refused(gateway: str, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        verdict(_output(gateway=gateway), IMAGE, ["telegram"])
    assert words in refused.value.message
    assert '"healthz"' in refused.value.message  # what it last answered
    assert refused.value.field == "image"


def test_a_preflight_that_did_not_finish_is_refused() -> None:
    with pytest.raises(InvalidInput, match="did not finish"):
        verdict(f"{PART} part=before\n", IMAGE, ["telegram"])
