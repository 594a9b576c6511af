"""The web dashboard in a real browser: Debian's chromium driven by Playwright, against a
real BotMaker on the real Docker engine with the stand-in bot image.

Screenshots of every page at desktop and phone widths go to ``.ci/work/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from botmaker.api.deps import SESSION_COOKIE, csrf_token_for
from botmaker.config import Settings
from botmaker.errors import Unauthorized
from botmaker.services import Services
from botmaker.services.schemas import BotCreate
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.smtp import SmtpReceiver

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / ".ci" / "work" / "screenshots"
DESKTOP = ViewportSize(width=1280, height=800)
PAGES = ("bots", "wizard", "bot", "keys", "diagnostics")
PHONE = ViewportSize(width=390, height=844)

expect.set_options(timeout=15_000)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Resource samples every second, so the pages have figures to show."""
    return replace(settings, stats_interval=1.0)


class Session:
    """A browser context on the server, recording script errors and CSP violations."""

    def __init__(self, browser: Browser, server: str, viewport: ViewportSize) -> None:
        self.context: BrowserContext = browser.new_context(
            base_url=server, viewport=viewport, color_scheme="dark"
        )
        self.problems: list[str] = []
        self.label = "phone" if viewport["width"] < 600 else "desktop"

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self._problem(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                self._problem(f"console: {message.text}")
                if "Content Security Policy" in message.text or message.type == "assert"
                else (
                    print(f"console {message.type}: {message.text}")
                    if message.type == "error"
                    else None
                )
            ),
        )
        # Printed as they happen, so a test that fails waiting on the page shows them.
        page.on(
            "requestfailed",
            lambda request: print(
                f"request failed: {request.method} {request.url}: {request.failure}"
            ),
        )
        return page

    def _problem(self, text: str) -> None:
        print(text)
        self.problems.append(text)

    def login(self, page: Page, path: str = "/") -> None:
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/login"))
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()

    def shot(self, page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{self.label}.png"))

    def close(self) -> None:
        self.context.close()
        assert self.problems == [], self.problems


@pytest.fixture
def desktop(browser: Browser, server: str) -> Iterator[Session]:
    session = Session(browser, server, DESKTOP)
    yield session
    session.close()


@pytest.fixture
def phone(browser: Browser, server: str) -> Iterator[Session]:
    session = Session(browser, server, PHONE)
    yield session
    session.close()


def card(page: Page, name: str) -> Any:
    return page.locator(f'li.bot-card[data-name="{name}"]')


def fill_wizard(page: Page, name: str) -> None:
    """Template (the default), persona, model (openai + key), channel (telegram + token)."""
    expect(page.locator("#wizard[data-ready]")).to_be_attached()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Bot name").fill(name)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Provider")).to_have_value("openai")
    page.locator("#f-api-key").fill("sk-test-key")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Chat channel")).to_have_value("telegram")
    page.locator('[data-field="secrets.channel_token"]').fill("123:telegram-token")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Review")).to_be_visible()


# -- the whole life of a bot, in the browser ----------------------------------------------


