"""The one SparkSession builder used by jobs, the CLI, notebooks and tests."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.config import SparkConfig
from lakehouse.errors import ConfigError

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def _jars(jars_dir: str | None) -> str | None:
    if jars_dir is None:
        return None  # on EMR the cluster provides Delta and the JDBC driver
    jars = sorted(Path(jars_dir).glob("*.jar"))
    if not jars:
        raise ConfigError(
            f"spark.jars_dir: no jars in {jars_dir}; run `make setup` to fetch the pinned JVM artifacts"
        )
    return ",".join(str(j) for j in jars)


def get_spark(settings: SparkConfig, warehouse_dir: str | None = None) -> SparkSession:
    """Build (or return the running) SparkSession with Delta enabled, UTC, and a quiet log.

    Python workers run this very interpreter: without it, Python data sources and UDFs fail with
    "Python worker failed to connect back".
    """
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    builder = SparkSession.builder.appName(settings.app_name)
    if settings.master:
        builder = builder.master(settings.master)
    conf = {
        **DELTA_CONF,
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(max(2, settings.shuffle_partitions)),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "true" if sys.stderr.isatty() else "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.databricks.delta.stalenessLimit": "0",
        "spark.sql.codegen.cache.maxEntries": "2000",
        # Secrets must never show in a configuration dump.
        "spark.redaction.regex": "(?i)secret|password|token|key",
        "spark.driver.memory": os.environ.get("LAKEHOUSE_DRIVER_MEMORY", "4g"),
    }
    jars = _jars(settings.jars_dir)
    if jars:
        conf["spark.jars"] = jars
    if warehouse_dir:
        conf["spark.sql.warehouse.dir"] = warehouse_dir
        conf["spark.driver.extraJavaOptions"] += f" -Dderby.system.home={warehouse_dir}"
    conf.update(settings.extra)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
