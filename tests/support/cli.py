"""The environment a test runs the ``botmaker`` command (or ``botmaker serve``) in."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.conftest import ADMIN_PASSWORD


def botmaker_env(tmp_path: Path, image: str, prefix: str, **extra: str) -> dict[str, str]:
    """A clean environment (nothing inherited) for an instance of its own: folders under
    ``tmp_path``, labels and an internal network named after ``prefix``, the stand-in
    ``image``, small limits, the keyring and the egress proxy off; ``extra`` adds or
    overrides variables."""
    tag = uuid.uuid4().hex[:10]
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "BOTMAKER_DATA_DIR": str(tmp_path / "data"),
        "BOTMAKER_SECRETS_DIR": str(tmp_path / "secrets"),
        "BOTMAKER_BOT_IMAGE": image,
        "BOTMAKER_INSTANCE": f"{prefix}test-{tag}",
        "BOTMAKER_NETWORK": f"bm{prefix}-{tag}",
        "BOTMAKER_NETWORK_INTERNAL": "1",
        "BOTMAKER_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "BOTMAKER_BOT_MEMORY": "64m",
        "BOTMAKER_STOP_TIMEOUT": "3",
        "BOTMAKER_KEYRING": "off",
        "BOTMAKER_EGRESS": "off",
        **extra,
    }
