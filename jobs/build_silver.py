"""EMR step: bronze -> silver and quarantine.

    spark-submit jobs/build_silver.py --config emr [--root s3://bucket/prefix]

Same code path as `lakehouse silver`; exits non-zero with a one-line error on failure.
"""
import sys

from lakehouse.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("silver", sys.argv[1:]))
