# %% [markdown]
# # Gold KPIs from an EMR notebook
# The notebook imports the same package the EMR steps run (installed on the cluster by
# `bootstrap_actions/install_lakehouse.sh`); it reads the tables through `lakehouse.io`, never by path.

# %%
from pyspark.sql import functions as F

from lakehouse.config import load_config
from lakehouse.spark import get_spark
from lakehouse.storage import delta

config = load_config("emr")  # "local" on a laptop
spark = get_spark(config.spark)

# %% Enrollments per day and region, with the completion rate
kpis = delta.read(spark, config.root, "gold.kpi_enrollments_daily")
(kpis.groupBy("date", "region")
 .agg(F.sum("enrollments_started").alias("started"), F.sum("enrollments_completed").alias("completed"))
 .withColumn("completion_rate", F.round(F.col("completed") / F.col("started"), 3))
 .orderBy(F.col("date").desc(), "region")
 .show(30))

# %% Biometric validation times by modality (exact p50 / p95 per day)
delta.read(spark, config.root, "gold.kpi_validation_times_daily").orderBy(F.col("date").desc()).show(30)

# %% Quality: the latest metrics per rule
from lakehouse.report import latest_quality  # noqa: E402

latest_quality(spark, config.root).show(100, truncate=False)
