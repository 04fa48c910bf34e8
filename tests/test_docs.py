"""The docs a newcomer reads are true to the code: every table and rule is in the contract, every
path ARCHITECTURE.md names exists."""
from __future__ import annotations

import re
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.contract import TABLES
from lakehouse.quality import rules

ROOT = Path(__file__).resolve().parents[1]


def _rule_names() -> set[str]:
    every = [*rules.enrollment_event_rules(5), rules.office_known([]), *rules.office_report_rules(),
             *rules.device_log_rules()]
    return {r.name for r in every}


def test_the_contract_names_every_table_and_rule(spark: SparkSession) -> None:
    # (the rule lists build Columns: they need the session)
    text = (ROOT / "docs" / "CONTRACT.md").read_text(encoding="utf-8")
    missing = [name for name in TABLES if f"`{name}`" not in text]
    missing += [name for name in sorted(_rule_names()) if f"`{name}`" not in text]
    assert not missing, f"docs/CONTRACT.md does not name: {', '.join(missing)}"


def test_the_contract_lists_each_table_layout() -> None:
    """Each table with a partition, a Z-order or a change feed has its row in the layout table, with
    exactly those columns; no other table has one."""
    text = (ROOT / "docs" / "CONTRACT.md").read_text(encoding="utf-8").split("### Layout", 1)[1].split("\n\n")[1]
    rows = {cells[0].strip("`"): cells[1:] for line in text.splitlines()[2:]
            if (cells := [c.strip() for c in line.strip("|").split("|")])}
    laid_out = {name: t.layout for name, t in TABLES.items()
                if t.layout.partition_by or t.layout.zorder_by or t.layout.change_feed}
    assert set(rows) == set(laid_out)
    for name, layout in laid_out.items():
        assert rows[name] == [", ".join(f"`{c}`" for c in layout.partition_by),
                              ", ".join(f"`{c}`" for c in layout.zorder_by),
                              "on" if layout.change_feed else ""], name


def test_every_path_architecture_names_exists() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:lakehouse|tests|jobs|conf|benchmarks|docs|notebooks|bootstrap_actions)/[\w./-]*)`",
                           text))
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (ROOT / p.rstrip("/")).exists())
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {', '.join(missing)}"


def test_the_readme_points_inside_the_repository() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in text
    assert "docs/CONTRACT.md" in text and "ARCHITECTURE.md" in text
