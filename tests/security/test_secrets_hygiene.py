"""Secrets never leave a trace: the whole pipeline with distinctive secrets, then every byte it wrote.

The steps run as `lakehouse` commands in subprocesses, in the order of `make demo`, with `--verbose`,
Spark's WARN log and Spark's event log on (uncompressed, so its JSON is what is searched). The HMAC
key comes through an environment reference (`security.hmac_key.env`); the embedded PostgreSQL's
passwords (its role's and its superuser's, for the registry and the export) through Secrets
Manager references (the moto stand-in's). Then every file under the test's folder
(the lake and its local folder: Delta logs, checkpoints, Parquet, stream checkpoints, the dashboard,
the ops tables, the embedded database's folder; the event log, Spark's local dir, TMPDIR, and each
command's stdout and stderr) is searched for each secret as text, UTF-16, hex and base64. Parquet
pages are compressed, so Parquet files are also read back with pyarrow and their values searched;
gzip files are searched decompressed.

Finding on the pandas UDF of `citizen_key`: its pickled command carries the key (cloudpickle
serialises the closure), and it travels inside the task binary to the executors; but the plan
names the UDF only as `citizen_key(national_id#n)` and no event (SQLExecutionStart's
physicalPlanDescription and sparkPlanInfo, stage and job properties) holds the pickled bytes.
The end of the whole-pipeline test shows both halves.
"""
from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import hmac
import io
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from lakehouse.aws.clients import LOCAL_CREDENTIALS, client
from lakehouse.local import aws
from lakehouse.silver.events import clean_enrollment_events, validate_enrollment_events
from lakehouse.storage import delta

pytestmark = pytest.mark.slow

KEY_ENV = "LH_HYGIENE_HMAC_KEY"
PASSWORD_SECRET = "lakehouse-test/hygiene/db-password"
ADMIN_SECRET = "lakehouse-test/hygiene/db-admin-password"
PRODUCED = 40


def traces(secret: str) -> dict[str, bytes]:
    """The byte strings that would betray `secret`: as text, UTF-16, hex, and base64 at each of
    the three alignments it could have inside a longer encoded blob (the stable middle part)."""
    raw = secret.encode()
    found = {"text": raw, "utf-16": secret.encode("utf-16-le"), "hex": raw.hex().encode(),
             "HEX": raw.hex().upper().encode()}
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw)
        middle = encoded[4 if offset else 0:-4]
        found[f"base64+{offset}"] = middle
        found[f"base64url+{offset}"] = middle.replace(b"+", b"-").replace(b"/", b"_")
    return found


def readable_forms(path: Path) -> Iterator[bytes]:
    """The file's bytes, and what a compressed container holds (gzip's content, Parquet's values)."""
    data = path.read_bytes()
    yield data
    if data[:2] == b"\x1f\x8b":
        yield gzip.decompress(data)
    if path.suffix == ".parquet" and data[:4] == b"PAR1":
        yield repr(pq.read_table(path).to_pylist()).encode()


def leaks(folder: Path, secrets_by_name: dict[str, str]) -> list[str]:
    """`<file>: <secret> as <form>` for every trace of a secret in any file under `folder`."""
    patterns = {name: traces(value) for name, value in secrets_by_name.items()}
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        for data in readable_forms(path):
            found += [f"{path.relative_to(folder)}: {name} as {form}" for name, forms in patterns.items()
                      for form, trace in forms.items() if trace in data]
    return found


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


def _environment(tmp_path: Path, key: str, endpoint: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env.update({KEY_ENV: key, "LAKEHOUSE_DRIVER_MEMORY": "1g", "TMPDIR": str(temp)})
    if endpoint:  # Secrets Manager references resolve against the stand-in (secret_refs)
        env.update({"LAKEHOUSE_AWS_ENDPOINT": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
                    "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"]})
    return env


def _options(tmp_path: Path, root: Path) -> list[str]:
    events, local = tmp_path / "eventlog", tmp_path / "spark-local"
    events.mkdir(exist_ok=True)  # Spark requires the event log's folder to exist
    settings = {
        "security.hmac_key.file": "null", "security.hmac_key.create_if_missing": "false",
        "security.hmac_key.env": KEY_ENV,
        "spark.log_level": "WARN",  # above local's ERROR; pyspark's console filter stops INFO anyway
        "spark.extra.spark.eventLog.enabled": "true", "spark.extra.spark.eventLog.dir": events.as_uri(),
        "spark.extra.spark.eventLog.compress": "false", "spark.extra.spark.local.dir": str(local),
    }
    for section in ("registry", "export"):  # one embedded server: the same two passwords in both
        for field, secret in (("password", PASSWORD_SECRET), ("embedded_admin_password", ADMIN_SECRET)):
            settings.update({f"{section}.{field}.file": "null", f"{section}.{field}.create_if_missing": "false",
                             f"{section}.{field}.secrets_manager": secret})
    return ["--root", str(root), "--verbose", *[a for k, v in settings.items() for a in ("--set", f"{k}={v}")]]


