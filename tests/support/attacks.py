"""The hostile-bot suite's ledger: every attack tried, what happened, whether it held.

Tests in ``tests/hostile/`` play a bot that runs code nobody reviewed. Each attack is
recorded here with its observed outcome *before* the test asserts on it, so the table
printed at the end of the run (``tests/conftest.py``) shows every attempt, including
one whose defence failed::

    from tests.support.attacks import defended

    response = raw_request(...)
    defended("keyring", "absolute-form request line", f"HTTP {status}", status == 400)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    area: str  # keyring, reach, filesystem, resources, ...
    attack: str  # what the hostile bot tried
    outcome: str  # what it observed
    held: bool  # whether the defence held


TRIED: list[Attempt] = []


def defended(area: str, attack: str, outcome: str, held: bool) -> None:
    """Record one attack and fail the test unless the defence held."""
    TRIED.append(Attempt(area, attack, outcome, held))
    assert held, f"[{area}] {attack}: the attack succeeded ({outcome})"


def table() -> list[str]:
    """The attempts as aligned text lines, one per attack, failures marked."""
    if not TRIED:
        return []
    rows = [("area", "attack", "outcome", "held")] + [
        (a.area, a.attack, a.outcome, "yes" if a.held else "NO") for a in TRIED
    ]
    widths = [min(60, max(len(row[i]) for row in rows)) for i in range(3)]

    def line(row: tuple[str, str, str, str]) -> str:
        cells = [row[i][: widths[i]].ljust(widths[i]) for i in range(3)]
        return "  ".join([*cells, row[3]])

    return [line(rows[0]), "  ".join("-" * w for w in widths) + "  ----"] + [
        line(row) for row in rows[1:]
    ]
