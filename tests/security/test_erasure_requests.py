"""What an erasure request may name, and which rows its ID matches: a request is checked before
anything is recorded (a pattern or a short token would match other people's raw records), and an
ID in a raw record only counts for a row without a well-formed ID of its own."""
from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.pipeline.erasure import CITIZEN, OPERATOR, ErasureRequestError, check_subjects, id_match

ID = "31415926"


def test_well_formed_subjects_are_kept_stripped_and_blank_ones_dropped() -> None:
    assert check_subjects([(CITIZEN, f" {ID}\n"), (CITIZEN, "  "), (OPERATOR, "OP-00042"), (OPERATOR, "op_7")]) == [
        (CITIZEN, ID), (OPERATOR, "OP-00042"), (OPERATOR, "op_7")]


@pytest.mark.parametrize("subject", [".*", "1", "3141592", "314159260", "3141592a", f"{ID}|27182818",
                                     f"{ID}' OR '1'='1", "31 415 926"])
def test_a_citizen_request_must_be_a_national_id(subject: str) -> None:
    with pytest.raises(ErasureRequestError) as caught:
        check_subjects([(CITIZEN, ID), (CITIZEN, subject)])
    assert str(caught.value) == ("erasure request 2 of 2: not a national ID (8 digits); nothing was recorded")


@pytest.mark.parametrize("subject", ["OP 1", "%", "OP-1;", "-OP", "x" * 65])
def test_an_operator_request_must_be_an_operator_id(subject: str) -> None:
    with pytest.raises(ErasureRequestError, match=r"^erasure request 1 of 1: not an operator_id") as caught:
        check_subjects([(OPERATOR, subject)])
    assert subject not in str(caught.value)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ErasureRequestError, match="unknown kind 'office'"):
        check_subjects([("office", "OF-0001")])


def test_an_id_in_a_raw_record_counts_only_for_a_row_without_a_well_formed_id(spark: SparkSession) -> None:
    rows = spark.createDataFrame([
        ("mine", ID, '{"national_id": "31415926"}'),
        ("other, whose event_id starts with the digits", "27182818",
         f'{{"event_id": "{ID}-0000-4000-8000-000000000000", "national_id": "27182818"}}'),
        ("unparseable, mine", None, f'{{"national_id": "{ID}", "full_na'),
        ("malformed ID, mine in raw", "3141592X", f'{{"national_id": "3141592X", "note": "{ID}"}}'),
        ("unparseable, another's", None, '{"national_id": "27182818", "x'),
        ("unparseable, digits inside a longer number", None, f'{{"national_id": "9{ID}"'),
    ], "label string, national_id string, _raw string")
    subjects = spark.createDataFrame([("er-1", ID)], "request_id string, national_id string")
    matched = rows.alias("t").join(subjects.alias("s"), F.expr(id_match("national_id")), "left_semi")
    assert sorted(r["label"] for r in matched.collect()) == ["malformed ID, mine in raw", "mine", "unparseable, mine"]
