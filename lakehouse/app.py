"""The app layer: steps as users and jobs call them, config in, a recorded `StepReport` out.

The CLI, the `jobs/` entry points and notebooks all go through these functions. This is the one
place that unpacks `Config` into the plain values the pipeline and publish functions take, resolves
secrets, and chooses AWS or the local stand-ins (`lakehouse.local`) as config says.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from lakehouse.config import Config, DatabaseConfig, SecretRef
from lakehouse.config.paths import is_remote
from lakehouse.contract import TABLES, tables_in
from lakehouse.errors import ConfigError, SourceError, describe
from lakehouse.ops.results import StepResult
from lakehouse.ops.runs import StepReport, last_inputs, new_run_id, record
from lakehouse.pipeline.flows import SilverSettings
from lakehouse.pipeline.gold import build_gold, check_silver
from lakehouse.pipeline.ingest import ingest
from lakehouse.pipeline.silver import build_silver
from lakehouse.security import leak_checks
from lakehouse.security.secret_refs import resolve
from lakehouse.sources.kinesis.connectors import StreamSettings
from lakehouse.sources.landing import check_landing
from lakehouse.sources.postgres import Endpoint, jdbc_endpoint
from lakehouse.sources.registry import REGISTRY_DDL
from lakehouse.spark import ObjectStore
from lakehouse.storage import delta


@contextlib.contextmanager
def database(section: str, settings: DatabaseConfig, embedded_ddl: str | None = None) -> Iterator[Endpoint]:
    """The database a config section (`registry`, `export`) names, for the duration of a command.

    `jdbc`: RDS at `jdbc_url`, its password resolved from its reference, checked to answer.
    `embedded`: the project's local server (`lakehouse.local.postgres`), with `embedded_ddl` run; its
    passwords (the role's and the superuser's) resolved the same way (locally: files generated on
    first use).
    """
    def password(ref: SecretRef | None) -> str | None:
        return resolve(ref).decode() if ref else None

    if settings.mode == "embedded":
        from lakehouse.local.postgres import embedded_endpoint

        with embedded_endpoint(settings.embedded_dir, settings.database, settings.user, password(settings.password),
                               password(settings.embedded_admin_password), section, embedded_ddl) as endpoint:
            yield endpoint
    elif settings.mode == "jdbc":
        yield jdbc_endpoint(settings.jdbc_url, settings.database, settings.user, password(settings.password), section)
    else:
        raise ConfigError(f"{section}.mode must be 'embedded' or 'jdbc', got '{settings.mode}'")


def check_rds(config: Config, section: str, settings: DatabaseConfig) -> None:
    """A database in jdbc mode whose `rds_instance` is named: refused unless the instance is encrypted
    at rest and the JDBC URL asks for TLS (before any secret is read or connection made)."""
    if settings.mode != "jdbc" or not settings.rds_instance:
        return
    from lakehouse.aws.clients import client
    from lakehouse.sources.postgres import require_encrypted_rds

    rds = client("rds", config.aws.region, aws_endpoint(config))
    require_encrypted_rds(rds, settings.rds_instance, settings.jdbc_url, section)


@contextlib.contextmanager
def registry(config: Config) -> Iterator[Endpoint]:
    """The registry database (ingest reads it; `lakehouse generate` writes it locally)."""
    check_rds(config, "registry", config.registry)
    with database("registry", config.registry, REGISTRY_DDL) as endpoint:
        yield endpoint


def run_step(spark: SparkSession, config: Config, name: str, work: Callable[[StepReport], StepResult | None],
          run_id: str | None = None, scan: bool = True) -> StepReport:
    """Run one step's `work` (given the report, for progress), record it in the ops tables, return it.

    `scan`: look for leaked personal data in the tables the step changed (`security.leak_scan`);
    false for a step that only rewrites files and changes no row (maintenance)."""
    report = StepReport(run_id or new_run_id(name), name)
    report.progress("started")
    try:
        result = work(report)
        if result is not None:
            report.add(result)
        if scan:
            leak_checks.check_tables(spark, config, [n for n in report.versions if n in TABLES], report.progress)
    except BaseException as err:
        report.status, report.message = "failed", describe(err)
        with contextlib.suppress(Exception):
            record(spark, config.root, report)
        raise
    report.status = "succeeded" if report.changed else "no_change"
    report.message = "changed " + ", ".join(sorted(report.versions)) if report.changed else "nothing new"
    record(spark, config.root, report)
    report.progress(f"{report.status}: {report.message}")
    return report


def run_ingest(spark: SparkSession, config: Config, run_id: str | None = None) -> StepReport:
    """Landing files and registry changes -> bronze."""
    def work(report: StepReport) -> StepResult:
        check_landing(spark, config.root)  # before starting a database for nothing
        with registry(config) as endpoint:
            return ingest(spark, config.root, endpoint, report.run_id, report.progress)

    return run_step(spark, config, "ingest", work, run_id)


def silver_settings(config: Config) -> SilverSettings:
    """The plain values of the silver transforms, the HMAC key resolved from its reference."""
    return SilverSettings(config.root, resolve(config.security.hmac_key), config.quality.future_tolerance_minutes)


def run_silver(spark: SparkSession, config: Config, run_id: str | None = None) -> StepReport:
    """Bronze -> silver and quarantine, incrementally."""
    settings = silver_settings(config)
    return run_step(spark, config, "silver", lambda report: build_silver(spark, settings, report.progress), run_id)


def run_gold(spark: SparkSession, config: Config, run_id: str | None = None, full: bool = False) -> StepReport:
    """Silver -> gold: what silver changed since the last gold run, or all of it (`full`)."""
    def work(report: StepReport) -> StepResult:
        return build_gold(spark, config.root, report.progress, last_inputs(spark, config.root, "gold"), full)

    check_silver(spark, config.root)  # before recording a run under a root that holds no lake
    return run_step(spark, config, "gold", work, run_id)


def sns_sender(config: Config, endpoint: str | None) -> Callable[[dict[str, Any], str], None] | None:
    """Sends an incident's opening or resolution to `alerts.topic` (a name is created if missing, an
    ARN used as it is); None without a topic. Subject and attributes carry the severity and status,
    so a subscription can filter (only critical ones to the pager)."""
    import json

    from lakehouse.aws.clients import client

    if not config.alerts.topic:
        return None
    sns = client("sns", config.aws.region, endpoint)
    topic = config.alerts.topic
    arns: list[str] = [topic] if topic.startswith("arn:") else []

    def send(incident: dict[str, Any], event: str) -> None:
        if not arns:
            arns.append(sns.create_topic(Name=topic)["TopicArn"])
        subject = f"[{incident['severity']}] {incident['rule']} {event}: {incident['incident_key']}"
        body = {**{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in incident.items()}, "event": event}
        sns.publish(TopicArn=arns[0], Subject=subject[:100], Message=json.dumps(body, sort_keys=True),
                    MessageAttributes={
                        name: {"DataType": "String", "StringValue": str(value)}
                        for name, value in (("severity", incident["severity"]), ("event", event),
                                            ("rule", incident["rule"]))})

    return send


def run_alerts(spark: SparkSession, config: Config, run_id: str | None = None, now: datetime | None = None,
               ops_only: bool = False) -> StepReport:
    """The alert rules judged into `gold.alerts`, openings and resolutions sent to the SNS topic."""
    from lakehouse.alerts import evaluate
    from lakehouse.ops import runs

    def work(report: StepReport) -> StepResult:
        send = sns_sender(config, aws_endpoint(config)) if config.alerts.topic else None
        return evaluate(spark, config.root, config.alerts.rules, now or runs.now(), send, report.progress, ops_only)

    return run_step(spark, config, "alerts", work, run_id)


def run_maintain(spark: SparkSession, config: Config, tables: list[str] | None = None, vacuum: bool = True,
                 run_id: str | None = None) -> StepReport:
    """Compact, Z-order, purge, vacuum and checkpoint the lake's tables (or `tables`): no row changes."""
    from lakehouse.storage import maintenance

    maintenance.chosen_tables(tables)  # a wrong name: one line, before a run is recorded

    def work(report: StepReport) -> StepResult:
        done = maintenance.maintain(spark, config.root, tables, config.maintenance.vacuum_retention_hours,
                                    vacuum, report.progress)
        return StepResult(versions={name: m.checkpoint_version for name, m in done.items()
                                    if m.optimized})

    return run_step(spark, config, "maintain", work, run_id, scan=False)


