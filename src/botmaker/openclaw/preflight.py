"""An upgrade's preflight, as one script for a throwaway container of the NEW image.

Run with ``"$@"`` set to the new image's OpenClaw CLI and ``/state`` holding a copy
of the bot's state, with no network: OpenClaw validates the bot's config as it is,
``doctor --fix --non-interactive`` applies the new version's safe migrations to the
copy, OpenClaw validates the result (and lists its plugins), then the gateway starts
on that config and is asked on loopback, from inside the container, until
``/healthz`` and ``/readyz`` say live and ready (``/startupz`` is read too). Each
part ends with a marker line; the functions here turn the output into a verdict.
Pure: no engine, no files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from botmaker.errors import InvalidInput
from botmaker.openclaw.check import MARKER, judge

PART = "@@botmaker-preflight"
#: Asks the gateway on loopback; exit 0 when live and ready. ``node -e`` with the port.
_PROBE = (
    "const p=process.argv[1];"
    "const ask=async(x)=>{try{const r=await fetch(`http://127.0.0.1:${p}/${x}`,"
    "{signal:AbortSignal.timeout(2000)});let b={};try{b=JSON.parse(await r.text())}catch{}"
    "return [r.status,b]}catch{return [0,{}]}};"
    "(async()=>{const h=await ask(`healthz`);const r=await ask(`readyz`);"
    "const s=await ask(`startupz`);"
    "console.log(JSON.stringify({healthz:h,readyz:r,startupz:s}));"
    "process.exit(h[0]===200&&h[1].ok===true&&r[0]===200&&r[1].ready===true?0:1)})()"
)
_RC = re.compile(r"^" + re.escape(PART) + r" rc=(\d+)$", re.M)
_FACT = re.compile(r"(verdict|seconds|exit|probe)=(\S*)")


def preflight_commands(port: int, wait: int) -> str:
    """The script's body (after ``"$@"`` is set): validate, doctor --fix, validate and
    list plugins, then the gateway for at most ``wait`` seconds.

    What OpenClaw prints runs on the bot's own state, so it is hostile: every line of
    it that starts like a marker (``@@botmaker``) is dropped, and only the script's own
    lines carry one, so no output can end a part early or forge a verdict."""
    return f"""
shown() {{ sed '/^@@botmaker/d' "$1"; }}
echo "{PART} part=before"
"$@" config validate --json >/tmp/before.log 2>&1; rc=$?
shown /tmp/before.log; echo "{PART} rc=$rc"
echo "{PART} part=doctor"
"$@" doctor --fix --non-interactive >/tmp/doctor.log 2>&1; rc=$?
tail -n 40 /tmp/doctor.log | shown /dev/stdin; echo "{PART} rc=$rc"
echo "{PART} part=check"
"$@" config validate --json >/tmp/check.log; rc=$?
"$@" plugins list --json >/tmp/plugins.log 2>/dev/null
shown /tmp/check.log; echo "{MARKER} rc=$rc"; shown /tmp/plugins.log
echo "{PART} rc=0"
[ "$rc" -eq 0 ] || exit 0
echo "{PART} part=gateway"
"$@" gateway --allow-unconfigured >/tmp/gateway.log 2>&1 &
pid=$!
i=0; verdict=timeout; probed=none
while [ "$i" -lt {wait} ]; do
  if ! kill -0 "$pid" 2>/dev/null; then verdict=exited; break; fi
  if probed=$(node -e '{_PROBE}' {port} 2>/dev/null); then verdict=ready; break; fi
  sleep 1; i=$((i + 1))
done
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; code=$?
echo "{PART} verdict=$verdict seconds=$i exit=$code"
echo "{PART} probe=$(printf '%s' "$probed" | tr -d '\n')"
tail -n 30 /tmp/gateway.log | shown /dev/stdin
echo "{PART} rc=0"
"""


@dataclass(frozen=True)
class PreflightReport:
    """What the preflight found: how the config fared before and after the new
    version's migrations, and how long its gateway took to be ready."""

    valid_before: bool
    doctor: str  # doctor's last lines
    gateway_seconds: int


def parts(output: str) -> dict[str, tuple[int, str]]:
    """The script's output by part: (exit code, text); -1 when a part did not end."""
    found: dict[str, tuple[int, str]] = {}
    for chunk in output.split(f"{PART} part=")[1:]:
        name, _, body = chunk.partition("\n")
        match = _RC.search(body)
        found[name.strip()] = (int(match.group(1)), body[: match.start()]) if match else (-1, body)
    return found


def verdict(output: str, image: str, channels: Sequence[str]) -> PreflightReport:
    """The preflight's verdict: a report when the new image's OpenClaw accepts the
    (migrated) config and its gateway became ready, else ``InvalidInput`` with
    OpenClaw's own message."""
    found = parts(output)
    if "check" not in found:
        raise InvalidInput(
            f"the preflight of {image} did not finish: {_tail(output)}", field="image"
        )
    try:
        judge(found["check"][1], image, channels)
    except InvalidInput as exc:
        doctor = found.get("doctor", (0, ""))
        fixed = f" (after doctor --fix, exit code {doctor[0]})" if doctor[0] >= 0 else ""
        raise InvalidInput(f"{image}: {exc.message}{fixed}", field=exc.field) from None
    code, gateway = found.get("gateway", (-1, ""))
    facts = _facts(gateway)
    if code != 0 or facts.get("verdict") != "ready":
        why = {
            "exited": f"its gateway exited (exit code {facts.get('exit', '?')})",
            "timeout": f"its gateway was not ready within {facts.get('seconds', '?')} s",
        }.get(facts.get("verdict", ""), "its gateway did not start")
        raise InvalidInput(
            f"{image} accepts the configuration but {why} (its answers: "
            f"{facts.get('probe', 'none')}): {_tail(gateway)}",
            field="image",
        )
    return PreflightReport(
        valid_before=found.get("before", (-1, ""))[0] == 0,
        doctor=_tail(found.get("doctor", (0, ""))[1], 600),
        gateway_seconds=int(facts.get("seconds", "0") or 0),
    )


def _facts(text: str) -> dict[str, str]:
    """The gateway part's facts, read only from the script's own marker lines."""
    return {
        key: value
        for line in text.splitlines()
        if line.startswith(PART + " ")
        for key, value in _FACT.findall(line)
    }


def _tail(text: str, limit: int = 400) -> str:
    """The last lines of ``text``, one line, at most ``limit`` characters."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    joined = " | ".join(lines[-6:])
    return joined if len(joined) <= limit else "…" + joined[-limit:]
