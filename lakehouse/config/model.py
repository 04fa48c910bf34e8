"""The typed configuration: frozen dataclasses the loader binds `conf/*.yaml` into.

Every field here is a config key; the loader rejects any key that is not. A field with a default
may be left out of the YAML files; one without must be set in `conf/base.yaml` or the env file.
A field whose metadata names `choices` accepts only those values.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives. Exactly one of the three is set."""

    file: str | None = None
    env: str | None = None
    secrets_manager: str | None = None
    create_if_missing: bool = False

    def __repr__(self) -> str:  # the reference is safe to show, never the value
        where = self.file or self.env or self.secrets_manager
        return f"SecretRef({where!r})"


@dataclass(frozen=True)
class StorageConfig:
    """Where the lake lives, and how its objects are protected.

    Attributes:
        root: A local folder, or `s3a://bucket/prefix` (`s3://` on EMR): every table, the landing
            zone, checkpoints and ops.
        kms_key: KMS key ARN for SSE-KMS on every object written; null: the bucket's default.
            "local" is the project's own key in the local stand-in (created by the project).
        local_dir: What cannot live on S3 (the embedded databases' data, the local key file, the
            stand-in's state); null: the root itself when it is a local folder, else
            `lakehouse-local/<bucket>/<prefix>` in the project folder. Config paths say `{local}`.
        s3_log_store: Delta's LogStore for S3 tables: "single-driver" (Delta's default, one writer
            per table at a time) or "dynamodb" (`S3DynamoDBLogStore`, for writers on several clusters).
    """

    root: str
    kms_key: str | None = None  # KMS key ARN for SSE-KMS on every object written; null: the bucket's default
    local_dir: str | None = None
    s3_log_store: str = field(default="single-driver", metadata={"choices": ("single-driver", "dynamodb")})
    s3_log_store_table: str = "delta_log"  # the DynamoDB table of the "dynamodb" LogStore


# Spark's own names (SparkContext.setLogLevel).
LOG_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")


@dataclass(frozen=True)
class SparkConfig:
    """How `lakehouse.spark.get_spark` builds the session: the builder applies these and nothing of
    its own that differs between a laptop and a cluster.

    Attributes:
        master: The master URL (`local[2]`); null lets spark-submit (YARN on EMR) decide.
        app_name: The application's name.
        shuffle_partitions: `spark.sql.shuffle.partitions` (and the default parallelism).
        jars_dir: A folder whose jars go into `spark.jars`; null where the cluster provides them
            (under spark-submit the JVM is up before the builder runs, so `spark.jars` would come too late).
        log_level: The log level set once the session is up; null keeps the cluster's log4j level.
        python_workers_use_driver_interpreter: Point `PYSPARK_PYTHON` (and `PYSPARK_DRIVER_PYTHON`)
            at the driver's own interpreter. On one machine Python workers must run the
            interpreter that has the project installed, or Python data sources fail with
            "Python worker failed to connect back"; on a cluster its own setting must stay.
        local_ip: `SPARK_LOCAL_IP` for a JVM the builder starts itself (unless the environment
            already sets it): the address the driver binds to, whatever the host name resolves to.
        extra: Further Spark conf keys, applied last, so they win over the builder's own.
    """

    master: str | None
    app_name: str
    shuffle_partitions: int
    jars_dir: str | None
    log_level: str | None = field(default=None, metadata={"choices": LOG_LEVELS})
    python_workers_use_driver_interpreter: bool = False
    local_ip: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatabaseConfig:
    """A PostgreSQL database: embedded locally (the project's server in `embedded_dir`), RDS on AWS."""

    mode: str  # "embedded" | "jdbc"
    database: str
    user: str
    embedded_dir: str | None = None
    jdbc_url: str | None = None
    rds_instance: str | None = None  # its RDS instance id: then it must be StorageEncrypted, and sslmode=require
    password: SecretRef | None = None  # the role's; the embedded server takes no connection without one
    embedded_admin_password: SecretRef | None = None  # embedded: the server's superuser (`postgres`)


@dataclass(frozen=True)
class RegistryConfig(DatabaseConfig):
    """The registry database, read by ingest."""


@dataclass(frozen=True)
class SecurityConfig:
    """How personal data is protected.

    Attributes:
        hmac_key: the key of `citizen_key` (HMAC-SHA256 of the national ID): a reference.
        leak_scan: after every step writing outside bronze and quarantine, look for bronze's
            national IDs and names in what it wrote, and fail the run if one is found.
        erasure_retention_hours: how long files an erasure removed from a table stay on storage
            before its VACUUM deletes them (the table's `delta.deletedFileRetentionDuration`): the
            erasure's reach into time travel. 0 locally; a week on AWS lets running readers finish.
    """

    hmac_key: SecretRef
    leak_scan: bool = True
    erasure_retention_hours: int = 0


