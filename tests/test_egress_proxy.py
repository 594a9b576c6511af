"""The egress proxy process on loopback: policies, name checks after resolution, DNS
rebinding, refusals, hostile request heads. Bots are stood in for by this test's own
source addresses (127.0.0.1 a bot, 127.0.0.9 a stranger); destinations are real HTTP
servers on other loopback addresses, names come from a real DNS server (FakeDns)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from botmaker.egress.client import EgressClient
from botmaker.services.keyring import read_ready
from tests.support.fakedns import FakeDns

ALLOWED_IP = "127.0.0.2"  # a destination inside BOTMAKER_EGRESS_ALLOW_PRIVATE
TRAP_IP = "127.0.0.3"  # a private address no policy allows


class _Site(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients' tunnels are

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Site:
    """An HTTP server on one loopback address that counts its connections."""

    def __init__(self, host: str) -> None:
        owner = self
        self.connections = 0

        class Server(ThreadingHTTPServer):
            def process_request(self, request: Any, client_address: Any) -> None:
                owner.connections += 1
                super().process_request(request, client_address)

        self.server = Server((host, 0), _Site)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[Site, Site]]:
    allowed, trap = Site(ALLOWED_IP), Site(TRAP_IP)
    yield allowed, trap
    allowed.close()
    trap.close()


@pytest.fixture(scope="module")
def dns_server(sites: tuple[Site, Site]) -> Iterator[FakeDns]:
    answers = {
        "allowed.test": [ALLOWED_IP],
        "other.test": [ALLOWED_IP],
        "sub.wild.test": [ALLOWED_IP],
        "rebind.test": [ALLOWED_IP, TRAP_IP],
        "trap.test": [TRAP_IP],
        "meta.test": ["169.254.169.254"],
    }
    with FakeDns(answers) as server:
        yield server


@pytest.fixture(scope="module")
def egress(
    tmp_path_factory: pytest.TempPathFactory, dns_server: FakeDns
) -> Iterator[tuple[tuple[str, int], EgressClient]]:
    folder = tmp_path_factory.mktemp("egress")
    token = folder / "admin.token"
    env = {
        "PATH": os.environ["PATH"],
        "BOTMAKER_EGRESS_LISTEN": "127.0.0.1:0",
        "BOTMAKER_EGRESS_ADMIN_LISTEN": "127.0.0.1:0",
        "BOTMAKER_EGRESS_ADMIN_TOKEN_FILE": str(token),
        "BOTMAKER_EGRESS_DNS": dns_server.address,
        "BOTMAKER_EGRESS_ALLOW_PRIVATE": f"{ALLOWED_IP}/32, 169.254.0.0/16",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "botmaker", "egress", "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    ready = read_ready(process, 30)
    assert ready is not None, "the egress proxy did not start"
    client = EgressClient(f"http://{ready['admin'][0]}:{ready['admin'][1]}", token)
    yield (ready["data"][0], ready["data"][1]), client
    client.close()
    process.terminate()
    process.wait(timeout=10)
    assert process.stdout is not None
    process.stdout.close()


def _policy(client: EgressClient, mode: str, allow: list[str], bot: str = "bot-1") -> None:
    client.put_bots([{"id": bot, "mode": mode, "allow": allow, "addresses": ["127.0.0.1"]}])


def _ask(proxy: tuple[str, int], head: bytes, source: str = "127.0.0.1") -> bytes:
    """Send ``head`` from ``source`` and read the whole answer."""
    with socket.create_connection(proxy, timeout=10, source_address=(source, 0)) as conn:
        conn.sendall(head)
        chunks = []
        while data := conn.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def _connect_get(proxy: tuple[str, int], authority: str, path: str = "/hello") -> bytes:
    """A CONNECT tunnel, then a plain GET through it: what the tunnel carried back."""
    with socket.create_connection(proxy, timeout=10) as conn:
        conn.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        answer = conn.recv(4096)
        if not answer.startswith(b"HTTP/1.1 200"):
            return answer
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = [answer]
        while data := conn.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def _refusals(client: EgressClient, after: int = 0) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.refusals(after)["refusals"]
    return items


def test_an_allowlist_lets_listed_hosts_through_and_refuses_the_rest(
    egress: tuple[tuple[str, int], EgressClient], sites: tuple[Site, Site]
) -> None:
    proxy, client = egress
    allowed, _ = sites
    _policy(client, "allowlist", [f"allowed.test:{allowed.port}", f"*.wild.test:{allowed.port}"])
    start = client.refusals(0)["last"]

    tunnel = _connect_get(proxy, f"allowed.test:{allowed.port}")
    assert b"200 Connection Established" in tunnel
    assert b'"path": "/hello"' in tunnel
    assert b'"path": "/x?y=1"' in _ask(
        proxy, f"GET http://sub.wild.test:{allowed.port}/x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n".encode()
    )
    # The same address under a name not listed, the wildcard's own name, another port.
    for authority in (
        f"other.test:{allowed.port}",
        f"wild.test:{allowed.port}",
        "allowed.test:443",
    ):
        answer = _connect_get(proxy, authority)
        assert answer.startswith(b"HTTP/1.1 403"), (authority, answer)
        assert b"not allowed" in answer
    refused = _refusals(client, start)
    assert [(r["bot_id"], r["host"]) for r in refused] == [
        ("bot-1", "other.test"),
        ("bot-1", "wild.test"),
        ("bot-1", "allowed.test"),
    ]
    assert refused[2]["port"] == 443


def test_none_refuses_everything_and_open_any_public_name_but_no_private_address(
    egress: tuple[tuple[str, int], EgressClient], sites: tuple[Site, Site]
) -> None:
    proxy, client = egress
    allowed, trap = sites
    _policy(client, "none", [f"allowed.test:{allowed.port}"])
    assert _connect_get(proxy, f"allowed.test:{allowed.port}").startswith(b"HTTP/1.1 403")
    _policy(client, "open", [])
    assert b"/hello" in _connect_get(proxy, f"allowed.test:{allowed.port}")  # allowed private
    before = trap.connections
    for authority in (f"trap.test:{trap.port}", f"{TRAP_IP}:{trap.port}", "127.0.0.1:22"):
        answer = _connect_get(proxy, authority)
        assert answer.startswith(b"HTTP/1.1 403"), (authority, answer)
        assert b"loopback address" in answer
    # Cloud metadata stays refused, even inside an allowed private range.
    for authority in ("meta.test:80", "169.254.169.254:80"):
        answer = _connect_get(proxy, authority)
        assert b"cloud metadata" in answer, answer
    assert trap.connections == before


def test_a_rebinding_name_is_refused_once_it_resolves_to_a_private_address(
    egress: tuple[tuple[str, int], EgressClient], sites: tuple[Site, Site], dns_server: FakeDns
) -> None:
    proxy, client = egress
    allowed, trap = sites
    _policy(client, "allowlist", ["rebind.test"])
    before = trap.connections
    # One port for both sites is not possible on loopback, so the allowlist names the
    # host only, and the test asks for the allowed site's port, then the trap's.
    _policy(client, "allowlist", [f"rebind.test:{allowed.port}", f"rebind.test:{trap.port}"])
    first = _connect_get(proxy, f"rebind.test:{allowed.port}")
    assert b"/hello" in first  # the first answer: the allowed address
    second = _connect_get(proxy, f"rebind.test:{trap.port}")
    assert second.startswith(b"HTTP/1.1 403"), second
    assert f"a loopback address ({TRAP_IP})".encode() in second
    assert dns_server.asked["rebind.test"] >= 2  # asked again, not cached
    assert trap.connections == before  # never connected to the second answer


def test_a_stranger_and_hostile_heads_are_refused(
    egress: tuple[tuple[str, int], EgressClient], sites: tuple[Site, Site]
) -> None:
    proxy, client = egress
    allowed, _ = sites
    _policy(client, "open", [])
    stranger = _ask(proxy, b"CONNECT allowed.test:80 HTTP/1.1\r\n\r\n", source="127.0.0.9")
    assert stranger.startswith(b"HTTP/1.1 403")
    assert b"not a bot" in stranger
    for head in (
        b"GET /relative HTTP/1.1\r\nHost: allowed.test\r\n\r\n",
        b"GET https://allowed.test/ HTTP/1.1\r\n\r\n",
        b"CONNECT allowed.test HTTP/1.1\r\n\r\n",
        b"CONNECT user@allowed.test:80 HTTP/1.1\r\n\r\n",
        b"CONNECT allowed.test:99999 HTTP/1.1\r\n\r\n",
        b"CONNECT bad_name!.test:80 HTTP/1.1\r\n\r\n",
        b"CONNECT allowed.test:80 HTTP/2\r\n\r\n",
        "CONNECT allowed.tést:80 HTTP/1.1\r\n\r\n".encode(),
        b"GET http://allowed.test/ HTTP/1.1\r\nBad Header: x\r\n\r\n",
    ):
        answer = _ask(proxy, head)
        assert answer.startswith(b"HTTP/1.1 400"), (head, answer)
    huge = b"GET http://allowed.test/ HTTP/1.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n"
    assert _ask(proxy, huge).startswith(b"HTTP/1.1 431")
    # Proxy credentials and hop-by-hop headers a bot sends do not travel on.
    echoed = _ask(
        proxy,
        f"GET http://allowed.test:{allowed.port}/h HTTP/1.1\r\nHost: allowed.test\r\n"
        "Proxy-Authorization: Basic eDp5\r\nConnection: keep-alive\r\n\r\n".encode(),
    )
    assert echoed.startswith(b"HTTP/1.0 200") or echoed.startswith(b"HTTP/1.1 200"), echoed


def test_repeated_refusals_are_recorded_once_per_window_and_counted(
    egress: tuple[tuple[str, int], EgressClient],
) -> None:
    proxy, client = egress
    _policy(client, "none", [], bot="bot-2")
    start = client.refusals(0)["last"]
    for _ in range(5):
        _connect_get(proxy, "flood.test:443")
    refused = _refusals(client, start)
    assert [(r["bot_id"], r["host"], r["repeats"]) for r in refused] == [("bot-2", "flood.test", 4)]
    assert client.status()["refused"] >= 5
    # Under a new policy the same refusal is news again; an unchanged table changes nothing.
    _policy(client, "none", [], bot="bot-2")
    _connect_get(proxy, "flood.test:443")
    assert len(_refusals(client, start)) == 1
    _policy(client, "allowlist", ["other.test"], bot="bot-2")
    _connect_get(proxy, "flood.test:443")
    assert [r["repeats"] for r in _refusals(client, start)] == [5, 0]


def test_the_admin_api_needs_its_token_and_checks_the_table(
    egress: tuple[tuple[str, int], EgressClient], tmp_path: Path
) -> None:
    _, client = egress
    wrong = tmp_path / "wrong.token"
    wrong.write_text("nope\n")
    intruder = EgressClient(client.base_url, wrong)
    with pytest.raises(Exception, match="401"):
        intruder.status()
    intruder.close()
    for bots in (
        [{"id": "b", "mode": "sometimes", "addresses": []}],
        [{"id": "b", "mode": "allowlist", "allow": ["http://x.test/"], "addresses": []}],
        [{"id": "b", "mode": "open", "addresses": ["not-an-ip"]}],
    ):
        with pytest.raises(Exception, match="400"):
            client.put_bots(bots)


def test_an_open_tunnel_is_cut_when_the_policy_stops_allowing_it(
    egress: tuple[tuple[str, int], EgressClient], sites: tuple[Site, Site]
) -> None:
    """Clients keep tunnels open (keep-alive): a removed host must not stay reachable."""
    proxy, client = egress
    allowed, _ = sites
    _policy(client, "allowlist", [f"allowed.test:{allowed.port}"])
    with socket.create_connection(proxy, timeout=10) as kept:
        kept.sendall(f"CONNECT allowed.test:{allowed.port} HTTP/1.1\r\n\r\n".encode())
        assert kept.recv(4096).startswith(b"HTTP/1.1 200")
        _policy(client, "allowlist", [f"allowed.test:{allowed.port}", "other.test"])
        kept.sendall(b"GET /still HTTP/1.1\r\nHost: x\r\n\r\n")  # kept: still allowed
        answer = b""
        while b"/still" not in answer and (data := kept.recv(65536)):
            answer += data
        assert b"/still" in answer
        _policy(client, "allowlist", ["other.test"])
        assert kept.recv(65536) == b""  # closed by the proxy
