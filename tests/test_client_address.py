"""Which client address the login limiter and the audit log see (issue 12, finding 3).

A request's ``X-Forwarded-For`` is a claim by whoever sent it. Only the proxies named
in ``BOTMAKER_TRUSTED_PROXIES`` may make it; from anyone else it is ignored, so a local
process (or a DNS-rebinding page) cannot pick the address it is limited and audited as.
The servers are real uvicorn servers built by the same ``uvicorn_config`` as
``botmaker serve`` (tests/support/server.py).
"""

from __future__ import annotations

from dataclasses import replace

import httpx

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread

SPOOFED = "203.0.113.9"
WRONG = "not the admin password"


def audited_clients(svc: Services, action: str) -> list[str]:
    return [e["detail"]["client"] for e in svc.audit.entries() if e["action"] == action]


def attempts_until_limited(url: str, forwarded_for: list[str]) -> list[int]:
    """Wrong passwords, each claiming another address; the statuses they got."""
    statuses = []
    with httpx.Client(base_url=url, timeout=30) as c:
        for claimed in forwarded_for:
            response = c.post(
                "/api/login", json={"password": WRONG}, headers={"X-Forwarded-For": claimed}
            )
            statuses.append(response.status_code)
    return statuses


def test_forwarded_for_is_ignored_without_trusted_proxies(server: str, services: Services) -> None:
    assert services.settings.trusted_proxies == ()  # the default
    limit = services.settings.login_max_failures
    claims = [f"203.0.113.{n}" for n in range(1, limit + 2)]
    assert attempts_until_limited(server, claims) == [401] * limit + [429]
    # Every attempt was audited as the real peer, none as the address it claimed.
    assert audited_clients(services, "login.failed") == ["127.0.0.1"] * (limit + 1)
    # A claimed https does not make the session cookie Secure-only either: no proxy spoke.
    with httpx.Client(
        base_url=server, transport=httpx.HTTPTransport(local_address="127.0.0.2")
    ) as c:
        ok = c.post(
            "/api/login",
            json={"password": ADMIN_PASSWORD},
            headers={"X-Forwarded-For": SPOOFED, "X-Forwarded-Proto": "https"},
        )
    assert ok.status_code == 200, ok.text
    assert "secure" not in ok.headers["set-cookie"].lower()
    assert audited_clients(services, "login") == ["127.0.0.2"]


def test_a_trusted_proxy_names_the_client(settings: Settings, make_services: MakeServices) -> None:
    svc: Services = make_services(replace(settings, trusted_proxies=("127.0.0.1/32",)))
    limit = svc.settings.login_max_failures
    with ServerThread(create_app(svc.settings, svc)) as url:
        # The proxy appends the address it saw: the right-most untrusted one is the client,
        # whatever the client itself put in front of it.
        claims = [f"198.51.100.{n}, {SPOOFED}" for n in range(limit + 1)]
        assert attempts_until_limited(url, claims) == [401] * limit + [429]
        assert audited_clients(svc, "login.failed") == [SPOOFED] * (limit + 1)
        # Another client behind the same proxy is not limited; https from the proxy counts.
        with httpx.Client(base_url=url, timeout=30) as c:
            ok = c.post(
                "/api/login",
                json={"password": ADMIN_PASSWORD},
                headers={"X-Forwarded-For": "203.0.113.10", "X-Forwarded-Proto": "https"},
            )
        assert ok.status_code == 200, ok.text
        assert "secure" in ok.headers["set-cookie"].lower()
        assert audited_clients(svc, "login") == ["203.0.113.10"]
        # A peer that is not the proxy is still itself, whatever it claims.
        with httpx.Client(
            base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.3")
        ) as c:
            c.post("/api/login", json={"password": WRONG}, headers={"X-Forwarded-For": SPOOFED})
        assert audited_clients(svc, "login.failed")[0] == "127.0.0.3"
