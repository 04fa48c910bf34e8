"""One session-scoped SparkSession for the whole suite (Delta on, local[2], UTC, UI off)."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from lakehouse.config import load_config
from lakehouse.spark import get_spark


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    settings = load_config("local").spark
    settings = dataclasses.replace(settings, shuffle_partitions=2)
    warehouse = str(tmp_path_factory.mktemp("warehouse"))
    session = get_spark(settings, warehouse_dir=warehouse)
    yield session
    session.stop()
