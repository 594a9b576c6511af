"""Finding OpenClaw's CLI from an image's config, and reading the discovery's answer."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botmaker.openclaw.cli import (
    CLI_MARKER,
    OpenClawCli,
    candidates,
    discovered,
    discovery_script,
    known_script,
    parse_discovery,
)

OFFICIAL = ((), ("node", "openclaw.mjs", "gateway", "--allow-unconfigured"), "/app")


@pytest.mark.parametrize(
    ("entrypoint", "cmd", "workdir", "expected"),
    [
        # the official image: package in /app, nothing on PATH
        (*OFFICIAL, [("openclaw",), ("node", "/app/openclaw.mjs")]),
        # newer official tags: tini in front
        (
            ("tini", "--"),
            ("node", "openclaw.mjs", "gateway"),
            "/app",
            [("openclaw",), ("node", "/app/openclaw.mjs")],
        ),
        # a source build's entry point, tini with options and no "--"
        (
            ("/usr/bin/tini", "-s", "-g"),
            ("/usr/local/bin/node", "--max-old-space-size=900", "dist/index.js", "gateway"),
            "/srv/openclaw",
            [
                ("openclaw",),
                ("/usr/local/bin/node", "/srv/openclaw/dist/index.js"),
                ("node", "/srv/openclaw/openclaw.mjs"),
            ],
        ),
        # our PATH layout: the command is openclaw itself
        (
            ("/usr/bin/tini", "-s", "--"),
            ("openclaw", "gateway", "run"),
            "/home/node",
            [("openclaw",), ("node", "/home/node/openclaw.mjs")],
        ),
        # an absolute openclaw outside PATH
        (
            (),
            ("/opt/oc/bin/openclaw", "gateway"),
            "",
            [("openclaw",), ("/opt/oc/bin/openclaw",), ("node", "/openclaw.mjs")],
        ),
        # a shell wrapper says nothing: PATH, then the working directory
        (
            ("/bin/sh", "-c"),
            ("exec node openclaw.mjs",),
            "/app",
            [("openclaw",), ("node", "/app/openclaw.mjs")],
        ),
        # no config at all
        ((), (), "", [("openclaw",), ("node", "/openclaw.mjs")]),
        # a script path leaving the working directory is normalised, not trusted blindly
        (
            (),
            ("node", "../x/openclaw.mjs"),
            "/app",
            [("openclaw",), ("node", "/x/openclaw.mjs"), ("node", "/app/openclaw.mjs")],
        ),
    ],
)
def test_candidates_follow_the_images_own_command(
    entrypoint: tuple[str, ...], cmd: tuple[str, ...], workdir: str, expected: list[tuple[str, ...]]
) -> None:
    assert candidates(entrypoint, cmd, workdir) == expected


def run_sh(script: str, path_dir: str) -> str:
    return subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": f"{path_dir}:/usr/bin:/bin"},
        check=False,
        timeout=10,
    ).stdout


def fake_cli(folder: str, name: str, answer: str) -> str:
    path = f"{folder}/{name}"
    with open(path, "w") as f:
        f.write(
            f'#!/bin/sh\ncase "$*" in *--version) echo "{answer}" ;; *) echo "ran: $*" ;; esac\n'
        )
    subprocess.run(["chmod", "+x", path], check=True)
    return path


def test_the_script_takes_the_first_cli_that_reports_an_openclaw_version(tmp_path: object) -> None:
    folder = str(tmp_path)
    impostor = fake_cli(folder, "impostor", "impostor 1.0")
    real = fake_cli(folder, "real", "OpenClaw 2026.9.6 (eb377ac)")
    options = [("openclaw",), (impostor,), (real, "--flag")]
    output = run_sh(discovery_script(options, 'echo "then: $*"'), folder)
    assert parse_discovery(output, options) == OpenClawCli((real, "--flag"), "2026.9.6")
    assert f"then: {real} --flag" in output
    assert discovered(output)


def test_no_openclaw_is_a_verdict_too(tmp_path: object) -> None:
    options = [("openclaw",), ("node", "/nowhere/openclaw.mjs")]
    output = run_sh(discovery_script(options, "echo never"), str(tmp_path))
    assert f"{CLI_MARKER} none" in output
    assert "never" not in output
    assert parse_discovery(output, options) is None
    assert discovered(output)


def test_a_container_that_printed_nothing_is_no_verdict() -> None:
    assert not discovered("")
    assert parse_discovery("exec format error", [("openclaw",)]) is None


def test_a_known_cli_runs_without_asking_its_version(tmp_path: object) -> None:
    real = fake_cli(str(tmp_path), "my cli", "OpenClaw 1")  # a space, quoted
    output = run_sh(known_script(OpenClawCli((real,), "1"), '"$@" config validate'), "/x")
    assert output == "ran: config validate\n"


@given(st.text(max_size=200))
def test_discovery_output_never_names_a_cli_that_was_not_offered(output: str) -> None:
    options = [("openclaw",), ("node", "/app/openclaw.mjs")]
    found = parse_discovery(output, options)
    assert found is None or found.argv in options


def test_an_index_out_of_range_is_refused() -> None:
    assert parse_discovery(f"{CLI_MARKER} 7 OpenClaw 1.2.3", [("openclaw",)]) is None
    assert parse_discovery(f"{CLI_MARKER} 0 OpenClaw 1.2.3", [("openclaw",)]) == OpenClawCli(
        ("openclaw",), "1.2.3"
    )
