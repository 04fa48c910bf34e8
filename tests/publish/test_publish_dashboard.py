"""The dashboard: hand-made gold, ops and quarantine Delta tables in, one self-contained HTML page out.

Every expected number below is worked out by hand from the rows written here. The page is also
opened in headless Chromium (Debian's `chromium`, installed by `make setup`): it must render with
no console error, and its screenshot must show the charts.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import contract
from lakehouse.publish.dashboard import write_dashboard
from lakehouse.publish.dashboard.charts import LineChart, Series
from lakehouse.publish.dashboard.svg import line_svg
from lakehouse.storage import delta

D1, D2, D3 = "2026-10-01", "2026-10-02", "2026-10-03"
T1, T2 = dt.datetime(2026, 10, 2, 6, 0), dt.datetime(2026, 10, 3, 6, 0)
CHARTS = {"enrollments_by_region", "enrollments_by_channel", "completion_rate", "validation_times", "match_rate",
          "office_attendance", "quarantine_by_rule", "quality_latest_run", "freshness"}
SILVER_GOLD = {
    "silver.enrollment_events", "silver.biometric_validations", "silver.office_reports", "silver.offices",
    "silver.device_logs", "silver.documents", "gold.dim_date", "gold.dim_office", "gold.fct_enrollments",
    "gold.fct_biometric_validations", "gold.kpi_enrollments_daily", "gold.kpi_validation_times_daily",
    "gold.kpi_office_daily", "gold.alerts",
}
PERSONAL = ("Ana Perez", "Marta Ruiz", "40718231", "4071823", "1990-05-01")
NO_CHROMIUM = ("headless Chromium is not installed (no `chromium` on PATH): run `make setup` "
               "(or scripts/install_chromium.sh) to install Debian's chromium package")


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _frame(spark: SparkSession, name: str, ddl: str, rows: list[tuple]) -> DataFrame:
    """Rows given in a few columns, the registry's other columns null."""
    given = spark.createDataFrame(rows, ddl)
    return given.select([F.col(f.name) if f.name in given.columns else F.lit(None).cast(f.dataType).alias(f.name)
                         for f in contract.schema(name).fields])


def _enrollments(rows: list[tuple]) -> list[tuple]:
    return [(_d(d), *rest) for d, *rest in rows]


