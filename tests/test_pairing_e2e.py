"""DM pairing end to end with the real OpenClaw image (official layout), a fake Telegram
Bot API and a fake OpenAI upstream (real HTTP servers on the test network).

One bot whose Telegram DM policy is ``pairing``: strangers who message it get a code
from OpenClaw and no answer; the requests show in ``GET /api/pairing`` and in the
dashboard (the inbox page, the bot page), where one is approved and the other denied
with the real buttons in Debian's Chromium; the approved sender's next message is
answered by the model, and still is after an edit (re-render + restart) of the bot.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from playwright.sync_api import Browser, Page, expect

from botmaker.config import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.support.cli import botmaker_env
from tests.support.fake_openai import REPLY
from tests.support.fixtures import MakeServices
from tests.support.openclaw_image import OpenClawImage, build
from tests.support.openclaw_lab import (
    Lab,
    openclaw_lab,
    telegram_bot,
    wait_healthy,
)

expect.set_options(timeout=60_000)  # each read of the requests runs OpenClaw's CLI (~5 s)

BOTMAKER = Path(sys.executable).with_name("botmaker")
ALICE = 515151
BOB = 626262
_CODE = re.compile(r"<code>([A-Z0-9]{8})\s*</code>")


@pytest.fixture
def lab(
    settings: Settings, make_services: MakeServices, docker_api: docker.APIClient
) -> Iterator[Lab]:
    image: OpenClawImage = build(docker_api)  # the official layout, the one users pull
    with openclaw_lab(settings, make_services, image.reference, docker_api) as lab:
        yield lab


def sent_to(lab: Lab, chat: int) -> list[str]:
    return [str(m.get("text", "")) for m in lab.telegram.sent if str(m.get("chat_id")) == str(chat)]


def wait_message(lab: Lab, chat: int, pattern: str, after: int = 0, timeout: float = 120) -> str:
    """The first message the bot sent ``chat`` (past its first ``after``) matching."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for text in sent_to(lab, chat)[after:]:
            if re.search(pattern, text):
                return text
        time.sleep(0.5)
    calls = [c[0] for c in lab.telegram.calls][-20:]
    raise AssertionError(f"no message to {chat} matching {pattern!r}: {sent_to(lab, chat)} {calls}")


def completions(lab: Lab) -> int:
    return len([r for r in lab.upstream.requests if r.path.endswith("/chat/completions")])


def pairing_code(lab: Lab, chat: int, text: str) -> str:
    lab.telegram.say(text, chat_id=chat, user_id=chat)
    match = _CODE.search(wait_message(lab, chat, r"Pairing code"))
    assert match, sent_to(lab, chat)
    return match.group(1)


def log_in(page: Page, path: str) -> None:
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def owners(settings: Settings, bot_id: str) -> Any:
    state = settings.data_dir / "bots" / bot_id / "state" / "openclaw.json"
    return json.loads(state.read_text()).get("commands", {}).get("ownerAllowFrom")


