"""Running a command in a bot's running container (``Backend.exec``), in both runtimes.

What BotMaker's DM pairing needs of it: the command runs as the container's own user,
with no TTY and no stdin, stdout and stderr apart, its exit code told; its output and
its time are bounded; a stopped bot is a clear 409, never a hang.
"""

from __future__ import annotations

import time

import httpx
import pytest

from botmaker.errors import Conflict, RuntimeFailure
from botmaker.runtime.policy import container_name
from botmaker.services import Services
from tests.conftest import bot_body
from tests.support.waiting import wait_for


def test_exec_runs_bounded_in_the_running_bot_as_its_user(
    client: httpx.Client, services: Services
) -> None:
    created = client.post("/api/bots", json=bot_body("alpha"))
    assert created.status_code == 201, created.text
    bot = created.json()
    name = container_name(bot["id"])
    uid = services.store.find_bot(bot["id"]).uid
    runtime = services.runtime
    wait_for(lambda: runtime.status(name).running or None, timeout=30, interval=0.2)

    result = runtime.exec(
        name, ["/bin/sh", "-c", "id -u; echo oops >&2; [ -t 0 ] || echo no-tty; exit 3"], timeout=10
    )
    assert result.exit_code == 3
    assert result.stdout.split() == [str(uid), "no-tty"]
    assert result.stderr == "oops\n"

    # No stdin: a command reading it ends at once.
    started = time.monotonic()
    assert runtime.exec(name, ["cat"], timeout=10).stdout == ""
    assert time.monotonic() - started < 5

    # Output past the limit, and a command past its time, are refused (and not waited for).
    with pytest.raises(RuntimeFailure, match="more than 1000 bytes"):
        runtime.exec(name, ["/bin/sh", "-c", "yes | head -c 200000"], timeout=10, limit=1000)
    started = time.monotonic()
    with pytest.raises(RuntimeFailure, match="did not finish within 1 s"):
        runtime.exec(name, ["sleep", "30"], timeout=1)
    assert time.monotonic() - started < 5

    # A stopped bot: a clear conflict.
    assert client.post(f"/api/bots/{bot['id']}/stop").status_code == 200
    with pytest.raises(Conflict, match="not running"):
        runtime.exec(name, ["true"], timeout=10)


def test_exec_stream_hands_output_over_as_it_comes(
    client: httpx.Client, services: Services
) -> None:
    """What a Signal link needs: output read while the command still runs, stdout and
    stderr apart, the exit code once it ended, and a reading bounded in time."""
    created = client.post("/api/bots", json=bot_body("alpha"))
    assert created.status_code == 201, created.text
    name = container_name(created.json()["id"])
    runtime = services.runtime
    wait_for(lambda: runtime.status(name).running or None, timeout=30, interval=0.2)

    started = time.monotonic()
    stream = runtime.exec_stream(
        name, ["/bin/sh", "-c", "echo first; echo oops >&2; sleep 30"], timeout=20
    )
    seen: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    for chunk in stream:
        seen[chunk.stream] += chunk.data
        if seen == {"stdout": b"first\n", "stderr": b"oops\n"}:
            break
    assert time.monotonic() - started < 5  # long before the command ends
    assert stream.exit_code() is None  # still running
    stream.close()

    done = runtime.exec_stream(name, ["/bin/sh", "-c", "echo hi; exit 4"], timeout=10)
    assert b"".join(chunk.data for chunk in done) == b"hi\n"
    assert done.exit_code() == 4

    started = time.monotonic()
    assert list(runtime.exec_stream(name, ["sleep", "30"], timeout=1)) == []
    assert time.monotonic() - started < 5

    assert client.post(f"/api/bots/{created.json()['id']}/stop").status_code == 200
    with pytest.raises(Conflict, match="not running"):
        runtime.exec_stream(name, ["true"], timeout=10)
