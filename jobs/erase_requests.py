"""EMR step: carry out the pending requests of ops.erasure_requests (the scheduled erasure).

    spark-submit jobs/erase_requests.py --config emr [--root s3://bucket/prefix]

Same code path as `lakehouse erase` with no ID: every pending request is erased from landing,
bronze, quarantine, silver, gold and PostgreSQL, and the tables are vacuumed once their erased
files pass `security.erasure_retention_hours`. Exits non-zero with a one-line error on failure.
"""
import sys

from lakehouse.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("erase", sys.argv[1:]))
