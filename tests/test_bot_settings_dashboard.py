"""The bot page edits what the API's PATCH edits, in a real browser against a real
BotMaker and stand-in bots: model and a resource limit with the live preview of what
Apply changes, a refused value shown on its field with nothing changed, a channel token
rotated without its value ever reaching the page, the rendered openclaw.json with
SecretRefs, an image upgrade with its outcome, and an export the import route takes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import docker
import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from botmaker.api import create_app
from botmaker.config import Settings
from botmaker.services import Services
from tests.support.bots import create_bot, resolve_container
from tests.support.fixtures import MakeServices
from tests.support.server import ServerThread
from tests.test_dashboard import DESKTOP, Session

expect.set_options(timeout=20_000)

MIB = 1024**2
NEW_TOKEN = "987654:rotated-secret-token-value"


@pytest.fixture
def desktop(browser: Browser, server: str) -> Iterator[Session]:
    session = Session(browser, server, DESKTOP)
    yield session
    session.close()


def _open(desktop: Session, bot_id: str) -> Page:
    page = desktop.page()
    desktop.login(page, f"/bots/{bot_id}")
    expect(page.locator("#bot-root[data-ready]")).to_be_attached()
    return page


def _values_on_page(page: Page) -> str:
    """Everything the page holds: its markup and every input's current value."""
    values = page.evaluate(
        "() => [...document.querySelectorAll('input, textarea')].map((i) => i.value)"
    )
    return page.content() + "\n".join(values)


def test_model_limit_and_token_rotation_from_the_page(
    desktop: Session, services: Services, client: httpx.Client, docker_api: docker.APIClient
) -> None:
    bot = create_bot(services, "tuner")
    page = _open(desktop, bot.id)
    review = page.locator("#config-review")
    expect(page.locator("#c-memory")).to_have_attribute("placeholder", "64m")

    # Model and memory: the preview names both and says the bot restarts; Apply does it.
    page.get_by_label("Model", exact=True).fill("gpt-5.1-mini")
    page.locator("#c-memory").fill("96m")
    expect(review.locator('[data-change="model"]')).to_contain_text("gpt-5.1 → gpt-5.1-mini")
    expect(review.locator('[data-change="limits.memory_bytes"]')).to_contain_text(
        "server default → 96m"
    )
    expect(page.locator("#config-effect")).to_contain_text("the bot restarts")
    expect(page.locator("#config-diff-box")).to_be_visible()
    assert services.store.get_bot(bot.id).model == "gpt-5.1"  # a preview changes nothing
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#config-ok")).to_contain_text("Applied")
    reported = client.get(f"/api/bots/{bot.id}").json()
    assert reported["model"] == "gpt-5.1-mini"
    assert reported["config"]["limits"]["memory_bytes"] == 96 * MIB
    info = docker_api.inspect_container(resolve_container(docker_api, bot.container))
    assert info["HostConfig"]["Memory"] == 96 * MIB
    expect(page.locator("#bot-model")).to_have_text("openai/gpt-5.1-mini")
    expect(review).to_be_hidden()

    # A refused value: the API's words under the field, live and on Apply; nothing changes.
    stored = services.store.get_bot(bot.id).stored
    cpus = page.locator("#c-cpus")
    cpus.fill("lots")
    expect(page.locator("#c-cpus-error")).to_contain_text("number")
    page.get_by_role("button", name="Apply").click()
    expect(cpus).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#c-cpus-error")).to_contain_text("number")
    expect(page.locator("#config-ok")).to_be_hidden()
    assert services.store.get_bot(bot.id).stored == stored
    page.locator("#config-reset").click()
    expect(cpus).to_have_value("")

    # Rotate the channel token: write-only, never shown back; the file on disk changes.
    token = page.get_by_label(re.compile("^New bot token"))
    expect(token).to_have_value("")
    token.fill(NEW_TOKEN)
    expect(review.locator('[data-change="secrets.channel_token"]')).to_contain_text("replaced")
    with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        page.get_by_role("button", name="Apply").click()
    expect(page.locator("#config-ok")).to_contain_text("Applied")
    assert patched.value.status == 200
    assert NEW_TOKEN not in patched.value.text()
    assert services.bots.secrets.read(bot.id, "channel_token") == NEW_TOKEN
    expect(token).to_have_value("")
    on_page = _values_on_page(page)
    assert NEW_TOKEN not in on_page
    assert bot.secrets["channel_token"] not in on_page

    # openclaw.json: the token as a SecretRef, no value, old or new.
    page.locator("#rendered-box > summary").click()
    rendered = page.locator("#rendered-json")
    expect(rendered).to_contain_text('"botToken": {')
    expect(rendered).to_contain_text('"source": "file"')
    expect(rendered).to_contain_text('"provider": "bm_channel_token"')
    expect(page.locator("#rendered-note")).to_contain_text("SecretRef")
    expect(rendered).to_contain_text('"primary": "openai/gpt-5.1-mini"')
    on_page = _values_on_page(page)
    for value in (NEW_TOKEN, bot.secrets["channel_token"], bot.secrets["api_key"]):
        assert value not in on_page
    answer = client.get(f"/api/bots/{bot.id}/openclaw-config").text
    assert NEW_TOKEN not in answer
    assert "bm_channel_token" in answer


