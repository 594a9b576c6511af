"""The pinned OpenClaw image with a stand-in WhatsApp plugin, for channel login tests.

OpenClaw 2026.9.6 does not bundle WhatsApp (``@openclaw/whatsapp`` is an npm plugin),
and the test machine cannot reach WhatsApp's servers, so no real QR code can be had
here. ``standin_whatsapp/`` is a minimal channel plugin implementing the same web login
(docs/openclaw-image.md, *Stand-in WhatsApp plugin*); this image puts it where the
official image keeps bundled plugins, ``/app/dist/extensions/whatsapp``, so OpenClaw
discovers it as bundled and trusted, and BotMaker renders and validates a WhatsApp
bot exactly as it would with the real plugin. Built offline (``--network none``),
once per plugin content (its hash is a label).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import docker

from tests.support.images import inspect_image
from tests.support.openclaw_image import OpenClawImage, build

PLUGIN = Path(__file__).resolve().parent / "standin_whatsapp"
TAG_SUFFIX = "-standin-whatsapp"


def _digest() -> str:
    sha = hashlib.sha256()
    for path in sorted(PLUGIN.iterdir()):
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:16]


def _context(base: str, digest: str) -> io.BytesIO:
    dockerfile = (
        f"FROM {base}\n"
        "COPY whatsapp /app/dist/extensions/whatsapp\n"
        "LABEL botmaker.test-image=true\n"
        f"LABEL botmaker.standin-whatsapp={digest}\n"
    ).encode()
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        for path in sorted(PLUGIN.iterdir()):
            member = tar.gettarinfo(str(path), arcname=f"whatsapp/{path.name}")
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
            member.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(member, handle)
    data.seek(0)
    return data


def standin_whatsapp_image(api: docker.APIClient) -> OpenClawImage:
    """The official-layout pinned image plus the stand-in plugin (built if stale)."""
    base = build(api)
    reference = base.reference + TAG_SUFFIX
    digest = _digest()
    try:
        labels = inspect_image(api, reference)["Config"]["Labels"] or {}
    except docker.errors.ImageNotFound:
        labels = {}
    if labels.get("botmaker.standin-whatsapp") != digest:
        for chunk in api.build(
            fileobj=_context(base.reference, digest),
            custom_context=True,
            tag=reference,
            network_mode="none",
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "error" in chunk:
                raise AssertionError(f"building {reference} failed: {chunk['error']}")
    return OpenClawImage(reference, base.version, base.layout)
