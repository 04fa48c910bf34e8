"""The response models against the data contract: each names columns its gold table has, with a
type that table's column can be read as, and none of them is personal."""
from __future__ import annotations

import datetime as dt
import typing

from pyspark.sql import SparkSession

from lakehouse import contract
from lakehouse.api import gold, models
from lakehouse.personal import personal_names

# Spark type -> the Python types a model may read it as
READS = {"string": {str}, "date": {dt.date}, "timestamp": {dt.datetime}, "bigint": {int}, "int": {int},
         "double": {float}, "boolean": {bool}}


def _python(annotation: typing.Any) -> set[type]:
    return {a for a in typing.get_args(annotation) if a is not type(None)} or {annotation}


def _check(model: type[models.Model], table: str, skip: tuple[str, ...] = ()) -> None:
    columns = {f.name: f.dataType.simpleString() for f in contract.schema(table).fields}
    hints = typing.get_type_hints(model)
    for name in model.model_fields:
        if name in skip:
            continue
        assert name in columns, f"{model.__name__}.{name} is not a column of {table}"
        assert _python(hints[name]) <= READS[columns[name]], (model.__name__, name, columns[name])


def test_each_model_reads_its_gold_table(spark: SparkSession) -> None:
    for resource in (gold.ENROLLMENTS_DAILY, gold.VALIDATION_TIMES_DAILY, gold.OFFICE_DAILY, gold.OFFICES):
        _check(resource.model, resource.full_name)
        assert resource.key == contract.table(resource.full_name).keys or resource is gold.OFFICES
    _check(models.Enrollment, "gold.fct_enrollments", skip=("validations",))
    _check(models.Validation, "gold.fct_biometric_validations")


def test_no_model_names_a_personal_column() -> None:
    personal = set(personal_names()) | {"citizen_key", "national_id", "full_name", "birth_date", "birth_year"}
    every = [m for m in vars(models).values() if isinstance(m, type) and issubclass(m, models.Model)]
    assert len(every) > 10
    found = {f"{m.__name__}.{f}" for m in every for f in m.model_fields if f in personal}
    assert found == set()
