"""Gold layer: facts, dimensions and KPIs built from silver, as pure DataFrame transformations.

Every function takes silver DataFrames and returns one gold DataFrame in the contract schema of
`lakehouse.contract`; reading and writing the tables is `lakehouse.storage`'s job.
"""
from lakehouse.gold.dimensions import dim_date, dim_office
from lakehouse.gold.facts import fct_biometric_validations, fct_enrollments
from lakehouse.gold.kpis import kpi_enrollments_daily, kpi_office_daily, kpi_validation_times_daily
from lakehouse.gold.region import UNKNOWN, with_region_at

__all__ = [
    "UNKNOWN",
    "dim_date",
    "dim_office",
    "fct_biometric_validations",
    "fct_enrollments",
    "kpi_enrollments_daily",
    "kpi_office_daily",
    "kpi_validation_times_daily",
    "with_region_at",
]