def test_image_upgrade_and_an_export_the_import_route_takes(
    desktop: Session, services: Services, client: httpx.Client, tmp_path: Path
) -> None:
    bot = create_bot(services, "mover")
    page = _open(desktop, bot.id)
    card = page.locator("#image-card")
    image = services.settings.bot_image
    expect(card.locator("#image-now")).to_contain_text(image)
    expect(page.locator("#image-offer")).to_contain_text("runs the image new bots get")
    expect(page.get_by_label("Upgrade to image")).to_have_value(image)

    # A refused image reference: the API's words on the field, the bot untouched.
    page.get_by_label("Upgrade to image").fill("Not An Image!")
    page.get_by_role("button", name="Upgrade").click()
    expect(page.locator("#image-ref-error")).to_be_visible()
    assert services.store.get_bot(bot.id).image == image

    # The same image again: the upgrade runs (pull, recreate, health) and says how it went.
    page.get_by_label("Upgrade to image").fill(image)
    page.get_by_role("button", name="Upgrade").click()
    result = page.locator("#image-result")
    expect(result).to_contain_text("Upgrading to")
    expect(result).to_have_attribute(
        "data-status", re.compile("^(upgraded|rolled_back)$"), timeout=90_000
    )
    expect(result).to_contain_text(re.compile("Upgraded|Rolled back"))

    # Export (no passphrase: no secrets) downloads an archive the import route accepts.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download export").click()
    expect(page.locator("#export-ok")).to_contain_text("without secrets")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.endswith(".tar.gz")
    assert saved.read_bytes()[:2] == b"\x1f\x8b"
    with saved.open("rb") as archive:
        imported = client.post(
            "/api/bots/import",
            files={"file": (saved.name, archive, "application/gzip")},
            data={"name": "mover-copy"},
        )
    assert imported.status_code == 201, imported.text
    copy = client.get(f"/api/bots/{imported.json()['id']}").json()
    assert copy["name"] == "mover-copy"
    assert copy["model"] == "gpt-5.1"


def test_another_provider_from_the_page(
    desktop: Session, services: Services, client: httpx.Client
) -> None:
    bot = create_bot(services, "hopping")
    page = _open(desktop, bot.id)
    # Not a keyring bot: whether its base URL may be private is not the page's to ask.
    expect(page.locator("#c-base-url-private-row")).to_be_hidden()
    provider = page.get_by_label("Provider", exact=True)
    expect(provider).to_have_value("openai")
    provider.select_option("anthropic")
    # The new provider's models to choose from, its default one filled in.
    expect(page.locator("#c-model")).to_have_value("claude-opus-5")
    # Without a key for it: the API's words under the key field, live and on Apply.
    expect(page.locator("#c-api-key-error")).to_contain_text("needs an API key")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#c-api-key-error")).to_contain_text("needs an API key")
    assert services.store.get_bot(bot.id).provider == "openai"
    page.get_by_label("New API key").fill("sk-ant-from-the-page-0123456789")
    change = page.locator('#config-review [data-change="provider"]')
    expect(change).to_contain_text("openai → anthropic")
    expect(page.locator('#config-review [data-change="model"]')).to_contain_text("claude-opus-5")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#config-ok")).to_contain_text("Applied")
    expect(page.locator("#bot-model")).to_have_text("anthropic/claude-opus-5")
    reported = client.get(f"/api/bots/{bot.id}").json()
    assert (reported["provider"], reported["model"]) == ("anthropic", "claude-opus-5")
    assert services.bots.secrets.read(bot.id, "api_key") == "sk-ant-from-the-page-0123456789"
    expect(provider).to_have_value("anthropic")


def test_a_private_base_url_is_allowed_from_the_page(
    browser: Browser, settings: Settings, make_services: MakeServices
) -> None:
    keyed = make_services(replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0))
    secrets = {"api_key": "sk-lan-page-key-1234567", "channel_token": "1:a"}
    bot = create_bot(keyed, "lan-page", secrets)
    lan = "http://10.20.30.40:11434/v1"
    with ServerThread(create_app(keyed.settings, keyed)) as url:
        session = Session(browser, url, DESKTOP)
        try:
            page = _open(session, bot.id)
            private = page.get_by_label("It is on a private or loopback network")
            expect(private).not_to_be_checked()
            page.get_by_label("Base URL").fill(lan)
            # The API's refusal, live, on the base URL's field; Apply changes nothing.
            error = page.locator("#c-base-url-error")
            expect(error).to_contain_text("is a private address")
            page.get_by_role("button", name="Apply").click()
            expect(error).to_contain_text("allow it explicitly")
            assert keyed.store.get_bot(bot.id).definition.base_url is None
            private.check()
            expect(error).to_have_count(0)
            change = page.locator('#config-review [data-change="base_url_private"]')
            expect(change).to_contain_text("false → true")
            page.get_by_role("button", name="Apply").click()
            expect(page.locator("#config-ok")).to_contain_text("Applied")
            definition = keyed.store.get_bot(bot.id).definition
            assert (definition.base_url, definition.base_url_private) == (lan, True)
            assert keyed.keyring.client.get_bot(bot.id)["allow_private"] is True
            page.reload()
            expect(page.locator("#bot-root[data-ready]")).to_be_attached()
            expect(private).to_be_checked()
            expect(page.get_by_label("Base URL")).to_have_value(lan)
        finally:
            session.close()
