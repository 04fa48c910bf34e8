-- Biometric validations per calendar month (UTC) and modality, all regions together.
-- Times exclude errors, as in the daily KPI, so each day weighs by its timed validations
-- (matches + no_matches): avg_ms is the exact mean over the month; p50_ms and p95_ms are the
-- weighted means of the daily percentiles (a month's exact percentile needs the raw durations).
SELECT
    CAST(date_trunc('month', "date") AS DATE) AS month,
    modality,
    SUM(validations) AS validations,
    SUM(matches) AS matches,
    SUM(no_matches) AS no_matches,
    SUM(errors) AS errors,
    CAST(SUM(matches) AS DOUBLE) / NULLIF(SUM(matches + no_matches), 0) AS match_rate,
    SUM(avg_ms * (matches + no_matches))
        / NULLIF(SUM(CASE WHEN avg_ms IS NOT NULL THEN matches + no_matches ELSE 0 END), 0) AS avg_ms,
    SUM(p50_ms * (matches + no_matches))
        / NULLIF(SUM(CASE WHEN p50_ms IS NOT NULL THEN matches + no_matches ELSE 0 END), 0) AS p50_ms_weighted,
    SUM(p95_ms * (matches + no_matches))
        / NULLIF(SUM(CASE WHEN p95_ms IS NOT NULL THEN matches + no_matches ELSE 0 END), 0) AS p95_ms_weighted
FROM ${gold}.kpi_validation_times_daily
GROUP BY 1, 2
