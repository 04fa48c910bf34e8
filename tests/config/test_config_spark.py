"""The `spark` section: local tuning comes from conf/local.yaml, the builder adds nothing of its own
that differs between a laptop and a cluster, and dotted Spark keys can be overridden."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse.config import load_config
from lakehouse.errors import ConfigError
from lakehouse.spark import launch_environment, session_conf

LOCAL_TUNING = {
    "spark.ui.enabled": "false",
    "spark.driver.memory": "4g",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.databricks.delta.stalenessLimit": "0",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "8",
}
EVERYWHERE = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.codegen.cache.maxEntries": "2000",
    "spark.redaction.regex": "(?i)secret|password|token|key",
}


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_DRIVER_MEMORY", raising=False)
    monkeypatch.delenv("LAKEHOUSE_ROOT", raising=False)


def test_the_local_config_carries_the_local_tuning() -> None:
    spark = load_config("local").spark
    assert (spark.log_level, spark.python_workers_use_driver_interpreter, spark.local_ip) == (
        "ERROR", True, "127.0.0.1")
    assert spark.extra == LOCAL_TUNING
    conf = session_conf(spark)
    assert conf.items() >= {**EVERYWHERE, **LOCAL_TUNING, "spark.sql.shuffle.partitions": "4"}.items()


def test_on_emr_the_builder_sets_nothing_environment_specific(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARK_LOCAL_IP", raising=False)
    spark = load_config("emr").spark
    conf = session_conf(spark)
    assert conf.items() >= {**EVERYWHERE, "spark.sql.shuffle.partitions": "64",
                            "spark.sql.sources.parallelPartitionDiscovery.parallelism": "64"}.items()
    assert [key for key, value in LOCAL_TUNING.items() if conf.get(key) == value] == []
    assert "spark.jars" not in conf and "spark.master" not in conf
    assert spark.log_level is None
    assert launch_environment(spark) == {}  # PYSPARK_PYTHON and SPARK_LOCAL_IP stay the cluster's


def test_python_workers_and_the_local_ip_come_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARK_LOCAL_IP", raising=False)
    spark = load_config("local").spark
    assert launch_environment(spark) == {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
                                         "SPARK_LOCAL_IP": "127.0.0.1"}
    monkeypatch.setenv("SPARK_LOCAL_IP", "10.0.0.7")  # the shell's own choice wins
    assert "SPARK_LOCAL_IP" not in launch_environment(spark)


def test_driver_memory_from_the_environment_unless_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_DRIVER_MEMORY", "1g")
    extra = load_config("local").spark.extra
    assert extra == {**LOCAL_TUNING, "spark.driver.memory": "1g"}
    extra = load_config("local", {"spark.extra.spark.driver.memory": "2g"}).spark.extra
    assert extra["spark.driver.memory"] == "2g"


def test_an_override_below_extra_is_one_spark_key() -> None:
    extra = load_config("local", {"spark.extra.spark.sql.ansi.enabled": "true"}).spark.extra
    assert extra == {**LOCAL_TUNING, "spark.sql.ansi.enabled": "true"}


def test_a_log_level_spark_does_not_know_names_the_key_and_the_file(tmp_path: Path) -> None:
    conf = Path(__file__).resolve().parents[2] / "conf"
    (tmp_path / "base.yaml").write_text((conf / "base.yaml").read_text())
    (tmp_path / "test.yaml").write_text("spark: {log_level: LOUD}\n")
    with pytest.raises(ConfigError, match=r"test\.yaml: 'spark\.log_level' must be one of ALL, .*got 'LOUD'"):
        load_config("test", conf_dir=tmp_path)


def test_the_test_session_runs_with_the_local_tuning(spark: SparkSession) -> None:
    assert spark.sparkContext.getConf().get("spark.ui.enabled") == "false"
    assert spark.sparkContext.pythonExec == sys.executable
    level = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager.getRootLogger().getLevel()  # type: ignore
    assert level.name() == "ERROR"
