"""Quality rules: named row predicates, the rule lists per source, and how rows are judged.

A rule's expression is TRUE when the row passes; FALSE or NULL is a failure. Rule names are stable:
quarantine rows and the ops metrics carry them (see DESIGN.md, "Quality rules").
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Literal

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from lakehouse.functions import is_present, is_uuid, parse_count, parse_date, parse_number, parse_timestamp
from lakehouse.personal import NATIONAL_ID_FORMAT, column_of_kind

Severity = Literal["error", "warn"]

FAILED_RULES = "_failed_rules"
EVENT_TYPES = ("enrollment_started", "enrollment_completed", "enrollment_cancelled", "biometric_validation")
CHANNELS = ("web", "mobile", "office")
MODALITIES = ("fingerprint", "face", "iris")
RESULTS = ("match", "no_match", "error")


@dataclass(frozen=True, eq=False)  # a Column has no value equality
class Rule:
    """One quality rule.

    Attributes:
        name: the stable rule name, e.g. "event_id_is_uuid".
        expr: a boolean Column, TRUE when the row passes.
        severity: "error" sends a failing row to quarantine; "warn" only counts it.
        prerequisite: when a prerequisite rule fails, the other rules are not evaluated on that
            row (a record that could not be parsed fails only "record_parseable").
        valid_rows_only: a warn rule judging only the rows that pass every error rule (those that
            reach silver), e.g. "office_known".
    """

    name: str
    expr: Column
    severity: Severity = "error"
    prerequisite: bool = False
    valid_rows_only: bool = False


def passes(rule: Rule) -> Column:
    """TRUE when the row passes `rule`, FALSE otherwise (a null result is a failure)."""
    return F.coalesce(rule.expr, F.lit(False))


def _record_parseable() -> Rule:
    return Rule("record_parseable", F.col("_parse_error").isNull(), prerequisite=True)


def _for_validations(condition: Column) -> Column:
    # Validation rules apply to biometric_validation events only; other events pass them.
    return ~F.col("event_type").eqNullSafe("biometric_validation") | condition


def _score_in_range() -> Column:
    score = parse_number(F.col("validation.score"))
    return F.when(
        F.col("validation.score").isNull(), F.col("validation.result") == "error"
    ).otherwise(score.between(0.0, 1.0))


def enrollment_event_rules(future_tolerance_minutes: int) -> list[Rule]:
    """The rules for `bronze.enrollment_events`, in reporting order.

    Args:
        future_tolerance_minutes: how far after its ingestion time an event may be stamped
            (clock skew between producers and the lakehouse).
    """
    tolerance = F.make_dt_interval(mins=F.lit(future_tolerance_minutes))
    started = parse_timestamp(F.col("validation.started_at"))
    finished = parse_timestamp(F.col("validation.finished_at"))
    return [
        _record_parseable(),
        Rule("event_id_is_uuid", is_uuid(F.col("event_id"))),
        Rule("event_type_known", F.col("event_type").isin(*EVENT_TYPES)),
        Rule("event_time_parseable", parse_timestamp(F.col("event_time")).isNotNull()),
        Rule("event_time_not_future", parse_timestamp(F.col("event_time")) <= F.col("_ingested_at") + tolerance),
        Rule("national_id_format",
             F.col(column_of_kind("bronze.enrollment_events", "national-id")).rlike(NATIONAL_ID_FORMAT)),
        Rule("channel_known", F.col("channel").isin(*CHANNELS)),
        Rule("office_id_present", is_present(F.col("office_id"))),
        Rule("validation_present", _for_validations(
            F.col("validation").isNotNull() & is_present(F.col("validation.validation_id"))
        )),
        Rule("modality_known", _for_validations(F.col("validation.modality").isin(*MODALITIES))),
        Rule("result_known", _for_validations(F.col("validation.result").isin(*RESULTS))),
        Rule("score_in_range", _for_validations(_score_in_range())),
        Rule("finished_after_started", _for_validations(
            started.isNotNull() & finished.isNotNull() & (finished >= started)
        )),
    ]


def office_report_rules() -> list[Rule]:
    """The rules for `bronze.office_reports`, in reporting order."""
    scheduled = parse_count(F.col("appointments_scheduled"))
    attended = parse_count(F.col("appointments_attended"))
    hours = parse_number(F.col("staffed_hours"))
    return [
        _record_parseable(),
        Rule("report_date_parseable", parse_date(F.col("report_date")).isNotNull()),
        Rule("office_id_present", is_present(F.col("office_id"))),
        Rule("counts_non_negative", (scheduled >= 0) & (attended >= 0) & (hours >= 0)),
        Rule("attended_not_above_scheduled", attended <= scheduled),
    ]


def device_log_rules() -> list[Rule]:
    """The rules for `bronze.device_logs`, in reporting order."""
    return [
        _record_parseable(),
        Rule("device_id_present", is_present(F.col("device_id"))),
        Rule("ts_parseable", parse_timestamp(F.col("ts")).isNotNull()),
    ]


def office_known(known_office_ids: list[str]) -> Rule:
    """Warn rule: a valid event names an office silver knows (`known_office_ids`, e.g. the office
    ids of `silver.offices`). The event stays valid; gold maps it to the UNKNOWN office."""
    return Rule("office_known", F.coalesce(F.col("office_id").isin(*known_office_ids), F.lit(False)),
                severity="warn", valid_rows_only=True)


def _failed_names(rules: list[Rule]) -> Column:
    names = F.array(*[F.when(~passes(r), F.lit(r.name)) for r in rules]) if rules else F.array()
    return F.filter(names.cast("array<string>"), lambda name: name.isNotNull())


def _prerequisites_pass(rules: list[Rule]) -> Column:
    """TRUE when the row passes every prerequisite rule, so the other rules apply to it."""
    return reduce(lambda a, b: a & b, [passes(r) for r in rules if r.prerequisite], F.lit(True))


def with_failed_rules(df: DataFrame, rules: list[Rule]) -> DataFrame:
    """Add `_failed_rules`: the names of the error rules the row fails, in list order.

    A row failing a prerequisite rule fails only the prerequisites. Warn rules never appear.

    Example:
        a row with event_id "x" and channel "fax" -> `_failed_rules` = ["event_id_is_uuid", "channel_known"];
        a row with `_parse_error` set -> ["record_parseable"]; a good row -> [].
    """
    errors = [r for r in rules if r.severity == "error"]
    return df.withColumn(
        FAILED_RULES,
        F.when(_prerequisites_pass(rules), _failed_names(errors))
        .otherwise(_failed_names([r for r in errors if r.prerequisite])),
    )


def rule_aggregates(rules: list[Rule], columns: list[str]) -> list[Column]:
    """Aggregate columns `passed_<i>` / `failed_<i>` counting the rows passing and failing rule i.

    A rule is evaluated on the rows whose prerequisite rules pass (the prerequisites themselves on
    every row). On a frame that carries `_failed_rules` (`columns` names it), an error rule is
    counted from that list rather than evaluated again: the same count, without parsing the
    row's timestamps and matching its patterns a second time. A `valid_rows_only` rule counts only
    the rows whose `_failed_rules` is empty.
    """
    prerequisites = [r for r in rules if r.prerequisite]
    from_list = FAILED_RULES in columns and all(r.severity == "error" for r in prerequisites)
    if from_list:
        named = [F.array_contains(F.col(FAILED_RULES), r.name) for r in prerequisites]
        gate = ~reduce(lambda a, b: a | b, named) if named else F.lit(True)
    else:
        gate = _prerequisites_pass(rules)
    aggregates = []
    for i, rule in enumerate(rules):
        evaluated = F.lit(True) if rule.prerequisite else gate
        if rule.valid_rows_only:
            evaluated = evaluated & (F.size(FAILED_RULES) == 0)
        if from_list and rule.severity == "error":
            failed = F.array_contains(F.col(FAILED_RULES), rule.name)
            aggregates += [F.count_if(evaluated & ~failed).alias(f"passed_{i}"),
                           F.count_if(failed).alias(f"failed_{i}")]
        else:
            aggregates += [F.count_if(evaluated & passes(rule)).alias(f"passed_{i}"),
                           F.count_if(evaluated & ~passes(rule)).alias(f"failed_{i}")]
    return aggregates


def batch_summary(validated: DataFrame, rules: list[Rule]) -> DataFrame:
    """One row summing up a validated batch: `rows`, `valid` (no error rule failed) and the
    `rule_aggregates` of `rules`, in one pass (a pure aggregation; the caller collects it).

    Example: 3 rows, one with `_failed_rules` ["event_id_is_uuid"] -> rows 3, valid 2, and for that
    rule passed 2, failed 1.
    """
    return validated.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_if(F.size(FAILED_RULES) == 0).alias("valid"),
        *rule_aggregates(rules, validated.columns),
    )


def rule_results(counts: Row, rules: list[Rule]) -> list[tuple[str, str, int, int]]:
    """(rule, severity, passed, failed) per rule, from a row holding `rule_aggregates`."""
    return [(r.name, r.severity, int(counts[f"passed_{i}"]), int(counts[f"failed_{i}"]))
            for i, r in enumerate(rules)]


def rule_counts(validated_df: DataFrame, rules: list[Rule]) -> DataFrame:
    """Count the rows passing and failing each rule (a pure aggregation; the caller collects it).

    A rule is evaluated on the rows whose prerequisite rules pass (the prerequisites themselves on
    every row), so for an error rule `failed` equals the rows whose `_failed_rules` names it.

    Args:
        validated_df: rows carrying the columns the rules read (e.g. `validate_*` output).
        rules: the rules to count, at least one.

    Returns:
        One row per rule: `rule string, severity string, passed long, failed long`.
        Example: 3 rows, one with `_parse_error` set -> ("record_parseable", "error", 2, 1) and, for
        every other rule, passed + failed = 2.
    """
    per_rule = F.array(*[
        F.struct(
            F.lit(r.name).alias("rule"),
            F.lit(r.severity).alias("severity"),
            F.col(f"passed_{i}").cast("long").alias("passed"),
            F.col(f"failed_{i}").cast("long").alias("failed"),
        )
        for i, r in enumerate(rules)
    ])
    return (
        validated_df.agg(*rule_aggregates(rules, validated_df.columns))
        .select(F.inline(per_rule))
        .select("rule", "severity", "passed", "failed")
    )
