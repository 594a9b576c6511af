"""Passkeys in Chromium with its virtual authenticator (the DevTools WebAuthn domain):
a signed-in user adds a passkey on their account page, signs out, and signs in again
with it alone; a disabled user's passkey no longer works; a forged or replayed answer
is refused. The page is opened as http://localhost:<port> — WebAuthn's relying party
must be a host name, and localhost is a secure context."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import ADMIN_PASSWORD
from tests.support.checks import logged_in


def _authenticator(context: BrowserContext, page: Page) -> str:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return str(added["authenticatorId"])


def test_a_passkey_is_added_and_then_signs_in_alone(server: str, browser: Browser) -> None:
    local = server.replace("127.0.0.1", "localhost")
    with logged_in(server, ADMIN_PASSWORD) as admin:
        made = admin.post(
            "/api/users", json={"name": "pia", "role": "viewer", "password": "pias-first-password"}
        )
        assert made.status_code == 201, made.text
    context = browser.new_context(base_url=local)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    _authenticator(context, page)
    page.goto("/login")
    page.get_by_label("User name").fill("pia")
    page.get_by_label("Password").fill("pias-first-password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{local}/account")  # a new user's own password first
    page.get_by_label("Current password").fill("pias-first-password")
    page.get_by_label("New password").fill("pias-own-password-1")
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(f"{local}/")
    page.goto("/account")
    page.get_by_label("Passkey name").fill("laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator('li[data-passkey="laptop"]')).to_contain_text("last used never")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{local}/login")

    # Signed out: the passkey alone signs her in.
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(f"{local}/")
    expect(page.locator("#account-link")).to_contain_text("pia")
    me = page.request.get("/api/me").json()
    assert me["name"] == "pia"
    with logged_in(server, ADMIN_PASSWORD) as admin:
        entries = admin.get("/api/audit?user=pia").json()["entries"]
        assert entries[0]["action"] == "login"
        assert entries[0]["detail"]["method"] == "passkey"
        # Disabled: her passkey no longer signs her in.
        assert admin.patch("/api/users/pia", json={"disabled": True}).status_code == 200
    page.goto("/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#passkey-error")).to_contain_text("this user is disabled")
    assert problems == []
    context.close()


def test_a_forged_or_replayed_passkey_answer_is_refused(server: str) -> None:
    with httpx.Client(base_url=server.replace("127.0.0.1", "localhost")) as c:
        challenge = c.post("/api/login/passkey/options").json()
        assert challenge["options"]["rpId"] == "localhost"
        assert challenge["options"]["allowCredentials"] == []
        forged = {
            "id": "AAAA",
            "rawId": "AAAA",
            "type": "public-key",
            "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA"},
        }
        answer = c.post(
            "/api/login/passkey", json={"handle": challenge["handle"], "credential": forged}
        )
        assert answer.status_code == 401
        assert answer.json()["error"]["message"] == "this passkey is not registered here"
        again = c.post(
            "/api/login/passkey", json={"handle": challenge["handle"], "credential": forged}
        )
        assert again.status_code == 401
        assert "expired" in again.json()["error"]["message"]
