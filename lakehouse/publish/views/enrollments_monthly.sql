-- Enrollments per calendar month (UTC), region and channel, from the daily KPI.
-- completion_rate = completed / started over the month, null when nothing started.
SELECT
    CAST(date_trunc('month', "date") AS DATE) AS month,
    region,
    channel,
    SUM(enrollments_started) AS enrollments_started,
    SUM(enrollments_completed) AS enrollments_completed,
    SUM(enrollments_cancelled) AS enrollments_cancelled,
    CAST(SUM(enrollments_completed) AS DOUBLE) / NULLIF(SUM(enrollments_started), 0) AS completion_rate
FROM ${gold}.kpi_enrollments_daily
GROUP BY 1, 2, 3
