"""EMR step: silver and gold tables -> Glue Data Catalog (table_type=DELTA, real columns), BI views through Athena.

    spark-submit jobs/publish_catalog.py --config emr [--root s3://bucket/prefix]

Same code path as `lakehouse publish`; exits non-zero with a one-line error on failure.
"""
import sys

from lakehouse.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("publish", sys.argv[1:]))
