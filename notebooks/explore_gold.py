# %% [markdown]
# # Gold KPIs from an EMR notebook
# The notebook imports the same package the EMR steps run (installed on the cluster by
# `bootstrap_actions/install_lakehouse.sh`); it reads the tables through `lakehouse.storage`, never by path,
# and shows the same summaries as `lakehouse run` and the dashboard.

# %%
from pyspark.sql import functions as F

from lakehouse.config import load_config
from lakehouse.gold.summaries import daily_enrollments
from lakehouse.ops.summaries import latest_quality
from lakehouse.spark import get_spark
from lakehouse.storage import delta

config = load_config("emr")  # "local" on a laptop
spark = get_spark(config.spark)

# %% Enrollments per day and region, with the completion rate
kpis = delta.read(spark, config.root, "gold.kpi_enrollments_daily")
daily_enrollments(kpis, by=("region",)).orderBy(F.col("date").desc(), "region").show(30)

# %% Biometric validation times by modality (exact p50 / p95 per day)
delta.read(spark, config.root, "gold.kpi_validation_times_daily").orderBy(F.col("date").desc()).show(30)

# %% Quality: the latest metrics per rule
latest_quality(delta.read(spark, config.root, "ops.quality_metrics")).show(100, truncate=False)