def _lakehouse(tmp_path: Path, options: list[str], env: dict[str, str], *args: str) -> str:
    """One command; its stdout and stderr kept under the test's folder (they are searched too)."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    name = f"{len(list(logs.glob('*.out'))):02d}-{args[0]}"
    done = subprocess.run([sys.executable, "-m", "lakehouse.cli", *options, *args], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=1800)
    (logs / f"{name}.out").write_text(done.stdout)
    (logs / f"{name}.err").write_text(done.stderr)
    assert done.returncode == 0, f"lakehouse {' '.join(args)} failed ({logs / name}.err):\n{done.stdout}"
    return done.stdout


def test_the_whole_pipeline_leaves_no_trace_of_a_secret(spark: SparkSession, tmp_path: Path) -> None:
    key = f"hygiene-hmac-{secrets.token_hex(24)}"
    password, admin = f"hygiene-pw-{secrets.token_hex(16)}", f"hygiene-admin-{secrets.token_hex(16)}"
    root = tmp_path / "lake"
    base_env = _environment(tmp_path, key, None)
    _lakehouse(tmp_path, ["--root", str(root)], base_env, "aws", "start")
    try:
        stand_in = aws.running(str(root))
        assert stand_in is not None
        sm = client("secretsmanager", "us-east-1", stand_in.url)
        sm.create_secret(Name=PASSWORD_SECRET, SecretString=password)
        sm.create_secret(Name=ADMIN_SECRET, SecretString=admin)
        options, env = _options(tmp_path, root), _environment(tmp_path, key, stand_in.url)
        small = ("--enrollments", "60", "--days", "3", "--offices", "4")
        outputs = [_lakehouse(tmp_path, options, env, *args) for args in (
            ("generate", "--part", "1", *small), ("run", "--no-summary"), ("generate", "--part", "2", *small),
            ("produce", "--events", str(PRODUCED)), ("stream", "--available-now"), ("run",), ("publish",),
            ("export",), ("dashboard",))]
    finally:
        subprocess.run([sys.executable, "-m", "lakehouse.cli", "--root", str(root), "aws", "stop"], env=base_env,
                       timeout=60, capture_output=True)
    assert "stream  succeeded" in outputs[4] and "export  succeeded" in outputs[7]

    # The run really used the key: silver's citizen keys are HMAC-SHA256 under it.
    row = (delta.read(spark, str(root), "bronze.enrollment_events").alias("b")
           .join(delta.read(spark, str(root), "silver.enrollment_events").alias("s"), "_source", how="inner")
           .select("b.national_id", "s.citizen_key").first())
    assert row is not None
    assert row["citizen_key"] == hmac.new(key.encode(), row["national_id"].encode(), hashlib.sha256).hexdigest()

    # The event log is plain JSON, and it holds the silver plans that computed the key.
    event_files = [p for p in (tmp_path / "eventlog").rglob("events_*") if p.is_file()]
    assert event_files
    events = [json.loads(line) for p in event_files for line in p.read_text().splitlines()]
    plans = [e["physicalPlanDescription"] for e in events if e["Event"].endswith(".SparkListenerSQLExecutionStart")]
    assert any("ArrowEvalPython" in plan and "citizen_key(" in plan for plan in plans)

    found = leaks(tmp_path, {"hmac key": key, "database password": password, "admin password": admin})
    assert found == [], "secrets found:\n" + "\n".join(found)

    _assert_the_session_holds_no_key(spark, root, key)


def _assert_the_session_holds_no_key(spark: SparkSession, root: Path, key: str) -> None:
    """In this session: silver's plan over the run's bronze, in every form, and the conf are clean;
    the UDF's pickled command does carry the key (why the event log is searched at all)."""
    silver = clean_enrollment_events(validate_enrollment_events(
        delta.read(spark, str(root), "bronze.enrollment_events"), 5), key.encode())
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
