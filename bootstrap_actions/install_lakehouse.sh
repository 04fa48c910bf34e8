#!/usr/bin/env bash
# EMR bootstrap action: install the lakehouse wheel (built with `python -m build` and copied to S3)
# on every node, so steps (`spark-submit jobs/*.py`) and notebooks import the same package.
#   usage: install_lakehouse.sh s3://bucket/artifacts/lakehouse-0.1.0-py3-none-any.whl
set -euo pipefail
wheel_uri="${1:?usage: install_lakehouse.sh s3://bucket/path/lakehouse-<version>-py3-none-any.whl}"
local_wheel="/tmp/$(basename "$wheel_uri")"
aws s3 cp "$wheel_uri" "$local_wheel"
# pyspark and delta-spark come with the cluster (emr-spark-8.1.0): do not reinstall them over it.
sudo python3 -m pip install --quiet --no-deps "$local_wheel"
sudo python3 -m pip install --quiet "boto3>=1.34" "pyyaml>=6" "openpyxl>=3.1" "psycopg[binary]>=3.1"
