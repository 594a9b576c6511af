"""BotMaker's own image and compose.yaml, on the real engine.

The image is built the way a user without a registry builds it: the base is the local
stand-in for python:3.11-slim-bookworm (scripts/build-base-image: debootstrap, cached as
a tarball under /var/cache/botmaker) and the Python wheels come from wheels/ (downloaded
on the host), with ``docker build --network none``. Then compose.yaml runs BotMaker and
the keyring with Debian's docker-compose (v1.29), on an ``internal`` bots' network with
names of its own, and a real bot is created through the API.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest

from botmaker.runtime.policy import LABEL_BOT_ID, LABEL_CHECK_FOR
from tests.support.bots import blocked_probe
from tests.support.checks import log_in
from tests.support.images import TEST_IMAGE_LABEL
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = "botmaker-python:3.11-slim-bookworm"
WHEELS = ROOT / "wheels"
SHARED_KEY = "sk-compose-shared-key-0123456789"

pytestmark = pytest.mark.timeout(900)  # the very first run debootstraps the base (~1-3 min)


def run(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {done.returncode}\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )
    return done.stdout + done.stderr


def ensure_wheels() -> None:
    """wheels/ holds every locked runtime wheel (and setuptools/wheel to build BotMaker)."""
    lock = ROOT / "requirements-runtime.lock"
    stamp = WHEELS / ".lock-sha256"
    want = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text().strip() == want:
        return
    pip = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check"]
    pip += ["--only-binary=:all:", "-d", str(WHEELS)]
    run([*pip, "--require-hashes", "-r", str(lock)])
    run([*pip, "setuptools>=69", "wheel"])
    stamp.write_text(want + "\n")


@pytest.fixture(scope="module")
def botmaker_image(docker_api: docker.APIClient) -> Iterator[str]:
    started = time.monotonic()
    run(
        [str(ROOT / "scripts" / "build-base-image"), BASE_IMAGE],
        env={"BOTMAKER_IMAGE_LABELS": f"{TEST_IMAGE_LABEL}=true"},
    )
    ensure_wheels()
    tag = f"botmaker-compose-test:{uuid.uuid4().hex[:10]}"
    build = ["docker", "build", "-q", "--network", "none", "--label", f"{TEST_IMAGE_LABEL}=true"]
    build += ["--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "--build-arg", "OFFLINE=1"]
    run([*build, "-t", tag, "."])
    # The builder stage (from the cache) gets a tag too, so removing it removes its layers.
    run([*build, "--target", "builder", "-t", f"{tag}-builder", "."])
    print(f"base image and BotMaker image ready in {time.monotonic() - started:.0f}s")
    yield tag
    for image in (tag, f"{tag}-builder"):
        with contextlib.suppress(docker.errors.APIError):
            docker_api.remove_image(image, force=True)


def test_the_runtime_lock_is_the_runtime_part_of_requirements_lock() -> None:
    run([sys.executable, str(ROOT / "scripts" / "runtime-lock"), "--check"])


def test_the_image_runs_both_commands_as_an_unprivileged_user(botmaker_image: str) -> None:
    out = run(["docker", "run", "--rm", "--network", "none", botmaker_image, "--help"])
    assert "serve" in out
    assert "keyring" in out
    out = run(["docker", "run", "--rm", "--network", "none", botmaker_image, "keyring", "--help"])
    assert "serve" in out
    who = run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "id", botmaker_image])
    assert who.startswith("uid=10001(botmaker) gid=10001(botmaker)"), who
    lean = "test ! -e /opt/botmaker/bin/pip && test ! -e /wheels && test ! -e /build"
    pip = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "sh",
            botmaker_image,
            "-c",
            lean,
        ],
        capture_output=True,
        check=False,
    )
    assert pip.returncode == 0, "the final image carries no pip, wheels or build tree"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_subnet(api: docker.APIClient) -> ipaddress.IPv4Network:
    """A /24 in 172.16.0.0/16 that no Docker network and no host route uses.

    Outside the engine's default address pools (172.17-31.0.0/16, 192.168.0.0/16), which
    it hands out in turn to the networks other tests make meanwhile (pytest-xdist): it
    may give one 172.31.0.0/16, leaving no /24 of that range free."""
    used: list[ipaddress.IPv4Network] = []
    for network in api.networks():  # (other tests add and remove networks meanwhile)
        for config in (network.get("IPAM") or {}).get("Config") or []:
            with contextlib.suppress(ValueError, KeyError):
                used.append(ipaddress.IPv4Network(config["Subnet"], strict=False))
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False)
    for line in routes.stdout.splitlines():
        with contextlib.suppress(ValueError):
            used.append(ipaddress.IPv4Network(line.split()[0], strict=False))
    candidates = list(ipaddress.IPv4Network("172.16.0.0/16").subnets(new_prefix=24))[100:250]
    for candidate in sorted(candidates, key=lambda _: uuid.uuid4()):
        if not any(candidate.overlaps(u) for u in used if u.prefixlen > 0):
            return candidate
    raise AssertionError("no free /24 in 172.16.100.0-172.16.249.0")


@dataclass
class Stack:
    project: str
    instance: str
    network: str
    env: dict[str, str]
    url: str
    gateway: str
    keyring_port: int
    keyring_admin_port: int
    root: Path
    config: Path

    def compose(self, *args: str, timeout: float = 300) -> str:
        return run(
            ["docker-compose", "-f", "compose.yaml", "-p", self.project, *args],
            env=self.env,
            timeout=timeout,
        )


@pytest.fixture
def stack(
    botmaker_image: str, standin_image: str, docker_api: docker.APIClient, tmp_path: Path
) -> Iterator[Stack]:
    tag = uuid.uuid4().hex[:8]
    subnet = free_subnet(docker_api)
    gateway = str(next(subnet.hosts()))
    ports = [free_port() for _ in range(3)]
    root, config = tmp_path / "root", tmp_path / "etc"
    env = {
        "BOTMAKER_IMAGE": botmaker_image,
        "BOTMAKER_ROOT": str(root),
        "BOTMAKER_CONFIG_DIR": str(config),
        "BOTMAKER_PORT": str(ports[0]),
        "BOTMAKER_KEYRING_PORT": str(ports[1]),
        "BOTMAKER_KEYRING_ADMIN_PORT": str(ports[2]),
        "BOTMAKER_BOTS_SUBNET": str(subnet),
        "BOTMAKER_BOTS_GATEWAY": gateway,
        "BOTMAKER_NETWORK": f"bmtest-compose-{tag}",
        "BOTMAKER_NETWORK_INTERNAL": "true",  # test bots never reach outside this machine
        "BOTMAKER_INSTANCE": f"test-compose-{tag}",
        "BOTMAKER_BOT_IMAGE": standin_image,
    }
    made = Stack(
        project=f"bmtest-compose-{tag}",
        instance=f"test-compose-{tag}",
        network=f"bmtest-compose-{tag}",
        env=env,
        url=f"http://127.0.0.1:{ports[0]}",
        gateway=gateway,
        keyring_port=ports[1],
        keyring_admin_port=ports[2],
        root=root,
        config=config,
    )
    run([str(ROOT / "scripts" / "compose-init")], env=env)
    try:
        yield made
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            made.compose("down", "--remove-orphans", timeout=120)
        for label in (
            f"botmaker.instance={made.instance}",
            f"com.docker.compose.project={made.project}",
        ):
            for container in docker_api.containers(all=True, filters={"label": label}):
                with contextlib.suppress(docker.errors.NotFound):
                    docker_api.remove_container(container["Id"], force=True)
        with contextlib.suppress(docker.errors.NotFound):
            docker_api.remove_network(made.network)
        shutil.rmtree(tmp_path, ignore_errors=True)


def login(stack: Stack) -> httpx.Client:
    password = (stack.config / "admin_password").read_text().strip()
    client = httpx.Client(base_url=stack.url, timeout=30)
    log_in(client, password)
    return client


def health(stack: Stack) -> dict[str, object] | None:
    try:
        response = httpx.get(f"{stack.url}/health", timeout=5)
    except httpx.HTTPError:
        return None
    body: dict[str, object] = response.json()
    return body if body.get("status") == "ok" else None


def bot_containers(api: docker.APIClient, instance: str) -> list[dict[str, object]]:
    """The instance's bot containers. A config check's container is not one: BotMaker
    removes each when its check ends, and one left by a BotMaker stopped in between is
    an orphan the reconciler removes (tests/test_reconcile.py); seen twice here under
    load (an extra container newer than the bot after ``down``), so it is reported,
    not counted."""
    found: list[dict[str, object]] = api.containers(
        all=True, filters={"label": [f"botmaker.instance={instance}", LABEL_BOT_ID]}
    )
    checks = api.containers(
        all=True, filters={"label": [f"botmaker.instance={instance}", LABEL_CHECK_FOR]}
    )
    for check in checks:
        print(f"a check's container is there: {check['Names']} {check['State']}")
    return found


def wait_running(client: httpx.Client, name: str) -> dict[str, object]:
    def running() -> dict[str, object] | None:
        view: dict[str, object] = client.get(f"/api/bots/{name}").json()
        status = view.get("status")
        return view if isinstance(status, dict) and status.get("running") else None

    return wait_for(running, timeout=60, interval=0.5)


def test_compose_runs_botmaker_and_the_keyring_and_down_leaves_no_bot(
    stack: Stack, docker_api: docker.APIClient
) -> None:
    started = time.monotonic()
    out = stack.compose("up", "-d", "--no-build")
    assert "ERROR" not in out, out
    body = wait_for(lambda: health(stack), timeout=90, interval=0.5)
    assert {k: body[k] for k in ("store", "docker", "keyring")} == {
        "store": {"ok": True},
        "docker": {"ok": True},
        "keyring": {"ok": True},
    }, body
    print(f"stack up and healthy in {time.monotonic() - started:.1f}s")
    assert httpx.get(f"{stack.url}/login", timeout=10).status_code == 200

    # Two processes in two containers; the keyring is not root, BotMaker's socket is root.
    containers = docker_api.containers(
        filters={"label": f"com.docker.compose.project={stack.project}"}
    )
    users = {
        c["Labels"]["com.docker.compose.service"]: docker_api.inspect_container(c["Id"])["Config"][
            "User"
        ]
        for c in containers
    }
    assert users == {"botmaker": "0:0", "keyring": "10001:10001"}

    client = login(stack)  # the password from the compose secret (compose-init wrote it)
    added = client.post("/api/keys", json={"provider": "openai", "key": SHARED_KEY})
    assert added.status_code == 201, added.text
    body_ = {
        "name": "composed",
        "provider": "openai",
        "model": "gpt-5.1",
        "channel": "telegram",
        "secrets": {"channel_token": "123:tg"},  # no api_key: the keyring's shared key
    }
    created = client.post("/api/bots", json=body_)
    assert created.status_code == 201, created.text
    view = wait_running(client, "composed")
    assert view["keyring"] is True
    container = str(view["container_name"])

    # The bot runs on the bots' network (BotMaker's, with the fixed subnet, ICC off)...
    info = docker_api.inspect_container(container)
    assert list(info["NetworkSettings"]["Networks"]) == [stack.network]
    network = docker_api.inspect_network(stack.network)
    assert network["Internal"] is True
    assert network["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert network["IPAM"]["Config"][0]["Gateway"] == stack.gateway
    # ...its config sends provider traffic to the keyring's data plane on the gateway...
    state = stack.root / "data" / "bots" / str(view["id"]) / "state" / "openclaw.json"
    assert f"http://{stack.gateway}:{stack.keyring_port}/v1/openai" in state.read_text()
    # ...which it reaches; the keyring's admin API and the dashboard it does not.
    data_plane = blocked_probe(docker_api, container, stack.gateway, stack.keyring_port)
    assert "HTTP/1." in data_plane.out, data_plane
    for port in (stack.keyring_admin_port, int(stack.url.rsplit(":", 1)[1])):
        refused = blocked_probe(docker_api, container, stack.gateway, port)
        assert "HTTP/1." not in refused.out, (port, refused)
        assert "refused" in refused.err, (port, refused)
    assert SHARED_KEY not in json.dumps(info)

    # A backup from inside the BotMaker container holds the keyring's database.
    archive = stack.root / "backup.tar.gz"
    stack.compose("exec", "-T", "botmaker", "botmaker", "backup", str(archive))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert any(name.endswith("keyring/keyring.db") for name in names), names

    # `down` alone leaves bots running (they are not compose services); `up` takes them
    # back without a second container.
    bot_id = info["Id"]
    client.close()
    stack.compose("down")
    left = bot_containers(docker_api, stack.instance)
    assert [c["Id"] for c in left] == [bot_id], [
        (c["Names"], c["State"], c["Labels"]) for c in left
    ]
    assert docker_api.inspect_container(bot_id)["State"]["Running"] is True
    stack.compose("up", "-d", "--no-build")
    wait_for(lambda: health(stack), timeout=90, interval=0.5)
    client = login(stack)
    wait_running(client, "composed")
    assert [c["Id"] for c in bot_containers(docker_api, stack.instance)] == [bot_id]

    # The teardown: delete the bots through BotMaker, then `down`: no stray bot.
    assert client.delete("/api/bots/composed").status_code == 204
    client.close()
    stack.compose("down")
    assert bot_containers(docker_api, stack.instance) == []
    assert (
        docker_api.containers(
            all=True, filters={"label": f"com.docker.compose.project={stack.project}"}
        )
        == []
    )
    print(f"whole compose test in {time.monotonic() - started:.1f}s")


def test_a_bots_network_with_another_gateway_is_refused(docker_api: docker.APIClient) -> None:
    from botmaker.config import Settings
    from botmaker.errors import RuntimeFailure
    from botmaker.runtime.docker import DockerBackend

    name = f"bmtest-compose-{uuid.uuid4().hex[:8]}"
    docker_api.create_network(
        name,
        driver="bridge",
        internal=True,
        options={"com.docker.network.bridge.enable_icc": "false"},
    )
    try:
        wanted = free_subnet(docker_api)
        backend = DockerBackend(
            Settings(network=name, network_internal=True, network_subnet=str(wanted))
        )
        try:
            with pytest.raises(RuntimeFailure, match="BOTMAKER_NETWORK_SUBNET"):
                backend.ensure_network()
        finally:
            backend.close()
    finally:
        docker_api.remove_network(name)
