"""Configuration: `conf/base.yaml` merged with `conf/<env>.yaml`, validated into typed objects.

`model` holds the frozen dataclasses, `loader` reads, merges and binds the YAML files (errors name
the key and the file), `paths` makes local paths absolute. Callers import from here:
``from lakehouse.config import Config, load_config``.
"""
from lakehouse.config.loader import load_config
from lakehouse.config.model import (
    AlertRule,
    AlertsConfig,
    ApiConfig,
    AwsConfig,
    CatalogConfig,
    Config,
    DashboardConfig,
    DatabaseConfig,
    DatagenConfig,
    EmrConfig,
    ExportConfig,
    IamConfig,
    QualityConfig,
    RedshiftConfig,
    RegistryConfig,
    SecretRef,
    SecurityConfig,
    SparkConfig,
    StorageConfig,
    StreamConfig,
)
from lakehouse.config.paths import CONF_DIR, PROJECT_ROOT

__all__ = [
    "AlertRule",
    "AlertsConfig",
    "ApiConfig",
    "CONF_DIR",
    "PROJECT_ROOT",
    "AwsConfig",
    "CatalogConfig",
    "Config",
    "DashboardConfig",
    "DatabaseConfig",
    "DatagenConfig",
    "EmrConfig",
    "ExportConfig",
    "IamConfig",
    "QualityConfig",
    "RedshiftConfig",
    "RegistryConfig",
    "SecretRef",
    "SecurityConfig",
    "SparkConfig",
    "StorageConfig",
    "StreamConfig",
    "load_config",
]
