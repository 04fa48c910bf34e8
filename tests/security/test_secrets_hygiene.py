"""Secrets never leave a trace: the search itself, and the silver plan that computes the citizen key.

The whole pipeline with distinctive secrets, and the search of every byte it wrote, runs in
`tests/test_e2e_cluster.py` (one run of every `lakehouse` command in subprocesses serves both the
executor checks and this search; `tests/secret_traces.py` does the searching).

Finding on the pandas UDF of `citizen_key`: its pickled command carries the key (cloudpickle
serialises the closure), and it travels inside the task binary to the executors; but the plan
names the UDF only as `citizen_key(national_id#n)` and no event (SQLExecutionStart's
physicalPlanDescription and sparkPlanInfo, stage and job properties) holds the pickled bytes.
The cluster test shows the event log half; the last test here, the session half.
"""
from __future__ import annotations

import base64
import contextlib
import gzip
import io
import secrets
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
from pyspark.sql import SparkSession
from secret_traces import leaks, traces

from lakehouse.contract import schema
from lakehouse.silver.events import clean_enrollment_events, validate_enrollment_events


def test_traces_find_a_secret_however_it_is_written(tmp_path: Path) -> None:
    """The search itself: a secret inside a longer text, its hex, base64 at each alignment, a gzip
    file and a Parquet value are each found; unrelated bytes are not."""
    import pyarrow as pa

    secret = f"probe-{secrets.token_hex(16)}"
    raw = secret.encode()
    (tmp_path / "plain.log").write_text(f"INFO something {secret} else\n")
    (tmp_path / "hex.txt").write_text("x" + raw.hex())
    for offset in range(3):
        (tmp_path / f"b64-{offset}.txt").write_bytes(base64.b64encode(b"prefix"[:offset] + raw + b"tail"))
    (tmp_path / "packed.gz").write_bytes(gzip.compress(b"head " + raw * 3))
    pq.write_table(pa.table({"v": [secret] * 50}), tmp_path / "part-0.parquet", compression="snappy")
    (tmp_path / "clean.txt").write_text(secrets.token_hex(64))
    found = {line.split(":")[0] for line in leaks(tmp_path, {"probe": secret})}
    assert found == {"plain.log", "hex.txt", "b64-0.txt", "b64-1.txt", "b64-2.txt", "packed.gz", "part-0.parquet"}


def test_the_silver_plan_and_the_session_hold_no_key(spark: SparkSession) -> None:
    """Silver's plan over a bronze event, in every form, and the session's conf are clean; the
    UDF's pickled command does carry the key (why the cluster test searches the event log)."""
    key = f"hygiene-hmac-{secrets.token_hex(24)}"
    event = {name: None for name in schema("bronze.enrollment_events").fieldNames()}
    event.update({"event_id": "0e0e0e0e-1111-4222-8333-444455556666", "event_type": "enrollment_started",
                  "event_time": "2026-10-02T10:00:00.000Z", "schema_version": "1", "national_id": "40718231",
                  "enrollment_id": "1e1e1e1e-1111-4222-8333-444455556666", "office_id": "OF-0001",
                  "channel": "web", "_source": "events/e.jsonl:1", "_file": "events/e.jsonl",
                  "_ingested_at": datetime(2026, 10, 2, 11, 0)})
    bronze = spark.createDataFrame([event], schema("bronze.enrollment_events"))
    silver = clean_enrollment_events(validate_enrollment_events(bronze, 5), key.encode())
    execution = silver._jdf.queryExecution()
    texts = {"plan": execution.toString(), "conf": repr(spark.sparkContext.getConf().getAll()),
             "session conf": repr(spark.conf.getAll)}
    for mode in ("extended", "formatted", "cost"):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            silver.explain(mode=mode)
        texts[f"explain {mode}"] = out.getvalue()
    assert "citizen_key(" in texts["explain formatted"] and "ArrowEvalPython" in texts["explain formatted"]
    forms = traces(key)
    assert [(name, form) for name, text in texts.items() for form, t in forms.items() if t in text.encode()] == []
    commands = _pickled_udfs(execution)
    assert commands and all(key.encode() in command for command in commands)


def _pickled_udfs(execution) -> list[bytes]:  # type: ignore[no-untyped-def]
    """The pickled command of every PythonUDF in a query's analyzed plan."""
    def items(seq) -> list:  # type: ignore[no-untyped-def, type-arg]
        it, found = seq.iterator(), []
        while it.hasNext():
            found.append(it.next())
        return found

    commands, plans = [], [execution.analyzed()]
    while plans:
        plan = plans.pop()
        plans += items(plan.children())
        expressions = items(plan.expressions())
        while expressions:
            expression = expressions.pop()
            if expression.getClass().getSimpleName() == "PythonUDF":
                command = expression.func().command().mkString(",")
                commands.append(bytes(int(b) & 0xFF for b in command.split(",")))
            expressions += items(expression.children())
    return commands