def test_login_create_watch_stop_edit_delete(
    desktop: Session, phone: Session, services: Services, docker_api: docker.APIClient
) -> None:
    page = desktop.page()
    # Not logged in: every page sends us to the login form; a wrong password says so.
    page.goto("/bots/new")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fbots%2Fnew$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    desktop.shot(page, "login")
    # The right one lands on the (empty) list.
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="No bots yet")).to_be_visible()

    # The list stays open in its own tab: it must see the new bot without a reload.
    watcher = page
    watcher.evaluate("window.__notReloaded = true")
    expect(watcher.locator("#live-state")).to_have_text("Live")

    wizard = desktop.page()
    wizard.goto("/bots/new")
    fill_wizard(wizard, "alpha")
    expect(wizard.locator("#review")).to_contain_text("openai/gpt-6-astra")
    desktop.shot(wizard, "wizard")
    wizard.get_by_role("button", name="Create bot").click()
    expect(wizard.locator('[data-item="create"]')).to_have_attribute("data-state", "done")
    expect(wizard.locator("#progress-logs .log-line").first).to_contain_text("standin:")

    badge = card(watcher, "alpha").locator(".badge")
    expect(badge).to_have_text(re.compile(r"^(healthy|health unknown)$"))
    assert watcher.evaluate("window.__notReloaded") is True
    expect(card(watcher, "alpha")).to_contain_text("openai/gpt-6-astra")
    expect(card(watcher, "alpha")).to_contain_text("telegram")
    expect(card(watcher, "alpha").locator('[data-fact="uptime"]')).to_have_text(re.compile(r"\ds"))
    expect(card(watcher, "alpha").get_by_role("button", name="Stop alpha")).to_be_enabled()

    # Its page: the log viewer follows the bot's output.
    bot_page = wizard
    bot_page.get_by_role("link", name="Open the bot's page").click()
    expect(bot_page.locator("#bot-root[data-ready]")).to_be_attached()
    expect(bot_page.locator("#bot-logs .log-line", has_text="standin: tick").first).to_be_visible()
    # What shows (the engine's timestamp is there, hidden until the toggle shows it).
    expect(bot_page.locator("#bot-logs .log-line.stderr")).to_have_text(
        ["standin: a line on stderr"], use_inner_text=True
    )
    bot_id = bot_page.locator("#bot-root").get_attribute("data-bot-id")
    assert bot_id is not None
    desktop.shot(bot_page, "bot")

    # Stop: the badge changes here and, live, on the list.
    bot_page.get_by_role("button", name="Stop", exact=True).click()
    expect(bot_page.locator("#bot-badge")).to_have_text("stopped")
    expect(badge).to_have_text("stopped")
    assert watcher.evaluate("window.__notReloaded") is True

    # Edit the persona and apply: re-rendered, restarted, and kept.
    bot_page.get_by_label("Persona name").fill("Alfred")
    bot_page.get_by_role("button", name="Apply").click()
    expect(bot_page.locator("#config-ok")).to_contain_text("Applied")
    expect(bot_page.locator("#bot-persona")).to_have_text("Alfred")
    assert services.bots.get(bot_id).record.definition.persona.name == "Alfred"
    expect(bot_page.locator("#bot-badge")).to_have_text(re.compile(r"^(healthy|health unknown)$"))
    bot_page.reload()
    expect(bot_page.get_by_label("Persona name")).to_have_value("Alfred")

    # Every page at phone width (and the rest at desktop width).
    small = phone.page()
    phone.login(small, "/")
    expect(card(small, "alpha")).to_be_visible()
    loaded = {
        "/": card(small, "alpha").locator('[data-fact="uptime"]'),
        "/bots/new": small.locator("#wizard[data-ready]"),
        f"/bots/{bot_id}": small.locator("#bot-logs .log-line").first,
        "/keys": small.locator("#keyring-state.notice-warn"),
        "/diagnostics": small.locator("#diag-engine .badge"),
    }
    for (path, ready), name in zip(loaded.items(), PAGES, strict=True):
        small.goto(path)
        if name == "wizard":
            expect(ready).to_be_attached()
        else:
            expect(ready).to_be_visible()
        phone.shot(small, name)
    other = desktop.page()
    other.goto("/keys")
    expect(other.locator("#keyring-state")).to_contain_text("The keyring is off")
    desktop.shot(other, "keys")
    other.goto("/diagnostics")
    expect(other.locator("#diag-engine .badge")).to_have_text("answering")
    expect(other.locator("#orphans")).not_to_contain_text("Loading")
    desktop.shot(other, "diagnostics")
    other.close()
    small.goto("/login")  # logged in: straight back to the list
    expect(small).to_have_url(re.compile(r"/$"))
    # Leave the list first: with the cookie gone, its next poll answers 401 and the page
    # goes to /login on its own, which would abort this goto (seen under load).
    small.goto("about:blank")
    small.context.clear_cookies()
    small.goto("/login")
    phone.shot(small, "login")

    # The list, still never reloaded, shows the running bot with its memory (GET /api/stats).
    expect(badge).to_have_text(re.compile(r"^(healthy|health unknown)$"))
    expect(card(watcher, "alpha").locator('[data-fact="memory"]')).to_have_text(re.compile("B$"))
    assert watcher.evaluate("window.__notReloaded") is True
    desktop.shot(watcher, "bots")

    # Delete, confirmed by typing the name.
    bot_page.get_by_role("button", name="Delete").click()
    dialog = bot_page.get_by_role("dialog")
    confirm = dialog.get_by_role("button", name="Delete")
    dialog.get_by_label("Type the bot's name to confirm").fill("alph")
    expect(confirm).to_be_disabled()
    dialog.get_by_label("Type the bot's name to confirm").fill("alpha")
    confirm.click()
    expect(bot_page).to_have_url(re.compile(r"/$"))
    expect(bot_page.get_by_role("heading", name="No bots yet")).to_be_visible()
    expect(card(watcher, "alpha")).to_have_count(0)
    assert services.store.list_bots() == []
    assert docker_api.containers(all=True, filters={"name": f"botmaker-{bot_id}"}) == []


