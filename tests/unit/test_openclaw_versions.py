"""Which second OpenClaw version the suite runs on (tests/support/openclaw_image.py)."""

from __future__ import annotations

from tests.support.openclaw_image import OFFLINE_SECOND, PINNED, pick_second

VERSIONS = ["2026.7.35", "2026.8.1-beta.3", "2026.8.1", "2026.8.2", "2026.9.1-beta.1", "2026.9.6"]


def test_a_newer_latest_is_the_second_version() -> None:
    assert pick_second("2026.9.6", "2026.11.2", [*VERSIONS, "2026.11.2"]) == "2026.11.2"


def test_when_latest_is_pinned_the_previous_line_newest_release_is() -> None:
    assert pick_second("2026.9.6", "2026.9.6", VERSIONS) == "2026.8.2"
    assert pick_second("2026.9.6", "2026.9.6", [*VERSIONS, "2026.8.3-beta.1"]) == "2026.8.2"


def test_lines_compare_as_numbers_not_text() -> None:
    assert pick_second("2026.10.1", "2026.10.1", ["2026.9.6", "2026.10.0", "2026.1.9"]) == (
        "2026.9.6"
    )


def test_without_the_registry_a_recorded_version_is_used() -> None:
    assert pick_second("2026.9.6", "2026.9.6", []) == OFFLINE_SECOND
    assert OFFLINE_SECOND != PINNED
