"""A hostile bot tries to get its provider key out of the keyring proxy.

From inside bot containers on the real engine, raw request lines over a socket (busybox
``nc`` in stand-in bots, ``node`` in a real OpenClaw bot) to the keyring's data plane,
with the bot's own token unless the attack is about tokens. Two recording fake
upstreams on the host's loopback, which only the keyring reaches: the provider (where
the keys belong) and an attacker. Every attack must be answered with a 4xx at once
(a hang or a 500 is a defect too), the attacker must see nothing, the provider must
see a key only in its one auth header, and no answer may carry a key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import pytest

from botmaker.config import BotLimits, Secret, Settings
from botmaker.services import Services, build_services
from tests.conftest import ADMIN_PASSWORD, cleanup_instance
from tests.support.attacks import defended
from tests.support.bots import RunningBot, create_bot, exec_in, resolve_container
from tests.support.fake_upstream import FakeUpstream
from tests.support.images import STANDIN_TAG
from tests.support.locks import machine_shared, openclaw_slots
from tests.support.openclaw_image import openclaw_image
from tests.support.rawhttp import OWN_TOKEN, RawAnswer, busybox_exchange, node_exchange
from tests.support.waiting import wait_for

ALPHA_KEY = "sk-ant-api03-ALPHAhostile-0101aaaa"  # alpha's own Anthropic key
BRAVO_KEY = "sk-proj-BRAVOhostile-0202bbbbbbbb"  # bravo's own OpenAI key
CLAW_KEY = "sk-custom-CLAWhostile-0303cccc"  # the OpenClaw bot's own key (custom provider)
KEYS = (ALPHA_KEY, BRAVO_KEY, CLAW_KEY)
#: Where each key may appear upstream: the provider's own auth header.
EXPECTED_HEADER = {ALPHA_KEY: "x-api-key", BRAVO_KEY: "authorization", CLAW_KEY: "authorization"}
PROMPT = 2.0  # seconds: "at once"
MESSAGE = b'{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'


@dataclass(frozen=True)
class Lab:
    svc: Services
    docker: docker.APIClient
    provider: FakeUpstream
    attacker: FakeUpstream
    host: str  # the data plane, as bots are told
    port: int
    alpha: RunningBot  # anthropic (a base URL without a path), its own key
    bravo: RunningBot  # openai

    def token(self, bot: RunningBot) -> str:
        path = self.svc.settings.secrets_dir / bot.id / "keyring_token"
        return path.read_text().strip()


def lab_settings(folder: Path, image: str, **changes: Any) -> Settings:
    """An isolated instance with the keyring on, as the suite's ``settings`` fixture
    builds them (that one is per test; these labs are shared by a module)."""
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "data_dir": folder / "data",
        "secrets_dir": folder / "secrets",
        "admin_password": Secret(ADMIN_PASSWORD),
        "bot_image": image,
        "instance": f"test-{tag}",
        "network": f"bmtest-{tag}",
        "network_internal": True,
        "stop_timeout": 3,
        "docker_timeout": 5.0,
        "limits": BotLimits(memory_bytes=64 * 1024**2, cpus=0.5, pids=64),
        "keyring": "auto",
        "keyring_port": 0,
        "keyring_admin_port": 0,
        "swarm_allow_new_privileges": True,
    }
    values.update(changes)
    return Settings(**values)


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream() as provider, FakeUpstream() as attacker:
        yield provider, attacker


@pytest.fixture(scope="module")
def services_for(
    docker_api: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Services]]:
    made: list[Services] = []

    def make(image: str, **changes: Any) -> Services:
        svc = build_services(lab_settings(tmp_path_factory.mktemp("lab"), image, **changes))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        cleanup_instance(docker_api, svc.settings)
        svc.close()


def proxy_address(svc: Services) -> tuple[str, int]:
    url = urlsplit(svc.keyring.proxy_base("openai"))
    assert url.hostname
    assert url.port
    return url.hostname, url.port


def wait_running(api: docker.APIClient, bot: RunningBot) -> None:
    container = resolve_container(api, bot.container)
    wait_for(lambda: exec_in(api, container, "true").code == 0, timeout=30, interval=0.2)


@pytest.fixture(scope="module")
def lab(
    services_for: Callable[..., Services],
    standin_images: dict[str, str],
    fakes: tuple[FakeUpstream, FakeUpstream],
    docker_api: docker.APIClient,
) -> Lab:
    provider, attacker = fakes
    svc = services_for(standin_images[STANDIN_TAG])
    svc.keyring.client.set_upstream("anthropic", provider.url, allow_private=True)
    svc.keyring.client.set_upstream("openai", provider.url + "/v1", allow_private=True)
    alpha = create_bot(
        svc,
        "alpha",
        {"api_key": ALPHA_KEY, "channel_token": "1:a"},
        provider="anthropic",
        model="claude-sonnet-5",
    )
    bravo = create_bot(svc, "bravo", {"api_key": BRAVO_KEY, "channel_token": "2:b"})
    for bot in (alpha, bravo):
        wait_running(docker_api, bot)
    host, port = proxy_address(svc)
    return Lab(svc, docker_api, provider, attacker, host, port, alpha, bravo)


@pytest.fixture(autouse=True)
def _forget(fakes: tuple[FakeUpstream, FakeUpstream]) -> None:
    for fake in fakes:
        fake.clear()


def request(
    line: str,
    *,
    host: str | None,
    token: str = OWN_TOKEN,
    extra: str = "",
    body: bytes = MESSAGE,
    framing: str | None = None,
) -> bytes:
    """A request as raw bytes: ``line`` (no CRLF), the token in ``x-api-key``."""
    head = f"{line}\r\n"
    if host is not None:
        head += f"Host: {host}\r\n"
    if token:
        head += f"x-api-key: {token}\r\n"
    head += "anthropic-version: 2023-06-01\r\nContent-Type: application/json\r\n" + extra
    head += framing if framing is not None else f"Content-Length: {len(body)}\r\n"
    return (head + "Connection: close\r\n\r\n").encode() + body


def what_upstreams_saw(*fakes: FakeUpstream) -> list[tuple[str, str]]:
    """Every place a key appeared upstream, as (fake, where): ``("provider",
    "header x-api-key")``; a key in a path, query, body or another header shows too."""
    found = []
    for name, fake in zip(("provider", "attacker"), fakes, strict=False):
        for seen in fake.requests:
            places = {"path": seen.path, "query": seen.query, "body": seen.body.decode("latin-1")}
            places.update({f"header {k}": v for k, v in seen.headers.items()})
            for where, text in places.items():
                found += [(name, where) for key in KEYS if key in text]
    return found


def key_stayed_home(lab: Lab, answer: RawAnswer) -> tuple[bool, str]:
    """The invariant every attack must keep, and what broke it."""
    if any(key in answer.text for key in KEYS):
        return False, "a key came back in the answer"
    if lab.attacker.requests:
        return False, f"the attacker saw {len(lab.attacker.requests)} request(s)"
    places = what_upstreams_saw(lab.provider)
    allowed = {("provider", f"header {EXPECTED_HEADER[key]}") for key in KEYS}
    if not set(places) <= allowed:
        return False, f"a key went upstream in {sorted(set(places) - allowed)}"
    return True, ""


def refused(lab: Lab, attack: str, answer: RawAnswer, status: int | None = None) -> None:
    """Record ``attack``: held if answered 4xx (``status`` if given) within PROMPT seconds,
    nothing reached an upstream, and the key stayed home."""
    kept, broken = key_stayed_home(lab, answer)
    expected = (answer.status == status) if status else 400 <= answer.status < 500
    held = kept and expected and answer.seconds < PROMPT and not lab.provider.requests
    outcome = f"HTTP {answer.status or 'none'} in {answer.seconds:.2f} s" + (
        f"; {broken}" if broken else ""
    )
    if lab.provider.requests:
        outcome += f"; the provider saw {len(lab.provider.requests)} request(s)"
    defended("keyring", attack, outcome, held)


def from_alpha(lab: Lab, data: bytes) -> RawAnswer:
    return busybox_exchange(lab.docker, lab.alpha.container, lab.host, lab.port, data)


# -- the request target ---------------------------------------------------------------------


TARGETS = {
    "absolute-form, userinfo to the attacker": "POST http://abcdef@127.0.0.1:{attacker}"
    "/v1/anthropic/v1/messages HTTP/1.1",
    "absolute-form to a look-alike host": "POST http://abcdef.evil.example"
    "/v1/anthropic/v1/messages HTTP/1.1",
    "absolute-form https": "POST https://api.anthropic.com/v1/anthropic/v1/messages HTTP/1.1",
    "authority-form": "GET 127.0.0.1:{attacker} HTTP/1.1",
    "CONNECT to the attacker": "CONNECT 127.0.0.1:{attacker} HTTP/1.1",
    "encoded provider (anthropi%63)": "POST /v1/anthropi%63/v1/messages HTTP/1.1",
    "encoded provider (opena%69)": "POST /v1/opena%69/chat/completions HTTP/1.1",
    "encoded slashes (..%2F)": "POST /v1/anthropic/..%2F..%2F..%2Fv1/messages HTTP/1.1",
    "encoded dot segments (%2e%2e)": "POST /v1/anthropic/%2e%2e/%2e%2e/v1/messages HTTP/1.1",
    "backslash dot segments": "POST /v1/anthropic\\..\\..\\v1/messages HTTP/1.1",
}


@pytest.mark.parametrize("attack", list(TARGETS))
def test_hostile_request_targets(lab: Lab, attack: str) -> None:
    line = TARGETS[attack].format(attacker=lab.attacker.port)
    answer = from_alpha(lab, request(line, host=f"{lab.host}:{lab.port}"))
    refused(lab, attack, answer, 400)


# -- the Host header and the framing ----------------------------------------------------------


def test_a_foreign_host_header(lab: Lab) -> None:
    data = request("POST /v1/anthropic/v1/messages HTTP/1.1", host=f"evil.example:{lab.port}")
    refused(lab, "Host: another name", from_alpha(lab, data), 400)


def test_a_duplicate_host_header(lab: Lab) -> None:
    data = request(
        "POST /v1/anthropic/v1/messages HTTP/1.1",
        host=f"{lab.host}:{lab.port}",
        extra=f"Host: 127.0.0.1:{lab.attacker.port}\r\n",
    )
    refused(lab, "duplicate Host", from_alpha(lab, data), 400)


def test_transfer_encoding_with_content_length(lab: Lab) -> None:
    smuggled = request("POST /v1/anthropic/v1/messages HTTP/1.1", host=f"{lab.host}:{lab.port}")
    body = b"0\r\n\r\n" + smuggled
    data = request(
        "POST /v1/anthropic/v1/messages HTTP/1.1",
        host=f"{lab.host}:{lab.port}",
        body=body,
        framing=f"Transfer-Encoding: chunked\r\nContent-Length: {len(body)}\r\n",
    )
    refused(lab, "Transfer-Encoding + Content-Length", from_alpha(lab, data), 400)


@pytest.mark.parametrize(
    ("attack", "extra"),
    [
        ("oversized header (16 KiB)", "X-Pad: " + "a" * 16384 + "\r\n"),
        ("oversized token header", ""),
        ("too many headers (300)", "".join(f"X-H{i}: v\r\n" for i in range(300))),
    ],
)
def test_oversized_headers(lab: Lab, attack: str, extra: str) -> None:
    token = OWN_TOKEN + "x" * 16384 if "token" in attack else OWN_TOKEN
    data = request(
        "POST /v1/anthropic/v1/messages HTTP/1.1",
        host=f"{lab.host}:{lab.port}",
        token=token,
        extra=extra,
    )
    refused(lab, attack, from_alpha(lab, data), 400)


# -- tokens and grants ----------------------------------------------------------------------


def test_the_own_token_works_and_the_key_goes_only_where_it_belongs(lab: Lab) -> None:
    """The positive control: the same request, well-formed, is forwarded."""
    data = request("POST /v1/anthropic/v1/messages HTTP/1.1", host=f"{lab.host}:{lab.port}")
    answer = from_alpha(lab, data)
    assert answer.status == 200, answer.text
    (seen,) = lab.provider.requests
    assert seen.key == ALPHA_KEY
    assert key_stayed_home(lab, answer) == (True, "")


def test_a_token_in_the_query_does_not_travel_upstream(lab: Lab) -> None:
    data = request(
        f"POST /v1/anthropic/v1/messages?key={OWN_TOKEN}&beta=true HTTP/1.1",
        host=f"{lab.host}:{lab.port}",
        token="",
    )
    answer = from_alpha(lab, data)
    token = lab.token(lab.alpha)
    seen = lab.provider.requests
    kept, broken = key_stayed_home(lab, answer)
    held = (
        answer.status == 200
        and kept
        and [s.query for s in seen] == ["beta=true"]
        and all(token not in json.dumps(s.headers) + s.path for s in seen)
    )
    outcome = f"HTTP {answer.status}; upstream query {[s.query for s in seen]} {broken}"
    defended("keyring", "token in ?key= forwarded upstream", outcome, held)


def test_another_provider_than_granted(lab: Lab) -> None:
    data = request("POST /v1/openai/chat/completions HTTP/1.1", host=f"{lab.host}:{lab.port}")
    refused(lab, "a provider the bot was not granted", from_alpha(lab, data), 403)


def test_another_bots_token(lab: Lab) -> None:
    """alpha cannot read bravo's token; it knows the token's shape and may learn its id."""
    bravo = lab.token(lab.bravo)
    own = lab.token(lab.alpha)
    forged = bravo.rsplit("_", 1)[0] + "_" + own.rsplit("_", 1)[1]  # bravo's id, alpha's secret
    line = "POST /v1/openai/chat/completions HTTP/1.1"
    answer = from_alpha(lab, request(line, host=f"{lab.host}:{lab.port}", token=forged))
    refused(lab, "another bot's token id with its own secret", answer, 401)
    places = "/run /state /tmp /home /etc /root /var"  # not /proc, /sys: slow, not files
    readable = exec_in(lab.docker, lab.alpha.container, f"grep -rls '{bravo}' {places}")
    defended(
        "keyring",
        "read another bot's token inside the container",
        f"{len(readable.out.split())} file(s) found",
        readable.out.strip() == "",
    )


def test_a_deleted_bots_token(lab: Lab) -> None:
    ghost = create_bot(
        lab.svc,
        "ghost",
        {"api_key": "sk-ant-ghost-0404", "channel_token": "4:g"},
        provider="anthropic",
        model="claude-sonnet-5",
    )
    path = lab.svc.settings.secrets_dir / ghost.id / "keyring_token"
    token = path.read_text().strip()
    lab.svc.bots.delete(ghost.id)
    data = request(
        "POST /v1/anthropic/v1/messages HTTP/1.1", host=f"{lab.host}:{lab.port}", token=token
    )
    refused(lab, "a deleted bot's token", from_alpha(lab, data), 401)


# -- the same from inside a real OpenClaw bot ---------------------------------------------------


@dataclass(frozen=True)
class Claw:
    lab: Lab  # its provider and attacker fakes, and the data plane of its own keyring
    bot: RunningBot

    def send(self, data: bytes) -> RawAnswer:
        return node_exchange(
            self.lab.docker, self.bot.container, self.lab.host, self.lab.port, data
        )


@pytest.fixture(scope="module")
def claw(
    services_for: Callable[..., Services],
    fakes: tuple[FakeUpstream, FakeUpstream],
    docker_api: docker.APIClient,
) -> Iterator[Claw]:
    """One real OpenClaw bot (the module's only one), provider ``custom`` with a base URL
    without a path: the shape the length-based cut once sent elsewhere. It holds one of
    the machine's OpenClaw slots while the bot lives, its tests none of their own
    (tests/support/parallel.py: BOT_FIXTURES), and shares the machine meanwhile."""
    provider, attacker = fakes
    with machine_shared(), openclaw_slots():
        svc = services_for(
            openclaw_image(docker_api),
            stop_timeout=5,
            limits=BotLimits(
                memory_bytes=1536 * 1024**2, cpus=1.0, pids=512, tmp_bytes=256 * 1024**2
            ),
        )
        try:
            bot = create_bot(
                svc,
                "claw",
                {"api_key": CLAW_KEY, "channel_token": "123456:claw-telegram-token"},
                provider="custom",
                model="fake-model",
                base_url=provider.url,
                base_url_private=True,
            )
            container = resolve_container(docker_api, bot.container)
            wait_for(lambda: exec_in(docker_api, container, "node -e 0").code == 0, timeout=60)
            host, port = proxy_address(svc)
            yield Claw(Lab(svc, docker_api, provider, attacker, host, port, bot, bot), bot)
        finally:
            cleanup_instance(docker_api, svc.settings)  # the bot goes before its slot


def test_openclaw_positive_control(claw: Claw) -> None:
    lab = claw.lab
    line = "POST /v1/custom/chat/completions HTTP/1.1"
    answer = claw.send(request(line, host=f"{lab.host}:{lab.port}"))
    assert answer.status == 200, answer.text
    (seen,) = lab.provider.requests
    assert seen.key == CLAW_KEY
    assert key_stayed_home(lab, answer) == (True, "")


CLAW_TARGETS = {
    "OpenClaw bot: absolute-form, userinfo to the attacker": "POST http://abc@127.0.0.1:{attacker}"
    "/v1/custom/chat/completions HTTP/1.1",
    "OpenClaw bot: encoded provider (custo%6d)": "POST /v1/custo%6d/chat/completions HTTP/1.1",
    "OpenClaw bot: CONNECT to the attacker": "CONNECT 127.0.0.1:{attacker} HTTP/1.1",
}


@pytest.mark.parametrize("attack", list(CLAW_TARGETS))
def test_openclaw_hostile_targets(claw: Claw, attack: str) -> None:
    lab = claw.lab
    assert len("http://abc") == len("/v1/custom")  # what the old cut removed
    line = CLAW_TARGETS[attack]
    data = request(line.format(attacker=lab.attacker.port), host=f"{lab.host}:{lab.port}")
    refused(lab, attack, claw.send(data), 400)


def test_openclaw_another_bots_token(claw: Claw) -> None:
    lab = claw.lab
    other = lab.svc.keyring.client.put_bot(str(uuid.uuid4()), providers=["custom"])
    assert other is not None
    own = lab.token(claw.bot)
    forged = other.rsplit("_", 1)[0] + "_" + own.rsplit("_", 1)[1]
    line = "POST /v1/custom/chat/completions HTTP/1.1"
    answer = claw.send(request(line, host=f"{lab.host}:{lab.port}", token=forged))
    refused(lab, "OpenClaw bot: another bot's token id with its own secret", answer, 401)
