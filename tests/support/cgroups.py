"""A container's own counters, read on the host from its cgroup (v1 or v2).

Read from outside because a bot at its pids limit cannot run ``docker exec``: the
exec's process would have to fit in the very cgroup that is full.
"""

from __future__ import annotations

from pathlib import Path

import docker

ROOT = Path("/sys/fs/cgroup")


class Cgroup:
    """The cgroup of a running container's main process."""

    def __init__(self, api: docker.APIClient, container: str) -> None:
        pid = int(api.inspect_container(container)["State"]["Pid"])
        assert pid, f"{container} is not running"
        self.paths: dict[str, str] = {}
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                self.paths[controller] = path.lstrip("/")
        self.v2 = not (ROOT / "pids").is_dir()

    def file(self, controller: str, name: str) -> Path:
        if self.v2:
            return ROOT / self.paths[""] / name
        return ROOT / controller / self.paths[controller] / name

    def _int(self, controller: str, name: str) -> int:
        text = self.file(controller, name).read_text().strip()
        return 2**63 - 1 if text == "max" else int(text)

    def _keyed(self, controller: str, name: str, key: str) -> int:
        for line in self.file(controller, name).read_text().splitlines():
            parts = line.split()
            if parts and parts[0] == key:
                return int(parts[1])
        return 0

    def pids_current(self) -> int:
        return self._int("pids", "pids.current")

    def pids_max(self) -> int:
        return self._int("pids", "pids.max")

    def pids_refused(self) -> int:
        """Forks the pids limit refused."""
        return self._keyed("pids", "pids.events", "max")

    def memory_limit(self) -> int:
        return self._int("memory", "memory.max" if self.v2 else "memory.limit_in_bytes")

    def memory_peak(self) -> int | None:
        """The most memory the cgroup held (None where the kernel does not count it)."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        return self._int("memory", name) if self.file("memory", name).exists() else None

    def oom_kills(self) -> int:
        name = "memory.events" if self.v2 else "memory.oom_control"
        return self._keyed("memory", name, "oom_kill")
