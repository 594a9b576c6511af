"""The bot list's fleet tools in a real browser, on a real server with stand-in bots:
bulk stop and delete with each bot's result, the notification centre (an alert from
the server, and an action's result after its toast is gone), backup download and
bot import for admins, and neither for an operator or a viewer."""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import bot_body
from tests.support.checks import logged_in
from tests.test_dashboard import DESKTOP, Session, card
from tests.test_users import NEW_PASSWORD, _add_user, _password_changed

expect.set_options(timeout=15_000)


@pytest.fixture
def desktop(browser: Browser, server: str) -> Iterator[Session]:
    session = Session(browser, server, DESKTOP)
    yield session
    session.close()


def _bots(client: httpx.Client, *names: str) -> dict[str, str]:
    ids = {}
    for name in names:
        made = client.post("/api/bots", json=bot_body(name))
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
    return ids


def _select(page: Page, *names: str) -> None:
    for name in names:
        card(page, name).get_by_role("checkbox", name=f"Select {name}").check()


def _summary(client: httpx.Client, bot_id: str) -> str:
    return str(client.get(f"/api/bots/{bot_id}").json()["status"]["summary"])


def test_bulk_stop_and_delete_report_each_bot(desktop: Session, client: httpx.Client) -> None:
    ids = _bots(client, "bulk-a", "bulk-b", "bulk-c", "bulk-d")
    page = desktop.page()
    desktop.login(page, "/")
    for name in ids:
        expect(card(page, name)).to_be_visible()
    bar = page.locator("#bulk-bar")
    expect(bar.get_by_role("button", name="Stop")).to_be_disabled()

    _select(page, "bulk-a", "bulk-b", "bulk-c")
    expect(page.locator("#bulk-count")).to_have_text("3 selected")
    bar.get_by_role("button", name="Stop").click()
    results = page.locator("#bulk-results")
    expect(results.get_by_role("heading")).to_have_text("Stop: 3 bots")
    for name in ("bulk-a", "bulk-b", "bulk-c"):
        row = results.locator(f'li[data-bot-id="{ids[name]}"]')
        expect(row).to_have_attribute("data-state", "stopped", timeout=30_000)
        expect(card(page, name)).to_have_attribute("data-status", "stopped")
        assert _summary(client, ids[name]) == "stopped"  # the API agrees
    expect(page.locator("#bulk-summary")).to_have_text("All 3 bots stopped.")
    assert _summary(client, ids["bulk-d"]) != "stopped"  # not selected, not touched

    # The operation's toast goes; the notification centre keeps it.
    toast = page.locator(".toast-ok", has_text="Stop: 3 bots stopped")
    expect(toast).to_be_visible()
    expect(toast).to_have_count(0, timeout=10_000)
    bell = page.locator("#inbox-button")
    expect(page.locator("#inbox-count")).to_be_visible()
    bell.click()
    panel = page.locator("#inbox-panel")
    expect(panel).to_be_visible()
    kept = panel.locator('li[data-source="result"]', has_text="Stop: 3 bots stopped")
    expect(kept).to_have_count(1)
    expect(kept).to_contain_text("your action")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.locator("#inbox-count")).to_be_hidden()  # read
    expect(bell).to_be_focused()

    # Delete three: one confirmation naming them; one vanished meanwhile and fails.
    # The selection stays after an action; "select all" of a partial one selects all.
    page.locator("#bulk-all").click()
    expect(page.locator("#bulk-count")).to_have_text("4 selected")
    card(page, "bulk-c").get_by_role("checkbox").uncheck()
    expect(page.locator("#bulk-all")).to_have_js_property("indeterminate", True)
    bar.get_by_role("button", name="Delete…").click()
    dialog = page.locator("#bulk-delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Delete 3 bots?")
    expect(dialog.locator("#bulk-delete-names li")).to_have_text(["bulk-a", "bulk-b", "bulk-d"])
    gone = client.delete(f"/api/bots/{ids['bulk-b']}")  # deleted elsewhere, after the ask
    assert gone.status_code == 204, gone.text
    dialog.get_by_role("button", name="Delete 3 bots").click()
    expect(dialog).to_be_hidden()
    for name in ("bulk-a", "bulk-d"):
        row = results.locator(f'li[data-bot-id="{ids[name]}"]')
        expect(row).to_have_attribute("data-state", "deleted", timeout=30_000)
        expect(card(page, name)).to_have_count(0)
        assert client.get(f"/api/bots/{ids[name]}").status_code == 404
    failed = results.locator(f'li[data-bot-id="{ids["bulk-b"]}"]')
    expect(failed).to_have_attribute("data-state", "failed")
    expect(failed).to_contain_text("no bot with id or name")
    expect(page.locator("#bulk-summary")).to_have_text("2 deleted, 1 failed.")
    expect(card(page, "bulk-c")).to_be_visible()  # not selected: kept
    assert page.locator("#bulk-count").text_content() == "None selected"


