"""The service layer's modules reach each other only through public names.

A use case that calls another module's private method (``bots._validate``) couples
the two invisibly; the deployment core (``services/deploy``) is public for that.
This test reads every module under ``services/`` and fails listing each access to
a ``_private`` attribute of an object other than ``self``/``cls``, unless the name
is defined in that same module (a class touching its own other instances).
"""

from __future__ import annotations

import re
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[1] / "src" / "botmaker" / "services"
ACCESS = re.compile(r"(?<![\w.])(\w+(?:\.\w+)*)\.(_[a-z]\w*)")
DEFINED = re.compile(r"(?:def |class |self\.|cls\.|^\s*)(_[a-z]\w*)\b", re.MULTILINE)


def _code(line: str) -> str:
    """The line without its comment and string literals (good enough for our style)."""
    line = re.sub(r"(['\"]).*?\1", "''", line)
    return line.split("#", 1)[0]


def offenders(path: Path, root: Path = SERVICES.parent) -> list[str]:
    text = path.read_text()
    own = set(DEFINED.findall(text))
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for owner, name in ACCESS.findall(_code(line)):
            if owner in ("self", "cls") or name in own:
                continue
            found.append(f"{path.relative_to(root)}:{number}: {owner}.{name}")
    return found


def test_no_service_module_reaches_into_another_modules_private_names() -> None:
    modules = sorted(SERVICES.rglob("*.py"))
    assert len(modules) > 10
    found = [hit for path in modules for hit in offenders(path)]
    assert found == [], "private names used across modules:\n" + "\n".join(found)


def test_the_check_sees_a_private_access(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "class A:\n    def _own(self) -> None: ...\n"
        "def f(a, bots):\n    a._own()\n    bots._validate(a)\n    self._fine()\n"
    )
    assert offenders(module, tmp_path) == ["m.py:5: bots._validate"]
