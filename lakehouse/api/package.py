"""The API's Lambda zip: the handler, the `lakehouse` modules it imports, conf/, and its libraries
built for the Lambda runtime (Linux x86_64, CPython 3.11), nothing of Spark.

The `lakehouse` modules are found by walking the handler's imports (`lakehouse.trigger.package`),
leaving out the one-machine stand-ins (`lakehouse.local`, never used on Lambda: the API reads RDS
there); a third-party import that is not one of `LIBRARIES` (or the runtime's boto3) stops the
build. The libraries are installed by pip for the Lambda platform at the versions installed here,
so the zip runs what the tests ran. Entries carry a fixed time: the same inputs make the same zip.
"""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from lakehouse.config.paths import CONF_DIR
from lakehouse.errors import ConfigError
from lakehouse.trigger.package import PACKAGE_DIR, RUNTIME_PROVIDED, ZIP_TIME, modules

HANDLER = "lakehouse.api.handler.handler"
# import name -> distribution (with the extras the API needs)
LIBRARIES = {
    "fastapi": "fastapi", "starlette": "starlette", "pydantic": "pydantic", "psycopg": "psycopg[binary]",
    "psycopg_pool": "psycopg-pool", "jwt": "pyjwt[crypto]", "cryptography": "cryptography", "mangum": "mangum",
    "limits": "limits", "yaml": "pyyaml",
}
PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11",
            "--only-binary=:all:")


def _pinned(distribution: str) -> str:
    name = distribution.split("[")[0]
    try:
        return f"{distribution}=={importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"{name} is not installed here: the API zip pins the versions installed") from None


def build(output: Path, progress: Callable[[str], None] = lambda line: None) -> list[str]:
    """Write the zip; returns the paths inside it."""
    found = modules(HANDLER.rsplit(".", 1)[0], provided=(*RUNTIME_PROVIDED, *LIBRARIES),
                    skip=("lakehouse.local",), what="the API on Lambda")
    files = {str(path.relative_to(PACKAGE_DIR.parent)): path for path in found.values()}
    files.update({f"lakehouse/conf/{p.name}": p for p in sorted(CONF_DIR.glob("*.yaml"))})
    with tempfile.TemporaryDirectory(prefix="lakehouse-api-zip-") as tmp:
        target = Path(tmp) / "libs"
        wanted = sorted({_pinned(d) for d in LIBRARIES.values()})
        progress(f"installing {len(wanted)} libraries for the Lambda runtime: {' '.join(wanted)}")
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "--target", str(target), *PLATFORM, *wanted], capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ConfigError("pip could not fetch the API's libraries for Lambda: " + " | ".join(tail))
        for path in sorted(target.rglob("*")):
            relative = path.relative_to(target)
            if path.is_file() and "__pycache__" not in relative.parts and relative.parts[0] != "bin":
                files[str(relative)] = path
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(files):
                entry = zipfile.ZipInfo(name, ZIP_TIME)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, files[name].read_bytes())
    progress(f"{output}: {output.stat().st_size / 1e6:.1f} MB, {len(files)} files")
    return sorted(files)
