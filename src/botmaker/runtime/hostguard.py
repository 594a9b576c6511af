"""Bots reach one service of the host: the keyring's data plane, and nothing else.

Docker keeps the containers of a bridge network apart (ICC off) and, with ``internal``,
away from other networks, but those are FORWARD rules. A connection from a bot to one
of the host's own addresses (the bridge's gateway, eth0, docker0, any other bridge) is
*input* to the host, and Docker lets it through: every host listener bound to 0.0.0.0
— sshd, a database, the engine's TCP API, Swarm's manager port — answers a bot.

The guard closes that: a chain ``BOTMAKER-<bridge>`` in the host's INPUT, jumped to
for packets from the bots' bridge only. It lets through replies to connections the
host opened (BotMaker's health probes of the bots) and new TCP connections to the
allowed ports (the keyring's data plane), and rejects everything else with a refusal,
so a bot fails at once instead of hanging. It only ever restricts: a packet it lets
through still meets the rest of the host's INPUT rules.

It needs root and ``iptables`` in the host's network namespace (BotMaker on the host,
or its container with host networking and ``NET_ADMIN``). Where it cannot be installed
BotMaker logs a warning and runs without it: firewall the bridge yourself.
Chains of bridges that no longer exist (a removed network) are removed with them.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHAIN_PREFIX = "BOTMAKER-"
_NET = Path("/sys/class/net")
_TIMEOUT = 20.0


def bridge_of(network: Mapping[str, Any]) -> str:
    """The Linux bridge behind a Docker bridge network (its own name, or ``br-<id>``)."""
    options = network.get("Options") or {}
    return str(options.get("com.docker.network.bridge.name") or f"br-{network['Id'][:12]}")


def prune(keep: str = "") -> list[str]:
    """Remove the chains (and their INPUT jumps) of bridges that are gone; their names.

    Another BotMaker may be pruning at the same time: failures to remove are ignored.
    """
    iptables = shutil.which("iptables")
    if iptables is None:
        return []
    listing = subprocess.run(
        [iptables, "-w", "-S"], capture_output=True, text=True, timeout=_TIMEOUT, check=True
    ).stdout.splitlines()
    removed = []
    for line in listing:
        parts = line.split()
        if parts[:1] != ["-N"] or not parts[1].startswith(CHAIN_PREFIX) or parts[1] == keep:
            continue
        chain = parts[1]
        bridge = chain.removeprefix(CHAIN_PREFIX)
        if (_NET / bridge).exists():
            continue
        for argv in (["-D", "INPUT", "-i", bridge, "-j", chain], ["-F", chain], ["-X", chain]):
            subprocess.run(
                [iptables, "-w", *argv], capture_output=True, timeout=_TIMEOUT, check=False
            )
        removed.append(chain)
    return removed


class HostGuard:
    """The INPUT chain of one bots' bridge (see the module docstring)."""

    def __init__(self, bridge: str) -> None:
        self.bridge = bridge
        self.chain = f"{CHAIN_PREFIX}{bridge}"  # an interface name has 15 characters at most
        self.iptables = shutil.which("iptables")
        self.restore = shutil.which("iptables-restore")
        self.active = False

    def apply(self, ports: Iterable[int]) -> bool:
        """Install (or replace, atomically) the chain letting bots reach only ``ports``.

        False, with a warning logged, when it cannot be installed.
        """
        if self.iptables is None or self.restore is None:
            return self._unguarded("iptables is not installed")
        try:
            prune(keep=self.chain)
            self._run([self.restore, "--noflush"], self._rules(sorted(set(ports))))
            jump = ["INPUT", "-i", self.bridge, "-j", self.chain]
            if self._call([self.iptables, "-w", "-C", *jump]) != 0:
                self._run(
                    [self.iptables, "-w", "-I", "INPUT", "1", "-i", self.bridge, "-j", self.chain]
                )
        except (OSError, subprocess.SubprocessError) as exc:
            return self._unguarded(str(exc))
        self.active = True
        return True

    def _rules(self, ports: list[int]) -> str:
        chain = self.chain
        lines = [
            "*filter",
            f":{chain} - [0:0]",  # created, or emptied if it exists (--noflush)
            f"-A {chain} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
            *(f"-A {chain} -p tcp -m tcp --dport {port} -j RETURN" for port in ports),
            f"-A {chain} -p tcp -j REJECT --reject-with tcp-reset",
            f"-A {chain} -j REJECT --reject-with icmp-port-unreachable",
            "COMMIT",
        ]
        return "\n".join(lines) + "\n"

    def _unguarded(self, reason: str) -> bool:
        log.warning(
            "cannot guard the bots' bridge %s (%s): bots can connect to every host "
            "service listening on 0.0.0.0; firewall traffic from that bridge yourself",
            self.bridge,
            reason.strip()[:300],
        )
        self.active = False
        return False

    @staticmethod
    def _call(argv: list[str]) -> int:
        return subprocess.run(argv, capture_output=True, timeout=_TIMEOUT, check=False).returncode

    @staticmethod
    def _run(argv: list[str], stdin: str | None = None) -> None:
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise subprocess.SubprocessError(f"{Path(argv[0]).name}: {done.stderr}")


