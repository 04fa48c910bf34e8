"""`lakehouse rotate-key`: a new HMAC key, silver re-keyed, gold and the export unchanged.

Expected citizen keys are HMAC-SHA256 computed here with `hmac`/`hashlib` from bronze's national
IDs, each silver row tied to its bronze record by `_source` (events) or by its event (validations).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from lakehouse import app, protection
from lakehouse.cli import main
from lakehouse.config import SecretRef, load_config
from lakehouse.contract import tables_in
from lakehouse.errors import ConfigError
from lakehouse.security import rotation
from lakehouse.security.rotation import pending_key
from lakehouse.sources.postgres import connect
from lakehouse.storage import delta

EVENTS, VALIDATIONS = "silver.enrollment_events", "silver.biometric_validations"


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small lake built by the CLI, exported to PostgreSQL."""
    root = tmp_path_factory.mktemp("rotation_lake")
    small = ["--days", "3", "--offices", "4", "--enrollments", "60", "--seed", "5"]
    assert main(["--root", str(root), "generate", "--part", "1", *small]) == 0
    assert main(["--root", str(root), "run", "--no-summary"]) == 0
    assert main(["--root", str(root), "export"]) == 0
    return root


def _hmac(key: bytes, national_id: str) -> str:
    return hmac.new(key, national_id.encode("utf-8"), hashlib.sha256).hexdigest()


def _key_file(root: Path) -> Path:
    return Path(load_config("local", {"storage.root": str(root)}).security.hmac_key.file or "")


def _national_ids(spark: SparkSession, root: Path) -> dict[str, dict[str, str]]:
    """Per silver table: its key (event_id / validation_id) -> the national ID of its bronze record."""
    bronze = {r["_source"]: r for r in delta.read(spark, str(root), "bronze.enrollment_events")
              .select("_source", "event_id", "national_id").collect()}
    events = {r["event_id"]: bronze[r["_source"]]["national_id"]
              for r in delta.read(spark, str(root), EVENTS).select("event_id", "_source").collect()}
    validations = {r["validation_id"]: events[r["event_id"]]
                   for r in delta.read(spark, str(root), VALIDATIONS).select("validation_id", "event_id").collect()}
    return {EVENTS: events, VALIDATIONS: validations}


def _citizen_keys(spark: SparkSession, root: Path) -> dict[str, dict[str, str]]:
    return {name: {r[0]: r[1] for r in delta.read(spark, str(root), name).select(key, "citizen_key").collect()}
            for name, key in ((EVENTS, "event_id"), (VALIDATIONS, "validation_id"))}