def test_the_wizard_shows_the_apis_error_next_to_the_field(
    desktop: Session, services: Services
) -> None:
    page = desktop.page()
    desktop.login(page, "/bots/new")
    expect(page).to_have_url(re.compile(r"/bots/new$"))
    fill_wizard(page, "raced")
    # The name was free when it was checked, and is taken by the time of the create
    # (the live checks are tests/test_forms_browser.py): the create's own refusal.
    services.bots.create(BotCreate.model_validate(bot_body("raced")))
    page.get_by_role("button", name="Create bot").click()
    # Back on the persona step, the API's own message under the name field.
    name = page.get_by_label("Bot name")
    expect(name).to_be_visible()
    expect(name).to_have_attribute("aria-invalid", "true")
    error = page.locator("#f-name-error")
    expect(error).to_contain_text("a bot named 'raced' already exists")
    expect(name).to_be_focused()
    assert [b.name for b in services.store.list_bots()] == ["raced"]
    # Fixing it clears the error and creates the bot.
    name.fill("fixed")
    for _ in range(3):
        page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Create bot").click()
    expect(page.locator('[data-item="create"]')).to_have_attribute("data-state", "done")
    assert sorted(b.name for b in services.store.list_bots()) == ["fixed", "raced"]


def test_the_alerts_form_sets_email_with_errors_next_to_the_field_and_test_sends(
    desktop: Session, services: Services
) -> None:
    with SmtpReceiver() as smtp:
        page = desktop.page()
        desktop.login(page, "/diagnostics")
        expect(page.locator("#alerts-form")).to_have_attribute("data-state", "ready")
        expect(page.get_by_label("SMTP server")).to_have_value("")
        page.get_by_label("SMTP server").fill("not a host")
        page.get_by_label("Port").fill(str(smtp.port))
        page.get_by_label("Security").select_option("none")
        page.get_by_label("From").fill("botmaker@example.org")
        page.get_by_label("To (one address per line or comma-separated)").fill(
            "ops@example.org\noncall@example.org"
        )
        page.get_by_role("button", name="Save").click()
        host = page.get_by_label("SMTP server")
        expect(host).to_have_attribute("aria-invalid", "true")
        expect(page.locator('.field-error[data-for="email.host"]')).to_contain_text(
            "host name or an IP address"
        )
        assert services.alerts.settings().email is None  # nothing saved

        host.fill(smtp.host)  # typing in the field clears its error at once
        expect(page.locator('.field-error[data-for="email.host"]')).to_have_count(0)
        expect(host).not_to_have_attribute("aria-invalid", "true")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".toast-ok")).to_contain_text("Alert settings saved.")
        expect(host).not_to_have_attribute("aria-invalid", "true")
        saved = services.alerts.settings().email
        assert saved is not None
        assert (saved.host, saved.port, saved.security) == (smtp.host, smtp.port, "none")
        assert saved.to == ["ops@example.org", "oncall@example.org"]

        page.get_by_role("button", name="Send a test alert").click()
        expect(page.locator("#alerts-test-result")).to_contain_text("email: delivered")
        assert smtp.subjects() == ["[BotMaker] test alert"]
        desktop.shot(page, "diagnostics-alerts")


