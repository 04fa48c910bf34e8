"""Synthetic data generator: landing files and registry rows for demos and tests (pure Python)."""
from lakehouse.datagen.generator import FAILED_RULE, PLANTED_KEYS, GenerationSummary, generate
from lakehouse.datagen.landing import ReportRow, RowRef
from lakehouse.datagen.world import UNKNOWN_OFFICE, ChangedOperator, MovedOffice

__all__ = ["FAILED_RULE", "PLANTED_KEYS", "UNKNOWN_OFFICE", "ChangedOperator", "GenerationSummary", "MovedOffice",
           "ReportRow", "RowRef", "generate"]
