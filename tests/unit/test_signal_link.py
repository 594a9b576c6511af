"""Signal link pieces: what ``signal-cli link`` prints (hostile input, ``LinkOutput``),
the signal-cli a bot's ``openclaw.json`` names, the accounts signal-cli keeps, the
wrapper and kill scripts run by a real ``/bin/sh``, and where BotMaker renders
signal-cli's data folder for each OpenClaw release. End to end in a bot's container:
tests/test_signal_link.py."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from botmaker.errors import Conflict
from botmaker.openclaw.catalog import CHANNELS
from botmaker.openclaw.render import (
    SIGNAL_CLI_DATA,
    merge_config,
    release,
    render_config,
    signal_data_block,
)
from botmaker.services.definitions import image_tag
from botmaker.services.gateway.login import _LinkProcess
from botmaker.services.gateway.signal_link import (
    MAX_LINE,
    MAX_OUTPUT,
    PID_MARKER,
    PRESENT,
    WRAPPER,
    LinkOutput,
    LinkRefused,
    linked_numbers,
    signal_cli_of,
)
from tests.support.botconfigs import bot

URI = "sgnl://linkdevice?uuid=Yk3c-Xf_9q&pub_key=BQ%2Bx%2FYz0%3D"


def started() -> LinkOutput:
    told: list[int] = []
    output = LinkOutput(on_pid=told.append)
    assert output.feed("stdout", f"{PID_MARKER} 4242\n".encode()) == []
    assert output.pid == 4242
    assert told == [4242]
    return output


# -- what signal-cli prints -------------------------------------------------------------


def test_a_link_is_read_across_chunks_to_its_number() -> None:
    output = started()
    assert output.feed("stderr", b"INFO  ProvisioningManager - Linking\n") == []
    assert output.feed("stdout", URI[:20].encode()) == []
    assert output.feed("stdout", (URI[20:] + "\n").encode()) == ["uri"]
    assert output.uri == URI
    assert output.feed("stdout", b"Associated with: +15551234567\r\n") == ["linked"]
    assert (output.linked, output.number) == (True, "+15551234567")
    assert output.words() == ""  # signal-cli's INFO chatter is no failure's words


def test_older_and_newer_link_forms_are_accepted() -> None:
    for uri in (
        "tsdevice:/?uuid=abc&pub_key=BQ%2Bx",
        URI + "&capabilities=backup",
    ):
        output = started()
        assert output.feed("stdout", uri.encode() + b"\n") == ["uri"]
        assert output.uri == uri


@pytest.mark.parametrize(
    "line",
    [
        "sgnl://linkdevice?uuid=<script>alert(1)</script>&pub_key=x",
        'sgnl://linkdevice?uuid=a&pub_key="x"',
        "sgnl://linkdevice?uuid=a b&pub_key=x",
        "sgnl://linkdevice?pub_key=x",
        "sgnl://evil?uuid=a&pub_key=b",
        "sgnl://linkdevice?uuid=a&pub_key=b&" + "x=" + "y" * 900,
        "TSDEVICE:javascript:alert(1)",
    ],
)
def test_a_link_that_is_not_well_formed_is_refused(line: str) -> None:
    output = started()
    with pytest.raises(LinkRefused, match="device link BotMaker does not accept"):
        output.feed("stdout", line.encode() + b"\n")
    assert output.uri is None


def test_output_past_its_bounds_is_refused() -> None:
    output = started()
    with pytest.raises(LinkRefused, match=f"longer than {MAX_LINE} bytes"):
        output.feed("stdout", b"A" * (MAX_LINE + 1))  # no newline yet: refused at once
    output = started()
    with pytest.raises(LinkRefused, match=f"longer than {MAX_LINE} bytes"):
        output.feed("stderr", b"B" * (MAX_LINE + 10) + b"\n")
    output = started()
    line = b"x" * 100 + b"\n"
    for _ in range(MAX_OUTPUT // len(line)):
        output.feed("stderr", line)
    with pytest.raises(LinkRefused, match="more than 64 KiB"):
        output.feed("stderr", line)


def test_the_process_id_is_told_before_a_flood_in_the_same_chunk_is_refused() -> None:
    # The wrapper's line and a flood can reach BotMaker as one chunk: the refusal must
    # not lose the process it has to kill (seen in CI: a flood link's processes outlived
    # the "failed" it showed).
    told: list[int] = []
    output = LinkOutput(on_pid=told.append)
    with pytest.raises(LinkRefused, match=f"longer than {MAX_LINE} bytes"):
        output.feed("stdout", f"{PID_MARKER} 4242\n".encode() + b"y" * (MAX_LINE + 1))
    assert told == [4242]


def test_the_wrappers_process_id_comes_first_and_once() -> None:
    for first in (
        b"sgnl://linkdevice?uuid=a&pub_key=b\n",
        f"{PID_MARKER} 1\n".encode(),
        f"{PID_MARKER} 99999999\n".encode(),
        f"{PID_MARKER} -3\n".encode(),
    ):
        with pytest.raises(LinkRefused, match="no valid process id"):
            LinkOutput().feed("stdout", first)
    output = started()
    with pytest.raises(LinkRefused, match="second process id"):
        output.feed("stdout", f"{PID_MARKER} 77\n".encode())


def test_failure_words_are_the_last_lines_cleaned_and_never_the_link() -> None:
    output = started()
    output.feed("stdout", URI.encode() + b"\n")
    output.feed(
        "stderr",
        b"WARN  Manager - one\n\x1b[31mERROR\x1b[0m two\n"
        + f"WARN  Provisioning of {URI} expired\n".encode()
        + b"pub_key leaked?\nthree\nLink request error: Connection closed!\n",
    )
    words = output.words()
    assert words == "ERROR two three Link request error: Connection closed!"
    assert "sgnl" not in words
    assert "pub_key" not in words
    assert output.linked is False


def test_a_number_that_is_not_e164_links_without_being_shown() -> None:
    output = started()
    assert output.feed("stdout", b"Associated with: <b>me</b>") == []
    assert output.end() == ["linked"]  # the unterminated last line counts at the end
    assert (output.linked, output.number) == (True, None)


# -- the bot's signal-cli ---------------------------------------------------------------


def config(signal: object) -> bytes:
    return json.dumps({"channels": {"signal": signal}}).encode()


def test_the_signal_cli_and_data_folder_come_from_the_bots_config() -> None:
    newer = signal_cli_of(
        config({"transport": {"kind": "managed-native", "configPath": "/state/signal-cli"}})
    )
    assert (newer.program, newer.data, newer.declared) == ("signal-cli", "/state/signal-cli", True)
    assert newer.state_relative == "signal-cli"
    older = signal_cli_of(config({"cliPath": "/opt/sc/bin/signal-cli", "configPath": "~/sc"}))
    assert (older.program, older.data) == ("/opt/sc/bin/signal-cli", "/home/bot/sc")
    assert older.state_relative is None
    for nothing in (None, b"", b"[1]", b"{", b"[" * 100_000, config("x"), config({})):
        default = signal_cli_of(nothing)
        assert (default.program, default.data, default.declared) == (
            "signal-cli",
            SIGNAL_CLI_DATA,
            False,
        )


@pytest.mark.parametrize(
    ("signal", "words"),
    [
        ({"transport": {"kind": "external-native", "url": "http://x"}}, "'external-native'"),
        ({"transport": {"kind": "container", "url": "http://x"}}, "'container'"),
        ({"transport": {"kind": "<b>"}}, "'unknown'"),
        ({"transport": "managed"}, "not an object"),
        ({"cliPath": "signal-cli; rm -rf /"}, "cliPath"),
        ({"cliPath": "-x"}, "cliPath"),
        ({"cliPath": 3}, "cliPath"),
        ({"configPath": "../x"}, "configPath"),
        ({"configPath": "/state/$(id)"}, "configPath"),
    ],
)
def test_a_signal_cli_botmaker_does_not_run_is_a_conflict(signal: Any, words: str) -> None:
    with pytest.raises(Conflict, match=words.replace("(", r"\(").replace("$", r"\$")):
        signal_cli_of(config(signal))


def test_only_a_data_folder_inside_the_state_folder_is_read_back() -> None:
    for data, relative in (
        ("/state/signal-cli", "signal-cli"),
        ("/state/a/b/", "a/b"),
        ("/state/../etc", None),
        ("/state/./x", None),
        ("/state", None),
        ("/statex/y", None),
    ):
        found = signal_cli_of(config({"transport": {"kind": "managed-native", "configPath": data}}))
        assert found.state_relative == relative, data


def test_linked_numbers_are_read_from_signal_clis_accounts() -> None:
    accounts = {
        "accounts": [
            {"path": "1", "number": "+15551234567"},
            {"path": "2", "number": "not a number"},
            "junk",
        ],
        "version": 2,
    }
    assert linked_numbers(json.dumps(accounts).encode()) == ["+15551234567"]
    assert linked_numbers(b'{"accounts": []}') == []
    for junk in (None, b"", b"{", b"[]", b'{"accounts": 3}'):
        assert linked_numbers(junk) is None


# -- the scripts, run by a real shell ---------------------------------------------------


def test_the_wrapper_announces_its_pid_then_becomes_the_program() -> None:
    ran = subprocess.run(
        ["/bin/sh", "-c", WRAPPER, "sh", "echo", "--config", "/x", "link"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    marker, pid = ran.stdout.splitlines()[0].split()
    assert marker == PID_MARKER
    assert pid.isdigit()
    assert ran.stdout.splitlines()[1] == "--config /x link"  # arguments as given, unquoted
    missing = subprocess.run(
        ["/bin/sh", "-c", WRAPPER, "sh", "/no/such/signal-cli", "link"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert missing.returncode == 127
    assert missing.stdout == ""
    assert "signal-cli not found: /no/such/signal-cli" in missing.stderr
    present = ["/bin/sh", "-c", PRESENT, "sh"]
    assert subprocess.run([*present, "sh"], check=False).returncode == 0
    assert subprocess.run([*present, "/no/such"], check=False).returncode != 0


def live_in_group(group: int) -> list[int]:
    """The processes of process group ``group`` that still run (not zombies)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(entry))
    return found


