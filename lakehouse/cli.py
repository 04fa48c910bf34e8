"""`lakehouse`: the command line of the lakehouse.

Sub-commands: generate, ingest, silver, gold, alerts, run, publish, export, dashboard, show, dq, aws,
storage, produce, stream, emr (deploy, create-cluster, submit, schedule), lambda, iam, erase,
rotate-key, maintain, serve, api; the cloud ones (storage, emr, iam, lambda) are in `cli_cloud`, the
API's (serve, api) in `cli_api`.

Errors print one clear line (no Java stack trace) and exit non-zero; `--verbose` keeps the trace.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any

from lakehouse import cli_api, cli_cloud
from lakehouse.config import Config, load_config
from lakehouse.errors import ConfigError, describe


def _spark(config: Config) -> Any:
    from lakehouse import app

    return app.spark(config)


def cmd_generate(config: Config, args: argparse.Namespace) -> int:
    import dataclasses

    from lakehouse import deployment
    from lakehouse.app import registry
    from lakehouse.config.paths import is_remote
    from lakehouse.datagen import generate

    settings = config.datagen
    names = ("seed", "days", "offices", "enrollments")
    overrides = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    settings = dataclasses.replace(settings, **overrides)
    remote = is_remote(config.root)
    # An S3 root: the files are written to the local folder first, then uploaded (unchanged ones skipped).
    landing = f"{config.local_dir}/_generated/landing" if remote else f"{config.root}/landing"
    with registry(config) as endpoint:
        summary = generate(landing, settings, part=args.part, registry=endpoint)
    print(summary.describe() if hasattr(summary, "describe") else summary)
    if remote:
        uploaded, unchanged = deployment.upload_landing(config, landing)
        print(f"landing files uploaded to {config.root}/landing: {uploaded} new or changed, {unchanged} unchanged")
    return 0


def _print_reports(reports: list[Any]) -> None:
    for r in reports:
        print(f"{r.step:<7} {r.status:<10} in={r.rows_in:,} out={r.rows_out:,} quarantined={r.rows_quarantined:,}"
              f"  {r.message}")


def cmd_aws(config: Config, args: argparse.Namespace) -> int:
    from lakehouse.local import aws

    if args.action == "start":
        print(f"local AWS stand-in at {aws.start_detached(config.local_dir).url}")
    elif args.action == "stop":
        print("stopped" if aws.stop_detached(config.local_dir) else "not running")
    else:
        found = aws.running(config.local_dir)
        print(f"running at {found.url}" if found else "not running")
    return 0


def cmd_produce(config: Config, args: argparse.Namespace) -> int:
    from lakehouse.app import aws_endpoint, stream_kms_key
    from lakehouse.aws.clients import client
    from lakehouse.datagen.generator import registry_world
    from lakehouse.datagen.producer import ensure_stream, produce

    endpoint = aws_endpoint(config)
    kinesis = client("kinesis", config.aws.region, endpoint)
    ensure_stream(kinesis, config.stream.name, config.stream.shards, kms_key=stream_kms_key(config, endpoint))
    if args.only_if_empty and _stream_has_records(kinesis, config.stream.name):
        print(f"stream {config.stream.name} already holds records: nothing produced (--only-if-empty)")
        return 0
    summary = produce(kinesis, config.stream.name, rate=args.rate, seconds=args.seconds, seed=args.seed,
                      events=args.events, world=registry_world(config.datagen))
    print(summary.describe())
    return 0


def _stream_has_records(kinesis: Any, stream: str) -> bool:
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        if kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"]:
            return True
    return False


def cmd_stream(config: Config, args: argparse.Namespace) -> int:
    from lakehouse import app

    spark = _spark(config)
    report = app.run_stream(spark, config, args.available_now, args.trigger_seconds, args.timeout)
    _print_reports([report])
    return 0


def cmd_step(config: Config, args: argparse.Namespace) -> int:
    from lakehouse import app

    spark = _spark(config)
    if args.command == "gold":  # the alerts are judged after every gold build
        gold = app.run_gold(spark, config, full=args.full)
        _print_reports([gold, app.run_alerts(spark, config, gold.run_id)])
        return 0
    if args.command == "maintain":
        _print_reports([app.run_maintain(spark, config, args.tables, not args.no_vacuum)])
        return 0
    if args.command == "publish":
        _print_reports([app.run_publish(spark, config, redshift_out=args.redshift_out if args.redshift else None)])
        return 0
    runner = {"ingest": app.run_ingest, "silver": app.run_silver,
              "export": app.run_export}[args.command]
    _print_reports([runner(spark, config)])
    return 0


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from pyspark.sql import functions as F

    from lakehouse import app
    from lakehouse.gold.summaries import daily_enrollments
    from lakehouse.ops.summaries import quarantine_by_rule
    from lakehouse.storage import delta

    spark = _spark(config)
    reports = app.run_all(spark, config)
    print()
    _print_reports(reports)
    if not any(r.changed for r in reports):
        print("\nNothing new: every table is unchanged (idempotent re-run).")
    if args.summary:
        counts = app.table_counts(spark, config.root, ("bronze", "silver", "quarantine", "gold"))
        print("\nTables\n" + format_rows(["table", "rows", "version"], counts))
        quarantines = app.read_layer(spark, config.root, "quarantine")
        if quarantines:
            print("\nQuarantined records per rule\n" + frame_text(quarantine_by_rule(quarantines)))
        daily = daily_enrollments(delta.read(spark, config.root, "gold.kpi_enrollments_daily"))
        daily = daily.withColumn("completion_rate", F.round("completion_rate", 3)).orderBy(F.col("date").desc())
        print("\nEnrollments per day (latest 7)\n" + frame_text(daily, 7))
        times = (delta.read(spark, config.root, "gold.kpi_validation_times_daily")
                 .groupBy("modality").agg(F.sum("validations").alias("validations"),
                                          F.round(F.avg("p50_ms"), 1).alias("mean_daily_p50_ms"),
                                          F.round(F.avg("p95_ms"), 1).alias("mean_daily_p95_ms"))
                 .orderBy("modality"))
        print("\nBiometric validation times by modality\n" + frame_text(times))
    print_open_alerts(spark, config)
    return 0


def print_open_alerts(spark: Any, config: Config) -> None:
    """The open incidents of `gold.alerts`, most severe first."""
    from lakehouse.alerts import open_incidents

    rows = open_incidents(spark, config.root)
    if not rows:
        print("\nOpen alerts: none")
        return
    columns = ["severity", "rule", "incident_key", "message", "opened_at"]
    print(f"\nOpen alerts ({len(rows)})\n" + format_rows(columns, [tuple(r[c] for c in columns) for r in rows]))


def cmd_alerts(config: Config, args: argparse.Namespace) -> int:
    from lakehouse import app

    spark = _spark(config)
    if not args.list_only:
        _print_reports([app.run_alerts(spark, config, ops_only=args.ops_only)])
    print_open_alerts(spark, config)
    return 0


def cmd_show(config: Config, args: argparse.Namespace) -> int:
    from lakehouse.contract import table
    from lakehouse.storage import delta

    table(args.table)  # a clear error for an unknown name
    spark = _spark(config)
    if not delta.exists(spark, config.root, args.table):
        print(f"{args.table}: not built yet (no Delta table at {delta.path(config.root, args.table)})")
        return 1
    df = delta.read(spark, config.root, args.table)
    if args.where:
        df = df.where(args.where)
    print(frame_text(df, args.limit))
    return 0


def cmd_dashboard(config: Config, args: argparse.Namespace) -> int:
    from lakehouse import app

    path = app.write_dashboard(_spark(config), config)
    print(f"dashboard written to {path} (one self-contained HTML file: open it in a browser)")
    return 0


def cmd_erase(config: Config, args: argparse.Namespace) -> int:
    import getpass

    from lakehouse import protection

    ids = list(args.national_id or [])
    if args.file:
        ids += Path(args.file).read_text(encoding="utf-8").split()
    reports = protection.run_erase(_spark(config), config, ids, args.requested_by or getpass.getuser(),
                                   list(args.operator_id or []))
    _print_reports(reports)
    return 0


def cmd_dq(config: Config, args: argparse.Namespace) -> int:
    from lakehouse.ops.summaries import latest_quality
    from lakehouse.storage import delta

    spark = _spark(config)
    print(frame_text(latest_quality(delta.read(spark, config.root, "ops.quality_metrics")), 500))
    return 0


def cmd_rotate_key(config: Config, args: argparse.Namespace) -> int:
    from lakehouse import protection

    _print_reports(protection.rotate_key(_spark(config), config, args.new_key_env))
    return 0


def format_rows(header: list[str], rows: list[tuple[Any, ...]]) -> str:
    """A plain text table."""
    cells = [[("" if v is None else f"{v:,}" if isinstance(v, int) and not isinstance(v, bool)
               else f"{v:.3f}" if isinstance(v, float) else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def frame_text(df: Any, limit: int = 50) -> str:
    """The first `limit` rows of a DataFrame as a plain text table."""
    rows = [tuple(r) for r in df.limit(limit).collect()]
    return format_rows(df.columns, rows)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    import yaml

    overrides: dict[str, Any] = {}
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got '{item}'")
        overrides[key.strip()] = yaml.safe_load(value)
    if args.root:
        overrides["storage.root"] = args.root
    return overrides


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lakehouse", description=__doc__.splitlines()[0])
    p.add_argument("--config", default="local", help="conf/<name>.yaml on top of conf/base.yaml (default: local)")
    p.add_argument("--root", help="storage root (overrides storage.root)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set spark.shuffle_partitions=8 (repeatable)")
    p.add_argument("--verbose", action="store_true", help="show full stack traces on errors")
    sub = p.add_subparsers(dest="command", required=True)
    cli_cloud.add_commands(sub)
    cli_api.add_commands(sub)

    g = sub.add_parser("generate", help="write a synthetic data set to landing/ and the registry database")
    g.add_argument("--part", choices=["1", "2", "all"], default="all", help="first half, second half, or all")
    for name in ("seed", "days", "offices", "enrollments"):
        g.add_argument(f"--{name}", type=int)
    g.set_defaults(func=cmd_generate)
    for name, text in (("ingest", "landing files and registry changes -> bronze"),
                       ("silver", "bronze -> silver and quarantine"), ("gold", "silver -> gold"),
                       ("publish", "silver and gold -> Glue Data Catalog (Athena, BI tools) and the BI views"),
                       ("export", "gold -> PostgreSQL (atomic, idempotent)")):
        step = sub.add_parser(name, help=text)
        step.set_defaults(func=cmd_step)
        if name == "gold":
            step.add_argument("--full", action="store_true",
                              help="rebuild all of gold from all of silver (default: only what silver changed)")
        if name == "publish":
            step.add_argument("--redshift", action="store_true",
                              help="also gold's symlink manifests and the Redshift Spectrum DDL (redshift.*)")
            step.add_argument("--redshift-out", default="conf/redshift",
                              help="the folder of the DDL, spectrum.sql (default conf/redshift)")
    m = sub.add_parser("maintain", help="compact small files, Z-order, purge deletion vectors, vacuum "
                       "(maintenance.vacuum_retention_hours) and checkpoint every table, or --tables")
    m.add_argument("--tables", nargs="+", metavar="LAYER.NAME", help="only these tables (default: all)")
    m.add_argument("--no-vacuum", action="store_true", help="compact and checkpoint only: delete no file")
    m.set_defaults(func=cmd_step)
    a = sub.add_parser("aws", help="the local AWS stand-in (moto on 127.0.0.1): start, stop, status")
    a.add_argument("action", choices=["start", "stop", "status"])
    a.set_defaults(func=cmd_aws)
    pr = sub.add_parser("produce", help="put synthetic enrollment events on the Kinesis stream")
    pr.add_argument("--rate", type=int, default=1000, help="records per second (default 1000)")
    pr.add_argument("--seconds", type=float, default=10.0, help="for how long (default 10)")
    pr.add_argument("--events", type=int, help="exactly this many events instead of rate x seconds")
    pr.add_argument("--seed", type=int, default=7)
    pr.add_argument("--only-if-empty", action="store_true", help="skip when the stream already holds records")
    pr.set_defaults(func=cmd_produce)
    st = sub.add_parser("stream", help="Kinesis -> bronze -> silver (continuous, or --available-now)")
    st.add_argument("--available-now", action="store_true", help="drain what the stream holds, then stop")
    st.add_argument("--trigger-seconds", type=int, help="micro-batch interval (default: stream.trigger_seconds)")
    st.add_argument("--timeout", type=float, help="stop a continuous stream after this many seconds")
    st.set_defaults(func=cmd_stream)
    r = sub.add_parser("run", help="everything, end to end")
    r.add_argument("--no-summary", dest="summary", action="store_false")
    r.set_defaults(func=cmd_run)
    al = sub.add_parser("alerts", help="judge the alert rules (alerts.rules) into gold.alerts, send openings and "
                        "resolutions to SNS, and list the open incidents")
    al.add_argument("--ops-only", action="store_true", help="only the rules of freshness and stream lag")
    al.add_argument("--list-only", action="store_true", help="judge nothing: list the open incidents")
    al.set_defaults(func=cmd_alerts)
    s = sub.add_parser("show", help="print a table")
    s.add_argument("table", help="layer.name, e.g. gold.kpi_enrollments_daily")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--where", help="a filter, e.g. \"region = 'NORTE'\"")
    s.set_defaults(func=cmd_show)
    er = sub.add_parser("erase", help="erase people: citizens from landing, bronze, quarantine, silver, gold and "
                        "PostgreSQL; registry operators from bronze (and their later registry rows)")
    er.add_argument("--national-id", action="append", metavar="ID",
                    help="a citizen to erase (repeatable; visible to `ps`: prefer --file)")
    er.add_argument("--file", help="a file of national IDs, one per line")
    er.add_argument("--operator-id", action="append", metavar="ID", help="a registry operator to erase (repeatable)")
    er.add_argument("--requested-by", help="who asked, for the audit (default: the current user)")
    er.set_defaults(func=cmd_erase)
    sub.add_parser("dq", help="the latest quality metrics").set_defaults(func=cmd_dq)
    sub.add_parser("dashboard", help="write the KPI dashboard (one self-contained HTML file)").set_defaults(
        func=cmd_dashboard)
    rk = sub.add_parser("rotate-key", help="a new HMAC key: silver's citizen keys, then gold and the export follow")
    rk.add_argument("--new-key-env", help="the variable holding the new key, when security.hmac_key is an "
                    "environment variable (a key file or a Secrets Manager secret gets a generated key)")
    rk.set_defaults(func=cmd_rotate_key)
    return p


GLOBAL_OPTIONS = {"--config": 1, "--root": 1, "--set": 1, "--verbose": 0}


def job_main(step: str, argv: list[str]) -> int:
    """Entry point of a `jobs/` script: global options may come in any order with the step's own."""
    global_args: list[str] = []
    step_args: list[str] = []
    args = iter(argv)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            global_args.append(arg)
            if GLOBAL_OPTIONS[name] and "=" not in arg:
                global_args.append(next(args, ""))
        else:
            step_args.append(arg)
    return main([*global_args, step, *step_args])


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_config(args.config, _overrides(args))
        return int(args.func(config, args))
    except KeyboardInterrupt:
        print("lakehouse: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if args.verbose:
            traceback.print_exc()
        print(f"lakehouse {args.command}: error: {describe(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
