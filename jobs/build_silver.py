"""EMR step: bronze -> silver and quarantine.

    spark-submit jobs/build_silver.py --config emr [--root s3://bucket/prefix]

Same code path as `lakehouse silver`; exits non-zero with a one-line error on failure.
"""
import sys

from lakehouse.cli import main

if __name__ == "__main__":
    sys.exit(main([*sys.argv[1:], "silver"]))
