-- Office attendance per calendar month (UTC), office and region (an office that moved region
-- in the month has a row per region). Ratios are of the month's sums, over the days with a report:
-- attendance_rate = attended / scheduled, completed_per_staffed_hour = completions on reported
-- days / staffed hours; null when the denominator is 0 or there was no report.
SELECT
    CAST(date_trunc('month', "date") AS DATE) AS month,
    office_id,
    region,
    COUNT(*) AS days,
    COUNT(staffed_hours) AS days_reported,
    SUM(appointments_scheduled) AS appointments_scheduled,
    SUM(appointments_attended) AS appointments_attended,
    CAST(SUM(appointments_attended) AS DOUBLE) / NULLIF(SUM(appointments_scheduled), 0) AS attendance_rate,
    SUM(staffed_hours) AS staffed_hours,
    SUM(enrollments_completed) AS enrollments_completed,
    CAST(SUM(CASE WHEN staffed_hours IS NOT NULL THEN enrollments_completed END) AS DOUBLE)
        / NULLIF(SUM(staffed_hours), 0) AS completed_per_staffed_hour
FROM ${gold}.kpi_office_daily
GROUP BY 1, 2, 3
