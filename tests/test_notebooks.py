"""Every notebook under notebooks/ is stored clean and runs top to bottom against a small lake.

The lake is built here: the generator's landing files for four days (two parts, a run after each,
so `ops.quality_metrics` holds more than one run), by the real CLI on the session's SparkSession.
Each notebook then runs in a kernel of its own (its own process and SparkSession, as in Jupyter),
pointed at that lake by `LAKEHOUSE_ROOT` and `LAKEHOUSE_CONFIG=local`. The numbers a notebook
prints are checked against what this test computes itself from silver and quarantine with plain
Spark and numpy, and no output may hold a national ID, name or birth date of the lake.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from month_lake import Month
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.storage import delta

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
QUARANTINES = ("quarantine.enrollment_events", "quarantine.office_reports", "quarantine.device_logs")


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _code(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"explore_gold.ipynb", "quality_review.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.metadata["kernelspec"]["name"] == "python3"
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs (strip them: nbstripout {path.name})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_then_the_common_session_cell(path: Path) -> None:
    code = _code(nbformat.read(path, as_version=4))
    assert [_tags(c) for c in code[:2]] == [["parameters"], ["session"]], path.name
    assert sum("parameters" in _tags(c) for c in code) == 1
    assert 'os.environ.get("LAKEHOUSE_CONFIG", "emr")' in code[0].source
    session = code[1].source
    assert 'if "spark" not in globals():' in session and "get_spark(config.spark)" in session
    first = _code(nbformat.read(NOTEBOOKS[0], as_version=4))[1].source
    assert session == first, f"{path.name} builds its session unlike {NOTEBOOKS[0].name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chart_has_a_title_labels_and_a_sentence(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    charts = [i for i, c in enumerate(nb.cells) if "chart" in _tags(c)]
    assert charts, f"{path.name} draws no chart"
    for i in charts:
        source = nb.cells[i].source
        assert "title=" in source and "xlabel=" in source and "ylabel=" in source, f"{path.name} cell {i}"
        assert nb.cells[i - 1].cell_type == "markdown", f"{path.name} cell {i}: no markdown says what it shows"


# --- running them -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lake(month: Month) -> Path:
    """The session's month (late events and the office move too), which the notebooks only read."""
    return Path(month.root)


