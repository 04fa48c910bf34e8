"""EMR step: table maintenance (compaction, Z-order, deletion vectors, VACUUM, checkpoints).

    spark-submit jobs/maintain_tables.py --config emr [--root s3://bucket/prefix] [--tables T ...] [--no-vacuum]

Same code path as `lakehouse maintain`; it changes no row, so the stream may keep writing while it
runs. Exits non-zero with a one-line error on failure.
"""
import sys

from lakehouse.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("maintain", sys.argv[1:]))
