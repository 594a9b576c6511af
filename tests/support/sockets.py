"""docker-py leaves the socket of a failed Unix-socket connect to the garbage collector.

Harmless (the engine was down), but Python warns when it collects one; the tests
that take an engine away collect them on purpose, with that one warning silenced.
"""

from __future__ import annotations

import gc
import warnings

UNCONNECTED_UNIX_SOCKET = r"unclosed <socket\.socket fd=\d+, family=1, type=1, proto=0>"
#: ``pytestmark`` / decorator for tests that take the engine away.
IGNORE_UNCONNECTED = f"ignore:{UNCONNECTED_UNIX_SOCKET}:ResourceWarning"


def collect_unconnected_sockets() -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", UNCONNECTED_UNIX_SOCKET, ResourceWarning)
        gc.collect()
