"""Fixtures: a real Docker engine, real SQLite files, a real HTTP server.

Docker is required, never optional: if the engine does not answer, the suite
fails (``scripts/test`` starts one). Every container, network and folder a test
makes is removed afterwards.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import astuple, replace
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest
from playwright.sync_api import Browser

from botmaker.api import create_app
from botmaker.config import BotLimits, Secret, Settings
from botmaker.runtime.hostguard import prune as prune_host_guards
from botmaker.runtime.policy import LABEL_INSTANCE
from botmaker.runtime.swarm import SwarmBackend
from botmaker.services import Services, build_services
from botmaker.services.deploy.steps import StepObserver
from tests.support.attacks import TRIED, Attempt, table
from tests.support.browser import chromium
from tests.support.checks import logged_in
from tests.support.fixtures import MakeServices
from tests.support.images import STANDIN_TAG, STUBBORN_TAG, build_standin
from tests.support.locks import machine_alone, machine_lock, machine_shared, openclaw_slots
from tests.support.parallel import ModuleScheduling, alone, bots_at_once, on_worker, order
from tests.support.server import ServerThread
from tests.support.stalls import StallRecorder
from tests.support.webhook import WebhookReceiver

ADMIN_PASSWORD = "correct-horse-battery-staple"
#: Written when the suite turned the engine into a swarm (scripts/test undoes it).
SWARM_MARKER = Path(__file__).resolve().parent.parent / ".ci" / "work" / "swarm-made-by-tests"


@pytest.fixture(scope="session")
def docker_api() -> Iterator[docker.APIClient]:
    api = docker.APIClient(version="1.41", timeout=30)
    try:
        api.ping()
    except Exception as exc:
        pytest.fail(
            f"the Docker engine does not answer ({exc}); run the suite with scripts/test, "
            "which installs and starts one",
            pytrace=False,
        )
    yield api
    api.close()


@pytest.fixture(scope="session")
def standin_images(docker_api: docker.APIClient) -> dict[str, str]:
    # One process imports, the others (xdist workers) then find the images current.
    with machine_lock("standin-image"):
        return build_standin(docker_api)


@pytest.fixture
def standin_image(standin_images: dict[str, str]) -> str:
    return standin_images[STANDIN_TAG]


@pytest.fixture
def stubborn_image(standin_images: dict[str, str]) -> str:
    return standin_images[STUBBORN_TAG]


#: Modules whose engine tests run on both runtimes: each test that uses ``settings``
#: runs once with BOTMAKER_RUNTIME=docker and once with swarm.
BOTH_RUNTIMES = frozenset(
    {
        "tests.test_api_bots",
        "tests.test_crashloop",
        "tests.test_exec",
        "tests.test_isolation",
        "tests.test_logs",
        "tests.test_hardening",
        "tests.hostile.test_reach",
    }
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runtime" not in metafunc.fixturenames or metafunc.module.__name__ not in BOTH_RUNTIMES:
        return
    if "internal" in metafunc.fixturenames:
        return  # the module parametrises runtime and network together
    metafunc.parametrize("runtime", ["docker", "swarm"], indirect=True)


@pytest.fixture(scope="session")
def swarm_manager(docker_api: docker.APIClient) -> str:
    """Make the engine a single-node swarm if it is not one. Left in place for the rest
    of the run; scripts/test makes the engine leave it again (SWARM_MARKER) if the
    suite made it. Each xdist worker asks: the first makes the swarm (under a lock), the
    others find it made."""
    with machine_lock("swarm"):
        swarm = docker_api.info().get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active":
            try:
                docker_api.init_swarm(advertise_addr="127.0.0.1")
                SWARM_MARKER.parent.mkdir(parents=True, exist_ok=True)
                SWARM_MARKER.write_text("the test suite made this engine a swarm\n")
            except docker.errors.APIError as exc:  # a run without the lock made it one
                if exc.status_code != 503:
                    raise
            swarm = docker_api.info().get("Swarm") or {}
    assert swarm.get("ControlAvailable"), f"this engine is not a swarm manager: {swarm}"
    return str(swarm["NodeID"])


@pytest.fixture
def runtime(request: pytest.FixtureRequest) -> str:
    """docker, unless the test is parametrised with swarm (see ``pytest_generate_tests``)."""
    value = str(getattr(request, "param", "docker"))
    if value == "swarm":
        request.getfixturevalue("swarm_manager")
    return value


@pytest.fixture
def settings(tmp_path: Path, standin_image: str, runtime: str) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(
        data_dir=tmp_path / "data",
        secrets_dir=tmp_path / "secrets",
        admin_password=Secret(ADMIN_PASSWORD),
        bot_image=standin_image,
        instance=f"test-{tag}",
        network=f"bmtest-{tag}",
        network_internal=True,  # test bots never reach outside this machine
        stop_timeout=3,
        docker_timeout=5.0,
        limits=BotLimits(memory_bytes=64 * 1024**2, cpus=0.5, pids=64),
        sse_ping_seconds=0.5,
        keyring="off",  # tests of the keyring proxy turn it on (tests/test_keyring_*.py)
        egress="off",  # tests of the egress proxy turn it on (tests/test_egress*.py)
        egress_port=0,
        egress_admin_port=0,
        runtime=runtime,
        # This engine does not set no-new-privileges by default, and a Swarm service
        # cannot ask for it: the swarm tests run without it, and assert that they do.
        swarm_allow_new_privileges=True,
    )


def cleanup_instance(api: docker.APIClient, settings: Settings) -> None:
    label = f"{LABEL_INSTANCE}={settings.instance}"
    if settings.runtime == "swarm":
        swarm: Any = api  # docker-py's swarm calls are untyped
        for service in swarm.services(filters={"label": label}):
            with contextlib.suppress(docker.errors.APIError):
                swarm.remove_service(service["ID"])
    for container in api.containers(
        all=True, filters={"label": f"{LABEL_INSTANCE}={settings.instance}"}
    ):
        with contextlib.suppress(docker.errors.APIError):
            api.remove_container(container["Id"], force=True, v=True)
    with contextlib.suppress(docker.errors.APIError):
        api.remove_network(settings.network)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        prune_host_guards()  # the removed network's INPUT chain (runtime/hostguard.py)
    if settings.runtime == "swarm":
        for network in api.networks(filters={"label": label}):
            with contextlib.suppress(docker.errors.APIError):
                api.remove_network(network["Id"])
        for secret in swarm.secrets(filters={"label": label}):
            with contextlib.suppress(docker.errors.APIError):
                swarm.remove_secret(secret["ID"])
        for volume in (api.volumes(filters={"label": label}) or {}).get("Volumes") or ():
            with contextlib.suppress(docker.errors.APIError):
                api.remove_volume(volume["Name"], force=True)
        SwarmBackend.forward_guard(settings).remove()


@pytest.fixture
def make_services(docker_api: docker.APIClient) -> Iterator[MakeServices]:
    """Build services for given settings; everything they made is removed after."""
    made: list[tuple[Services, Settings]] = []

    def make(
        settings: Settings, /, *, steps: StepObserver | None = None, **changes: Any
    ) -> Services:
        settings = replace(settings, **changes) if changes else settings
        svc = build_services(settings, steps=steps)
        made.append((svc, settings))
        return svc

    yield make
    for svc, settings in made:
        cleanup_instance(docker_api, settings)
        svc.close()


@pytest.fixture
def services(settings: Settings, make_services: MakeServices) -> Services:
    return make_services(settings)


@pytest.fixture
def server(services: Services) -> Iterator[str]:
    with ServerThread(create_app(services.settings, services)) as url:
        yield url


@pytest.fixture
def anon(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with logged_in(server, ADMIN_PASSWORD) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on loopback (alerts are POSTed to ``receiver.url``)."""
    with WebhookReceiver() as hook:
        yield hook


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium through Playwright, one per test module that asks for it."""
    with chromium() as launched:
        yield launched


def bot_body(name: str = "alpha", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "provider": "openai",
        "model": "gpt-5.1",
        "channel": "telegram",
        "secrets": {"api_key": "sk-test-key", "channel_token": "123:telegram-token"},
    }
    body.update(overrides)
    return body


# -- pytest-xdist (scripts/check runs the suite on several workers) ------------------------


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Whatever ``--dist`` says (but ``each``): one module, or one lane of the tests that
    run a real OpenClaw bot, per unit of work (tests/support/parallel.py)."""
    if config.getvalue("dist") == "each":
        return None
    return ModuleScheduling(config, log)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--alone",
        choices=("include", "exclude", "only"),
        default="include",
        help="the tests that need the machine alone (tests/support/parallel.py): run them "
        "too (last, each alone: the default), leave them out, or run only them",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    choice = config.getoption("alone")
    if choice != "include":
        keep = choice == "only"
        deselected = [item for item in items if alone(item.nodeid) != keep]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if alone(item.nodeid) == keep]
    if on_worker():
        order(items)


