"""Runtime backends: where bot containers actually run.

``Backend`` is the one small interface the services use; ``docker`` implements it
on a Docker engine (a Swarm backend can implement it later). ``policy`` turns a
bot's settings into the hardened, backend-neutral ``ContainerSpec`` both use.
"""

from botmaker.runtime.base import (
    Backend,
    ContainerSpec,
    LogChunk,
    LogStream,
    PullProgress,
    RuntimeStatus,
)

__all__ = ["Backend", "ContainerSpec", "LogChunk", "LogStream", "PullProgress", "RuntimeStatus"]
