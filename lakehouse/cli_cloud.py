"""The cloud commands of `lakehouse`: storage (the S3 bucket), emr (deploy, create-cluster, submit,
schedule), iam (the policies as code), lambda (the S3-event trigger's zip). `cli` adds them to its
parser (`add_commands`) and runs them like its own."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lakehouse.config import Config


def cmd_storage(config: Config, args: argparse.Namespace) -> int:
    from lakehouse import app

    for line in app.init_storage(config):
        print(line)
    return 0


def cmd_emr(config: Config, args: argparse.Namespace) -> int:
    from lakehouse import deployment

    if args.action == "deploy":
        uploads = deployment.emr_deploy(config, args.prefix, args.wheel)
        prefix = args.prefix or config.emr.prefix
        for u in uploads:
            print(f"{'uploaded ' if u.uploaded else 'unchanged'}  {u.size:>12,}  {u.name}")
        sent = [u for u in uploads if u.uploaded]
        print(f"{len(sent)} of {len(uploads)} files uploaded to {prefix} ({sum(u.size for u in sent):,} bytes); "
              f"{len(uploads) - len(sent)} unchanged")
    elif args.action == "create-cluster":
        cluster_id, security = deployment.emr_create_cluster(config, args.prefix)
        print(f"security configuration {security.name}: {'created' if security.created else 'exists, unchanged'}")
        print(cluster_id)
    elif args.action == "schedule":
        outcome, arn = deployment.emr_schedule(config, args.expression, args.role_arn, args.steps, args.prefix,
                                               args.name)
        print(f"schedule {args.name} {outcome}: {args.expression} (UTC) launches a cluster running the steps "
              f"and ending after them\n{arn}")
    else:
        for name, step_id in deployment.emr_submit(config, args.cluster_id, args.steps, args.prefix, args.step_config):
            print(f"{step_id}  lakehouse {name}")
    return 0


def cmd_iam(config: Config, args: argparse.Namespace) -> int:
    from lakehouse import deployment

    written = deployment.write_iam(config, Path(args.output))
    print(f"wrote {len(written)} IAM documents to {args.output}: {', '.join(p.name for p in written)}")
    return 0


def cmd_lambda(config: Config, args: argparse.Namespace) -> int:
    from lakehouse.trigger import package

    names = package.build(Path(args.output))
    print(f"wrote {args.output} ({len(names)} modules, no Spark); handler: {package.HANDLER}")
    return 0


def add_commands(sub: Any) -> None:
    """The cloud sub-commands, on `sub` (the parser's sub-parsers)."""
    sto = sub.add_parser("storage", help="the lake's S3 bucket: init (create; SSE-KMS default, TLS/KMS policy)")
    sto.add_argument("action", choices=["init"])
    sto.set_defaults(func=cmd_storage)
    e = sub.add_parser("emr", help="Amazon EMR: deploy the artifacts, create the cluster, submit the steps")
    actions = e.add_subparsers(dest="action", required=True)
    ed = actions.add_parser("deploy", help="build the wheel; upload it, jobs/, conf/, bootstrap_actions/ to S3")
    ed.add_argument("--wheel", type=Path, help="upload this wheel instead of building one")
    ec = actions.add_parser("create-cluster", help="launch the cluster of conf/emr/ and print its id")
    es = actions.add_parser("submit", help="add the pipeline's steps to a cluster")
    es.add_argument("--cluster-id", required=True, help="the cluster (j-...)")
    es.add_argument("--steps", help="comma-separated, in order (default: ingest,silver,gold,publish,export)")
    es.add_argument("--step-config", default="emr", help="the config the steps run with (default: emr)")
    esc = actions.add_parser("schedule", help="run the steps on a schedule, on a cluster that ends after them")
    esc.add_argument("--expression", required=True, help="EventBridge Scheduler expression, e.g. 'cron(0 2 * * ? *)'")
    esc.add_argument("--role-arn", required=True, help="the role the scheduler assumes (elasticmapreduce:RunJobFlow, "
                     "iam:PassRole of the cluster's roles)")
    esc.add_argument("--steps", help="comma-separated, in order (default: ingest,silver,gold,publish,export)")
    esc.add_argument("--name", default="lakehouse-pipeline", help="the schedule's name (default: lakehouse-pipeline)")
    for action in (ed, ec, es, esc):
        action.add_argument("--prefix", help="s3://bucket/prefix of the artifacts (default: emr.prefix)")
    e.set_defaults(func=cmd_emr)
    ia = sub.add_parser("iam", help="least-privilege IAM as code: write the roles', key and bucket policies")
    ia.add_argument("action", choices=["write"])
    ia.add_argument("--output", default="conf/iam", help="the folder (default conf/iam; from --config emr)")
    ia.set_defaults(func=cmd_iam)
    lm = sub.add_parser("lambda", help="the S3-event trigger: package its Lambda zip")
    lm.add_argument("action", choices=["package"])
    lm.add_argument("--output", default="dist/lakehouse-trigger.zip", help="default dist/lakehouse-trigger.zip")
    lm.set_defaults(func=cmd_lambda)
