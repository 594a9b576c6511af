"""Users in a real browser: an admin adds an operator on the Users page; the operator
signs in with the generated password, is made to choose their own, then sees only
what their role allows (no Users or Diagnostics, a 403 page for them); their API
token is made on their account page and shown once."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, Page, expect

from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import logged_in

NEW_PASSWORD = "paulas-own-password-1"


def _sign_in(page: Page, user: str, password: str) -> None:
    page.goto("/login")
    if user:
        page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_an_admin_adds_an_operator_who_chooses_a_password_and_sees_their_part(
    server: str, browser: Browser
) -> None:
    problems: list[str] = []
    admin = browser.new_context(base_url=server)
    page = admin.new_page()
    page.on("pageerror", lambda error: problems.append(str(error)))
    _sign_in(page, "", ADMIN_PASSWORD)  # empty user name: the first admin
    expect(page.get_by_role("link", name="Users")).to_be_visible()
    page.get_by_role("link", name="Users").click()
    expect(page).to_have_url(f"{server}/settings/users")
    expect(page.locator('tr[data-user="admin"]')).to_be_visible()
    page.get_by_label("User name", exact=True).fill("paula")
    page.get_by_label("Role", exact=True).select_option("operator")
    page.get_by_role("button", name="Add user").click()
    generated = page.locator("#generated-password")
    expect(generated).to_be_visible()
    password = generated.inner_text()
    assert len(password) >= 16
    expect(page.locator('tr[data-user="paula"]')).to_contain_text("operator")
    expect(page.locator('tr[data-user="paula"]')).to_contain_text("never")
    # The audit log names who did it, filtered by user, exported as JSON lines.
    page.get_by_role("link", name="Audit").click()
    expect(page.locator('tr[data-action="user.add"]')).to_contain_text("paula")
    page.get_by_label("User").select_option(label="paula")
    expect(page.locator("#audit-empty")).to_be_visible()
    page.get_by_label("User").select_option(label="admin")
    expect(page.locator('tr[data-action="user.add"]')).to_contain_text("admin")
    href = page.locator("#audit-export").get_attribute("href")
    assert href is not None
    assert href.startswith("/api/audit/export?user=")
    with page.expect_download() as download:
        page.locator("#audit-export").click()
    lines = download.value.path().read_text().splitlines()
    assert '"action":"user.add"' in "\n".join(lines)
    assert all(line.startswith("{") for line in lines)
    admin.close()

    operator = browser.new_context(base_url=server)
    page = operator.new_page()
    page.on("pageerror", lambda error: problems.append(str(error)))
    _sign_in(page, "paula", password)
    # First the password of her own, whatever page she asked for.
    expect(page).to_have_url(f"{server}/account")
    expect(page.locator("#must-change")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(f"{server}/account")
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(f"{server}/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="New bot")).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    expect(nav.get_by_role("link", name="Diagnostics")).to_have_count(0)
    expect(page.locator("#account-link")).to_contain_text("paula")
    forbidden = page.goto("/settings/users")
    assert forbidden is not None
    assert forbidden.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

    # An API token of her own, shown once, that reads but cannot write.
    page.goto("/account")
    page.get_by_label("Token name").fill("ci")
    page.get_by_label("bots:read — read bots, status, stats, usage").check()
    expect(page.get_by_label("keys:write — add and delete provider keys")).to_have_count(0)
    page.get_by_role("button", name="Make token").click()
    secret = page.locator("#token-value").inner_text()
    assert secret.startswith("bm_")
    expect(page.locator('li[data-token="ci"]')).to_contain_text("bots:read")
    operator.close()
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {secret}"}) as c:
        assert c.get("/api/bots").status_code == 200
        assert c.post("/api/bots", json={}).status_code == 403
    assert problems == []


def test_a_viewer_sees_a_granted_bot_without_its_controls(
    server: str, services: Services, browser: Browser
) -> None:
    with logged_in(server, ADMIN_PASSWORD, timeout=60) as admin:
        made = admin.post("/api/bots", json=bot_body("watched"))
        assert made.status_code == 201, made.text
        bot_id = made.json()["id"]
        user = admin.post(
            "/api/users", json={"name": "vic", "role": "viewer", "password": "vics-password-12"}
        ).json()["user"]
        assert admin.put(f"/api/bots/{bot_id}/access", json={"users": ["vic"]}).is_success
    services.store.accounts.update_user(user["id"], must_change_password=False)
    context = browser.new_context(base_url=server)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    _sign_in(page, "vic", "vics-password-12")
    expect(page.locator(f'li.bot-card[data-bot-id="{bot_id}"]')).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="New bot")).to_have_count(0)
    page.goto(f"/bots/{bot_id}")
    expect(page.locator("#bot-root")).to_have_attribute("data-ready", "true")
    for action in ("start", "stop", "restart", "delete"):
        expect(page.locator(f'#bot-actions [data-action="{action}"]')).to_be_hidden()
    for card in ("#chat-card", "#ui-card", "#pairing-card"):
        expect(page.locator(card)).to_be_hidden()
    expect(page.get_by_role("heading", name="Logs")).to_be_visible()
    assert problems == []
    context.close()
