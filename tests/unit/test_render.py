"""Rendering a bot's OpenClaw files: references to secret files, never values.

Pure: the rendered bytes are checked here; that the real OpenClaw accepts them is
tests/test_openclaw_config.py (in the real image).
"""

from __future__ import annotations

import json

import pytest

from botmaker.openclaw.catalog import PROVIDERS
from botmaker.openclaw.render import render_files
from tests.support.botconfigs import CANARY, CREDENTIAL_CHANNELS, bot


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_rendered_files_hold_references_not_secrets(provider: str) -> None:
    config = bot(provider, CREDENTIAL_CHANNELS)
    files = render_files(config)
    text = b"".join(files.values()).decode()
    assert CANARY not in text
    document = json.loads(files["openclaw.json"])
    assert document["gateway"]["auth"]["token"]["source"] == "file"
    for alias, entry in document["secrets"]["providers"].items():
        assert entry["path"].startswith("/run/secrets/"), alias
        assert entry["mode"] == "singleValue"
    block = document["models"]["providers"][provider]
    if PROVIDERS[provider].key_required or "apiKey" in block:
        assert block["apiKey"] == {"source": "file", "provider": "bm_api_key", "id": "value"}
    assert document["agents"]["defaults"]["model"]["primary"].startswith(f"{provider}/")
    assert document["update"]["checkOnStart"] is False
    assert document["models"]["catalogRefresh"]["enabled"] is False
    assert "workspace/SOUL.md" in files
    assert "workspace/IDENTITY.md" in files