@dataclass(frozen=True)
class MaintenanceConfig:
    """`lakehouse maintain`.

    Attributes:
        vacuum_retention_hours: files a table no longer needs (replaced by a compaction, a MERGE or
            an erasure) stay on storage this long before VACUUM deletes them: a reader (a stream,
            a query) still on an older version, and time travel, reach back this far. A week by
            default; 0 deletes them at once (a one-machine lake with no other reader).
    """

    vacuum_retention_hours: int = field(default=168, metadata={"minimum": 0})


@dataclass(frozen=True)
class QualityConfig:
    future_tolerance_minutes: int


@dataclass(frozen=True)
class DatagenConfig:
    seed: int
    days: int
    offices: int
    enrollments: int
    start_date: str


@dataclass(frozen=True)
class AwsConfig:
    """`endpoint_url`: "local" for the project's moto server, null for AWS itself, or a URL."""

    region: str
    endpoint_url: str | None = None


@dataclass(frozen=True)
class StreamConfig:
    """The Kinesis stream of enrollment events and how the stream job reads it."""

    name: str
    shards: int
    format: str  # "lakehouse-kinesis" (this project's source) | "aws-kinesis" (EMR's connector)
    starting_position: str  # TRIM_HORIZON | LATEST | AT_TIMESTAMP
    starting_timestamp: str | None
    max_records_per_shard: int
    trigger_seconds: int
    fail_on_data_loss: bool


@dataclass(frozen=True)
class CatalogConfig:
    """Where `lakehouse publish` registers the tables: one Glue database per layer, and the Athena
    workgroup (and result location) in which it creates the BI views."""

    silver_database: str
    gold_database: str
    athena_workgroup: str
    athena_output: str  # where Athena writes query results (s3://... on AWS)


@dataclass(frozen=True)
class RedshiftConfig:
    """`lakehouse publish --redshift`: gold's symlink manifests and the Redshift Spectrum DDL over them.

    Attributes:
        schema: the external schema the DDL creates in Redshift.
        glue_database: the Glue database behind that schema, which holds the Spectrum tables (over
            the manifests). Not `catalog.gold_database`: its entries of the same names are the native
            Delta ones Athena reads, and Spectrum's `CREATE EXTERNAL TABLE` would clash with them.
        iam_role: the ARN of the role the Redshift cluster assumes for Glue and the gold prefix; null:
            the DDL names a placeholder ARN to replace before it is run (and publish says so).
    """

    schema: str = "lakehouse_gold"
    glue_database: str = "lakehouse_gold_spectrum"
    iam_role: str | None = None


@dataclass(frozen=True)
class ExportConfig(DatabaseConfig):
    """The database `lakehouse export` copies gold into (locally the registry's server)."""

    schema: str = "gold"


@dataclass(frozen=True)
class ApiConfig:
    """`lakehouse serve` and `lakehouse api`: the HTTP API over the exported gold schema.

    The API reads the export's database (`export`) as its own read-only role `user`, which sees the
    export's schema and nothing else. Bearer JWTs (RS256 or ES256) are checked against `jwks`: "dev"
    is the public half of `dev_signing_key`, the key `lakehouse api token` signs with (one machine,
    tests); on AWS a file or the `https://` JWKS URL of the identity provider that issues them.

    Attributes:
        page_token_key: signs the opaque page tokens; null: a key derived from `password`.
        region_claim: the claim naming the regions whose rows a caller may read (a string or a
            list; "*" is every region). A token without it reads nothing.
        rate_limit: per caller (the token's subject; its address before it is known), in the
            notation of the `limits` library: "50/second", "1000/minute".
        max_query_bytes: the longest query string taken (414 beyond); max_body_bytes the largest
            request body (413 beyond: the API reads none).
        gateway_rate_limit, gateway_burst_limit: the API Gateway stage's throttling (requests per
            second across all callers, and the burst), in `conf/api/stage.json`.
        cache_max_age_seconds: `Cache-Control: private, max-age=...` of every answer; the `ETag`
            follows the exported Delta versions, so a revalidation is a 304 until an export lands.
    """

    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata={"minimum": 1})
    user: str = "lakehouse_api"
    password: SecretRef | None = None
    issuer: str = "https://lakehouse.local/dev"
    audience: str = "lakehouse-api"
    jwks: str = "dev"
    dev_signing_key: str | None = None
    region_claim: str = "lakehouse_regions"
    page_token_key: SecretRef | None = None
    default_page_size: int = field(default=100, metadata={"minimum": 1})
    max_page_size: int = field(default=1000, metadata={"minimum": 1})
    max_date_range_days: int = field(default=366, metadata={"minimum": 1})
    statement_timeout_ms: int = field(default=2000, metadata={"minimum": 1})
    max_query_bytes: int = field(default=2048, metadata={"minimum": 64})
    max_body_bytes: int = field(default=1024, metadata={"minimum": 0})
    rate_limit: str = "100/second"
    cache_max_age_seconds: int = field(default=60, metadata={"minimum": 0})
    pool_max_size: int = field(default=4, metadata={"minimum": 1})
    gateway_rate_limit: int = field(default=500, metadata={"minimum": 1})
    gateway_burst_limit: int = field(default=1000, metadata={"minimum": 1})


