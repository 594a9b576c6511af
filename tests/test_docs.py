"""The README stays true: every setting and every route is documented there."""

from __future__ import annotations

import re
from pathlib import Path

from botmaker.api import create_app
from botmaker.config import DEFAULT_BOT_IMAGE, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIG_SOURCE = (ROOT / "src" / "botmaker" / "config.py").read_text(encoding="utf-8")
KEYRING_SOURCE = (ROOT / "src" / "botmaker" / "keyring" / "settings.py").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands() -> None:
    first_lines = README.splitlines()[:6]
    assert any(line.startswith("./scripts/start") for line in first_lines)
    assert any(line.startswith("./scripts/test") for line in first_lines)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./scripts/test" in ci


def test_every_environment_variable_is_in_the_configuration_table() -> None:
    read = set(re.findall(r'"((?:BOTMAKER|DOCKER)_[A-Z_]+)"', CONFIG_SOURCE))
    assert "BOTMAKER_PORT" in read  # the scan works
    table = set(re.findall(r"^\| `([A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert read - table == set(), "settings missing from the README table"
    keyring = set(re.findall(r'"(BOTMAKER_[A-Z_]+)"', KEYRING_SOURCE))
    assert table - read - keyring == set(), "README documents settings the code does not read"


def test_documented_defaults_match_the_code() -> None:
    defaults = Settings()
    row = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([A-Z_]+)` \| `?([^`|]*?)`? \|", README, flags=re.MULTILINE)
    }
    assert row["BOTMAKER_HOST"] == defaults.host == "127.0.0.1"
    assert row["BOTMAKER_PORT"] == str(defaults.port) == "7100"
    assert row["BOTMAKER_BOT_IMAGE"] == DEFAULT_BOT_IMAGE
    assert not DEFAULT_BOT_IMAGE.endswith(":latest")
    assert ":" in DEFAULT_BOT_IMAGE
    assert row["BOTMAKER_STOP_TIMEOUT"] == str(defaults.stop_timeout)
    assert row["BOTMAKER_TOKEN_TTL"] == str(defaults.token_ttl_seconds)


def test_every_api_route_is_in_the_api_table(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "d", secrets_dir=tmp_path / "s", keyring="off"))
    app.state.services.close()
    documented = set(re.findall(r"^\| `([A-Z]+ /[^`]*)` \|", README, flags=re.MULTILINE))
    served = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert served - documented == set(), "routes missing from the README API table"
    assert documented - served == set(), "README documents routes the app does not serve"


def test_readme_catalog_tables_are_generated_from_the_catalogs() -> None:
    from botmaker.openclaw.docs import block

    assert block() in README, "run: python -m botmaker.openclaw.docs and paste it into README"


def test_every_keyring_variable_is_documented() -> None:
    read = set(re.findall(r'"(BOTMAKER_KEYRING_[A-Z_]+)"', KEYRING_SOURCE))
    assert "BOTMAKER_KEYRING_LISTEN" in read  # the scan works
    table = set(re.findall(r"^\| `(BOTMAKER_KEYRING_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert read <= table, f"keyring settings missing from the README: {read - table}"


def test_every_guarantee_names_tests_that_exist() -> None:
    """*Operating safely* and docs/threat-model.md name the tests that prove each
    guarantee: every ``tests/…py`` and ``::test_…`` they name must exist, so a renamed
    or deleted test cannot leave a guarantee unproved."""
    section = README.split("## Operating safely", 1)[1].split("\n## ", 1)[0]
    names = 0
    for ref in re.finditer(r"`(tests/[\w/]+\.py)(::\w+)?`|`::(\w+)`", section):
        if ref.group(1):
            current = ROOT / ref.group(1)
            assert current.is_file(), ref.group(1)
            source = current.read_text(encoding="utf-8")
        name = (ref.group(2) or "").removeprefix("::") or ref.group(3)
        if name:
            assert re.search(rf"^def {name}\(", source, flags=re.MULTILINE), (current, name)
            names += 1
    assert names >= 20  # the scan works
    threats = (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")
    assert "tests/hostile/" in threats
    assert "docs/threat-model.md" in section