def test_the_diagnostics_page_lists_the_nodes_with_their_bots(
    desktop: Session, services: Services
) -> None:
    services.bots.create(BotCreate.model_validate(bot_body("noded")))
    hostname = services.runtime.nodes()[0]["hostname"]
    page = desktop.page()
    desktop.login(page, "/diagnostics")
    row = page.locator(f'#nodes-body tr[data-node="{hostname}"]')
    expect(row).to_be_visible()
    expect(row.locator("td").nth(1)).to_have_text("standalone")
    expect(row.locator("td[data-bots]")).to_have_text("1")
    expect(page.locator("#nodes-runtime")).to_contain_text("BOTMAKER_RUNTIME=docker")


def test_the_log_viewer_survives_a_flood_and_escapes_what_it_shows(desktop: Session) -> None:
    page = desktop.page()
    desktop.login(page, "/")
    result = page.evaluate(
        """async () => {
          const { LogViewer } = await import("/static/js/lib/logviewer.js");
          const box = document.createElement("div");
          document.querySelector("main").append(box);
          const viewer = new LogViewer(box, { name: "flood" });
          viewer.push("stdout", "\\x1b[1;31mred\\x1b[0m <img src=x id=injected> & done");
          viewer.push("stderr", "\\x1b[38;5;82mgreen\\x1b[39m plain");
          // Bursts of 500 lines for a second (tens of thousands of lines a second).
          let gaps = [], last = performance.now(), n = 0, running = true;
          const watch = (t) => {
            gaps.push(t - last);
            last = t;
            if (running) requestAnimationFrame(watch);
          };
          requestAnimationFrame(watch);
          const start = performance.now();
          while (performance.now() - start < 1000) {
            for (let i = 0; i < 500; i++) viewer.push(i % 7 ? "stdout" : "stderr", `line ${n++}`);
            await new Promise((r) => setTimeout(r, 5));
          }
          await new Promise((r) => setTimeout(r, 300));
          running = false;
          const lines = viewer.view.querySelectorAll(".log-line");
          return {
            pushed: n,
            dom: lines.length,
            buffered: viewer.lines.length,
            last: lines[lines.length - 1].textContent,
            maxGap: Math.max(...gaps.slice(1)),
          };
        }"""
    )
    assert result["pushed"] > 10_000, result
    assert result["dom"] == result["buffered"] == 5000, result
    assert result["last"] == f"line {result['pushed'] - 1}", result
    assert result["maxGap"] < 1000, result  # the tab kept painting (not frozen for the burst)
    # The first two lines were dropped from the bounded buffer; render them again alone.
    rendered = page.evaluate(
        """async () => {
          const { LogViewer } = await import("/static/js/lib/logviewer.js");
          const box = document.createElement("div");
          document.querySelector("main").append(box);
          const viewer = new LogViewer(box, { name: "ansi" });
          viewer.push("stdout", "\\x1b[1;31mred\\x1b[0m <img src=x id=injected> & done");
          viewer.push("stderr", "\\x1b[38;5;82mgreen\\x1b[39m plain");
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
          const [out, err] = box.querySelectorAll(".log-line");
          const red = out.querySelector("span.ansi-fg-1.ansi-bold");
          const green = err.querySelector("span");
          return {
            text: out.textContent,
            red: red && red.textContent,
            injected: document.getElementById("injected") !== null,
            errClass: err.className,
            green: green && green.textContent,
            greenColor: green && green.style.color,
          };
        }"""
    )
    assert rendered == {
        "text": "red <img src=x id=injected> & done",
        "red": "red",
        "injected": False,
        "errClass": "log-line stderr",
        "green": "green",
        "greenColor": "rgb(95, 255, 0)",
    }


