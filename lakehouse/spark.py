"""The one SparkSession builder used by jobs, the CLI, notebooks and tests.

It sets what holds wherever the lakehouse runs (Delta, UTC, shuffle partitions from config, the
compiled-code cache, adaptive execution, redaction) and applies what the `spark` config section
says; what differs between one machine and a cluster (log level, UI, driver memory, which Python
the workers run) lives in `conf/<env>.yaml`, never here.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.config import SparkConfig
from lakehouse.errors import ConfigError

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


@dataclass(frozen=True)
class ObjectStore:
    """How S3A reaches the lake's bucket and encrypts what it writes (resolved by the app layer).

    Attributes:
        kms_key: The KMS key ARN every object is written with (SSE-KMS); None: the bucket's default.
        endpoint: An S3 endpoint other than AWS's (the local stand-in); None on AWS.
        region: The bucket's region.
        log_store: "single-driver" or "dynamodb" (Delta's `S3DynamoDBLogStore`, several clusters).
        log_store_table: The DynamoDB table of the "dynamodb" LogStore.
    """

    kms_key: str | None = None
    endpoint: str | None = None
    region: str | None = None
    log_store: str = "single-driver"
    log_store_table: str = "delta_log"


# S3A, one set of keys locally and on EMR (from emr-7.10.0 S3A serves s3://, s3a:// and s3n://).
S3A_IMPL = "org.apache.hadoop.fs.s3a.S3AFileSystem"


def object_store_conf(store: ObjectStore) -> dict[str, str]:
    """The Spark conf (`spark.hadoop.fs.s3a.*`, Delta's LogStore) for `store`."""
    conf = {"spark.hadoop.fs.s3.impl": S3A_IMPL, "spark.hadoop.fs.s3a.impl": S3A_IMPL}
    if store.kms_key:
        conf["spark.hadoop.fs.s3a.encryption.algorithm"] = "SSE-KMS"
        conf["spark.hadoop.fs.s3a.encryption.key"] = store.kms_key
    if store.region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = store.region
    if store.endpoint:  # the stand-in: plain HTTP on loopback, path-style, any credentials
        conf.update({
            "spark.hadoop.fs.s3a.endpoint": store.endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
            "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            "spark.hadoop.fs.s3a.access.key": "local",
            "spark.hadoop.fs.s3a.secret.key": "local",
            "spark.hadoop.fs.s3a.change.detection.version.required": "false",
        })
    if store.log_store == "dynamodb":
        for scheme in ("s3", "s3a"):
            conf[f"spark.delta.logStore.{scheme}.impl"] = "io.delta.storage.S3DynamoDBLogStore"
        conf["spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName"] = store.log_store_table
        if store.region:
            conf["spark.io.delta.storage.S3DynamoDBLogStore.ddb.region"] = store.region
    return conf


def _jars(jars_dir: str | None) -> str | None:
    if jars_dir is None:
        return None  # on EMR the cluster provides Delta and the JDBC driver
    jars = sorted(Path(jars_dir).glob("*.jar"))
    if not jars:
        raise ConfigError(
            f"spark.jars_dir: no jars in {jars_dir}; run `make setup` to fetch the pinned JVM artifacts"
        )
    return ",".join(str(j) for j in jars)


def session_conf(settings: SparkConfig, warehouse_dir: str | None = None,
                 store: ObjectStore | None = None) -> dict[str, str]:
    """The Spark conf of a session: the builder's own keys, then `settings.extra` over them.

    Args:
        settings: The `spark` config section.
        warehouse_dir: A warehouse (and Derby home) folder, for a session of its own (tests).
        store: How S3A reaches and encrypts the lake's objects (default: AWS, the bucket's encryption).

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
    conf.update(object_store_conf(store or ObjectStore()))
    jars = _jars(settings.jars_dir)
    if jars:
        conf["spark.jars"] = jars
    s3a_jars = _s3a_classpath(settings.jars_dir)
    if s3a_jars:
        # On the class path from the start, not in spark.jars: Hadoop finds its file systems there,
        # and the SDK bundle (600 MB) is not copied into every executor's work folder.
        conf["spark.driver.extraClassPath"] = s3a_jars
        conf["spark.executor.extraClassPath"] = s3a_jars
    if warehouse_dir:
        conf["spark.sql.warehouse.dir"] = warehouse_dir
        conf["spark.driver.extraJavaOptions"] += f" -Dderby.system.home={warehouse_dir}"
    conf.update(settings.extra)
    return conf


def _s3a_classpath(jars_dir: str | None) -> str | None:
    """The S3A jars `make setup` fetches into `<jars_dir>/s3a` (none on EMR, where S3A is the platform's)."""
    if jars_dir is None:
        return None
    jars = sorted((Path(jars_dir) / "s3a").glob("*.jar"))
    return ":".join(str(j) for j in jars) or None


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
        The pinned jars, S3A's class path and the Delta keys; empty when `settings.jars_dir` is null
        (the cluster's own spark-defaults provide Delta and S3A there).
    """
    jars = _jars(settings.jars_dir)
    if not jars:
        return {}
    defaults = {"spark.jars": jars, **DELTA_CONF}
    s3a_jars = _s3a_classpath(settings.jars_dir)
    if s3a_jars:
        defaults["spark.driver.extraClassPath"] = s3a_jars
        defaults["spark.executor.extraClassPath"] = s3a_jars
    return defaults


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


def get_spark(settings: SparkConfig, warehouse_dir: str | None = None,
              store: ObjectStore | None = None) -> SparkSession:
    """Build (or return the running) SparkSession with Delta enabled and UTC, as `settings` says.

    Args:
        settings: The `spark` config section.
        warehouse_dir: A warehouse (and Derby home) folder, for a session of its own (tests).
        store: How S3A reaches and encrypts the lake's objects (default: AWS, the bucket's encryption).

    Returns:
        The session, its log level set if `settings.log_level` names one.
    """
    os.environ.update(launch_environment(settings))
    builder = SparkSession.builder.appName(settings.app_name)
    if settings.master:
        builder = builder.master(settings.master)
    for key, value in session_conf(settings, warehouse_dir, store).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if settings.log_level:
        spark.sparkContext.setLogLevel(settings.log_level)
    return spark
