"""Imports point one way: the pure core never imports I/O, web or CLI modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "harmmap"
FORBIDDEN_IN_CORE = ("flask", "folium", "click", "sqlite3", "harmmap.store", "harmmap.web", "harmmap.cli",
                     "harmmap.ingest", "pyogrio", "requests")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_scoring_and_planning_are_pure():
    for folder in ("scoring", "plan"):
        for path in (PACKAGE / folder).rglob("*.py"):
            bad = [n for n in imports_of(path) if n.startswith(FORBIDDEN_IN_CORE + ("harmmap.analysis", "spopt"))]
            assert not bad, f"{folder}/{path.name} imports {bad}"


def test_lower_layers_do_not_import_the_faces():
    for folder in ("geo", "ingest", "store", "scoring", "plan", "analysis"):
        for path in (PACKAGE / folder).rglob("*.py"):
            bad = [n for n in imports_of(path) if n.startswith(("harmmap.cli", "harmmap.web", "harmmap.report"))]
            assert not bad, f"{folder}/{path.name} imports {bad}"


def test_schema_and_errors_import_nothing_from_harmmap_above_them():
    for name in ("schema.py", "errors.py"):
        bad = [n for n in imports_of(PACKAGE / name) if n.startswith("harmmap.")]
        assert not bad
