"""Point the virtualenv's own `spark-submit` at the pinned jars and Delta (run by `make setup`).

    .venv/bin/python scripts/write_spark_defaults.py

pip's pyspark is its own SPARK_HOME (the package folder), and its spark-submit reads
`$SPARK_HOME/conf/spark-defaults.conf` before the JVM starts: that is the only moment the driver's
class path can still take Delta's jars (`lakehouse.spark.submit_defaults`). The file is written
only when its content changes, so a second `make setup` touches nothing. An EMR node never runs
this: the cluster's own spark-defaults stand there.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pyspark

from lakehouse.config import load_config
from lakehouse.errors import describe
from lakehouse.spark import submit_defaults

HEADER = "# Written by scripts/write_spark_defaults.py (make setup) from conf/local.yaml; do not edit.\n"


def defaults_text() -> str:
    settings = load_config("local").spark
    return HEADER + "".join(f"{key} {value}\n" for key, value in submit_defaults(settings).items())


def main() -> int:
    target = Path(pyspark.__file__).parent / "conf" / "spark-defaults.conf"
    try:
        text = defaults_text()
    except Exception as err:
        print(f"write_spark_defaults.py: error: {describe(err)}", file=sys.stderr)
        return 1
    if target.exists():
        current = target.read_text()
        if current == text:
            return 0
        if not current.startswith(HEADER):
            print(f"write_spark_defaults.py: error: {target} exists and was not written by this script; "
                  "move it away and re-run", file=sys.stderr)
            return 1
    target.parent.mkdir(exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(target)
    print(f"write_spark_defaults.py: wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