def _execute(path: Path, lake: Path | None, workdir: Path, nb: Any = None) -> Any:
    """The notebook (`nb`, else read from `path`) as run by a python3 kernel against `lake` (None: the
    default config, EMR's); fails naming the cell that raised."""
    nb = nb or nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in ("LAKEHOUSE_ROOT", "LAKEHOUSE_CONFIG")}
    env.update({"LAKEHOUSE_DRIVER_MEMORY": "1g", "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
    if lake is not None:
        env.update({"LAKEHOUSE_ROOT": str(lake), "LAKEHOUSE_CONFIG": "local"})
    client = NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        failed = [i for i, c in enumerate(nb.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        cell = failed[0] if failed else "?"
        pytest.fail(f"{path.name}: cell {cell} raised {err.ename}: {err.evalue}", pytrace=False)
    return nb


@pytest.fixture(scope="module")
def executed(lake: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    done = {}
    for path in NOTEBOOKS:
        workdir = tmp_path_factory.mktemp(path.stem)
        done[path.name] = _execute(path, lake, workdir)
        nbformat.write(done[path.name], workdir / path.name)  # with its outputs, to look at after a failure
    return done


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_session_cell_uses_the_kernels_spark(path: Path, tmp_path: Path) -> None:
    # As on EMR Studio: a Spark kernel has started `spark` before the first cell, and no
    # LAKEHOUSE_CONFIG is set, so the notebook reads the EMR config and builds no session of its own.
    code = _code(nbformat.read(path, as_version=4))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('spark = "the kernel\'s session"'), *code[:2],
                                         nbformat.v4.new_code_cell("print(spark)")])
    cells = _execute(path, None, tmp_path, nb).cells
    assert _text(cells[2]) == "config 'emr', storage root s3://lakehouse-registry-data/lakehouse\n"
    assert _text(cells[3]) == "the kernel's session\n"


@pytest.mark.slow
def test_a_failing_cell_is_named(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("no"),
                                         nbformat.v4.new_code_cell("x / 0")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "broken.ipynb")
    with pytest.raises(pytest.fail.Exception, match=r"^broken.ipynb: cell 2 raised ZeroDivisionError: division by zero$"):
        _execute(tmp_path / "broken.ipynb", tmp_path, tmp_path)


def _text(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        for kind in ("text/plain", "text/html"):
            if kind in output.get("data", {}):
                parts.append(output["data"][kind])
    return "".join(parts)


def _totals(nb: Any) -> str:
    return "".join(_text(c) for c in nb.cells if "totals" in _tags(c))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_and_every_chart_cell_draws(executed: dict[str, Any], path: Path) -> None:
    nb = executed[path.name]
    for i, cell in enumerate(nb.cells):
        if "chart" in _tags(cell):
            kinds = [k for o in cell.outputs for k in o.get("data", {})]
            assert "image/png" in kinds, f"{path.name}: chart cell {i} drew no image ({kinds})"


@pytest.mark.slow
def test_no_output_shows_personal_data(spark: SparkSession, lake: Path, executed: dict[str, Any]) -> None:
    # Every national ID, name and birth date the lake holds in clear (bronze and quarantine keep them).
    events = delta.read(spark, str(lake), "bronze.enrollment_events")
    personal = {v for column in ("national_id", "full_name", "birth_date")
                for (v,) in events.select(column).where(F.length(column) >= 6).distinct().collect()}
    personal |= {v for (v,) in delta.read(spark, str(lake), "bronze.operators").select("full_name").distinct().collect()
                 if v and len(v) >= 6}
    assert len(personal) > 100
    for name, nb in executed.items():
        text = "".join(_text(c) for c in nb.cells)
        shown = sorted(v for v in personal if v in text)
        assert not shown, f"{name} shows {len(shown)} personal values"


@pytest.mark.slow
def test_explore_gold_prints_what_silver_says(spark: SparkSession, lake: Path, executed: dict[str, Any]) -> None:
    text = _totals(executed["explore_gold.ipynb"])
    events = delta.read(spark, str(lake), "silver.enrollment_events")
    counts = dict(events.groupBy("event_type").count().collect())
    started, completed = counts["enrollment_started"], counts["enrollment_completed"]
    assert f"enrollments started: {started}\n" in text
    assert f"enrollments completed: {completed}\n" in text
    assert f"completion rate: {completed / started:.4f}\n" in text

    validations = delta.read(spark, str(lake), "silver.biometric_validations")
    rows = validations.where(F.col("result") != "error").select("modality", "duration_ms").collect()
    durations: dict[str, list[int]] = {}
    for modality, ms in rows:
        durations.setdefault(modality, []).append(ms)
    assert set(durations) == {"fingerprint", "face", "iris"}
    for modality, values in durations.items():
        p50, p95 = np.percentile(values, [50, 95])  # linear interpolation, as the contract says
        assert f"{modality}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(values)} validations" in text


@pytest.mark.slow
def test_quality_review_counts_what_the_quarantine_holds(spark: SparkSession, lake: Path,
                                                         executed: dict[str, Any]) -> None:
    text = _totals(executed["quality_review.ipynb"])
    expected: Counter[tuple[str, str]] = Counter()
    for name in QUARANTINES:
        rules = [r for (r,) in delta.read(spark, str(lake), name).select("_failed_rules").collect()]
        assert f"{name}: {len(rules)} records\n" in text
        expected.update((name, rule) for failed in rules for rule in failed)
    assert sum(expected[k] for k in expected if k[0] == "quarantine.enrollment_events") > 0
    printed = Counter({(t, r): int(n) for t, r, n in re.findall(r"^\s*(quarantine\.\w+)\s+(\w+)\s+(\d+)\s*$",
                                                                  text, flags=re.M)})
    assert printed == expected