def test_the_notification_centre_lists_a_bots_death(
    desktop: Session, client: httpx.Client, docker_api: docker.APIClient
) -> None:
    ids = _bots(client, "mortal")
    container = client.get(f"/api/bots/{ids['mortal']}").json()["container_name"]
    docker_api.kill(container)  # not asked for: BotMaker records a death
    deadline = time.monotonic() + 20
    while not client.get("/api/events", params={"kind": "died"}).json()["events"]:
        assert time.monotonic() < deadline, "no died event"
        time.sleep(0.2)
    page = desktop.page()
    desktop.login(page, "/")
    count = page.locator("#inbox-count")
    expect(count).to_be_visible()
    expect(page.locator("#inbox-label")).to_contain_text("unread")
    page.locator("#inbox-button").click()
    item = page.locator("#inbox-panel li", has_text="mortal: died")
    expect(item.first).to_be_visible()
    expect(item.first.get_by_role("link", name=re.compile("mortal: died"))).to_have_attribute(
        "href", f"/bots/{ids['mortal']}"
    )
    # Read in this browser: after a reload the count stays at zero.
    page.reload()
    expect(page.locator("#inbox-button")).to_have_attribute("data-unread", "0")


def test_backup_download_and_import_are_for_admins_only(
    desktop: Session, browser: Browser, server: str, client: httpx.Client, tmp_path: Path
) -> None:
    ids = _bots(client, "keeper")
    page = desktop.page()
    desktop.login(page, "/")
    expect(card(page, "keeper")).to_be_visible()
    page.get_by_text("Backup and import").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download backup").click()
    saved = tmp_path / "backup.tar.gz"
    info.value.save_as(saved)
    assert info.value.suggested_filename.startswith("botmaker-backup-")
    with tarfile.open(saved, mode="r:gz") as tar:
        manifest = json.load(tar.extractfile("manifest.json") or io.BytesIO(b"{}"))
        assert "store/botmaker.db" in tar.getnames()
    assert manifest["kind"] == "backup"
    assert [b["name"] for b in manifest["bots"]] == ["keeper"]

    # Import an exported bot under a new name; a wrong passphrase is said on its field.
    exported = client.post("/api/bots/export", json={"bot": "keeper", "passphrase": "p" * 12})
    assert exported.status_code == 200, exported.text
    archive = tmp_path / "keeper.tar.gz"
    archive.write_bytes(exported.content)
    page.get_by_label("Exported bot (.tar.gz)").set_input_files(str(archive))
    page.get_by_label("New name (optional)").fill("keeper-copy")
    page.get_by_label("Its passphrase (for its secrets)").fill("not the passphrase")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-error")).to_contain_text("wrong passphrase")
    expect(page.get_by_label("Its passphrase (for its secrets)")).to_have_attribute(
        "aria-invalid", "true"
    )
    page.get_by_label("Its passphrase (for its secrets)").fill("p" * 12)
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".toast-ok", has_text="Imported keeper-copy.")).to_be_visible(
        timeout=30_000
    )
    expect(card(page, "keeper-copy")).to_be_visible()

    # An operator and a viewer: no panel, and the API refuses them.
    for name, role in (("olga", "operator"), ("vera", "viewer")):
        _, first = _add_user(client, name, role)
        _password_changed(server, name, first)
        other = browser.new_context(base_url=server, viewport=DESKTOP)
        try:
            mine = other.new_page()
            mine.goto("/login")
            mine.get_by_label("User name").fill(name)
            mine.get_by_label("Password").fill(NEW_PASSWORD)
            mine.get_by_role("button", name="Log in").click()
            expect(mine.get_by_role("button", name="Log out")).to_be_visible()
            expect(mine.locator("#inbox-button")).to_be_visible()
            assert mine.locator("#backup-panel").count() == 0
            assert mine.get_by_text("Download backup").count() == 0
        finally:
            other.close()
        with logged_in(server, NEW_PASSWORD, user=name) as them:
            assert them.post("/api/backup", json={}).status_code == 403
            assert them.post("/api/bots/export", json={"bot": ids["keeper"]}).status_code == 403