def aws_endpoint(config: Config) -> str | None:
    """The AWS endpoint to use: None for AWS itself; the project's moto server for "local"."""
    if config.aws.endpoint_url != "local":
        return config.aws.endpoint_url
    from lakehouse.local.aws import start_detached

    return start_detached(config.local_dir).url


def kms_key(config: Config, endpoint: str | None) -> str | None:
    """The lake's KMS key ARN: `storage.kms_key`, or for "local" the stand-in's own key."""
    if config.storage.kms_key != "local":
        return config.storage.kms_key
    if endpoint is None:
        raise ConfigError("storage.kms_key 'local' names the local stand-in's key, but aws.endpoint_url is "
                          "AWS itself: set the key's ARN")
    from lakehouse.local.aws import local_kms_key

    return local_kms_key(endpoint, config.aws.region)


KINESIS_MANAGED_KEY = "alias/aws/kinesis"


def stream_kms_key(config: Config, endpoint: str | None) -> str:
    """The KMS key the Kinesis stream's records rest under: the lake's key; with no lake key, the
    local stand-in's own (`aws.endpoint_url: local`), else Kinesis' AWS-managed key: never none."""
    if config.storage.kms_key is None and config.aws.endpoint_url == "local" and endpoint is not None:
        from lakehouse.local.aws import local_kms_key

        return local_kms_key(endpoint, config.aws.region)
    return kms_key(config, endpoint) or KINESIS_MANAGED_KEY


