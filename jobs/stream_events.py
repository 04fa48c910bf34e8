"""EMR step: Kinesis -> bronze -> silver, drained and stopped (or continuous without --available-now).

    spark-submit jobs/stream_events.py --config emr [--available-now] [--timeout SECONDS]

Same code path as `lakehouse stream`; exits non-zero with a one-line error on failure.
"""
import sys

from lakehouse.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("stream", sys.argv[1:]))
