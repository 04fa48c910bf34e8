"""EMR step: gold -> PostgreSQL (RDS): atomic, idempotent.

    spark-submit jobs/export_postgres.py --config emr [--root s3://bucket/prefix]

Same code path as `lakehouse export`; exits non-zero with a one-line error on failure.
"""
import sys

from lakehouse.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("export", sys.argv[1:]))