@pytest.fixture(autouse=True)
def machine_share(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test shares the machine with the others (xdist's workers, other runs of the
    suite), from before its first fixture until after its last, but for the few that
    need it alone; and one that runs real OpenClaw bots holds one of the machine's two
    OpenClaw slots per bot it runs at once (tests/support/parallel.py, locks.py)."""
    nodeid = request.node.nodeid
    with contextlib.ExitStack() as held:
        held.enter_context(machine_alone() if alone(nodeid) else machine_shared())
        bots = bots_at_once(nodeid, list(request.fixturenames))
        if bots:
            held.enter_context(openclaw_slots(bots))
        yield


@pytest.fixture(autouse=True)
def stalls(request: pytest.FixtureRequest) -> Iterator[None]:
    """A browser test's threads as they were after 40 s (tests/support/stalls.py), for
    its failure report."""
    if "browser" not in request.fixturenames:
        yield
        return
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-120:]
    with StallRecorder(name) as recorder:
        request.node.stash[_STALLS] = recorder
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    recorder = item.stash.get(_STALLS, None)
    if report.when == "call" and report.failed and recorder is not None and recorder.stacks:
        report.sections.append(("thread stacks of a long browser test", recorder.stacks))
    return report


_STALLS = pytest.StashKey[StallRecorder]()

#: BOTMAKER_TEST_GC=1: collect garbage after each test, so that an object dropped
#: unclosed (a socket, a file) warns in the teardown of the test that dropped it
#: rather than in whichever test the collector happens to run next.
_GC_EACH_TEST = os.environ.get("BOTMAKER_TEST_GC") == "1"
_GC_SECONDS: list[float] = []
#: Warnings are errors (pyproject.toml), but in a run without BOTMAKER_TEST_GC a socket
#: (or an asyncio stream or transport around one) that the garbage collector closes is
#: reported, not failed: it surfaces whenever the collector next runs, in any test, so
#: it failed unrelated tests in CI. The leak check above fails the test that leaked it.
_TOLERATED = (
    r"default:Exception ignored in. <(socket\.socket |function StreamWriter\.__del__"
    r"|function _SelectorTransport\.__del__):pytest.PytestUnraisableExceptionWarning"
)


def pytest_configure(config: pytest.Config) -> None:
    if not _GC_EACH_TEST:
        config.addinivalue_line("filterwarnings", _TOLERATED)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if _GC_EACH_TEST:
        began = time.perf_counter()
        gc.collect()
        _GC_SECONDS.append(time.perf_counter() - began)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller: add a finished worker's hostile-bot ledger to this one's,
    for the table at the end (pytest_terminal_summary); a worker that died says how
    (xdist says only "Not properly terminated")."""
    for row in getattr(node, "workeroutput", {}).get("attacks", ()):
        TRIED.append(Attempt(*row))
    if error is not None:
        sys.stderr.write(f"\n[{node.gateway.id}] the worker process {_how_it_ended(node)}\n")


def _how_it_ended(node: Any) -> str:
    popen = getattr(getattr(node.gateway, "_io", None), "popen", None)
    if not isinstance(popen, subprocess.Popen):
        return "ended (its exit status is not known here)"
    try:
        code = popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        return f"(pid {popen.pid}) still runs 10 s after its channel closed"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"(pid {popen.pid}) was killed by {name}"
    return f"(pid {popen.pid}) exited with status {code}"


# A skipped test is a failed test: the suite must prove everything on every run.
_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: its ledger goes to the controller
        workeroutput["attacks"] = [astuple(attempt) for attempt in TRIED]
    if _SKIPPED and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _GC_SECONDS:
        terminalreporter.write_line(
            f"garbage collected after {len(_GC_SECONDS)} tests in {sum(_GC_SECONDS):.1f} s"
        )
    if TRIED:
        held = sum(a.held for a in TRIED)
        terminalreporter.section(f"hostile bot: {held} of {len(TRIED)} attacks held")
        for row in table():
            terminalreporter.write_line(row)
    if _SKIPPED:
        terminalreporter.write_line(
            f"FAILED: {len(_SKIPPED)} test(s) skipped; skipping is not allowed here: "
            + ", ".join(_SKIPPED),
            red=True,
        )
