"""EMR step: silver -> gold (facts, dimensions, KPIs).

    spark-submit jobs/build_gold.py --config emr [--root s3://bucket/prefix] [--full]

Same code path as `lakehouse gold`; exits non-zero with a one-line error on failure.
"""
import sys

from lakehouse.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("gold", sys.argv[1:]))
