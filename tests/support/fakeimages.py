"""Small local images for failure tests, made with ``docker import`` (no registry)."""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
from collections.abc import Iterable

import docker
import docker.errors

from tests.support.images import TEST_IMAGE_LABEL, inspect_image, rootfs_tar


def tar_of(files: Iterable[tuple[str, bytes]], base: bytes | None = None) -> bytes:
    """A tar of regular files, appended to ``base`` (an uncompressed tar) if given."""
    buffer = io.BytesIO(base or b"")
    with tarfile.open(fileobj=buffer, mode="a" if base else "w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, time.time()
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def import_image(
    api: docker.APIClient, reference: str, data: bytes, changes: list[str] | None = None
) -> str:
    repository, tag = reference.rsplit(":", 1)
    labelled = [*(changes or []), f"LABEL {TEST_IMAGE_LABEL}=true"]
    api.import_image_from_data(data, repository=repository, tag=tag, changes=labelled)
    return reference


def unique_standin(api: docker.APIClient, reference: str, marker: str) -> str:
    """The stand-in bot with one extra file, so its single layer exists nowhere else."""
    data = tar_of([("marker", marker.encode())], base=rootfs_tar())
    return import_image(
        api,
        reference,
        data,
        ['ENTRYPOINT ["/bin/sh", "/entrypoint.sh"]', "ENV STANDIN_IGNORE_TERM=0 PATH=/bin"],
    )


def remove_image(api: docker.APIClient, reference: str) -> None:
    """Remove ``reference`` and any container still made from it.

    A reference that is one of several tags of an image (a test tagged the shared
    stand-in with it) is only untagged: Docker's ``ancestor`` filter matches by image,
    so it would name every container of the stand-in, other tests' bots on other
    workers included."""
    try:
        tags = inspect_image(api, reference).get("RepoTags") or []
    except docker.errors.ImageNotFound:
        return
    if len(tags) > 1:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image(reference)  # the tag alone
        return
    with contextlib.suppress(docker.errors.APIError):
        for container in api.containers(all=True, filters={"ancestor": reference}):
            with contextlib.suppress(docker.errors.APIError):
                api.remove_container(container["Id"], force=True, v=True)
    with contextlib.suppress(docker.errors.ImageNotFound):
        api.remove_image(reference, force=True)


def image_exists(api: docker.APIClient, reference: str) -> bool:
    try:
        inspect_image(api, reference)
    except docker.errors.ImageNotFound:
        return False
    return True
