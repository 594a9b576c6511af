"""Forms that help, in the browser: the wizard and the Keys page check each field with the
API as it is left, suggest the bot's name from the persona's, keep a draft across a
reload (never a secret), warn before leaving unsaved input, and test a key through the
keyring against the fake provider.

Real Chromium, real BotMaker with its keyring child, real engine, a fake provider.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import docker
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from tests.conftest import bot_body
from tests.support.forms import BAD_KEY, GOOD_KEY, World, keyed_world
from tests.support.images import STANDIN_TAG
from tests.test_dashboard import DESKTOP, Session

DRAFT_KEY = "sk-draft-secret-key-00000000000001"
DRAFT_TOKEN = "999:draft-channel-token-secret"


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    docker_api: docker.APIClient,
    standin_images: dict[str, str],
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("forms-browser")
    with keyed_world(tmp, docker_api, standin_images[STANDIN_TAG]) as world:
        yield world


@pytest.fixture
def desktop(browser: Browser, world: World) -> Iterator[Session]:
    session = Session(browser, world.url, DESKTOP)
    yield session
    session.close()


def _wizard(desktop: Session) -> Page:
    page = desktop.page()
    desktop.login(page, "/bots/new")
    # 30 s: once in about six runs beside other modules the first load took over 15 s
    expect(page.locator("#wizard[data-ready]")).to_be_attached(timeout=30_000)
    return page


def _next(page: Page) -> None:
    page.get_by_role("button", name="Next").click()


def _storage(page: Page) -> str:
    """Everything the page keeps in the browser: both storages, keys and values."""
    return str(page.evaluate("() => JSON.stringify([{...sessionStorage}, {...localStorage}])"))


def test_each_field_is_checked_as_it_is_left_and_next_is_refused(
    desktop: Session, world: World
) -> None:
    made = world.admin.post("/api/bots", json=bot_body("taken-name"))
    assert made.status_code == 201, made.text
    page = _wizard(desktop)
    _next(page)
    name = page.get_by_label("Bot name")
    # the name follows the persona's name while the user has typed none
    page.get_by_label("Persona name").fill("My Support Bot")
    expect(name).to_have_value("my-support-bot")

    # a bad name: the API's words under the field when it is left
    name.fill("Not Valid")
    name.press("Tab")
    error = page.locator("#f-name-error")
    expect(error).to_have_text(
        "Bot name: must be 1-63 lowercase letters, digits and hyphens, starting with a letter"
    )
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_attribute("aria-describedby", re.compile(r"\bf-name-error\b"))
    # Next is refused on this step, with the message, the field focused
    _next(page)
    expect(page.get_by_role("heading", name="Persona")).to_be_visible()
    expect(page.get_by_label("Provider")).to_be_hidden()
    expect(name).to_be_focused()
    expect(error).to_be_visible()

    # a taken name, caught on blur
    name.fill("taken-name")
    name.press("Tab")
    expect(error).to_have_text("Bot name: a bot named 'taken-name' already exists")
    # fixed: the message goes at once
    name.fill("fresh-name")
    name.press("Tab")
    expect(error).to_have_count(0)
    expect(name).not_to_have_attribute("aria-invalid", "true")
    # a name the user typed is theirs: the persona's name no longer changes it
    with page.expect_response("**/api/bots/validate"):
        page.get_by_label("Persona name").fill("Someone Else")
    expect(name).to_have_value("fresh-name")

    _next(page)
    expect(page.get_by_label("Provider")).to_have_value("openai")
    # the bot's own key in the wrong form: a warning (a create would take it)
    own = page.locator("#f-api-key")
    own.fill("abc-not-an-openai-key")
    own.press("Tab")
    expect(page.locator("#f-api-key-warning")).to_have_text(
        'API key: this is not an OpenAI API key: those start with "sk-"'
    )
    # the shared key to add to the keyring: refused as POST /api/keys would
    shared = page.locator("#k-key")
    expect(shared).to_be_visible()
    shared.fill("abc")
    shared.press("Tab")
    expect(page.locator("#k-key-error")).to_have_text(
        'Key: this is not an OpenAI API key: those start with "sk-"'
    )
    expect(shared).to_have_attribute("aria-invalid", "true")
    page.close()


def test_the_key_test_button_says_what_the_provider_said(desktop: Session, world: World) -> None:
    page = _wizard(desktop)
    _next(page)
    page.get_by_label("Bot name").fill("key-tester")
    _next(page)
    own = page.locator("#f-api-key")
    result = page.locator("#f-api-key-test-result")
    button = page.locator("#f-api-key-test")
    own.fill(GOOD_KEY)
    button.click()
    expect(result).to_have_text("✓ OpenAI accepted the key")
    expect(result).to_have_attribute("data-ok", "true")
    own.fill(BAD_KEY)
    expect(result).to_be_hidden()  # a changed key: the old answer goes
    button.click()
    expect(result).to_contain_text("✕ OpenAI refused the key: Incorrect API key provided")
    expect(result).to_have_attribute("data-ok", "false")
    assert BAD_KEY not in (result.text_content() or "")
    page.close()

    # the Keys page: live format check, a key's test before adding it, a stored key's test
    keys = desktop.page()
    keys.goto("/keys")
    expect(keys.locator("#keys-layout")).to_be_visible()
    key = keys.get_by_label("Key", exact=True)
    before = world.admin.get("/api/keys").json()["keys"]
    key.fill("abc")
    key.press("Tab")
    expect(keys.locator("#key-key-error")).to_have_text(
        'Key: this is not an OpenAI API key: those start with "sk-"'
    )
    keys.get_by_role("button", name="Add key").click()
    expect(key).to_be_focused()  # refused with the message: nothing added
    assert world.admin.get("/api/keys").json()["keys"] == before
    tested = keys.locator("#key-test-result")
    key.fill(BAD_KEY)
    keys.get_by_role("button", name="Test this key").click()
    expect(tested).to_contain_text("✕ OpenAI refused the key")
    expect(keys.locator("#key-key-error")).to_have_count(0)
    key.fill(GOOD_KEY)
    keys.get_by_role("button", name="Test this key").click()
    expect(tested).to_have_text("✓ OpenAI accepted the key")
    keys.get_by_role("button", name="Add key").click()
    row = keys.locator("#keys-body tr", has_text=GOOD_KEY[-4:]).filter(has_not_text="own key of")
    expect(row).to_have_count(1)
    row.get_by_role("button", name=re.compile("^Test the OpenAI key")).click()
    expect(row.locator("[data-test-result]")).to_have_text("✓ OpenAI accepted the key")
    content = keys.content()
    assert GOOD_KEY not in content
    assert BAD_KEY not in content
    keys.close()


def test_the_draft_survives_a_reload_without_its_secrets(desktop: Session, world: World) -> None:
    page = _wizard(desktop)
    asked: list[str] = []

    def leave(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.accept()

    page.on("dialog", leave)
    _next(page)
    page.get_by_label("Persona name").fill("Draft Keeper")
    expect(page.get_by_label("Bot name")).to_have_value("draft-keeper")
    page.locator("#f-soul").fill("# Draft Keeper\nKeeps drafts.")
    _next(page)
    page.locator("#f-model").fill("gpt-draft-1")
    page.locator("#f-api-key").fill(DRAFT_KEY)
    page.get_by_label("Fallback models (optional)").fill("gpt-fallback-1")
    _next(page)
    expect(page.get_by_label("Chat channel")).to_have_value("telegram")
    page.locator('[data-field="secrets.channel_token"]').fill(DRAFT_TOKEN)
    page.wait_for_function(
        "() => (sessionStorage.getItem('botmaker.wizard.draft') || '').includes('gpt-fallback-1')"
    )
    stored = _storage(page)
    for secret in (DRAFT_KEY, DRAFT_TOKEN):
        assert secret not in stored
    draft = json.loads(page.evaluate("() => sessionStorage.getItem('botmaker.wizard.draft')"))
    assert not [k for k in draft["values"] if re.search("key|token|secret|password", k)], draft
    assert draft["values"]["f-model"] == "gpt-draft-1"

    page.reload()
    assert asked == ["beforeunload"]  # unsaved input: the browser asked before leaving
    expect(page.locator("#wizard[data-ready]")).to_be_attached()
    note = page.locator("#draft-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Draft restored")
    expect(note.get_by_role("button", name="Discard")).to_be_visible()
    # back on the step it was left at, every value but the secrets
    expect(page.get_by_role("heading", name="Channel")).to_be_visible()
    expect(page.locator('[data-field="secrets.channel_token"]')).to_have_value("")
    page.get_by_role("button", name="Back").click()
    expect(page.locator("#f-model")).to_have_value("gpt-draft-1")
    expect(page.get_by_label("Fallback models (optional)")).to_have_value("gpt-fallback-1")
    expect(page.locator("#f-api-key")).to_have_value("")
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_label("Persona name")).to_have_value("Draft Keeper")
    expect(page.get_by_label("Bot name")).to_have_value("draft-keeper")
    expect(page.locator("#f-soul")).to_have_value("# Draft Keeper\nKeeps drafts.")
    assert DRAFT_KEY not in _storage(page)

    # made: the draft is cleared and leaving asks nothing
    _next(page)
    page.locator("#f-api-key").fill(GOOD_KEY)
    _next(page)
    page.locator('[data-field="secrets.channel_token"]').fill("123:a-real-looking-token")
    _next(page)
    page.get_by_role("button", name="Create bot").click()
    expect(page.locator('[data-item="create"]')).to_have_attribute("data-state", "done")
    assert "botmaker.wizard.draft" not in _storage(page)
    asked.clear()
    witness = desktop.page()  # its waits let Playwright hear of the close
    page.close(run_before_unload=True)
    deadline = time.monotonic() + 10
    while not page.is_closed() and time.monotonic() < deadline:
        witness.wait_for_timeout(100)
    assert page.is_closed()  # no question: it just closed
    assert asked == []
    witness.close()


def test_discarding_the_draft_and_the_leave_warning(desktop: Session) -> None:
    page = _wizard(desktop)
    asked: list[str] = []

    def stay(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    # nothing typed: leaving asks nothing
    _next(page)
    expect(page.locator("#draft-note")).to_be_hidden()
    page.get_by_label("Persona name").fill("Leaving Soon")
    page.wait_for_function("() => sessionStorage.getItem('botmaker.wizard.draft') !== null")
    # typed: the browser asks before the page goes (dismissed: it stays)
    page.close(run_before_unload=True)
    for _ in range(50):
        if asked:
            break
        page.wait_for_timeout(100)
    assert asked == ["beforeunload"]
    assert not page.is_closed()
    expect(page.get_by_label("Persona name")).to_have_value("Leaving Soon")

    other = desktop.page()
    other.goto("/bots/new")  # another tab: a draft is its own tab's only
    expect(other.locator("#wizard[data-ready]")).to_be_attached()
    expect(other.locator("#draft-note")).to_be_hidden()
    other.close()

    page.remove_listener("dialog", stay)
    page.on("dialog", lambda dialog: dialog.accept())
    page.reload()
    expect(page.locator("#draft-note")).to_be_visible()
    page.get_by_role("button", name="Discard").click()
    expect(page.locator("#wizard[data-ready]")).to_be_attached()
    expect(page.locator("#draft-note")).to_be_hidden()
    assert "botmaker.wizard.draft" not in _storage(page)
    expect(page.get_by_role("heading", name="Start from a template")).to_be_visible()
    page.close()
