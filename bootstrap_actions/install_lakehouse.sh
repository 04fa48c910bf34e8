#!/usr/bin/env bash
# EMR bootstrap action: install the lakehouse wheel (`make wheel`, copied to S3) on every node, so
# steps (`spark-submit jobs/*.py`) and notebooks import the same package.
#   usage: install_lakehouse.sh s3://bucket/artifacts/lakehouse-0.1.0-py3-none-any.whl
set -euo pipefail
wheel_uri="${1:?usage: install_lakehouse.sh s3://bucket/path/lakehouse-<version>-py3-none-any.whl}"
local_wheel="/tmp/$(basename "$wheel_uri")"
aws s3 cp "$wheel_uri" "$local_wheel"
# The wheel declares what a node needs (its `emr` extra, tested by tests/test_packaging.py), and
# neither pyspark nor delta-spark: those come with the cluster (emr-spark-8.1.0), and installing
# them over it would break it.
sudo python3 -m pip install --quiet "${local_wheel}[emr]"