def _without_keys(spark: SparkSession, root: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {name: sorted((tuple(r) for r in delta.read(spark, str(root), name).drop("citizen_key").collect()),
                         key=repr) for name in (EVENTS, VALIDATIONS)}


def _gold(spark: SparkSession, root: Path) -> dict[str, tuple[int | None, list[tuple[Any, ...]]]]:
    return {t.full_name: (delta.version(spark, str(root), t.full_name),
                          sorted((tuple(r) for r in delta.read(spark, str(root), t.full_name).collect()), key=repr))
            for t in tables_in("gold")}


def _exported(root: Path) -> list[tuple[Any, ...]]:
    config = load_config("local", {"storage.root": str(root)})
    with app.export_database(config) as endpoint, connect(endpoint) as conn:
        return sorted(conn.execute("SELECT * FROM gold.kpi_enrollments_daily").fetchall(), key=repr)


def _assert_keyed_with(spark: SparkSession, root: Path, key: bytes, old: bytes) -> None:
    ids = _national_ids(spark, root)
    keys = _citizen_keys(spark, root)
    for name in (EVENTS, VALIDATIONS):
        assert keys[name] and keys[name].keys() == ids[name].keys(), name
        assert keys[name] == {k: _hmac(key, nid) for k, nid in ids[name].items()}, name
    # the same person has the same key in both tables (a validation's event is in the events table)
    validations = delta.read(spark, str(root), VALIDATIONS).select("event_id", "citizen_key").collect()
    assert all(keys[EVENTS][r["event_id"]] == r["citizen_key"] for r in validations)
    everyone = {r[0] for r in delta.read(spark, str(root), "bronze.enrollment_events")
                .select("national_id").where("national_id IS NOT NULL").distinct().collect()}
    old_keys = {_hmac(old, nid) for nid in everyone}
    assert not old_keys & (set(keys[EVENTS].values()) | set(keys[VALIDATIONS].values()))


@pytest.mark.slow
def test_rotation_rekeys_silver_and_leaves_gold_and_the_export_as_they_were(spark: SparkSession, lake: Path) -> None:
    key_file = _key_file(lake)
    old = key_file.read_text().strip().encode()
    assert _citizen_keys(spark, lake)[EVENTS] == {k: _hmac(old, n) for k, n in _national_ids(spark, lake)[EVENTS].items()}
    rows, gold, exported = _without_keys(spark, lake), _gold(spark, lake), _exported(lake)

    assert main(["--root", str(lake), "rotate-key"]) == 0

    new = key_file.read_text().strip().encode()
    assert new != old and len(new) == 64
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert not key_file.with_name(key_file.name + ".new").exists()
    _assert_keyed_with(spark, lake, new, old)
    assert _without_keys(spark, lake) == rows  # no row lost, nothing else changed
    assert _gold(spark, lake) == gold
    assert _exported(lake) == exported
    # the MERGE's commit names the columns, never a national ID or a key
    ids = {n for table in _national_ids(spark, lake).values() for n in table.values()}
    for name in (EVENTS, VALIDATIONS):
        info = delta.commit_info(spark, str(lake), name, delta.version(spark, str(lake), name) or 0)
        assert info["operation"] == "MERGE", name
        text = repr(info)
        assert not [n for n in ids if n in text] and old.decode() not in text and new.decode() not in text


@pytest.mark.slow
def test_a_rotation_that_crashed_midway_keeps_the_old_key_and_a_rerun_finishes(
        spark: SparkSession, lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = _key_file(lake)
    old = key_file.read_text().strip().encode()
    real = delta.replace_values

    def crash_after_the_first(spark: SparkSession, mapping: Any, root: str, name: str, column: str) -> int:
        if name != rotation.keyed_tables()[0]:
            raise RuntimeError("the driver died")
        return real(spark, mapping, root, name, column)

    monkeypatch.setattr(delta, "replace_values", crash_after_the_first)
    with pytest.raises(RuntimeError, match="the driver died"):
        protection.rotate_key(spark, load_config("local", {"storage.root": str(lake)}))
    pending = key_file.with_name(key_file.name + ".new")
    assert key_file.read_text().strip().encode() == old and pending.exists()
    new = pending.read_text().strip().encode()
    first, second = rotation.keyed_tables()
    ids, keys = _national_ids(spark, lake), _citizen_keys(spark, lake)
    assert keys[first] == {k: _hmac(new, n) for k, n in ids[first].items()}
    assert keys[second] == {k: _hmac(old, n) for k, n in ids[second].items()}

    monkeypatch.undo()
    assert main(["--root", str(lake), "rotate-key"]) == 0
    assert key_file.read_text().strip().encode() == new and not pending.exists()
    _assert_keyed_with(spark, lake, new, old)


def test_the_keyed_tables_are_the_silver_tables_with_a_citizen_key() -> None:
    assert [(k.source, k.column, k.becomes) for k in rotation.keyed_columns()] == [
        ("bronze.enrollment_events", "national_id", "citizen_key")]
    assert rotation.keyed_tables() == [VALIDATIONS, EVENTS]


def test_a_key_in_an_environment_variable_needs_the_new_one_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--new-key-env"):
        pending_key(SecretRef(env="LH_ROTATION_OLD"))
    monkeypatch.setenv("LH_ROTATION_NEW", "a-new-key-for-the-test")
    assert pending_key(SecretRef(env="LH_ROTATION_OLD"), "LH_ROTATION_NEW").value == b"a-new-key-for-the-test"
    with pytest.raises(ConfigError, match="generated"):
        pending_key(SecretRef(file="/nonexistent/key"), "LH_ROTATION_NEW")


def test_a_secrets_manager_key_rotates_through_its_pending_version(local_aws: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.aws.clients import LOCAL_CREDENTIALS, client
    from lakehouse.security.secret_refs import resolve

    monkeypatch.setenv("LAKEHOUSE_AWS_ENDPOINT", local_aws.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["aws_secret_access_key"])
    sm = client("secretsmanager", "us-east-1", local_aws.url)
    secret_id = f"lakehouse-test/rotation/{os.urandom(4).hex()}"
    old = os.urandom(16).hex()
    sm.create_secret(Name=secret_id, SecretString=old)
    ref = SecretRef(secrets_manager=secret_id)

    first = pending_key(ref)
    assert not first.resumed and first.value != old.encode() and len(first.value) == 64
    again = pending_key(ref)  # an interrupted rotation finds its pending key
    assert again.resumed and again.value == first.value
    assert resolve(ref) == old.encode()  # still the old key until the swap
    first.commit()
    assert resolve(ref) == first.value
    stages = sm.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    assert sorted(label for labels in stages.values() for label in labels if label != "AWSPREVIOUS") == ["AWSCURRENT"]
    assert not pending_key(ref).resumed  # a later rotation starts a new pending version
