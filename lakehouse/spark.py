"""The one SparkSession builder used by jobs, the CLI, notebooks and tests.

It sets what holds wherever the lakehouse runs (Delta, UTC, shuffle partitions from config, the
compiled-code cache, adaptive execution, redaction) and applies what the `spark` config section
says; what differs between one machine and a cluster (log level, UI, driver memory, which Python
the workers run) lives in `conf/<env>.yaml`, never here.
"""
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


def session_conf(settings: SparkConfig, warehouse_dir: str | None = None) -> dict[str, str]:
    """The Spark conf of a session: the builder's own keys, then `settings.extra` over them.

    Args:
        settings: The `spark` config section.
        warehouse_dir: A warehouse (and Derby home) folder, for a session of its own (tests).

    Returns:
        Spark conf keys and values, in the order they are set.
    """
    conf = {
        **DELTA_CONF,
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(max(2, settings.shuffle_partitions)),
        # A progress bar only where someone watches it, not in step logs or captured output.
        "spark.ui.showConsoleProgress": "true" if sys.stderr.isatty() else "false",
        "spark.sql.adaptive.enabled": "true",
        # Micro-batches and daily runs re-plan the same queries: keep their compiled code.
        "spark.sql.codegen.cache.maxEntries": "2000",
        # Secrets must never show in a configuration dump.
        "spark.redaction.regex": "(?i)secret|password|token|key",
    }
    jars = _jars(settings.jars_dir)
    if jars:
        conf["spark.jars"] = jars
    if warehouse_dir:
        conf["spark.sql.warehouse.dir"] = warehouse_dir
        conf["spark.driver.extraJavaOptions"] += f" -Dderby.system.home={warehouse_dir}"
    conf.update(settings.extra)
    return conf


def submit_defaults(settings: SparkConfig) -> dict[str, str]:
    """What a plain `spark-submit jobs/<step>.py` must know before its JVM starts (none on EMR).

    Under spark-submit the driver's JVM is up before the builder runs, so the builder's `spark.jars`
    reaches the executors but never the driver's class path, and Delta's session extension is not
    found. `scripts/write_spark_defaults.py` writes these into the pyspark package's
    `conf/spark-defaults.conf`, which that pyspark's spark-submit reads first. The builder sets
    the same values, so a session it starts itself is unchanged.

    Args:
        settings: The `spark` config section.

    Returns:
        The pinned jars and the Delta keys; empty when `settings.jars_dir` is null (the cluster's
        own spark-defaults provide Delta there).
    """
    jars = _jars(settings.jars_dir)
    return {"spark.jars": jars, **DELTA_CONF} if jars else {}


def launch_environment(settings: SparkConfig) -> dict[str, str]:
    """The environment variables to set before the JVM starts, as `settings` asks (none by default).

    Under spark-submit (EMR steps) or in a notebook the JVM is already up and the cluster's own
    settings stand, so config asks for these only where the builder starts the JVM itself.
    """
    env: dict[str, str] = {}
    if settings.python_workers_use_driver_interpreter:
        env["PYSPARK_PYTHON"] = sys.executable
        env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    if settings.local_ip and "SPARK_LOCAL_IP" not in os.environ:  # the shell's own choice wins
        env["SPARK_LOCAL_IP"] = settings.local_ip
    return env


def get_spark(settings: SparkConfig, warehouse_dir: str | None = None) -> SparkSession:
    """Build (or return the running) SparkSession with Delta enabled and UTC, as `settings` says.

    Args:
        settings: The `spark` config section.
        warehouse_dir: A warehouse (and Derby home) folder, for a session of its own (tests).

    Returns:
        The session, its log level set if `settings.log_level` names one.
    """
    os.environ.update(launch_environment(settings))
    builder = SparkSession.builder.appName(settings.app_name)
    if settings.master:
        builder = builder.master(settings.master)
    for key, value in session_conf(settings, warehouse_dir).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if settings.log_level:
        spark.sparkContext.setLogLevel(settings.log_level)
    return spark