@dataclass(frozen=True)
class DashboardConfig:
    path: str  # the self-contained HTML file `lakehouse dashboard` writes


ALERT_CONDITIONS = ("below", "above", "falls_by", "rises_by")
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class AlertRule:
    """One alert rule: a KPI (or ops) table's column judged per key against a threshold.

    Attributes:
        table: A gold KPI table (`gold.kpi_validation_times_daily`) or one of the ops measures
            `lakehouse.alerts.measures` computes (`ops.quarantine_share`, `ops.freshness`,
            `ops.stream_lag`).
        column: The value judged.
        condition: below | above the threshold; falls_by | rises_by more than the threshold against
            the mean of the same key's `window_days` dates before (in the column's units: 0.10 of
            a rate is 10 points).
        grain: The key columns judged together; null: the table's whole key. A coarser grain (date
            and region of a table by date, region and modality) judges the volume-weighted mean.
        volume: The column counting what the value is over (validations, enrollments started);
            with `min_volume`, a key with fewer is not judged.
        only: Key values the rule judges (`{step: [ingest, silver, gold]}`); empty: every key.
        severity: info | warning | critical.
        enabled: false turns a default rule off from an env file.
    """

    table: str
    column: str
    condition: str = field(metadata={"choices": ALERT_CONDITIONS})
    threshold: float
    severity: str = field(default="warning", metadata={"choices": SEVERITIES})
    grain: tuple[str, ...] | None = None
    volume: str | None = None
    min_volume: int = field(default=0, metadata={"minimum": 0})
    window_days: int = field(default=7, metadata={"minimum": 1})
    only: dict[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class AlertsConfig:
    """`lakehouse alerts`, and the evaluation after every gold build (README, "Alerts").

    Attributes:
        rules: Rule name -> rule: an env file changes one rule's keys by its name.
        topic: The SNS topic an incident's opening and resolution go to: a name (created if
            missing) or an ARN; null: incidents are recorded in `gold.alerts` only.
        stream_every_seconds: In continuous mode the stream evaluates the ops rules (lag,
            freshness) at most this often.
    """

    rules: dict[str, AlertRule] = field(default_factory=dict)
    topic: str | None = "lakehouse-alerts"
    stream_every_seconds: int = field(default=60, metadata={"minimum": 1})


@dataclass(frozen=True)
class EmrConfig:
    """`lakehouse emr deploy | create-cluster | submit`: where the artifacts go and what of the cluster
    differs between accounts; the cluster's shape is in `conf/emr/cluster.yaml`."""

    prefix: str  # s3://bucket/prefix: deploy uploads there; the bootstrap action and the steps read from there
    cluster_name: str
    security_configuration: str  # the name of the EMR security configuration (conf/emr/security.yaml)
    idle_timeout_seconds: int  # the auto-termination policy: an idle cluster ends after this long
    subnet_id: str | None = None  # Instances.Ec2SubnetId; null: EMR picks the default VPC's
    # s3://.../certs.zip: the PEM zip of in-transit TLS (your CA's); null: deploy makes a self-signed one
    tls_certificates: str | None = None


@dataclass(frozen=True)
class IamConfig:
    """`lakehouse iam write`: the account the policies of `conf/iam/` name, and the roles' names.

    `api_secret` is the Secrets Manager id of the PostgreSQL read-only password the API uses.
    """

    account_id: str | None = None
    partition: str = "aws"
    ingestion_role: str = "lakehouse-ingestion"
    publisher_role: str = "lakehouse-publisher"
    exporter_role: str = "lakehouse-exporter"
    analyst_role: str = "lakehouse-analyst"
    api_role: str = "lakehouse-api"
    erasure_role: str = "lakehouse-erasure"
    key_admin_role: str = "lakehouse-key-admin"
    emr_service_role: str = "EMR_DefaultRole"  # the cluster's ServiceRole: it encrypts the EBS volumes
    api_secret: str | None = None


@dataclass(frozen=True)
class Config:
    env: str
    storage: StorageConfig
    spark: SparkConfig
    registry: RegistryConfig
    security: SecurityConfig
    quality: QualityConfig
    datagen: DatagenConfig
    aws: AwsConfig
    stream: StreamConfig
    catalog: CatalogConfig
    export: ExportConfig
    dashboard: DashboardConfig
    emr: EmrConfig
    iam: IamConfig = field(default_factory=IamConfig)
    maintenance: MaintenanceConfig = field(default_factory=MaintenanceConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    redshift: RedshiftConfig = field(default_factory=RedshiftConfig)

    @property
    def root(self) -> str:
        return self.storage.root

    @property
    def local_dir(self) -> str:
        """The storage's local folder (`storage.local_dir`, resolved by the loader)."""
        return self.storage.local_dir or self.storage.root
