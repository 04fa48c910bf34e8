"""`spark-submit jobs/<step>.py` as the README shows it, with the project's virtualenv first on PATH:
the venv's pyspark reads the spark-defaults.conf that `make setup` writes (scripts/write_spark_defaults.py),
so Delta's jars are on the driver's class path before the JVM starts.

A tiny lake is built in-process (generate, ingest, silver, through the CLI on the suite's session);
the step itself runs in its own spark-submit JVM, as a new user or an EMR step would run it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession

from lakehouse.cli import main
from lakehouse.contract import tables_in
from lakehouse.storage import delta

PROJECT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SPARK_DEFAULTS = Path(pyspark.__file__).parent / "conf" / "spark-defaults.conf"
# What the suite's own session puts in os.environ (lakehouse.spark.launch_environment): a user's shell
# has none of it, nor a SPARK_HOME pointing elsewhere.
NOT_IN_A_USERS_SHELL = ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_LOCAL_IP", "SPARK_HOME",
                        "PYSPARK_SUBMIT_ARGS", "PYTHONPATH", "SPARK_CONF_DIR")


def user_shell() -> dict[str, str]:
    """The environment of a shell after `source .venv/bin/activate`."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_IN_A_USERS_SHELL}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env["LAKEHOUSE_DRIVER_MEMORY"] = "1g"
    return env


def spark_submit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["spark-submit", *args], cwd=PROJECT, env=user_shell(), capture_output=True, text=True,
                          timeout=600)


def no_java_trace(done: subprocess.CompletedProcess[str]) -> bool:
    both = done.stdout + done.stderr
    return "\tat " not in both and "Traceback" not in both and "Exception" not in both


def test_setup_writes_the_spark_defaults_once() -> None:
    write = [sys.executable, str(PROJECT / "scripts" / "write_spark_defaults.py")]
    subprocess.run(write, check=True, capture_output=True)  # what `make setup` ran, or runs now
    jars = ",".join(str(j) for j in sorted((PROJECT / ".jars").resolve().glob("*.jar")))
    assert "delta-spark_4.1_2.13-4.2.0.jar" in jars
    s3a = ":".join(str(j) for j in sorted((PROJECT / ".jars" / "s3a").resolve().glob("*.jar")))
    assert "hadoop-aws-3.4.2.jar" in s3a and "bundle-2.29.52.jar" in s3a
    lines = SPARK_DEFAULTS.read_text().splitlines()
    assert lines[1:] == [f"spark.jars {jars}",
                         "spark.sql.extensions io.delta.sql.DeltaSparkSessionExtension",
                         "spark.sql.catalog.spark_catalog org.apache.spark.sql.delta.catalog.DeltaCatalog",
                         f"spark.driver.extraClassPath {s3a}", f"spark.executor.extraClassPath {s3a}"]
    before = SPARK_DEFAULTS.stat().st_mtime_ns
    again = subprocess.run(write, check=True, capture_output=True, text=True)
    assert (again.stdout, again.stderr) == ("", "")
    assert SPARK_DEFAULTS.stat().st_mtime_ns == before, "a second make setup rewrote spark-defaults.conf"


def test_a_foreign_spark_defaults_is_left_alone(tmp_path: Path) -> None:
    # The script writes into the pyspark package; one it did not write is refused, not overwritten.
    code = ("import runpy, sys, pyspark; pyspark.__file__ = sys.argv[1]; "
            "runpy.run_path(sys.argv[2], run_name='__main__')")
    fake = tmp_path / "pyspark"
    (fake / "conf").mkdir(parents=True)
    (fake / "conf" / "spark-defaults.conf").write_text("spark.master yarn\n")
    done = subprocess.run([sys.executable, "-c", code, str(fake / "__init__.py"),
                           str(PROJECT / "scripts" / "write_spark_defaults.py")],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "was not written by this script" in done.stderr
    assert (fake / "conf" / "spark-defaults.conf").read_text() == "spark.master yarn\n"


def test_gold_on_a_root_without_silver_is_one_clear_line(spark: SparkSession, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path / "typo"), "gold"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"lakehouse gold: error: no silver tables under {tmp_path}/typo/silver: run the silver "
                       "step first, or check the storage root (--root)")
    assert not (tmp_path / "typo").exists(), "a run was recorded under a root that holds no lake"


@pytest.mark.slow
def test_spark_submit_of_a_job_builds_gold(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    for argv in (["generate", "--days", "2", "--offices", "4", "--enrollments", "40"], ["ingest"], ["silver"]):
        assert main(["--root", root, *argv]) == 0, argv
    assert not any(delta.exists(spark, root, t.full_name) for t in tables_in("gold"))
    subprocess.run([sys.executable, str(PROJECT / "scripts" / "write_spark_defaults.py")], check=True)

    done = spark_submit("jobs/build_gold.py", "--root", root)

    assert done.returncode == 0, done.stderr[-3000:]
    assert "'JavaPackage' object is not callable" not in done.stderr
    for t in tables_in("gold"):  # gold.alerts holds incidents only: none on two healthy days is right
        assert delta.read(spark, root, t.full_name).count() > 0 or t.full_name == "gold.alerts", t.full_name
    runs = delta.read(spark, root, "ops.pipeline_runs").where("step IN ('gold', 'alerts')")
    assert sorted((r["step"], r["status"]) for r in runs.select("step", "status").collect()) in (
        [("alerts", "no_change"), ("gold", "succeeded")], [("alerts", "succeeded"), ("gold", "succeeded")])

    missing = spark_submit("jobs/build_gold.py", "--root", str(tmp_path / "missing"))
    assert missing.returncode == 1
    # spark-submit's PythonRunner merges the script's stderr into the JVM's stdout; Spark's own log
    # lines (INFO, until the session sets the configured level) go to stderr. The step says one line.
    assert missing.stdout.count("lakehouse gold: error:") == 1
    assert (f"lakehouse gold: error: no silver tables under {tmp_path}/missing/silver: run the silver step "
            "first, or check the storage root (--root)\n") in missing.stdout
    assert not (tmp_path / "missing").exists()
    assert no_java_trace(missing), missing.stderr[-3000:]
