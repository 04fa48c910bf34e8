"""The API's response models: what an answer may hold, field by field, and nothing else.

Each model names the gold columns it serves (`tests/api/test_api_models.py` checks them against
the data contract's gold schemas). No model has a national ID, a name, a birth date or a
`citizen_key`; a response is built from these models only, so a column added to gold does not
reach a caller until a model names it.
"""
from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Problem(Model):
    """An error, as RFC 9457 problem details (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None


class EnrollmentsDaily(Model):
    """gold.kpi_enrollments_daily: enrollment events per UTC day, region and channel."""

    date: date
    region: str
    channel: str
    enrollments_started: int | None
    enrollments_completed: int | None
    enrollments_cancelled: int | None
    completion_rate: float | None = Field(description="completed / started")


class ValidationTimesDaily(Model):
    """gold.kpi_validation_times_daily: biometric validations per UTC day, region and modality."""

    date: date
    region: str
    modality: str
    validations: int | None
    matches: int | None
    no_matches: int | None
    errors: int | None
    match_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    avg_ms: float | None


class OfficeDaily(Model):
    """gold.kpi_office_daily: an office's operations on a day."""

    date: date
    office_id: str
    region: str | None
    appointments_scheduled: int | None
    appointments_attended: int | None
    attendance_rate: float | None
    staffed_hours: float | None
    enrollments_completed: int | None
    completed_per_staffed_hour: float | None


class Office(Model):
    """gold.dim_office: one version of an office (valid from, to; the current one has no end)."""

    office_id: str
    name: str | None
    region: str | None
    district: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    is_current: bool | None


class Validation(Model):
    """gold.fct_biometric_validations: one validation of an enrollment."""

    validation_id: str
    modality: str | None
    result: str | None
    score: float | None
    event_time: datetime | None
    duration_ms: int | None


class Enrollment(Model):
    """gold.fct_enrollments: one enrollment's status and timings, with its validations."""

    enrollment_id: str
    office_id: str | None
    region: str | None
    channel: str | None
    status: str | None
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    minutes_to_complete: float | None
    validations: list[Validation]


class Alert(Model):
    """gold.alerts: one incident of an alert rule for one key (open, or resolved and kept)."""

    incident_id: str
    rule: str
    severity: str
    status: str
    source_table: str | None
    column_name: str | None
    incident_key: str | None
    date: date | None
    region: str | None
    value: float | None
    baseline: float | None
    threshold: float | None
    volume: int | None
    message: str | None
    opened_at: datetime | None
    updated_at: datetime | None
    resolved_at: datetime | None


class TableFreshness(Model):
    """One exported gold table: the Delta version PostgreSQL holds, its commit and export times."""

    table: str
    delta_version: int
    delta_committed_at: datetime | None
    exported_at: datetime
    rows: int


class Freshness(Model):
    tables: list[TableFreshness]


class Health(Model):
    status: str


class Page(Model):
    next_page_token: str | None = Field(description="pass as page_token for the next page; null on the last")


class EnrollmentsDailyPage(Page):
    items: list[EnrollmentsDaily]


class ValidationTimesDailyPage(Page):
    items: list[ValidationTimesDaily]


class OfficeDailyPage(Page):
    items: list[OfficeDaily]


class OfficePage(Page):
    items: list[Office]


class AlertPage(Page):
    items: list[Alert]
