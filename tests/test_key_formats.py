"""Provider keys: the documented format and a minimum length are checked where a key is
added (``POST /api/keys``, which the Keys page uses), and a listing never shows more than
the last 4 characters of a key, none of a short one (issue 18, item 5)."""

from __future__ import annotations

import httpx
import pytest

from botmaker.keyring.model import key_tail
from botmaker.openclaw.catalog import KEY_PREFIXES, PROVIDERS, key_format_problem
from botmaker.services import Services
from tests.test_keyring_bots import api, keyed, upstream

__all__ = ["api", "keyed", "upstream"]  # the fixtures


@pytest.mark.parametrize(
    ("provider", "key", "words"),
    [
        ("openai", "abc", 'OpenAI API key: those start with "sk-"'),
        ("anthropic", "sk-proj-0123456789abcdef", '"sk-ant-"'),
        ("groq", "sk-0123456789abcdef", '"gsk_"'),
        ("openai", "sk-abc", "too short"),
        ("mistral", "abc", "too short"),
    ],
)
def test_a_key_not_in_the_providers_format_is_refused_naming_the_field(
    api: tuple[httpx.Client, str], keyed: Services, provider: str, key: str, words: str
) -> None:
    client, _ = api
    response = client.post("/api/keys", json={"provider": provider, "key": key})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "key"
    assert words in error["message"]
    assert key not in error["message"]
    assert client.get("/api/keys").json()["keys"] == []


def test_a_key_in_the_format_is_added_and_shows_its_last_4_only(
    api: tuple[httpx.Client, str], keyed: Services
) -> None:
    client, _ = api
    for provider, key in (
        ("openai", "sk-proj-0123456789abcdefWXYZ"),
        ("anthropic", "sk-ant-api03-0123456789abcdef"),
        ("mistral", "0123456789abcdefghij"),  # no documented prefix: length only
    ):
        added = client.post("/api/keys", json={"provider": provider, "key": key})
        assert added.status_code == 201, added.text
        assert added.json()["key"]["last4"] == key[-4:]
        assert key not in added.text


def test_a_short_key_shows_none_of_its_characters(
    api: tuple[httpx.Client, str], keyed: Services
) -> None:
    client, _ = api
    # Keys that never went through the API's check (a bot's own key, the keyring's CLI).
    keyed.keyring.client.add_key("mistral", "abc", label="tiny")
    keyed.keyring.client.add_key("mistral", "sk-test-key", label="eleven")
    keyed.keyring.client.add_key("mistral", "0123456789ab", label="twelve")
    listed = {k["label"]: k["last4"] for k in client.get("/api/keys").json()["keys"]}
    assert listed == {"tiny": "", "eleven": "", "twelve": "89ab"}


def test_the_formats_are_the_catalogs() -> None:
    assert set(KEY_PREFIXES) <= set(PROVIDERS)
    assert key_format_problem("openai", "sk-proj-0123456789") is None
    assert key_format_problem("custom", "local-server-key") is None
    assert [key_tail(k) for k in ("", "abcd", "0123456789a", "0123456789ab")] == [
        "",
        "",
        "",
        "89ab",
    ]