def build_lakehouse(spark: SparkSession, root: str) -> None:
    kpi = contract.schema("gold.kpi_enrollments_daily")
    # two commits: version 1
    delta.overwrite(spark.createDataFrame(_enrollments([
        (D1, "NORTE", "web", 10, 6, 1, 0.6),
        (D1, "NORTE", "office", 4, 3, 0, 0.75),
        (D1, "SUR", "mobile", 5, 2, 2, 0.4),
    ]), kpi), root, "gold.kpi_enrollments_daily")
    delta.append(spark.createDataFrame(_enrollments([
        (D2, "NORTE", "web", 8, 8, 0, 1.0),
        (D2, "SUR", "web", 2, 1, 0, 0.5),
        (D3, "SUR", "office", 0, 1, 0, None),  # a completion whose start was the day before
    ]), kpi), root, "gold.kpi_enrollments_daily")
    delta.overwrite(spark.createDataFrame(_enrollments([
        (D1, "NORTE", "fingerprint", 4, 3, 0, 1, 1.0, 100.0, 200.0, 120.0),
        (D1, "SUR", "fingerprint", 2, 0, 1, 1, 0.0, 400.0, 500.0, 400.0),
        (D1, "NORTE", "face", 2, 0, 0, 2, None, None, None, None),  # errors only: no time, no match rate
        (D2, "NORTE", "face", 5, 4, 1, 0, 0.8, 300.0, 900.0, 400.0),
        (D2, "SUR", "iris", 1, 1, 0, 0, 1.0, 50.0, 50.0, 50.0),
    ]), contract.schema("gold.kpi_validation_times_daily")), root, "gold.kpi_validation_times_daily")
    delta.overwrite(spark.createDataFrame(_enrollments([
        (D1, "OF-1", "NORTE", 10, 8, 0.8, 8.0, 5, 0.625),
        (D1, "OF-2", "NORTE", 10, 5, 0.5, 8.0, 2, 0.25),
        (D1, "OF-3", "SUR", 4, 4, 1.0, 6.0, 3, 0.5),
        (D2, "OF-1", "NORTE", 0, 0, None, 0.0, 0, None),  # nothing scheduled: no rate
    ]), contract.schema("gold.kpi_office_daily")), root, "gold.kpi_office_daily")
    delta.overwrite(spark.createDataFrame([(_d(D1), "OF-1", 8.0, 10, 8, "r.csv:2", T1)],
                                       contract.schema("silver.office_reports")), root, "silver.office_reports")

    events = "event_id string, national_id string, full_name string, birth_date string, _raw string, " \
             "_source string, _failed_rules array<string>, _quarantined_at timestamp"
    raw = '{"national_id": "%s", "full_name": "%s"}'
    delta.append(_frame(spark, "quarantine.enrollment_events", events, [
        ("not-a-uuid", "4071823", "Ana Perez", "1990-05-01", raw % ("4071823", "Ana Perez"), "e.jsonl:1",
         ["event_id_is_uuid", "national_id_format"], T1),
        ("8c1f7a52-3c1e-4d7e-9a65-2b7f4f1e9d01", "1234", "Luis Gomez", None, raw % ("1234", "Luis Gomez"),
         "e.jsonl:2", ["national_id_format"], T1),
        ("9d2e7a52-3c1e-4d7e-9a65-2b7f4f1e9d02", "40718231", "Marta Ruiz", None, raw % ("40718231", "Marta Ruiz"),
         "e.jsonl:3", ["channel_known"], T2),
    ]), root, "quarantine.enrollment_events")
    delta.append(_frame(spark, "quarantine.office_reports",
                     "report_date string, office_id string, appointments_scheduled string, _source string, "
                     "_failed_rules array<string>, _quarantined_at timestamp",
                     [("2026-10-01", "OF-1", "-3", "r.csv:3", ["counts_non_negative"], T1)]),
              root, "quarantine.office_reports")
    delta.append(spark.createDataFrame([
        ("silver-r1", T1, "silver.enrollment_events", "national_id_format", "error", 10, 5, 0),
        ("silver-r1", T1, "silver.office_reports", "counts_non_negative", "error", 4, 1, 0),
        # the latest run of the events, in two batches
        ("silver-r2", T2, "silver.enrollment_events", "national_id_format", "error", 7, 2, 0),
        ("silver-r2", T2, "silver.enrollment_events", "national_id_format", "error", 3, 1, 0),
        ("silver-r2", T2, "silver.enrollment_events", "office_known", "warn", 9, 1, 0),
        ("silver-r2", T2, "silver.enrollment_events", "*", "total", 9, 3, 2),
    ], contract.schema("ops.quality_metrics")), root, "ops.quality_metrics")
    alerts = ("incident_id string, rule string, severity string, status string, incident_key string, date date, "
              "region string, message string, opened_at timestamp")
    delta.overwrite(_frame(spark, "gold.alerts", alerts, [
        ("i-2", "gold_freshness", "warning", "open", "gold", None, None, "gold is 50 h old", T1),
        ("i-1", "match_rate_floor", "critical", "open", "2026-10-02|NORTE|face", _d(D2), "NORTE",
         "match rate 80.0% below 90%", T2),
        ("i-3", "p95_ceiling", "warning", "resolved", "2026-10-01|SUR|fingerprint", _d(D1), "SUR",
         "p95 500 ms above 400 ms", T1),
    ]), root, "gold.alerts")


@dataclass
class Figure:
    attrs: dict[str, str]
    dates: list[str] = field(default_factory=list)  # a line chart's days
    series: dict[str, list[str]] = field(default_factory=dict)  # a line chart's values, one per day or "null"
    marks: list[dict[str, str]] = field(default_factory=list)  # elements with a data-value (bars)
    rows: list[dict[str, str]] = field(default_factory=list)  # freshness table rows
    texts: dict[str, list[str]] = field(default_factory=dict)  # text by class (as-of, axis-label, no-data)
    tags: set[str] = field(default_factory=set)
    legend: list[str] = field(default_factory=list)