def cli_pairing_list(settings: Settings, tmp_path: Path) -> str:
    """``botmaker pairing list`` on the lab's installation (its own process)."""
    env = botmaker_env(
        tmp_path,
        settings.bot_image,
        "pair",
        BOTMAKER_DATA_DIR=str(settings.data_dir),
        BOTMAKER_SECRETS_DIR=str(settings.secrets_dir),
        BOTMAKER_INSTANCE=settings.instance,
        BOTMAKER_NETWORK=settings.network,
        BOTMAKER_BOT_MEMORY="1536m",
    )
    result = subprocess.run(
        [str(BOTMAKER), "pairing", "list"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_stranger_is_paired_from_the_dashboard_and_stays_paired_across_an_edit(
    lab: Lab, settings: Settings, docker_api: docker.APIClient, browser: Browser, tmp_path: Path
) -> None:
    client = lab.client
    created = client.post("/api/bots", json=telegram_bot(lab, "pairing-bot", dm_policy="pairing"))
    assert created.status_code == 201, created.text
    bot = created.json()
    name = f"botmaker-{bot['id']}"
    wait_healthy(docker_api, name, settings.network)

    # Two strangers message the bot: each gets a code from OpenClaw, neither an answer.
    before = completions(lab)
    alice, bob = pairing_code(lab, ALICE, "hello"), pairing_code(lab, BOB, "hi there")
    assert completions(lab) == before

    inbox = client.get("/api/pairing")
    assert inbox.status_code == 200, inbox.text
    [entry] = inbox.json()["bots"]
    assert (entry["id"], entry["channels"], entry["error"]) == (bot["id"], ["telegram"], None)
    waiting = {r["code"]: r for r in entry["requests"]}
    assert set(waiting) == {alice, bob}
    assert waiting[alice]["sender"] == str(ALICE)
    assert waiting[alice]["channel"] == "telegram"
    assert waiting[alice]["name"] == "Tess"
    assert waiting[alice]["expires_at"] - waiting[alice]["created_at"] == 3600

    # The command line lists them too (another process, the same installation).
    listed = cli_pairing_list(lab.svc.settings, tmp_path)
    assert re.search(rf"pairing-bot\s+telegram\s+{alice}\s+{ALICE}\s+Tess", listed), listed
    assert bob in listed

    # Bad requests name their field, and change nothing.
    base = f"/api/bots/{bot['id']}/pairing"
    for path, field in (
        (f"{base}/discord/{alice}/approve", "channel"),
        (f"{base}/telegram/not-a-code!/approve", "code"),
        (f"{base}/telegram/ZZZZZZZZ/approve", "code"),
    ):
        refused = client.post(path)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["field"] == field, refused.text

    context = browser.new_context(base_url=str(client.base_url))
    try:
        page = context.new_page()
        # The inbox lists both; Approve lets Alice in.
        log_in(page, "/pairing")
        row = page.locator(f'tr[data-code="{alice}"]')
        expect(row).to_contain_text(str(ALICE))
        expect(page.locator(f'tr[data-code="{bob}"]')).to_contain_text("pairing-bot")
        row.get_by_role("button", name="Approve").click()
        expect(page.locator(".toast-ok")).to_contain_text("may now message the bot")
        expect(row).to_have_count(0)
        expect(page.locator(f'tr[data-code="{bob}"]')).to_have_count(1)
        # The bot's page shows what is left; Deny dismisses Bob's request.
        page.goto(f"/bots/{bot['id']}")
        card = page.locator("#pairing-card")
        bob_row = card.locator(f'tr[data-code="{bob}"]')
        expect(bob_row).to_contain_text(str(BOB))
        bob_row.get_by_role("button", name="Deny").click()
        expect(page.locator(".toast-ok")).to_contain_text("Dismissed")
        expect(card.locator("#pairing-empty")).to_be_visible()
    finally:
        context.close()

    assert client.get(base).json()["requests"] == []
    audit = client.get("/api/audit").json()["entries"]
    decided = {e["action"]: e["detail"] for e in audit if e["action"].startswith("pairing.")}
    assert decided["pairing.approve"]["sender"] == str(ALICE)
    assert decided["pairing.approve"]["owner"] == f"telegram:{ALICE}"
    assert decided["pairing.deny"]["sender"] == str(BOB)
    assert owners(settings, bot["id"]) == [f"telegram:{ALICE}"]  # OpenClaw's first owner

    # Alice is answered by the model now.
    seen = len(sent_to(lab, ALICE))
    lab.telegram.say("are you there?", chat_id=ALICE, user_id=ALICE)
    assert REPLY in wait_message(lab, ALICE, re.escape(REPLY), after=seen)

    # An edit re-renders openclaw.json and restarts the bot: Alice stays approved.
    edited = client.patch(
        f"/api/bots/{bot['id']}", json={"persona": {"name": "Marvin", "soul": "You are Marvin."}}
    )
    assert edited.status_code == 200, edited.text
    wait_healthy(docker_api, name, settings.network)
    assert owners(settings, bot["id"]) == [f"telegram:{ALICE}"]
    seen = len(sent_to(lab, ALICE))
    lab.telegram.say("still there?", chat_id=ALICE, user_id=ALICE)
    assert REPLY in wait_message(lab, ALICE, re.escape(REPLY), after=seen)
    assert not any("Pairing code" in text for text in sent_to(lab, ALICE)[seen:])
