"""Network access (egress) in the dashboard, in a real browser against a real BotMaker
with its egress proxy on and stand-in bots: the wizard pre-fills the allowlist with the
API's own default hosts, shows the API's error on the field, and creates the bot with
the list as edited; the bot page edits mode and hosts (no restart), shows a refusal the
moment the bot is refused (a busybox ``wget`` through its ``http_proxy``), without a
reload, and "Allow this host" adds it; a viewer sees the policy without its controls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import docker
import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from botmaker.config import Settings
from botmaker.definition import ChannelSpec
from botmaker.services import Services
from botmaker.services.definitions import default_hosts
from tests.conftest import bot_body
from tests.support.bots import create_bot, exec_in
from tests.support.waiting import wait_for
from tests.test_dashboard import DESKTOP, Session

expect.set_options(timeout=15_000)

REFUSED = "blocked.example.net"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The egress proxy on (its ports chosen by the system), as in production."""
    return replace(settings, egress="auto", egress_port=0, egress_admin_port=0)


@pytest.fixture
def desktop(browser: Browser, server: str) -> Iterator[Session]:
    session = Session(browser, server, DESKTOP)
    yield session
    session.close()


def _to_channel_step(page: Page, name: str) -> None:
    expect(page.locator("#wizard[data-ready]")).to_be_attached()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Bot name").fill(name)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Provider")).to_have_value("openai")
    page.locator("#f-api-key").fill("sk-test-key")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Chat channel")).to_have_value("telegram")
    page.locator('[data-field="secrets.channel_token"]').fill("123:telegram-token")


def test_the_wizard_prefills_the_default_hosts_and_creates_the_bot_with_an_extra_one(
    desktop: Session, services: Services, client: httpx.Client
) -> None:
    # The bot holds its own key (the keyring is off): telegram's hosts and openai's.
    defaults = default_hosts([ChannelSpec(type="telegram")], "openai", None, keyring=False)
    assert defaults == ["api.telegram.org", "api.openai.com"]
    page = desktop.page()
    desktop.login(page, "/bots/new")
    _to_channel_step(page, "walled")
    network = page.get_by_role("group", name="Network access")
    expect(network.get_by_role("radio", name=re.compile("^Allowlist"))).to_be_checked()
    hosts = page.get_by_label("Allowed hosts")
    expect(hosts).to_have_value("\n".join(defaults))
    network.scroll_into_view_if_needed()
    desktop.shot(page, "wizard-egress")
    # Open and none need no list: it is hidden, and back with allowlist.
    network.get_by_role("radio", name=re.compile("^None")).check()
    expect(hosts).to_be_hidden()
    network.get_by_role("radio", name=re.compile("^Allowlist")).check()
    expect(hosts).to_be_visible()

    # A URL is not a host: the API's words on the field, and Next stays on the channel step.
    hosts.fill("\n".join([*defaults, "https://extra.example.com/path"]))
    page.get_by_role("button", name="Next").click()
    expect(hosts).to_be_visible()
    expect(hosts).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-egress-allow-error")).to_contain_text("a host name (and :port)")
    expect(hosts).to_be_focused()
    assert services.store.list_bots() == []

    hosts.fill("\n".join([*defaults, "extra.example.com"]))
    expect(page.locator("#f-egress-allow-error")).to_have_count(0)
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#review")).to_contain_text("extra.example.com")
    page.get_by_role("button", name="Create bot").click()
    expect(page.locator('[data-item="create"]')).to_have_attribute("data-state", "done")
    [record] = services.store.list_bots()
    policy = client.get(f"/api/bots/{record.id}/egress").json()
    assert policy["mode"] == "allowlist"
    assert policy["allow"] == [*defaults, "extra.example.com"]
    assert policy["enforced"] is True


def _refuse(docker_api: docker.APIClient, container: str) -> str:
    """The bot asks its proxy (its ``http_proxy``) for a host not allowed: one absolute-form
    GET with busybox ``nc`` (busybox ``wget`` crashes in the stand-in image)."""
    request = f"GET http://{REFUSED}/ HTTP/1.1\\r\\nHost: {REFUSED}\\r\\n\\r\\n"
    proxy = '{ p="${http_proxy#http://}"; timeout 8 nc -w 5 "${p%:*}" "${p##*:}"; }'
    return exec_in(docker_api, container, f"printf '{request}' | {proxy} 2>&1").text