def object_store(config: Config) -> ObjectStore:
    """How S3A reaches and encrypts the lake: only a remote root needs an endpoint (and a stand-in
    started); with the stand-in, the lake's bucket is created as `init_storage` would."""
    if not is_remote(config.root):
        return ObjectStore(region=config.aws.region)
    endpoint = aws_endpoint(config)
    store = ObjectStore(kms_key(config, endpoint), endpoint, config.aws.region, config.storage.s3_log_store,
                        config.storage.s3_log_store_table)
    if config.aws.endpoint_url == "local":  # the stand-in's S3 starts empty: make the lake's bucket
        from lakehouse.aws.buckets import bucket_exists, split_uri
        from lakehouse.aws.clients import client

        if not bucket_exists(client("s3", config.aws.region, endpoint), split_uri(config.root)[0]):
            init_storage(config, store)
    return store


def init_storage(config: Config, store: ObjectStore | None = None) -> list[str]:
    """The lake's bucket with default SSE-KMS, Bucket Keys, no public access and the TLS/KMS policy."""
    from lakehouse.aws.buckets import ensure_bucket, split_uri
    from lakehouse.aws.clients import client

    store = store or object_store(config)
    if not store.kms_key:
        raise ConfigError("storage.kms_key is not set: the lake's bucket is encrypted with the lake's KMS key "
                          "(set its ARN, or \"local\" for the local stand-in's)")
    bucket, _ = split_uri(config.root)
    return ensure_bucket(client("s3", config.aws.region, store.endpoint), bucket, config.aws.region, store.kms_key,
                         with_policy=config.aws.endpoint_url != "local")


def spark(config: Config) -> SparkSession:
    """The session for a command or job: the builder as `spark` says, S3A as `storage` and `aws` say."""
    from lakehouse.spark import get_spark

    return get_spark(config.spark, store=object_store(config))