class Page(HTMLParser):
    """The figures of a dashboard page, and every reference it makes to another resource."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.figures: dict[str, Figure] = {}
        self.references: list[str] = []
        self._figure: Figure | None = None
        self._text_class: list[str | None] = []
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.references += [v for k, v in a.items() if k in ("src", "href", "xlink:href", "poster", "data", "action")]
        self.references += [u for v in a.values() for u in re.findall(r"url\(([^)]*)\)", v)]
        self._in_style = tag == "style"
        if tag == "figure":
            self._figure = self.figures.setdefault(a["data-chart"], Figure(a))
        if self._figure is None:
            return
        self._figure.tags.add(tag)
        if tag == "svg" and "data-dates" in a:
            self._figure.dates = a["data-dates"].split()
        if tag == "g" and "data-values" in a:
            self._figure.series[a["data-series"]] = a["data-values"].split()
        if "data-value" in a:
            self._figure.marks.append(a)
        if tag == "tr" and "data-table" in a:
            self._figure.rows.append(a)
        if tag in ("p", "div", "text", "li", "h2"):
            self._text_class.append(a.get("class", tag))

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        if tag in ("p", "div", "text", "li", "h2") and self._text_class:
            self._text_class.pop()
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.references += re.findall(r"url\(([^)]*)\)", data) + re.findall(r"@import\s+(\S+)", data)
        if self._figure is not None and self._text_class and self._text_class[-1] and data.strip():
            self._figure.texts.setdefault(self._text_class[-1], []).append(data.strip())
            if self._text_class[-1] == "li":
                self._figure.legend.append(data.strip())


def values(figure: Figure) -> dict[tuple[str, str], float]:
    """(series, day) -> value of every point of a line chart; (series, label) -> value of every bar."""
    points = {}
    for name, shown in figure.series.items():
        assert len(shown) == len(figure.dates), name
        points.update({(name, d): float(v) for d, v in zip(figure.dates, shown, strict=True) if v != "null"})
    return points | {(m["data-series"], m["data-label"]): float(m["data-value"]) for m in figure.marks}


@pytest.fixture(scope="module")
def dashboard(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dt.datetime, dt.datetime]:
    root = tmp_path_factory.mktemp("dashboard_root")
    before = dt.datetime.now(dt.UTC)
    build_lakehouse(spark, str(root))
    after = dt.datetime.now(dt.UTC)
    target = root / "site" / "index.html"
    written = write_dashboard(spark, str(root), str(target))
    assert Path(written) == target
    return target, before, after


def test_dashboard_is_one_small_self_contained_file(dashboard: tuple[Path, dt.datetime, dt.datetime]) -> None:
    target, _, _ = dashboard
    text = target.read_text(encoding="utf-8")
    page = Page(text)
    assert sorted(os.listdir(target.parent)) == ["index.html"]  # no temp file left behind
    assert text.startswith("<!DOCTYPE html>")
    assert page.references  # the parser sees them: the icon, the markers
    remote = [r for r in page.references if not re.match(r"\s*['\"]?\s*(#|data:)", r, re.IGNORECASE)]
    assert remote == []
    assert not re.search(r"<script[^>]*\bsrc=", text, re.IGNORECASE)
    assert not re.search(r"<link[^>]*rel=[\"']?stylesheet", text, re.IGNORECASE)
    assert len(text.encode()) < 60_000
    for secret in PERSONAL:
        assert secret not in text


def test_every_chart_is_there_with_title_axes_and_as_of(dashboard: tuple[Path, dt.datetime, dt.datetime]) -> None:
    page = Page(dashboard[0].read_text(encoding="utf-8"))
    assert set(page.figures) == CHARTS
    for key, figure in page.figures.items():
        assert figure.attrs["class"] == "chart", key
        assert figure.attrs["data-state"] == "ok", key
        assert figure.texts.get("h2"), key
        assert figure.texts["as-of"][0].startswith("as of "), key
        if key != "freshness":
            assert "svg" in figure.tags, key
            assert len(figure.texts["axis-label"]) == 2, key
    assert page.figures["enrollments_by_region"].legend == ["NORTE", "SUR"]
    assert page.figures["enrollments_by_channel"].legend == ["mobile", "office", "web"]
    assert page.figures["validation_times"].legend == ["face p50", "face p95", "fingerprint p50", "fingerprint p95",
                                                       "iris p50", "iris p95"]
    assert "gold.kpi_enrollments_daily v1" in page.figures["enrollments_by_region"].texts["as-of"][0]
    assert "data 2026-10-01 to 2026-10-03" in page.figures["enrollments_by_region"].texts["as-of"][0]
    assert "run silver-r1, silver-r2" in page.figures["quality_latest_run"].texts["as-of"][0]


def test_enrollment_numbers(dashboard: tuple[Path, dt.datetime, dt.datetime]) -> None:
    figures = Page(dashboard[0].read_text(encoding="utf-8")).figures
    assert values(figures["enrollments_by_region"]) == {
        ("NORTE", D1): 14, ("NORTE", D2): 8, ("NORTE", D3): 0,
        ("SUR", D1): 5, ("SUR", D2): 2, ("SUR", D3): 0,
    }
    assert values(figures["enrollments_by_channel"]) == {
        ("web", D1): 10, ("web", D2): 10, ("web", D3): 0,
        ("office", D1): 4, ("office", D2): 0, ("office", D3): 0,
        ("mobile", D1): 5, ("mobile", D2): 0, ("mobile", D3): 0,
    }
    # all channels: 11 of 19 on day 1, 9 of 10 on day 2; day 3 started none, so it has no rate
    assert values(figures["completion_rate"]) == pytest.approx({
        ("all channels", D1): 0.5789, ("all channels", D2): 0.9,
        ("web", D1): 0.6, ("web", D2): 0.9, ("office", D1): 0.75, ("mobile", D1): 0.4,
    }, abs=1e-4)


def test_validation_numbers(dashboard: tuple[Path, dt.datetime, dt.datetime]) -> None:
    figures = Page(dashboard[0].read_text(encoding="utf-8")).figures
    # fingerprint day 1: NORTE 100/200 ms over 3 timed validations, SUR 400/500 over 1
    assert values(figures["validation_times"]) == pytest.approx({
        ("fingerprint p50", D1): 175.0, ("fingerprint p95", D1): 275.0,
        ("face p50", D2): 300.0, ("face p95", D2): 900.0,
        ("iris p50", D2): 50.0, ("iris p95", D2): 50.0,
    })
    assert values(figures["match_rate"]) == pytest.approx({
        ("fingerprint", D1): 0.75, ("face", D2): 0.8, ("iris", D2): 1.0,
    })


def test_attendance_and_quality_numbers(dashboard: tuple[Path, dt.datetime, dt.datetime]) -> None:
    figures = Page(dashboard[0].read_text(encoding="utf-8")).figures
    # day 1: NORTE 13 of 20, SUR 4 of 4, all 17 of 24; day 2 scheduled nothing
    assert values(figures["office_attendance"]) == pytest.approx({
        ("NORTE", D1): 0.65, ("SUR", D1): 1.0, ("all offices", D1): 0.7083,
    }, abs=1e-4)
    assert values(figures["quarantine_by_rule"]) == {
        ("quarantine.enrollment_events", "national_id_format"): 2,
        ("quarantine.enrollment_events", "event_id_is_uuid"): 1,
        ("quarantine.enrollment_events", "channel_known"): 1,
        ("quarantine.office_reports", "counts_non_negative"): 1,
    }
    assert values(figures["quality_latest_run"]) == {
        ("silver.enrollment_events", "national_id_format"): 3,
        ("silver.enrollment_events", "office_known (warn)"): 1,
        ("silver.office_reports", "counts_non_negative"): 1,
    }


def test_freshness_of_every_silver_and_gold_table(dashboard: tuple[Path, dt.datetime, dt.datetime]) -> None:
    target, before, after = dashboard
    rows = {r["data-table"]: r for r in Page(target.read_text(encoding="utf-8")).figures["freshness"].rows}
    assert set(rows) == SILVER_GOLD
    versions = {name: r["data-version"] for name, r in rows.items() if r["data-version"]}
    assert versions == {"gold.kpi_enrollments_daily": "1", "gold.kpi_validation_times_daily": "0", "gold.alerts": "0",
                        "gold.kpi_office_daily": "0", "silver.office_reports": "0"}
    for name in versions:
        committed = dt.datetime.fromisoformat(rows[name]["data-committed"].replace("Z", "+00:00"))
        assert before - dt.timedelta(seconds=1) <= committed <= after + dt.timedelta(seconds=1), name


def test_the_generation_time_is_a_parameter(spark: SparkSession, dashboard: tuple[Path, dt.datetime, dt.datetime],
                                            tmp_path: Path) -> None:
    root = str(dashboard[0].parent.parent)
    latest = delta.latest_commit(spark, root, "gold.kpi_office_daily")
    assert latest is not None and latest[1] is not None
    generated = latest[1] + dt.timedelta(hours=3, minutes=5, seconds=20, microseconds=500)
    text = Path(write_dashboard(spark, root, str(tmp_path / "pinned.html"), generated_at=generated)).read_text()
    shown = generated.strftime("%Y-%m-%d %H:%M UTC")  # the minute, as the page shows times
    assert f"<p>Generated {shown} from the gold" in text
    assert Page(text).figures["freshness"].texts["as-of"] == [f"as of {shown}"]
    row = re.search(r'<tr data-table="gold.kpi_office_daily".*?</tr>', text)
    assert row is not None and row.group(0).endswith('<td class="num">3 h 5 min</td></tr>')


def test_tables_without_rows_show_a_no_data_panel(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    delta.ensure(spark, root, "gold.kpi_office_daily")  # exists, no rows
    # one row, nothing started: counts to plot (zeros), but no completion rate
    delta.overwrite(spark.createDataFrame([(_d(D1), "NORTE", "web", 0, 1, 0, None)],
                                       contract.schema("gold.kpi_enrollments_daily")), root, "gold.kpi_enrollments_daily")
    page = Page(Path(write_dashboard(spark, root, str(tmp_path / "out" / "dash.html"))).read_text(encoding="utf-8"))
    assert set(page.figures) == CHARTS
    plotted = {"enrollments_by_region", "enrollments_by_channel", "freshness"}
    for key in CHARTS - plotted:
        figure = page.figures[key]
        assert figure.attrs["data-state"] == "no-data", key
        assert values(figure) == {} and "svg" not in figure.tags, key
        assert figure.texts["no-data"][0].startswith("No data"), key
    assert values(page.figures["enrollments_by_region"]) == {("NORTE", D1): 0}
    assert values(page.figures["enrollments_by_channel"]) == {("web", D1): 0}
    assert "gold.kpi_office_daily has no rows" in page.figures["office_attendance"].texts["no-data"][0]
    assert "nothing to plot" in page.figures["completion_rate"].texts["no-data"][0]
    assert "gold.kpi_validation_times_daily not created yet" in page.figures["match_rate"].texts["as-of"][0]
    versions = {r["data-table"]: r["data-version"] for r in page.figures["freshness"].rows}
    assert {name: v for name, v in versions.items() if v} == {"gold.kpi_office_daily": "0",
                                                               "gold.kpi_enrollments_daily": "0"}


def test_a_long_history_shows_its_latest_90_days_and_stays_small(spark: SparkSession, tmp_path: Path) -> None:
    """120 days of 6 regions, 3 channels, 3 modalities and 40 offices (`make demo` has 30 days)."""
    root = str(tmp_path / "root")
    days = [dt.date(2026, 6, 1) + dt.timedelta(days=i) for i in range(120)]  # 2026-06-01 .. 2026-09-28
    regions, channels, modalities = ["R1", "R2", "R3", "R4", "R5", "R6"], ["web", "mobile", "office"], ["a", "b", "c"]
    delta.overwrite(spark.createDataFrame([(d, r, c, 20, 15, 1, 0.75) for d in days for r in regions for c in channels],
                                       contract.schema("gold.kpi_enrollments_daily")), root, "gold.kpi_enrollments_daily")
    delta.overwrite(spark.createDataFrame([(d, r, m, 10, 7, 2, 1, 0.7778, 900.0, 2100.0, 1000.0)
                                        for d in days for r in regions for m in modalities],
                                       contract.schema("gold.kpi_validation_times_daily")),
                 root, "gold.kpi_validation_times_daily")
    delta.overwrite(spark.createDataFrame([(d, f"OF-{o:04d}", regions[o % 6], 30, 27, 0.9, 8.0, 12, 1.5)
                                        for d in days for o in range(40)], contract.schema("gold.kpi_office_daily")),
                 root, "gold.kpi_office_daily")
    text = Path(write_dashboard(spark, root, str(tmp_path / "dash.html"))).read_text(encoding="utf-8")
    figures = Page(text).figures
    # the latest 90 days: 2026-07-01 .. 2026-09-28; one point per day and series
    for key, series in {"enrollments_by_region": 6, "enrollments_by_channel": 3, "completion_rate": 3 + 1,
                        "validation_times": 3 * 2, "match_rate": 3, "office_attendance": 6 + 1}.items():
        shown = values(figures[key])
        assert len(shown) == 90 * series, key
        assert min(d for _, d in shown) == "2026-07-01", key
        assert max(d for _, d in shown) == "2026-09-28", key
        assert "data 2026-07-01 to 2026-09-28" in figures[key].texts["as-of"][0], key
    assert values(figures["enrollments_by_region"])[("R1", "2026-07-01")] == 60  # 3 channels x 20
    # the server's SVG (under 100 kB) and the rows the filters slice: 90 days of 18 enrollment and
    # 18 validation rows and 40 offices, a few tens of bytes each
    assert len(text.encode()) < 300_000, len(text.encode())


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail(NO_CHROMIUM)
    # its own profile (other test runs may use Chromium at the same time), and no way out to a network
    command = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND", *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish in 180 s: {' '.join(command)}")
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_chromium_renders_the_dashboard(dashboard: tuple[Path, dt.datetime, dt.datetime], tmp_path: Path) -> None:
    try:
        from PIL import Image
    except ImportError:
        pytest.fail("Pillow is not installed: run `make setup` (it installs the test extra, '.[test]')")

    url = dashboard[0].resolve().as_uri()
    shot = tmp_path / "shot.png"
    result = _chromium([f"--screenshot={shot}", "--window-size=1400,3000", "--enable-logging=stderr", "--v=0", url],
                       tmp_path / "profile-shot")
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == []

    dom = Page(_chromium(["--dump-dom", url], tmp_path / "profile-dom").stdout)
    assert set(dom.figures) == CHARTS
    for key, figure in dom.figures.items():
        assert values(figure) or figure.rows, key

    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 3000)
    pixels = list(image.getdata())
    not_white = sum(1 for p in pixels if p != (255, 255, 255))
    assert not_white > 0.2 * len(pixels)  # the page background is grey, the panels white
    assert len(set(pixels)) > 200  # text, lines and anti-aliasing: many colours, not a flat page
    # the first palette colour (#4e79a7) fills points and bars: the SVG was drawn
    blue = sum(1 for r, g, b in pixels if abs(r - 0x4E) < 8 and abs(g - 0x79) < 8 and abs(b - 0xA7) < 8)
    assert blue > 300


def test_a_line_breaks_over_days_without_data() -> None:
    """Oct 1-2, then nothing until Oct 10: two pieces (a 2-point line, a lone dot), not one line across."""
    values: dict[dt.date, float | None] = {dt.date(2026, 10, 1): 1.0, dt.date(2026, 10, 2): 2.0,
                                           dt.date(2026, 10, 10): 3.0}
    svg = line_svg(LineChart("k", "t", "y", [Series("s", values, "#000000")], "src", "now"))
    lines = re.findall(r'<polyline[^>]* points="([^"]+)"', svg)
    assert [len(points.split()) for points in lines] == [2]
    assert len(re.findall(r"<circle cx=", re.sub(r"<marker.*?</marker>", "", svg))) == 1  # the lone dot
