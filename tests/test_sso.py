"""Single sign-on through a real OpenID Connect provider (panva's oidc-provider on
loopback), in a real browser: authorization code with PKCE, the ID token checked
against the provider's JWKS, groups mapped to a role and to teams, sign-out; a user
no group maps is refused; the provider rotates its keys and sign-in still works."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from botmaker.api import create_app
from botmaker.config import Secret, Settings
from tests.conftest import ADMIN_PASSWORD
from tests.support.checks import logged_in
from tests.support.fixtures import MakeServices
from tests.support.oidc import OidcProvider
from tests.support.registry import free_port
from tests.support.server import ServerThread

SECRET = "a-client-secret-for-tests"
ACCOUNTS = {
    "alice": {
        "email": "alice@example.com",
        "email_verified": True,
        "preferred_username": "alice",
        "groups": ["support", "team-a", "unrelated"],
    },
    "root": {
        "email": "root@example.com",
        "email_verified": True,
        "preferred_username": "root",
        "groups": ["bot-admins"],
    },
    "eve": {"email": "eve@example.com", "email_verified": True, "groups": ["guests"]},
}


class Sso:
    def __init__(self, url: str, port: int, tmp: Path) -> None:
        self.url, self.port, self.tmp = url, port, tmp

    def provider(self, kid: str) -> OidcProvider:
        return OidcProvider(
            self.tmp,
            [f"{self.url}/login/oidc/callback"],
            ACCOUNTS,
            client_secret=SECRET,
            port=self.port,
            kid=kid,
        )


@pytest.fixture
def sso(settings: Settings, make_services: MakeServices, tmp_path: Path) -> Iterator[Sso]:
    port = free_port()
    configured = replace(
        settings,
        oidc_issuer=f"http://127.0.0.1:{port}",
        oidc_client_id="botmaker",
        oidc_client_secret=Secret(SECRET),
        oidc_name="Test IdP",
        oidc_roles=(("bot-admins", "admin"), ("support", "operator")),
    )
    svc = make_services(configured)
    with ServerThread(create_app(configured, svc)) as url:
        with logged_in(url, ADMIN_PASSWORD) as admin:
            made = admin.post("/api/teams", json={"name": "team-a"})
            assert made.status_code == 201, made.text
        yield Sso(url, port, tmp_path)


def _sign_in(page: Page, account: str) -> None:
    page.goto("/login")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    # The provider's own pages: its login form, then its consent.
    page.locator('input[name="login"]').fill(account)
    page.locator('input[name="password"]').fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def test_sign_in_through_the_provider_lands_with_the_mapped_role_and_signs_out(
    sso: Sso, browser: Browser
) -> None:
    with sso.provider("key-1"):
        context = browser.new_context(base_url=sso.url)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        _sign_in(page, "alice")
        expect(page).to_have_url(f"{sso.url}/")
        expect(page.locator("#account-link")).to_contain_text("alice")
        expect(page.locator("#account-link")).to_contain_text("operator")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="New bot")).to_be_visible()
        expect(nav.get_by_role("link", name="Users")).to_have_count(0)
        me = page.request.get("/api/me").json()
        assert me["role"] == "operator"
        assert me["source"] == "oidc"
        assert me["email"] == "alice@example.com"
        with logged_in(sso.url, ADMIN_PASSWORD) as admin:
            (team,) = admin.get("/api/teams").json()["teams"]
            assert team["members"] == [me["id"]]  # the group named like the team
            entries = admin.get("/api/audit?user=alice").json()["entries"]
            assert entries[0]["action"] == "login"
            assert entries[0]["detail"]["method"] == "oidc"
        # No password to sign in with: single sign-on users have none.
        with httpx.Client(base_url=sso.url) as c:
            refused = c.post("/api/login", json={"user": "alice", "password": "anything"})
            assert refused.status_code == 401
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(f"{sso.url}/login")
        assert page.request.get("/api/me").status == 401
        assert problems == []
        context.close()

        # A user none of whose groups maps to a role is refused, and nothing is made.
        context = browser.new_context(base_url=sso.url)
        page = context.new_page()
        _sign_in(page, "eve")
        expect(page.locator("#login-error")).to_contain_text("None of your groups is allowed")
        context.close()
        with logged_in(sso.url, ADMIN_PASSWORD) as admin:
            names = {u["name"] for u in admin.get("/api/users").json()["users"]}
        assert names == {"admin", "alice"}

    # The provider rotates its signing key: BotMaker fetches the new JWKS on the
    # unknown key id, and the admin group lands as admin.
    with sso.provider("key-2"):
        context = browser.new_context(base_url=sso.url)
        page = context.new_page()
        _sign_in(page, "root")
        expect(page).to_have_url(f"{sso.url}/")
        expect(page.locator("#account-link")).to_contain_text("admin")
        expect(
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Users")
        ).to_be_visible()
        context.close()


def test_a_callback_without_its_browser_state_is_refused(sso: Sso, browser: Browser) -> None:
    with sso.provider("key-1"), httpx.Client(base_url=sso.url) as c:
        started = c.get("/login/oidc", follow_redirects=False)
        assert started.status_code == 303
        location = started.headers["location"]
        assert location.startswith(f"http://127.0.0.1:{sso.port}/auth?")
        assert "code_challenge_method=S256" in location
        assert "nonce=" in location
        state = httpx.URL(location).params["state"]
        # Another browser (no state cookie) brings a code for that state: refused.
        with httpx.Client(base_url=sso.url) as other:
            answer = other.get(f"/login/oidc/callback?state={state}&code=stolen")
        assert answer.status_code == 401
        assert "another browser" in answer.text
        # The state is spent: replaying it with the cookie fails too.
        again = c.get(f"/login/oidc/callback?state={state}&code=stolen")
        assert again.status_code == 401
        assert "expired or was already used" in again.text