def test_the_theme_follows_the_system_then_the_remembered_toggle(
    browser: Browser, server: str
) -> None:
    context = browser.new_context(base_url=server, viewport=PHONE, color_scheme="light")
    try:
        page = context.new_page()
        page.goto("/login")
        html = page.locator("html")
        expect(html).to_have_attribute("data-theme", "light")  # first visit: the system's
        toggle = page.locator("#theme-toggle")
        expect(toggle).to_have_attribute("aria-pressed", "true")
        toggle.click()
        expect(html).to_have_attribute("data-theme", "dark")
        page.reload()
        expect(html).to_have_attribute("data-theme", "dark")  # remembered
        # From the keyboard: the user name has the focus; the toggle is one Shift+Tab away.
        expect(page.get_by_label("User name")).to_be_focused()
        page.keyboard.press("Shift+Tab")
        expect(toggle).to_be_focused()
        page.keyboard.press("Enter")
        expect(html).to_have_attribute("data-theme", "light")
    finally:
        context.close()


# -- CSRF, sessions and headers, without a browser ----------------------------------------


def test_the_login_form_says_wrong_password_and_when_rate_limited(
    server: str, services: Services
) -> None:
    with httpx.Client(base_url=server) as c:
        for _ in range(services.settings.login_max_failures):
            c.get("/login")
            nonce = c.cookies.get("botmaker_login_csrf")
            wrong = c.post("/login", data={"password": "not it", "csrf_token": nonce})
            assert wrong.status_code == 401
            assert "Wrong user name or password." in wrong.text
            assert SESSION_COOKIE not in wrong.cookies
        c.get("/login")
        nonce = c.cookies.get("botmaker_login_csrf")
        limited = c.post("/login", data={"password": ADMIN_PASSWORD, "csrf_token": nonce})
        assert limited.status_code == 429
        assert "Too many failed logins; try again in" in limited.text
        assert int(limited.headers["retry-after"]) > 0
        assert SESSION_COOKIE not in limited.cookies


def test_pages_need_a_session_and_carry_csp_and_the_csrf_token(server: str) -> None:
    with httpx.Client(base_url=server) as c:
        for path in ("/", "/bots/new", "/keys", "/pairing", "/diagnostics", "/bots/anything"):
            response = c.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login"), path
        login_page = c.get("/login")
        assert login_page.status_code == 200
        csp = login_page.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert "<script>" not in login_page.text  # every script is a file
        assert " style=" not in login_page.text
        token = c.post("/api/login", json={"password": ADMIN_PASSWORD}).json()["token"]
        for path in ("/", "/bots/new", "/keys", "/pairing", "/diagnostics"):
            page = c.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-security-policy"] == csp
            assert f'<meta name="csrf-token" content="{csrf_token_for(token)}">' in page.text
            assert token not in page.text
            assert "<script>" not in page.text
            assert " style=" not in page.text
        assert c.get("/bots/no-such-bot").status_code == 404
        assert "javascript" in c.get("/static/js/pages/bots.js").headers["content-type"]


def test_a_cookie_write_without_the_csrf_token_is_refused(server: str, services: Services) -> None:
    with httpx.Client(base_url=server) as c:
        token = c.post("/api/login", json={"password": ADMIN_PASSWORD}).json()["token"]
    with httpx.Client(base_url=server, cookies={SESSION_COOKIE: token}) as c:
        refused = c.post("/api/bots", json={"name": "x"})
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["error"]["message"]
        assert c.post("/api/logout").status_code == 403
        assert c.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
        assert c.get("/").status_code == 200  # still logged in
        # The logout form with the session's token ends the session.
        out = c.post("/logout", data={"csrf_token": csrf_token_for(token)})
        assert out.status_code == 303
        assert out.headers["location"] == "/login"
        with pytest.raises(Unauthorized, match="invalid or revoked"):
            services.auth.authenticate(token)
    # The login form needs its own pre-session token (cookie and field must match).
    with httpx.Client(base_url=server) as c:
        refused = c.post("/login", data={"password": ADMIN_PASSWORD, "csrf_token": "made-up"})
        assert refused.status_code == 403
        assert SESSION_COOKIE not in refused.cookies
        c.get("/login")
        nonce = c.cookies.get("botmaker_login_csrf")
        assert nonce
        accepted = c.post("/login", data={"password": ADMIN_PASSWORD, "csrf_token": nonce})
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/"
        assert c.cookies.get(SESSION_COOKIE)