def test_the_bot_page_edits_the_policy_and_allows_a_refused_host_live(
    desktop: Session,
    browser: Browser,
    server: str,
    services: Services,
    client: httpx.Client,
    docker_api: docker.APIClient,
) -> None:
    bot = create_bot(
        services, "fenced", egress={"mode": "allowlist", "allow": ["api.telegram.org"]}
    )
    page = desktop.page()
    desktop.login(page, f"/bots/{bot.id}")
    expect(page.locator("#bot-root[data-ready]")).to_be_attached()
    panel = page.locator("#egress-card")
    expect(panel.get_by_role("heading", name="Network access")).to_be_visible()
    allowlist = panel.get_by_role("radio", name=re.compile("^Allowlist"))
    expect(allowlist).to_be_checked()
    hosts = panel.get_by_label("Allowed hosts")
    expect(hosts).to_have_value("api.telegram.org")
    expect(panel.locator("#egress-refusals-empty")).to_be_visible()

    # Open, saved: no restart, the API says so.
    started = services.runtime.list()[bot.id].started_at
    panel.get_by_role("radio", name=re.compile("^Open")).check()
    expect(hosts).to_be_hidden()
    panel.get_by_role("button", name="Save").click()
    expect(panel.locator("#egress-ok")).to_be_visible()
    expect(panel.locator("#egress-ok")).to_contain_text("Saved")
    assert client.get(f"/api/bots/{bot.id}/egress").json()["mode"] == "open"

    # Back to the allowlist, with one more host (the keyboard picks the radio).
    allowlist.focus()
    page.keyboard.press("Space")
    expect(allowlist).to_be_checked()
    hosts.fill("api.telegram.org\ndocs.example.org")
    panel.get_by_role("button", name="Save").click()
    expect(panel.locator("#egress-ok")).to_be_visible()
    expect(panel.locator("#egress-ok")).to_contain_text("Saved")
    policy = client.get(f"/api/bots/{bot.id}/egress").json()
    assert (policy["mode"], policy["allow"]) == (
        "allowlist",
        ["api.telegram.org", "docs.example.org"],
    )
    # A bad host: the API's words under the list.
    hosts.fill("api.telegram.org\nnot a host")
    panel.get_by_role("button", name="Save").click()
    expect(page.locator("#e-egress-allow-error")).to_contain_text("not a valid host")
    panel.get_by_role("button", name="Reset").click()
    expect(hosts).to_have_value("api.telegram.org\ndocs.example.org")
    assert services.runtime.list()[bot.id].started_at == started  # never restarted

    # The bot is refused a host: the refusal shows up here, without a reload.
    page.evaluate("window.__notReloaded = true")
    refusal = panel.locator(f'#egress-refusals li[data-host="{REFUSED}"]')

    answers: list[str] = []

    def refused() -> bool:
        answers.append(_refuse(docker_api, bot.container))
        return refusal.count() > 0

    wait_for(refused, timeout=30, interval=1)
    assert "403" in answers[0], answers
    expect(refusal).to_contain_text("not allowed")
    assert page.evaluate("window.__notReloaded") is True
    desktop.shot(page, "bot-egress")
    refusal.get_by_role("button", name=f"Allow {REFUSED}").click()
    expect(refusal).to_contain_text("now allowed")
    expect(hosts).to_have_value(f"api.telegram.org\ndocs.example.org\n{REFUSED}")
    policy = client.get(f"/api/bots/{bot.id}/egress").json()
    assert policy["allow"] == ["api.telegram.org", "docs.example.org", REFUSED]
    assert policy["refusals"][0]["host"] == REFUSED

    # A viewer sees the policy and the refusals, but no control to change them.
    made = client.post(
        "/api/users", json={"name": "vera", "role": "viewer", "password": "veras-password-12"}
    )
    assert made.status_code == 201, made.text
    services.store.accounts.update_user(made.json()["user"]["id"], must_change_password=False)
    assert client.put(f"/api/bots/{bot.id}/access", json={"users": ["vera"]}).is_success
    viewer = Session(browser, server, DESKTOP)
    try:
        other = viewer.page()
        other.goto("/login")
        other.get_by_label("User name").fill("vera")
        other.get_by_label("Password").fill("veras-password-12")
        other.get_by_role("button", name="Log in").click()
        expect(other.get_by_role("button", name="Log out")).to_be_visible()
        other.goto(f"/bots/{bot.id}")
        expect(other.locator("#bot-root[data-ready]")).to_be_attached()
        view = other.locator("#egress-view")
        expect(view).to_contain_text("Allowlist")
        expect(view).to_contain_text(REFUSED)
        expect(other.locator("#egress-form")).to_be_hidden()
        expect(other.locator(f'#egress-refusals li[data-host="{REFUSED}"]')).to_be_visible()
        expect(other.locator("#egress-refusals button")).to_have_count(0)
    finally:
        viewer.close()


def test_the_defaults_endpoint_is_the_creates_default_hosts(client: httpx.Client) -> None:
    answer = client.get(
        "/api/egress/defaults",
        params={
            "provider": "openai",
            "channel": "telegram",
            "setting": "https://tg.example.org:8443",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "hosts": ["api.telegram.org", "tg.example.org:8443", "api.openai.com"],
        "keyring": False,
        "enforced": True,
    }
    made = client.post(
        "/api/bots",
        json=bot_body("plain", channel_settings={"api_root": "https://tg.example.org:8443"}),
    )
    assert made.status_code == 201, made.text
    policy = client.get(f"/api/bots/{made.json()['id']}/egress").json()
    assert policy["allow"] == answer.json()["hosts"]
    bad = client.get("/api/egress/defaults", params={"provider": "nope", "channel": "telegram"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "provider"
