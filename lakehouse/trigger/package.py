"""The Lambda zip: the handler and exactly the `lakehouse` modules it imports, nothing of Spark.

The modules are found by walking the imports of the handler's module (its source, not importing
it); a third-party import other than boto3/botocore (the Lambda runtime's) stops the build, so the
zip cannot silently need pyspark or pandas.
"""
from __future__ import annotations

import ast
import sys
import zipfile
from pathlib import Path

from lakehouse.errors import ConfigError

HANDLER = "lakehouse.trigger.s3_events.handler"
# What the Lambda Python runtime provides beside the standard library.
RUNTIME_PROVIDED = ("boto3", "botocore")
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../lakehouse
# A fixed time in every entry: the same sources make the same zip.
ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def _source(module: str) -> Path | None:
    folder = PACKAGE_DIR.joinpath(*module.split(".")[1:])
    for path in (folder.parent / f"{folder.name}.py", folder / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # a submodule, or a name
    return found


def modules(entry: str = HANDLER.rsplit(".", 1)[0], provided: tuple[str, ...] = RUNTIME_PROVIDED,
            skip: tuple[str, ...] = (), what: str = "the trigger") -> dict[str, Path]:
    """Every `lakehouse` module `entry` imports, transitively, with the packages that hold them;
    modules under a `skip` prefix are left out (with what they import).

    Raises:
        ConfigError: A module imports a third-party package neither the Lambda runtime nor the zip
            (`provided`) provides.
    """
    found: dict[str, Path] = {}
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in found or name.startswith(skip):
            continue
        path = _source(name)
        if path is None:
            continue  # `from lakehouse.x import Name`: a name, not a module
        found[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:n]) for n in range(1, len(parts))]  # the packages above it
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top == "lakehouse":
                todo.append(imported)
            elif top not in sys.stdlib_module_names and top not in provided and top != "__future__":
                raise ConfigError(f"{path.relative_to(PACKAGE_DIR.parent)} imports {imported}, which the "
                                  f"Lambda runtime does not provide: {what} must not need it")
    return found


def build(output: Path) -> list[str]:
    """Write the zip; returns the paths inside it."""
    names = sorted(str(path.relative_to(PACKAGE_DIR.parent)) for path in modules().values())
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            entry = zipfile.ZipInfo(name, ZIP_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, (PACKAGE_DIR.parent / name).read_bytes())
    return names