class ForwardGuard:
    """What Swarm bots may send through ``docker_gwbridge``, which is shared with every
    other swarm container on the node, so the rules name the bots' addresses:

    - forwarded (``DOCKER-USER``): nothing. Their ways out are the host's keyring and
      egress proxy, which are input, not forwarded.
    - input (``INPUT``): replies, and new TCP connections to the allowed host ports
      (keyring, egress proxy); every other host service is refused, as the Docker
      backend's :class:`HostGuard` does for its bridge.

    One pair of chains per BotMaker instance, replaced atomically on each change, removed
    by :meth:`remove`; other containers on the interface are not touched."""

    def __init__(self, interface: str, name: str) -> None:
        self.interface = interface
        self.chain = f"BMOUT-{name}"[:28]
        self.input_chain = f"BMIN-{name}"[:28]
        self.iptables = shutil.which("iptables")
        self.restore = shutil.which("iptables-restore")
        self._warned = False

    def _jumps(self) -> list[list[str]]:
        return [
            ["DOCKER-USER", "-i", self.interface, "-j", self.chain],
            ["INPUT", "-i", self.interface, "-j", self.input_chain],
        ]

    def apply(self, addresses: Iterable[str], ports: Iterable[int] = ()) -> bool:
        if self.iptables is None or self.restore is None:
            return self._unguarded("iptables is not installed")
        bots = sorted(set(addresses))
        allowed = sorted(set(ports))
        rules = ["*filter", f":{self.chain} - [0:0]", f":{self.input_chain} - [0:0]"]
        for address in bots:
            rules.append(
                f"-A {self.chain} -s {address} -j REJECT --reject-with icmp-admin-prohibited"
            )
            into = f"-A {self.input_chain} -s {address}"
            rules.append(f"{into} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN")
            rules += [f"{into} -p tcp -m tcp --dport {port} -j RETURN" for port in allowed]
            rules.append(f"{into} -p tcp -j REJECT --reject-with tcp-reset")
            rules.append(f"{into} -j REJECT --reject-with icmp-port-unreachable")
        rules.append("COMMIT")
        try:
            self._ensure_docker_user()
            HostGuard._run([self.restore, "--noflush"], "\n".join(rules) + "\n")
            for jump in self._jumps():
                if HostGuard._call([self.iptables, "-w", "-C", *jump]) != 0:
                    HostGuard._run([self.iptables, "-w", "-I", jump[0], "1", *jump[1:]])
        except (OSError, subprocess.SubprocessError) as exc:
            return self._unguarded(str(exc))
        return True

    def remove(self) -> None:
        if self.iptables is None:
            return
        for jump, chain in zip(self._jumps(), (self.chain, self.input_chain), strict=True):
            for argv in (["-D", *jump], ["-F", chain], ["-X", chain]):
                HostGuard._call([self.iptables, "-w", *argv])

    def _ensure_docker_user(self) -> None:
        assert self.iptables is not None
        if HostGuard._call([self.iptables, "-w", "-L", "DOCKER-USER", "-n"]) != 0:
            HostGuard._run([self.iptables, "-w", "-N", "DOCKER-USER"])

    def _unguarded(self, reason: str) -> bool:
        if not self._warned:
            log.warning(
                "cannot keep Swarm bots from connecting out around the egress proxy (%s); "
                "firewall %s yourself",
                reason.strip()[:300],
                self.interface,
            )
            self._warned = True
        return False
