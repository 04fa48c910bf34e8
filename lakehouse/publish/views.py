"""BI views over gold: SQL files in Athena's dialect (Trino), created through Athena.

Each `views/<name>.sql` holds one SELECT reading gold tables as `${gold}.<table>`; the gold Glue
database is substituted when the view is loaded. The same text is transpiled to Spark SQL with
sqlglot, so the views can be run (and tested) on Spark against the same gold tables.
"""
from __future__ import annotations

import base64
import json
import time
from importlib import resources
from typing import Any

import sqlglot
from botocore.exceptions import ClientError
from sqlglot.errors import ParseError

from lakehouse.errors import LakehouseError
from lakehouse.ops.results import Progress, no_progress

PLACEHOLDER = "${gold}"
_RUNNING = ("QUEUED", "RUNNING")


def _views_dir() -> Any:
    return resources.files(__package__) / "views"


def view_names() -> list[str]:
    """The views, by file name without `.sql`, sorted."""
    return sorted(f.name.removesuffix(".sql") for f in _views_dir().iterdir() if f.name.endswith(".sql"))


def view_sql(name: str, gold_database: str) -> str:
    """The view's SELECT in Athena's dialect, reading gold from `gold_database`."""
    if name not in view_names():
        raise LakehouseError(f"unknown view '{name}' (known: {', '.join(view_names())})")
    text: str = (_views_dir() / f"{name}.sql").read_text(encoding="utf-8")
    return text.replace(PLACEHOLDER, gold_database).strip().rstrip(";")


def to_spark_sql(name: str, gold_database: str) -> str:
    """The view's SELECT transpiled from Trino to Spark SQL (sqlglot)."""
    try:
        return sqlglot.transpile(view_sql(name, gold_database), read="trino", write="spark", pretty=True)[0]
    except ParseError as err:
        raise LakehouseError(f"view '{name}' is not valid Trino SQL: {err}") from None


def create_statement(name: str, gold_database: str) -> str:
    """`CREATE OR REPLACE VIEW <gold>.<name> AS <select>`, checked to parse as Trino SQL."""
    select = view_sql(name, gold_database)
    try:
        sqlglot.parse_one(select, read="trino")
    except ParseError as err:
        raise LakehouseError(f"view '{name}' is not valid Trino SQL: {err}") from None
    return f"CREATE OR REPLACE VIEW {gold_database}.{name} AS\n{select}"


def query_finished(name: str, execution: dict[str, Any]) -> bool:
    """Whether an Athena query (GetQueryExecution's QueryExecution) is done; raises if it failed.

    Raises:
        LakehouseError: naming the view, the state (FAILED or CANCELLED) and Athena's reason.
    """
    status = execution.get("Status") or {}
    state = status.get("State")
    if state in _RUNNING:
        return False
    if state == "SUCCEEDED":
        return True
    error = status.get("AthenaError") or {}
    reason = status.get("StateChangeReason") or error.get("ErrorMessage") or "no reason given"
    raise LakehouseError(f"Athena view '{name}': query {execution.get('QueryExecutionId')} {state}: {reason}")


def _wait(athena: Any, name: str, query_id: str, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    pause = 0.2
    while not query_finished(name, athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]):
        if time.monotonic() > deadline:
            raise LakehouseError(f"Athena view '{name}': query {query_id} still running after {timeout_seconds:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


def current_sql(glue: Any, database: str, name: str) -> str | None:
    """The SELECT a view already registered in Glue was created with (None: no such view).

    Athena keeps a view in Glue as a VIRTUAL_VIEW whose ViewOriginalText is
    `/* Presto View: <base64 of JSON with "originalSql"> */`.
    """
    try:
        entry = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None
    text = str(entry.get("ViewOriginalText") or "")
    prefix, suffix = "/* Presto View: ", " */"
    if entry.get("TableType") != "VIRTUAL_VIEW" or not text.startswith(prefix) or not text.endswith(suffix):
        return None
    try:
        return str(json.loads(base64.b64decode(text[len(prefix):-len(suffix)]))["originalSql"])
    except (ValueError, KeyError):
        return None


def create_views(athena: Any, gold_database: str, workgroup: str, output_location: str,
                 progress: Progress = no_progress, glue: Any = None, timeout_seconds: float = 300.0) -> dict[str, str]:
    """Create or replace every view in the gold Glue database through Athena, one query each.

    The gold database must exist in Glue already (`publish_catalog` creates it). Each query is
    waited for before the next is submitted.

    Args:
        athena: a boto3 Athena client (on AWS, or the local moto server's).
        gold_database: the gold Glue database, where the views go and whose tables they read.
        workgroup: the Athena workgroup the queries run in.
        output_location: where Athena writes the queries' results (s3://... on AWS).
        progress: where progress lines go.
        glue: a boto3 Glue client; with it, a view Glue already holds with the same SELECT is left
            alone (no query), so publishing twice with no change changes nothing.
        timeout_seconds: how long to wait for each query.

    Returns:
        view name -> the Athena query execution id that created it, or "unchanged".

    Raises:
        LakehouseError: a view that does not parse, could not be submitted, failed or timed out.
    """
    created: dict[str, str] = {}
    for name in view_names():
        statement = create_statement(name, gold_database)
        if glue is not None and current_sql(glue, gold_database, name) == view_sql(name, gold_database):
            created[name] = "unchanged"
            progress(f"view {gold_database}.{name}: unchanged")
            continue
        try:
            query_id: str = athena.start_query_execution(
                QueryString=statement,
                QueryExecutionContext={"Database": gold_database},
                WorkGroup=workgroup,
                ResultConfiguration={"OutputLocation": output_location},
            )["QueryExecutionId"]
        except ClientError as err:
            raise LakehouseError(f"Athena view '{name}': could not submit the query: {err}") from None
        _wait(athena, name, query_id, timeout_seconds)
        created[name] = query_id
        progress(f"view {gold_database}.{name} created (Athena query {query_id})")
    return created
