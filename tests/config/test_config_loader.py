"""Config: base + env merged into typed objects; bad config names the key and the file."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import load_config
from lakehouse.errors import ConfigError

BASE = """
storage: {root: ./data}
spark: {master: "local[2]", app_name: t, shuffle_partitions: 2, jars_dir: null}
registry: {mode: embedded, database: registry, user: lakehouse, embedded_dir: "{root}/pg"}
security: {hmac_key: {file: "{root}/key", create_if_missing: true}}
quality: {future_tolerance_minutes: 5}
datagen: {seed: 1, days: 2, offices: 3, enrollments: 10, start_date: "2026-10-01"}
aws: {region: us-east-1, endpoint_url: local}
stream: {name: s, shards: 1, format: lakehouse-kinesis, starting_position: TRIM_HORIZON, starting_timestamp: null,
         max_records_per_shard: 10, trigger_seconds: 1, fail_on_data_loss: true}
catalog: {silver_database: s, gold_database: g, athena_workgroup: primary, athena_output: "{root}/athena/"}
export: {mode: embedded, database: analytics, schema: gold, user: lakehouse, embedded_dir: "{root}/pg"}
dashboard: {path: "{root}/dash.html"}
emr: {prefix: "s3://b/p", cluster_name: c, security_configuration: sc, idle_timeout_seconds: 60}
"""


def _conf(tmp_path: Path, env_text: str, base: str = BASE) -> Path:
    (tmp_path / "base.yaml").write_text(base)
    (tmp_path / "test.yaml").write_text(env_text)
    return tmp_path


def test_shipped_configs_load() -> None:
    local = load_config("local")
    assert local.spark.master == "local[2]" and local.registry.mode == "embedded"
    emr = load_config("emr")
    assert emr.root.startswith("s3://") and emr.registry.password is not None
    assert emr.security.hmac_key.secrets_manager and not emr.security.hmac_key.file


def test_env_overrides_base_and_paths_resolve_under_the_root(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "storage: {root: /srv/lake}\nquality: {future_tolerance_minutes: 10}\n")
    config = load_config("test", conf_dir=conf)
    assert config.root == "/srv/lake"
    assert config.quality.future_tolerance_minutes == 10
    assert config.registry.embedded_dir == "/srv/lake/pg"
    assert config.security.hmac_key.file == "/srv/lake/key"
    assert (config.export.embedded_dir, config.catalog.athena_output) == ("/srv/lake/pg", "/srv/lake/athena/")
    assert config.dashboard.path == "/srv/lake/dash.html"


def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "quality: {future_tolerance_minute: 10}\n")
    with pytest.raises(ConfigError, match=r"test\.yaml: unknown key 'quality\.future_tolerance_minute'"):
        load_config("test", conf_dir=conf)


def test_wrong_type_names_the_key_and_the_file(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "spark: {shuffle_partitions: many}\n")
    with pytest.raises(ConfigError, match=r"test\.yaml: 'spark\.shuffle_partitions' must be an integer"):
        load_config("test", conf_dir=conf)


def test_missing_value_is_named(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "{}\n", base=BASE.replace("quality: {future_tolerance_minutes: 5}\n", ""))
    with pytest.raises(ConfigError, match="missing value for 'quality'"):
        load_config("test", conf_dir=conf)


def test_a_secret_reference_names_exactly_one_place(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "registry: {password: {env: A, file: /k}}\n")
    with pytest.raises(ConfigError, match="'registry.password' must set exactly one of"):
        load_config("test", conf_dir=conf)


def test_unknown_env_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown config 'prod'.*known: test"):
        load_config("prod", conf_dir=_conf(tmp_path, "{}\n"))
