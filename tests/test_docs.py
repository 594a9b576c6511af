"""The README stays true: every setting and every route is documented there."""

from __future__ import annotations

import re
from pathlib import Path

from botmaker.api import create_app
from botmaker.config import SETTINGS, Settings
from botmaker.keyring.settings import KEYRING

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands() -> None:
    first_lines = README.splitlines()[:6]
    assert any(line.startswith("./scripts/start") for line in first_lines)
    assert any(line.startswith("./scripts/test") for line in first_lines)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./scripts/test" in ci


def test_readme_configuration_tables_are_generated_from_the_settings_tables() -> None:
    from botmaker.config_docs import blocks

    for block in blocks():
        assert block in README, "run: python -m botmaker.config_docs and paste it into README"


def test_the_readme_documents_exactly_the_variables_the_code_reads() -> None:
    """No row outside the generated tables names a variable the code does not read."""
    read = {var.name for var in SETTINGS} | {var.name for var in KEYRING}
    assert {"BOTMAKER_PORT", "BOTMAKER_KEYRING_LISTEN"} <= read  # the scan works
    rows = set(
        re.findall(r"^\| `((?:BOTMAKER|DOCKER|OTEL)_[A-Z_]+)` \|", README, flags=re.MULTILINE)
    )
    assert rows == read


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
