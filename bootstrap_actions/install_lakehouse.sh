#!/usr/bin/env bash
# EMR bootstrap action: install the lakehouse wheel (`make wheel` or `lakehouse emr deploy`) on every
# node with the requirements it declares itself (its `emr` extra), so steps (`spark-submit jobs/*.py`)
# and notebooks import the same package. Idempotent: a second run installs nothing and says so.
#
#   usage: install_lakehouse.sh WHEEL
#     WHEEL  s3://bucket/prefix/artifacts/lakehouse-<version>-py3-none-any.whl (copied with `aws s3 cp`),
#            or a local path or file:// URI standing in for the S3 prefix (tests)
#   environment:
#     LAKEHOUSE_PYTHON  the interpreter to install into; default EMR's python3 (through sudo when
#                       not root). One given here is the caller's own (a virtualenv): no sudo.
#
# The wheel requires neither pyspark nor delta-spark: the cluster (emr-spark-8.1.0) brings both, and
# installing them over it would break it. The PostgreSQL JDBC driver is not a Python package: the
# ingest step passes it to spark-submit with --jars (lakehouse emr submit). One line per step goes
# to stdout (the bootstrap action's stdout log on EMR), errors to stderr.
set -euo pipefail

log() { printf '%s install_lakehouse: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
fail() { printf '%s install_lakehouse: error: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; exit 1; }
# A command that fails where no step says why still leaves one line naming where.
trap 'fail "unexpected failure at line $LINENO: $BASH_COMMAND"' ERR

[ "$#" -eq 1 ] || fail "usage: install_lakehouse.sh s3://bucket/prefix/artifacts/lakehouse-<version>-py3-none-any.whl"
wheel_uri="$1"
wheel_name="$(basename "$wheel_uri")"
case "$wheel_name" in
  lakehouse-*-py3-none-any.whl) ;;
  *) fail "not a lakehouse wheel: $wheel_uri (expected lakehouse-<version>-py3-none-any.whl)" ;;
esac

sudo_cmd=()
if [ -n "${LAKEHOUSE_PYTHON:-}" ]; then
  python="$LAKEHOUSE_PYTHON"
else
  python="python3"
  if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
  fi
fi
command -v "$python" >/dev/null 2>&1 || fail "interpreter not found: $python"
log "interpreter: $("$python" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
wheel="$stage/$wheel_name"
case "$wheel_uri" in
  s3://*)
    log "copying $wheel_uri"
    aws s3 cp --only-show-errors "$wheel_uri" "$wheel" || fail "cannot copy $wheel_uri"
    ;;
  *://*)
    [ "${wheel_uri#file://}" != "$wheel_uri" ] || fail "unsupported URI: $wheel_uri (s3://, file:// or a path)"
    [ -f "${wheel_uri#file://}" ] || fail "wheel not found: $wheel_uri"
    log "copying $wheel_uri"
    cp "${wheel_uri#file://}" "$wheel"
    ;;
  *)
    [ -f "$wheel_uri" ] || fail "wheel not found: $wheel_uri"
    log "copying $wheel_uri"
    cp "$wheel_uri" "$wheel"
    ;;
esac

pip=("${sudo_cmd[@]}" "$python" -m pip --disable-pip-version-check --no-input)
before="$("$python" -m pip list --format=freeze)"
log "installing $wheel_name with its emr requirements"
"${pip[@]}" install --quiet "${wheel}[emr]" || fail "pip could not install ${wheel_name}[emr]"
after="$("$python" -m pip list --format=freeze)"

if [ "$before" = "$after" ]; then
  log "nothing changed: $wheel_name and its emr requirements were already installed"
else
  changed="$(comm -13 <(printf '%s\n' "$before" | sort) <(printf '%s\n' "$after" | sort) | paste -sd ' ' -)"
  log "installed: $changed"
fi

# The config travels in the wheel (no project folder on a node): the EMR config must load there.
"$python" -c "from lakehouse.config import load_config; load_config('emr')" \
  || fail "lakehouse is installed but its EMR config does not load"
log "done: lakehouse $("$python" -c 'import importlib.metadata as m; print(m.version("lakehouse"))') ready"
