"""Build the tiny stand-in bot image locally: ``docker import`` of a busybox rootfs.

No registry is involved. The rootfs holds Debian's static busybox, one symlink per
applet, and ``tests/standin/entrypoint.sh``.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import docker
import docker.errors

STANDIN_REPO = "botmaker-standin"
STANDIN_TAG = "test"
STUBBORN_TAG = "stubborn"  # ignores SIGTERM
ENTRYPOINT = Path(__file__).resolve().parent.parent / "standin" / "entrypoint.sh"
#: Every image the tests make carries this label, so scripts/test can remove them all.
TEST_IMAGE_LABEL = "botmaker.test-image"
HASH_LABEL = "botmaker.test-image-hash"


def busybox_path() -> Path:
    found = shutil.which("busybox") or "/bin/busybox"
    path = Path(found)
    if not path.exists():
        raise RuntimeError("busybox is missing: apt-get install busybox-static")
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
    if "not a dynamic executable" not in (out.stdout + out.stderr):
        raise RuntimeError(f"{path} is not static: apt-get install busybox-static")
    return path


def rootfs_tar() -> bytes:
    busybox = busybox_path()
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    buffer = io.BytesIO()
    now = 1_700_000_000  # fixed: the same bytes every run, so the image is reused
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, now
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))

        for folder in (
            "bin",
            "etc",
            "tmp",
            "home",
            "home/bot",
            "run",
            "run/secrets",
            "proc",
            "sys",
            "dev",
        ):
            add_dir(folder, 0o1777 if folder == "tmp" else 0o755)
        add_file("bin/busybox", busybox.read_bytes(), 0o755)
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname, link.mtime = tarfile.SYMTYPE, "busybox", now
            tar.addfile(link)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        add_file("etc/group", b"root:x:0:\n", 0o644)
        add_file("entrypoint.sh", ENTRYPOINT.read_bytes(), 0o755)
    return buffer.getvalue()


def inspect_image(api: docker.APIClient, reference: str) -> dict[str, Any]:
    """``docker image inspect`` (typed: docker-py's stubs leave this call untyped)."""
    info: dict[str, Any] = api.inspect_image(reference)  # type: ignore[no-untyped-call]
    return info


def _labels(api: docker.APIClient, reference: str) -> dict[str, str]:
    try:
        info = inspect_image(api, reference)
    except docker.errors.ImageNotFound:
        return {}
    return dict((info.get("Config") or {}).get("Labels") or {})


def build_standin(api: docker.APIClient) -> dict[str, str]:
    """Import both stand-in tags (unless identical ones exist); ``{tag: reference}``."""
    data = rootfs_tar()
    refs: dict[str, str] = {}
    for tag, env in ((STANDIN_TAG, "0"), (STUBBORN_TAG, "1")):
        reference = f"{STANDIN_REPO}:{tag}"
        refs[tag] = reference
        changes = [
            'ENTRYPOINT ["/bin/sh", "/entrypoint.sh"]',
            f"ENV STANDIN_IGNORE_TERM={env} PATH=/bin",
            f"LABEL {TEST_IMAGE_LABEL}=true",
        ]
        digest = hashlib.sha256(data + "\n".join(changes).encode()).hexdigest()[:32]
        if _labels(api, reference).get(HASH_LABEL) == digest:
            continue  # already built from exactly these bytes
        api.import_image_from_data(
            data,
            repository=STANDIN_REPO,
            tag=tag,
            changes=[*changes, f"LABEL {HASH_LABEL}={digest}"],
        )
    return refs