def test_the_kill_script_ends_the_process_and_what_it_started() -> None:
    # As a docker exec's process: the leader of its own session and process group.
    leader = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 300 & sleep 301 & wait"], start_new_session=True
    )
    reaper = threading.Thread(target=leader.wait)  # as the engine reaps an exec's process
    reaper.start()
    time.sleep(0.3)
    began = time.monotonic()
    ran = subprocess.run(
        ["/bin/sh", "-c", _LinkProcess.KILL, "sh", str(leader.pid)], timeout=15, check=False
    )
    assert ran.returncode == 0
    reaper.join(timeout=5)
    assert leader.returncode is not None
    assert time.monotonic() - began < 10
    assert live_in_group(leader.pid) == []  # the sleeps it started went with it
    # An already gone process: nothing to do, no error.
    gone = subprocess.run(["/bin/sh", "-c", _LinkProcess.KILL, "sh", "4194000"], check=False)
    assert gone.returncode == 0


# -- rendering --------------------------------------------------------------------------


def signal_bot(version: str | None) -> Any:
    return dataclasses.replace(bot("openai", ["signal"]), openclaw_version=version)


def test_signal_clis_data_folder_is_rendered_in_the_releases_shape() -> None:
    managed = {"transport": {"kind": "managed-native", "configPath": "/state/signal-cli"}}
    for version in (None, "2026.9.3", "2026.9.6", "2026.10.1-path", "latest", "v2027.1.2"):
        assert signal_data_block(version) == managed, version
        assert (
            render_config(signal_bot(version))["channels"]["signal"]["transport"]
            == (managed["transport"])
        )
    for version in ("2026.7.35", "2026.9.2", "v2026.6.11"):
        assert signal_data_block(version) == {"configPath": "/state/signal-cli"}, version
        block = render_config(signal_bot(version))["channels"]["signal"]
        assert block["configPath"] == "/state/signal-cli"
        assert "transport" not in block
    assert release("2026.9.6") == (2026, 9, 6)
    assert release("2026.9.6-path") == (2026, 9, 6)
    assert release("2026.9") is None
    assert release(None) is None
    assert image_tag("ghcr.io/openclaw/openclaw:2026.9.6") == "2026.9.6"
    assert image_tag("localhost:5000/openclaw") is None
    assert image_tag("openclaw@sha256:abcd") is None
    assert "/state/signal-cli" in CHANNELS["signal"].login_hint
    assert CHANNELS["signal"].cli_login
    assert not CHANNELS["signal"].web_login


def test_a_signal_transport_the_file_names_is_kept_by_a_render() -> None:
    rendered = render_config(signal_bot("2026.9.6"))
    for own in (
        {"transport": {"kind": "external-native", "url": "http://signal:8080"}},
        {"transport": {"kind": "managed-native", "cliPath": "/opt/sc", "configPath": "/state/x"}},
        {"configPath": "/state/legacy"},  # before doctor migrates it
    ):
        current = json.loads(json.dumps(rendered))
        for key in ("transport", "configPath"):
            current["channels"]["signal"].pop(key, None)
        current["channels"]["signal"].update(own)
        merged = merge_config(rendered, json.dumps(current).encode())["channels"]["signal"]
        assert {k: merged.get(k) for k in own} == own
        assert set(merged) & {"transport", "configPath"} == set(own)
    fresh = merge_config(rendered, json.dumps({"channels": {"signal": {}}}).encode())
    assert fresh["channels"]["signal"]["transport"]["configPath"] == "/state/signal-cli"
