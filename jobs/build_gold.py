"""EMR step: silver -> gold (facts, dimensions, KPIs).

    spark-submit jobs/build_gold.py --config emr [--root s3://bucket/prefix]

Same code path as `lakehouse gold`; exits non-zero with a one-line error on failure.
"""
import sys

from lakehouse.cli import main

if __name__ == "__main__":
    sys.exit(main([*sys.argv[1:], "gold"]))