def stream_identity(config: Config, endpoint: str | None) -> str:
    """The stream's ARN and creation time: what tells a re-created stream from the one checkpointed."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lakehouse.aws.clients import client

    try:
        summary = client("kinesis", config.aws.region, endpoint).describe_stream_summary(StreamName=config.stream.name)
    except (BotoCoreError, ClientError) as err:
        raise SourceError(f"cannot reach Kinesis stream '{config.stream.name}': {describe(err)}") from None
    description = summary["StreamDescriptionSummary"]
    return f"{description['StreamARN']} created {description['StreamCreationTimestamp'].isoformat()}"


def stream_settings(config: Config, endpoint: str | None) -> StreamSettings:
    """How the stream job reads Kinesis, from the `stream` and `aws` sections."""
    s = config.stream
    return StreamSettings(s.format, s.name, config.aws.region, endpoint, s.starting_position, s.starting_timestamp,
                          s.max_records_per_shard, s.fail_on_data_loss)


def run_stream(spark: SparkSession, config: Config, available_now: bool, trigger_seconds: int | None = None,
               timeout_seconds: float | None = None) -> StepReport:
    """Kinesis -> bronze -> silver: drained and stopped, or continuous for `timeout_seconds`."""
    from lakehouse.pipeline import stream

    settings = silver_settings(config)

    def work(report: StepReport) -> StepResult:
        endpoint = aws_endpoint(config)
        stream.check_stream_identity(spark, config.root, stream_identity(config, endpoint),
                                     config.stream.fail_on_data_loss, report.progress)
        records = stream.kinesis_records(spark, stream_settings(config, endpoint))
        return stream.run_stream(spark, records, settings, report.progress, available_now,
                                 trigger_seconds or config.stream.trigger_seconds, timeout_seconds)

    return run_step(spark, config, "stream", work)


def run_publish(spark: SparkSession, config: Config, run_id: str | None = None,
                redshift_out: str | None = None) -> StepReport:
    """Silver and gold in the Glue Data Catalog (Athena reads them as Delta), and the BI views;
    with `redshift_out`, gold's symlink manifests too and the Redshift Spectrum DDL in that folder."""
    from lakehouse.aws.clients import client
    from lakehouse.publish.catalog import glue_location, publish_catalog
    from lakehouse.publish.redshift import publish_redshift
    from lakehouse.publish.views import create_views

    def work(report: StepReport) -> None:
        endpoint = aws_endpoint(config)
        glue = client("glue", config.aws.region, endpoint)
        catalog = config.catalog
        databases = {"silver": catalog.silver_database, "gold": catalog.gold_database}
        outcomes = publish_catalog(spark, config.root, databases, glue, report.progress)
        for name, outcome in sorted(outcomes.items()):
            if outcome in ("created", "updated"):
                report.versions[f"glue:{name}"] = delta.version(spark, config.root, name) or 0
        create_views(client("athena", config.aws.region, endpoint), catalog.gold_database, catalog.athena_workgroup,
                     glue_location(catalog.athena_output), report.progress, glue=glue)
        if redshift_out is not None:
            r = config.redshift
            publish_redshift(spark, config.root, r.schema, r.glue_database, r.iam_role, Path(redshift_out),
                             report.progress)

    return run_step(spark, config, "publish", work, run_id)


@contextlib.contextmanager
def export_database(config: Config) -> Iterator[Endpoint]:
    """The database gold is exported to (locally the registry's embedded server)."""
    check_rds(config, "export", config.export)
    with database("export", config.export) as endpoint:
        yield endpoint


def run_export(spark: SparkSession, config: Config, run_id: str | None = None) -> StepReport:
    """Every gold table to PostgreSQL (atomic, idempotent)."""
    from lakehouse.publish.export import export_gold, gold_snapshots

    def work(report: StepReport) -> None:
        with export_database(config) as endpoint:
            snapshots = gold_snapshots(spark, config.root)
            # Recorded before the export, so a failed run still says which versions it read.
            report.inputs.update({name: s.version for name, s in snapshots.items()})
            result = export_gold(spark, config.root, endpoint, config.export.schema, report.progress,
                                 snapshots=snapshots)
            if any(o == "exported" for o in result.outcomes.values()):
                leak_checks.check_postgres(spark, config, endpoint, report.progress)
        report.rows_in += result.rows_loaded
        report.rows_out += result.rows_loaded
        for name, outcome in sorted(result.outcomes.items()):
            if outcome == "exported":  # the Delta version the export read
                report.versions[f"postgres:{name}"] = result.versions[name]

    return run_step(spark, config, "export", work, run_id)


def write_dashboard(spark: SparkSession, config: Config) -> str:
    """The KPI dashboard, one self-contained HTML file; returns its path. Unless `security.leak_scan`
    is off, the file is scanned for bronze's IDs and names first: a leak fails the command."""
    from lakehouse.publish import dashboard

    written = dashboard.write_dashboard(spark, config.root, config.dashboard.path)
    leak_checks.check_file(spark, config, written)
    return written


def run_all(spark: SparkSession, config: Config) -> list[StepReport]:
    """Everything, end to end: ingest, silver, gold and the alerts, under one run id."""
    run_id = new_run_id("run")
    return [run_ingest(spark, config, run_id), run_silver(spark, config, run_id), run_gold(spark, config, run_id),
            run_alerts(spark, config, run_id)]


def table_counts(spark: SparkSession, root: str, layers: tuple[str, ...]) -> list[tuple[str, int, int | None]]:
    """(table, rows, Delta version) for every existing table of the given layers."""
    return [(name, delta.read(spark, root, name).count(), delta.version(spark, root, name))
            for name, t in TABLES.items() if t.layer in layers and delta.exists(spark, root, name)]


def read_layer(spark: SparkSession, root: str, layer: str) -> dict[str, DataFrame]:
    """Every existing table of `layer`, by name."""
    return {t.full_name: delta.read(spark, root, t.full_name) for t in tables_in(layer)
            if delta.exists(spark, root, t.full_name)}
