"""A second, private Docker engine for tests that stop and start ``dockerd`` for real.

The shared engine at /var/run/docker.sock is never touched. ``PrivateDockerd`` runs
its own ``dockerd`` with everything of its own under one short temporary folder:

- the API socket ``<root>/docker.sock`` (``-H unix://…``), the pid file, a
  ``--config-file`` of ``{}`` (so /etc/docker/daemon.json, if any, is not read);
- ``--data-root <root>/data`` and ``--exec-root <root>/exec``: dockerd's *managed*
  containerd (no ``--containerd`` is given) keeps its root under
  ``<data-root>/containerd`` and its state, socket (``containerd.sock``) and pid file
  (``containerd.pid``) under ``<exec-root>/containerd``, so it cannot meet the shared
  engine's containerd (/var/lib/docker/containerd, /var/run/docker/containerd);
- its own containerd namespaces (``--containerd-namespace``), in case dockerd finds a
  system containerd at /run/containerd/containerd.sock and uses that instead;
- no default bridge, no iptables/ip6tables rules, no masquerading, and address pools
  from ``10.213.0.0/16`` (far from Docker's 172.17+/192.168 defaults), so the networks
  it makes cannot overlap the shared engine's.

``stop()`` sends SIGTERM (as ``systemctl stop docker`` does: the API socket closes at
once, then running containers are stopped) and waits for dockerd and its containerd
to exit; ``start()`` starts it again on the same folders. ``close()`` removes every
container and network it has (starting it once more if needed, so the bridges it made
go with them), stops it, kills any process of it still alive, unmounts what is left
under the folder and removes the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import docker.errors

ADDRESS_POOL = "base=10.213.0.0/16,size=24"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


class PrivateDockerd:
    def __init__(self, tag: str) -> None:
        # Short: Unix socket paths are limited to 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="bmd-", dir="/tmp"))
        self.tag = tag
        self.socket = self.root / "docker.sock"
        self.data_root = self.root / "data"
        self.exec_root = self.root / "exec"
        self.pidfile = self.root / "dockerd.pid"
        self.config = self.root / "daemon.json"
        self.log_path = self.root / "dockerd.log"
        self.config.write_text(json.dumps({}))
        self.process: subprocess.Popen[bytes] | None = None
        self.networks_seen: set[str] = set()
        self.starts = 0

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def containerd_pidfile(self) -> Path:
        return self.exec_root / "containerd" / "containerd.pid"

    def client(self, timeout: int = 30) -> docker.APIClient:
        return docker.APIClient(base_url=self.url, version="1.41", timeout=timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> float:
        """Start dockerd and wait until its API answers; returns the seconds it took."""
        assert not self.running(), "already running"
        started = time.monotonic()
        command = [
            "dockerd",
            "--config-file",
            str(self.config),
            "-H",
            self.url,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(self.pidfile),
            "--containerd-namespace",
            f"bmtest-{self.tag}",
            "--containerd-plugins-namespace",
            f"bmtest-{self.tag}-plugins",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--default-address-pool",
            ADDRESS_POOL,
            "--live-restore=false",
            "--storage-driver",
            "overlay2",
        ]
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.starts += 1
        deadline = started + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the private dockerd exited at start:\n{self.log_tail()}")
            with contextlib.suppress(Exception), self.client(timeout=2) as api:
                api.ping()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the private dockerd did not answer:\n{self.log_tail()}")
            time.sleep(0.1)
        return time.monotonic() - started

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> None:
        """Signal dockerd and wait for it (and the containerd it manages) to exit."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        containerd = self._containerd_pid()
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if containerd is not None:
            _wait_gone(containerd, 20)

    def _containerd_pid(self) -> int | None:
        try:
            pid = int(self.containerd_pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and _is_containerd_of(pid, self.exec_root) else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def remember_networks(self) -> None:
        """Note the engine's network ids (their bridges are removed even if it dies)."""
        with contextlib.suppress(Exception), self.client(timeout=5) as api:
            self.networks_seen |= {n["Id"] for n in api.networks() if n["Driver"] == "bridge"}

    def _remove_everything(self) -> None:
        with self.client(timeout=30) as api:
            for container in api.containers(all=True):
                with contextlib.suppress(docker.errors.APIError):
                    api.remove_container(container["Id"], force=True, v=True)
            for network in api.networks():
                if network["Name"] in ("bridge", "host", "none"):
                    continue
                self.networks_seen.add(network["Id"])
                with contextlib.suppress(docker.errors.APIError):
                    api.remove_network(network["Id"])

    def close(self) -> None:
        """Remove everything it made; never raises (it runs after failures too)."""
        try:
            if not self.running():
                self.start()  # to remove its containers and networks the proper way
            self._remove_everything()
        except Exception as exc:
            print(f"private dockerd clean-up: {exc}")
        with contextlib.suppress(Exception):
            self.stop()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(Exception):
                self.process.wait(timeout=10)
        for pid in _processes_under(self.root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for network_id in self.networks_seen:
            bridge = f"br-{network_id[:12]}"
            if Path("/sys/class/net", bridge).exists():
                subprocess.run(["ip", "link", "delete", bridge], check=False, capture_output=True)
        _unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _is_containerd_of(pid: int, exec_root: Path) -> bool:
    return "containerd" in _cmdline(pid) and str(exec_root) in _cmdline(pid)


def _processes_under(root: Path) -> list[int]:
    """Processes whose command line names the folder (dockerd, containerd, shims)."""
    found = []
    for entry in Path("/proc").iterdir():
        pid = int(entry.name) if entry.name.isdigit() else os.getpid()
        if pid != os.getpid() and str(root) in _cmdline(pid):
            found.append(pid)
    return found


def _unmount_under(root: Path) -> None:
    """Lazily unmount every mount point under ``root``, deepest first."""
    prefix = str(root) + "/"
    points = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(prefix):
                points.append(point)
    for point in sorted(set(points), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
