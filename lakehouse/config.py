"""Configuration: `conf/base.yaml` merged with `conf/<env>.yaml`, validated into typed objects.

Every key is checked against the dataclasses below. An unknown key, a missing value or a value of
the wrong type raises `ConfigError` naming the key and the file it came from. Secrets are never
literals: a `SecretRef` points at a file, an environment variable or a Secrets Manager id.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lakehouse.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT_ROOT / "conf"


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
    root: str


@dataclass(frozen=True)
class SparkConfig:
    master: str | None
    app_name: str
    shuffle_partitions: int
    jars_dir: str | None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatabaseConfig:
    """A PostgreSQL database: embedded locally (the project's server in `embedded_dir`), RDS on AWS."""

    mode: str  # "embedded" | "jdbc"
    database: str
    user: str
    embedded_dir: str | None = None
    jdbc_url: str | None = None
    password: SecretRef | None = None


@dataclass(frozen=True)
class RegistryConfig(DatabaseConfig):
    """The registry database, read by ingest."""


@dataclass(frozen=True)
class SecurityConfig:
    hmac_key: SecretRef


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
class ExportConfig(DatabaseConfig):
    """The database `lakehouse export` copies gold into (locally the registry's server)."""

    schema: str = "gold"


@dataclass(frozen=True)
class DashboardConfig:
    path: str  # the self-contained HTML file `lakehouse dashboard` writes


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

    @property
    def root(self) -> str:
        return self.storage.root


# A secret reference in an env file replaces the base one whole: it names one place, not a merge.
_SECRET_KINDS = {"file", "env", "secrets_manager"}


def _deep_merge(base: dict[str, Any], over: dict[str, Any], origin: dict[str, str],
                over_file: str, prefix: str = "") -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        dotted = f"{prefix}{key}"
        is_secret_ref = isinstance(value, dict) and bool(_SECRET_KINDS & value.keys())
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not is_secret_ref:
            out[key] = _deep_merge(out[key], value, origin, over_file, dotted + ".")
        else:
            out[key] = value
            _mark(origin, dotted, value, over_file)
    return out


def _mark(origin: dict[str, str], dotted: str, value: Any, source: str) -> None:
    if dotted:
        origin[dotted] = source
    if isinstance(value, dict):
        for key, inner in value.items():
            _mark(origin, f"{dotted}.{key}" if dotted else str(key), inner, source)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def _coerce(value: Any, tp: Any, dotted: str, origin: dict[str, str]) -> Any:
    where = origin.get(dotted, "defaults")
    origin_args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None and type(None) in origin_args:
            return None
        inner = [a for a in origin_args if a is not type(None)]
        return _coerce(value, inner[0], dotted, origin)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: '{dotted}' must be a mapping, got {type(value).__name__}")
        return _build(tp, value, origin, dotted + ".")
    if typing.get_origin(tp) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: '{dotted}' must be a mapping, got {type(value).__name__}")
        return {str(k): str(v) for k, v in value.items()}
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: '{dotted}' must be true or false, got {value!r}")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: '{dotted}' must be an integer, got {value!r}")
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{where}: '{dotted}' must be a string, got {value!r}")
    return value


def _build(cls: Any, data: dict[str, Any], origin: dict[str, str], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = origin.get(f"{prefix}{key}", "config")
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}{f.name}"
        if f.name in data:
            kwargs[f.name] = _coerce(data[f.name], hints[f.name], dotted, origin)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing value for '{dotted}' (set it in conf/base.yaml or the env file)")
    obj = cls(**kwargs)
    if cls is SecretRef:
        set_refs = [n for n in ("file", "env", "secrets_manager") if getattr(obj, n)]
        if len(set_refs) != 1:
            where = origin.get(prefix.rstrip("."), "config")
            raise ConfigError(f"{where}: '{prefix.rstrip('.')}' must set exactly one of file, env, secrets_manager")
    return obj


def load_config(env: str = "local", overrides: dict[str, Any] | None = None,
                conf_dir: Path | None = None) -> Config:
    """Load `base.yaml` + `<env>.yaml` (+ dotted overrides, e.g. ``{"storage.root": "/tmp/x"}``).

    `LAKEHOUSE_ROOT` in the environment overrides `storage.root` too, so one shell can point every
    command at another storage root.
    """
    conf_dir = conf_dir or CONF_DIR
    origin: dict[str, str] = {}
    base_file = conf_dir / "base.yaml"
    data = _read_yaml(base_file)
    _mark(origin, "", data, str(base_file))
    env_file = conf_dir / f"{env}.yaml"
    if not env_file.exists():
        known = sorted(p.stem for p in conf_dir.glob("*.yaml") if p.stem != "base")
        raise ConfigError(f"unknown config '{env}': no {env_file} (known: {', '.join(known)})")
    data = _deep_merge(data, _read_yaml(env_file), origin, str(env_file))
    merged_overrides = dict(overrides or {})
    if os.environ.get("LAKEHOUSE_ROOT") and "storage.root" not in merged_overrides:
        merged_overrides["storage.root"] = os.environ["LAKEHOUSE_ROOT"]
    for dotted, value in merged_overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        origin[dotted] = "override"
    data["env"] = env
    config: Config = _build(Config, data, origin)
    return _resolve_paths(config)


def _resolve_paths(config: Config) -> Config:
    """Relative local paths are relative to the project folder, not the working directory."""

    def absolute(path: str | None) -> str | None:
        if path is None or "://" in path or os.path.isabs(path):
            return path
        return str((PROJECT_ROOT / path).resolve())

    storage = dataclasses.replace(config.storage, root=absolute(config.storage.root) or "")
    spark = dataclasses.replace(config.spark, jars_dir=absolute(config.spark.jars_dir))
    embedded_dir = _under_root(config.registry.embedded_dir, storage.root)
    registry = dataclasses.replace(config.registry, embedded_dir=embedded_dir)
    key = config.security.hmac_key
    if key.file:
        key = dataclasses.replace(key, file=_under_root(key.file, storage.root))
    security = dataclasses.replace(config.security, hmac_key=key)
    export = dataclasses.replace(config.export, embedded_dir=_under_root(config.export.embedded_dir, storage.root))
    athena_output = config.catalog.athena_output.replace("{root}", storage.root)
    catalog = dataclasses.replace(config.catalog, athena_output=athena_output)
    dashboard = DashboardConfig(_under_root(config.dashboard.path, storage.root) or "")
    return dataclasses.replace(config, storage=storage, spark=spark, registry=registry, security=security,
                               export=export, catalog=catalog, dashboard=dashboard)


def _under_root(path: str | None, root: str) -> str | None:
    """`{root}` in a local path stands for the storage root."""
    if path is None:
        return None
    path = path.replace("{root}", root)
    return path if os.path.isabs(path) else str((PROJECT_ROOT / path).resolve())
