"""The kept diff of openclaw.json (services/configdiff.py): unified, bounded, redacted."""

from __future__ import annotations

import json

from botmaker.services.configdiff import config_diff


def _doc(model: str, **extra: object) -> bytes:
    return (json.dumps({"agents": {"model": model}, **extra}, indent=2) + "\n").encode()


def test_a_changed_config_gives_a_unified_diff_and_counts() -> None:
    diff = config_diff(_doc("openai/gpt-5.1"), _doc("openai/gpt-5.2"))
    assert diff is not None
    assert diff.text.startswith("--- openclaw.json (before)\n+++ openclaw.json (after)\n")
    assert '-    "model": "openai/gpt-5.1"' in diff.text
    assert '+    "model": "openai/gpt-5.2"' in diff.text
    assert (diff.added, diff.removed, diff.summary) == (1, 1, "+1 -1 lines")


def test_equal_files_give_none_and_a_first_file_diffs_against_nothing() -> None:
    assert config_diff(_doc("a"), _doc("a")) is None
    first = config_diff(None, _doc("a"))
    assert first is not None
    assert first.text.startswith("--- /dev/null\n+++ openclaw.json (after)\n")
    assert first.removed == 0
    assert first.added == len(_doc("a").splitlines())


def test_a_huge_diff_is_cut_at_a_line() -> None:
    big = {f"key{n}": "v" * 60 for n in range(2000)}
    diff = config_diff(_doc("a"), _doc("b", **big), limit=4096)
    assert diff is not None
    assert len(diff.text) <= 4096 + 100
    assert diff.text.endswith("… (diff cut at 4096 characters)\n")
    assert diff.added > 2000  # counted in full


def test_known_secret_values_never_appear() -> None:
    canary = "sk-canary-5e4d3c2b1a"
    before = _doc("a")
    after = _doc("a", models={"providers": {"openai": {"apiKey": canary}}})
    diff = config_diff(before, after, known=[canary])
    assert diff is not None
    assert canary not in diff.text
    assert '"apiKey": "[redacted]"' in diff.text
    # Two files that differ only in a secret's value keep no diff at all.
    other = _doc("a", models={"providers": {"openai": {"apiKey": "sk-other-1234"}}})
    assert config_diff(after, other, known=[canary, "sk-other-1234"]) is None
