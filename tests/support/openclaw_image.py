"""The real OpenClaw images for tests, built locally by scripts/build-openclaw-image.

Two layouts of the same root file system (docs/openclaw-image.md):

* ``official`` (the default): laid out like ``ghcr.io/openclaw/openclaw``, the package
  in ``/app``, ``CMD node openclaw.mjs gateway``, no ``openclaw`` on PATH;
* ``path``: the project's older layout, ``openclaw`` on PATH behind tini.

Two versions, chosen here and nowhere else: the pinned one (the tag of
``DEFAULT_BOT_IMAGE``) and a second, distinct one (:func:`second_version`), so the
end-to-end tests always run on two OpenClaw releases.

Builds run once per test process and (version, layout): the script itself is idempotent
and caches the root file system, so asking again is cheap. It is not safe to run twice
at once (one tarball, one tag), so every build holds a machine-wide lock: a second
pytest-xdist worker (or another run of the suite) waits, then finds the image current.
Only the tests of the OpenClaw lanes (tests/support/parallel.py) may ask for an image:
:func:`check_lane`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import docker

from botmaker.config import DEFAULT_BOT_IMAGE
from tests.support.images import inspect_image
from tests.support.locks import machine_lock
from tests.support.parallel import lane_of, running_test

ROOT = Path(__file__).resolve().parents[2]
PINNED = DEFAULT_BOT_IMAGE.rsplit(":", 1)[1]
VERSION = PINNED  # the name older tests use
LAYOUTS = ("official", "path")
#: The second version when the npm registry cannot be asked (no network): the newest
#: release of the line before the pinned one, as the registry served it in December 2026.
OFFLINE_SECOND = "2026.8.2"
#: Set to a version to test that one as the second version instead.
SECOND_ENV = "BOTMAKER_TEST_OPENCLAW_SECOND"
#: The machine-wide lock (tests/support/locks.py) held while an OpenClaw image is built.
IMAGE_LOCK = "openclaw-image"
_RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class OpenClawImage:
    """One built image: its tag, OpenClaw version and layout."""

    reference: str
    version: str
    layout: str

    @property
    def cli(self) -> tuple[str, ...]:
        """The OpenClaw command line inside a container of this image."""
        return ("openclaw",) if self.layout == "path" else ("node", "/app/openclaw.mjs")

    def shell(self, arguments: str) -> str:
        """A ``/bin/sh`` command line running OpenClaw's CLI with ``arguments``."""
        return " ".join([*self.cli, arguments])


def reference(version: str = PINNED, layout: str = "official") -> str:
    """The tag scripts/build-openclaw-image gives that version in that layout."""
    return f"botmaker-openclaw:{version}" + ("-path" if layout == "path" else "")


def check_lane() -> None:
    """Fail unless the running test is in an OpenClaw lane (tests/support/parallel.py):
    only those run one at a time per lane and hold a slot of the machine's two."""
    test = running_test()
    if lane_of(test) is None:
        raise AssertionError(
            f"{test or 'this test'} uses a real OpenClaw image but is in no OpenClaw lane: "
            "add it to LANES in tests/support/parallel.py (and to TWO_BOTS if it runs two "
            "bots at once)"
        )


_built: dict[tuple[str, str], OpenClawImage] = {}


def build(api: docker.APIClient, version: str = PINNED, layout: str = "official") -> OpenClawImage:
    """The image of ``version`` in ``layout``, built (or found current) once per run."""
    check_lane()
    key = (version, layout)
    if key not in _built:
        started = time.monotonic()
        script = ROOT / "scripts" / "build-openclaw-image"
        with machine_lock(IMAGE_LOCK):
            subprocess.run([str(script), "--layout", layout, version], check=True)
        image = OpenClawImage(reference(version, layout), version, layout)
        labels = inspect_image(api, image.reference)["Config"]["Labels"] or {}
        assert labels.get("botmaker.layout") == layout, labels
        assert labels.get("org.opencontainers.image.version") == version, labels
        print(f"\n[openclaw image] {image.reference} ready in {time.monotonic() - started:.0f} s")
        _built[key] = image
    return _built[key]


def openclaw_image(
    api: docker.APIClient, *, version: str = PINNED, layout: str = "official"
) -> str:
    """The image reference of ``version`` (default: the pinned one) in ``layout``
    (default: official), built if needed."""
    return build(api, version, layout).reference


def _release(version: str) -> tuple[int, int, int] | None:
    match = _RELEASE.fullmatch(version)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def pick_second(pinned: str, latest: str, versions: Iterable[str]) -> str:
    """The second version to test: the registry's newest when it differs from the pinned
    one, else the newest release (no pre-release) of the line before the pinned one."""
    if latest != pinned and _release(latest) is not None:
        return latest
    line = (_release(pinned) or (0, 0, 0))[:2]
    older = [v for v in versions if (r := _release(v)) is not None and r[:2] < line]
    if not older:
        return OFFLINE_SECOND
    return max(older, key=lambda v: _release(v) or (0, 0, 0))


def _npm_view(field: str) -> str | None:
    """``npm view openclaw <field> --json``; None when the registry cannot be asked."""
    try:
        done = subprocess.run(
            ["npm", "view", "openclaw", field, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and done.stdout.strip() else None


@functools.cache
def second_version() -> str:
    """The second OpenClaw version the suite runs on, always distinct from PINNED:
    ``$BOTMAKER_TEST_OPENCLAW_SECOND`` if set, else the newest the registry serves
    (``dist-tags.latest``), else (that is the pinned one, or the registry is out of
    reach) the newest release of the previous line."""
    chosen = os.environ.get(SECOND_ENV, "").strip()
    if chosen:
        return chosen
    latest_json = _npm_view("dist-tags.latest")
    latest = str(json.loads(latest_json)) if latest_json else PINNED
    versions_json = _npm_view("versions") if latest == PINNED else None
    versions = json.loads(versions_json) if versions_json else []
    return pick_second(PINNED, latest, versions if isinstance(versions, list) else [])
