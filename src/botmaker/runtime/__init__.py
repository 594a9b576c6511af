"""Runtime backends: where bot containers actually run.

``base.Backend`` is the one small interface the services use (``make_backend`` in
services/ picks one by ``BOTMAKER_RUNTIME``), with two implementations:

- ``docker.DockerBackend``: each bot is one container on one Docker engine, on a
  bridge network with inter-container traffic off, behind the host guard;
- ``swarm.SwarmBackend``: each bot is a one-replica Swarm service on its own overlay
  network, its secret files as Swarm secrets.

Neither inherits the other: each holds an ``engine.Engine`` (the connection to the
Docker engine, its errors converted to ours, images, plain containers such as config
checks, events, logs, stats) and forwards the engine-wide operations through
``engine.EngineBackend``. ``streams`` reads the engine's streamed answers.

``policy.bot_container_spec`` turns a bot's settings into the hardened,
backend-neutral ``ContainerSpec`` both run; ``policy.managed_labels`` and
``policy.managed_filters`` mark and find what this instance made.
``hostguard.HostGuard`` closes the host's own ports to bots on the Docker backend's
bridge, but for the keyring's data plane and ``BOTMAKER_BOT_HOST_PORTS``
(``Backend.allow_host_port``).
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
