"""The dashboard's ES modules, read as text: every import names a file and an export
that exist, and no module imports itself back through others.

There is no build step that would catch these: a broken import only shows as a page
error in the browser tests, and an import loop works until evaluation order changes
(a module then sees the other's exports before they are set).
"""

from __future__ import annotations

import re
from pathlib import Path

JS = Path(__file__).resolve().parents[2] / "src" / "botmaker" / "web" / "static" / "js"
IMPORT = re.compile(r'^import\s+(?:(?P<what>.+?)\s+from\s+)?"(?P<path>[^"]+)";', re.M | re.S)
EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function|const|let|class)\s+([\w$]+)", re.M)


def modules(root: Path = JS) -> dict[Path, str]:
    return {path: path.read_text() for path in sorted(root.rglob("*.js"))}


def imports(path: Path, text: str) -> list[tuple[Path, list[str]]]:
    """(the imported file, the names taken from it) for each import of ``path``."""
    out = []
    for match in IMPORT.finditer(text):
        what = match["what"] or ""
        names = []
        if "{" in what:
            inner = what[what.index("{") + 1 : what.index("}")]
            names = [n.split(" as ")[0].strip() for n in inner.split(",") if n.strip()]
        out.append(((path.parent / match["path"]).resolve(), names))
    return out


def cycles(graph: dict[Path, set[Path]]) -> list[list[Path]]:
    """Every import loop, each as the path from a module back to itself."""
    found: list[list[Path]] = []

    def walk(node: Path, trail: list[Path]) -> None:
        for child in sorted(graph.get(node, set())):
            if child == trail[0]:
                found.append([*trail, child])
            elif child not in trail and child > trail[0]:
                walk(child, [*trail, child])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_every_import_names_a_module_and_exports_that_exist() -> None:
    files = modules()
    assert len(files) > 10
    problems = []
    for path, text in files.items():
        for target, names in imports(path, text):
            if target not in files:
                problems.append(f"{path.name}: no module {target}")
                continue
            exported = set(EXPORT.findall(files[target]))
            missing = [n for n in names if n not in exported]
            problems += [f"{path.name}: {target.name} has no export {n}" for n in missing]
    assert problems == []


def test_no_module_imports_itself_back() -> None:
    files = modules()
    graph = {path: {target for target, _ in imports(path, text)} for path, text in files.items()}
    loops = [" -> ".join(p.relative_to(JS).as_posix() for p in loop) for loop in cycles(graph)]
    assert loops == []


def test_the_loop_finder_finds_a_loop(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text('import { b } from "./b.js";\nexport const a = 1;\n')
    (tmp_path / "b.js").write_text('import "./a.js";\nexport function b() {}\n')
    files = modules(tmp_path)
    graph = {path: {target for target, _ in imports(path, text)} for path, text in files.items()}
    assert [[p.name for p in loop] for loop in cycles(graph)] == [["a.js", "b.js", "a.js"]]
