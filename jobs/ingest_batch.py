"""EMR step: landing files and registry changes -> bronze.

    spark-submit jobs/ingest_batch.py --config emr [--root s3://bucket/prefix]

Same code path as `lakehouse ingest`; exits non-zero with a one-line error on failure.
"""
import sys

from lakehouse.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("ingest", sys.argv[1:]))
