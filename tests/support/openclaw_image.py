"""The real OpenClaw image for tests: built locally by scripts/build-openclaw-image."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import docker
import docker.errors

from botmaker.config import DEFAULT_BOT_IMAGE
from tests.support.images import inspect_image

ROOT = Path(__file__).resolve().parents[2]
VERSION = DEFAULT_BOT_IMAGE.rsplit(":", 1)[1]
REFERENCE = f"botmaker-openclaw:{VERSION}"


def openclaw_image(api: docker.APIClient) -> str:
    """The image reference, building it (cached by version) if the engine lacks it."""
    try:
        inspect_image(api, REFERENCE)
        return REFERENCE
    except docker.errors.ImageNotFound:
        pass
    started = time.monotonic()
    subprocess.run([str(ROOT / "scripts" / "build-openclaw-image"), VERSION], check=True)
    print(f"\n[openclaw image] built {REFERENCE} in {time.monotonic() - started:.0f} s")
    return REFERENCE
