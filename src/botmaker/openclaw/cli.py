"""Finding the OpenClaw command line inside any image, from the image's own config.

Images carry OpenClaw in different places: ours put ``openclaw`` on PATH; the
official ``ghcr.io/openclaw/openclaw`` keeps the package in ``/app`` and starts
``node openclaw.mjs gateway`` from ``WORKDIR /app`` with nothing on PATH; others
wrap the command in ``tini`` or ``dumb-init``. From the image's ENTRYPOINT, CMD and
WorkingDir this module derives the candidate command lines, in order:

1. ``openclaw`` on PATH;
2. what the image itself runs: the ``openclaw`` executable or ``node <script>`` in
   its ENTRYPOINT + CMD, past an init wrapper, the script resolved against WorkingDir;
3. ``node <WorkingDir>/openclaw.mjs``.

A check container of the image runs ``discovery_script``: it tries each with
``--version`` and uses the first that answers ``OpenClaw <version>``; then runs the
commands asked for with that CLI (``"$@" config validate``...). Nothing else runs but
the image. The functions are pure; the caller caches the answer per image id.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

#: The marker line the discovery script prints: ``@@botmaker-cli <index> <version>``.
CLI_MARKER = "@@botmaker-cli"
_INIT_WRAPPERS = frozenset({"tini", "tini-static", "dumb-init", "catatonit", "docker-init"})
_NODES = re.compile(r"node(js)?(\d+)?")
_VERSION = re.compile(r"OpenClaw\s+v?(\d[\w.+-]*)")


@dataclass(frozen=True)
class OpenClawCli:
    """How to run OpenClaw's CLI in one image, and which version it is."""

    argv: tuple[str, ...]
    version: str

    def shell(self) -> str:
        """The command line, quoted for ``/bin/sh``."""
        return shlex.join(self.argv)


def candidates(
    entrypoint: Sequence[str], cmd: Sequence[str], workdir: str
) -> list[tuple[str, ...]]:
    """The command lines that may be OpenClaw's CLI in an image that runs ``entrypoint``
    + ``cmd`` from ``workdir`` (its config), best first."""
    found: list[tuple[str, ...]] = [("openclaw",)]
    own = _from_command(_past_init([*entrypoint, *cmd]), workdir)
    if own is not None:
        found.append(own)
    found.append(("node", posixpath.join(workdir or "/", "openclaw.mjs")))
    return list(dict.fromkeys(found))  # in order, once each


def _past_init(argv: list[str]) -> list[str]:
    """``argv`` without a leading init wrapper (``tini -s --``, ``dumb-init --``)."""
    if argv and posixpath.basename(argv[0]) in _INIT_WRAPPERS:
        rest = argv[1:]
        if "--" in rest:
            return rest[rest.index("--") + 1 :]
        while rest and rest[0].startswith("-"):
            rest = rest[1:]
        return rest
    return argv


def _from_command(argv: list[str], workdir: str) -> tuple[str, ...] | None:
    """The CLI the image's own command runs: ``openclaw ...`` or ``node <script> ...``."""
    if not argv:
        return None
    program = posixpath.basename(argv[0])
    if program in ("openclaw", "openclaw.mjs"):
        return (argv[0],)
    if not _NODES.fullmatch(program):
        return None
    script = next((a for a in argv[1:] if not a.startswith("-")), None)
    if script is None or not script.endswith((".mjs", ".js", ".cjs")):
        return None
    return (argv[0], posixpath.normpath(posixpath.join(workdir or "/", script)))


def discovery_script(options: list[tuple[str, ...]], then: str = "") -> str:
    """A ``/bin/sh`` script: the first of ``options`` that reports an OpenClaw version
    is announced on a marker line and becomes ``"$@"`` for ``then``; if none does,
    ``<marker> none`` and the script ends."""
    lines = [
        "botmaker_try() {",
        '  v=$("$@" --version 2>/dev/null | head -n 1) || return 1',
        '  case "$v" in *OpenClaw*) return 0 ;; esac',
        "  return 1",
        "}",
    ]
    for index, argv in enumerate(options):
        keyword = "if" if index == 0 else "elif"
        lines.append(f"{keyword} botmaker_try {shlex.join(argv)}; then")
        lines.append(f'  set -- {shlex.join(argv)}; echo "{CLI_MARKER} {index} $v"')
    lines += ["else", f'  echo "{CLI_MARKER} none"; exit 0', "fi"]
    if then:
        lines.append(then)
    return "\n".join(lines) + "\n"


def known_script(cli: OpenClawCli, then: str) -> str:
    """``then`` with ``"$@"`` set to an already discovered CLI (no ``--version`` run)."""
    return f"set -- {cli.shell()}\n{then}\n"


def parse_discovery(output: str, options: list[tuple[str, ...]]) -> OpenClawCli | None:
    """The CLI the discovery script chose; None when the image carries no OpenClaw."""
    for line in output.splitlines():
        if not line.startswith(CLI_MARKER + " "):
            continue
        index, _, rest = line[len(CLI_MARKER) + 1 :].partition(" ")
        if not index.isdigit() or int(index) >= len(options):
            return None
        version = _VERSION.search(rest)
        return OpenClawCli(options[int(index)], version.group(1) if version else rest.strip())
    return None


def discovered(output: str) -> bool:
    """Whether the discovery part of a script ran to its verdict (either way)."""
    return any(line.startswith(CLI_MARKER + " ") for line in output.splitlines())
