"""A "flood" stand-in bot: on a trigger it writes many long lines as fast as it can.

Same busybox rootfs as the stand-in. It prints ``flood: ready``, waits until
``/tmp/go`` exists (created with ``docker exec``), writes ``FLOOD_LINES`` lines
``flood <n> <FLOOD_PAD zeros>`` to stdout, then ``flood: done``, then sleeps.
"""

from __future__ import annotations

import json

import docker

from tests.support.images import STANDIN_REPO, TEST_IMAGE_LABEL, rootfs_tar

FLOOD_TAG = "flood"
FLOOD_LINES = 4000
FLOOD_PAD = 4000
FLOOD_SCRIPT = (
    f'pad=$(printf "%0{FLOOD_PAD}d" 0); echo "flood: ready"; '
    "while [ ! -e /tmp/go ]; do usleep 20000; done; "
    f'i=0; while [ $i -lt {FLOOD_LINES} ]; do i=$((i+1)); echo "flood $i $pad"; done; '
    'echo "flood: done"; exec sleep 100000'
)


def build_flood(api: docker.APIClient) -> str:
    api.import_image_from_data(
        rootfs_tar(),
        repository=STANDIN_REPO,
        tag=FLOOD_TAG,
        changes=[
            f'ENTRYPOINT ["/bin/sh", "-c", {json.dumps(FLOOD_SCRIPT)}]',
            "ENV PATH=/bin",
            f"LABEL {TEST_IMAGE_LABEL}=true",
        ],
    )
    return f"{STANDIN_REPO}:{FLOOD_TAG}"


def trigger(api: docker.APIClient, container: str) -> None:
    """Start the flood (the bot's own user creates /tmp/go in its private tmpfs)."""
    exec_id = api.exec_create(container, ["touch", "/tmp/go"])["Id"]
    api.exec_start(exec_id)
    result = api.exec_inspect(exec_id)
    if result["ExitCode"] != 0:
        raise RuntimeError(f"could not trigger the flood: exit {result['ExitCode']}")
