"""Quality rules for the silver layer: rule lists per source, row verdicts and rule counts."""
from lakehouse.quality.rules import (
    FAILED_RULES,
    Rule,
    batch_summary,
    device_log_rules,
    enrollment_event_rules,
    office_known,
    office_report_rules,
    passes,
    rule_counts,
    with_failed_rules,
)

__all__ = [
    "FAILED_RULES",
    "Rule",
    "batch_summary",
    "device_log_rules",
    "enrollment_event_rules",
    "office_known",
    "office_report_rules",
    "passes",
    "rule_counts",
    "with_failed_rules",
]
