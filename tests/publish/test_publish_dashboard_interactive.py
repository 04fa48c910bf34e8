"""The dashboard's interactive views, driven in headless Chromium (Debian's `chromium`) by Playwright.

The lakehouse is the hand-made one of `test_publish_dashboard.py`; every expected number is worked
out by hand from its rows (D1..D3 of 2026-10):
enrollments (day, region, channel, started, completed): D1 NORTE web 10/6, D1 NORTE office 4/3,
D1 SUR mobile 5/2, D2 NORTE web 8/8, D2 SUR web 2/1, D3 SUR office 0/1; validations of SUR:
D1 fingerprint 0 matches, 1 no match, p95 500 ms; D2 iris 1 match, p95 50 ms; offices of SUR:
D1 OF-3 4 scheduled, 4 attended. Open incidents: a critical one of NORTE, a warning with no region.
"""
from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from test_publish_dashboard import D1, D2, D3, NO_CHROMIUM, PERSONAL, Page, build_lakehouse, values

from lakehouse.publish.dashboard import write_dashboard

GENERATED = dt.datetime(2026, 10, 4, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def page_file(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interactive_root")
    build_lakehouse(spark, str(root))
    return Path(write_dashboard(spark, str(root), str(root / "index.html"), GENERATED))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail(NO_CHROMIUM)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: run `make setup` (it installs the test extra, '.[test]')")
    with sync_playwright() as p:
        # Debian's chromium, not a downloaded one; no way out to a network
        launched = p.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu",
                                                                   "--host-resolver-rules=MAP * ~NOTFOUND"])
        yield launched
        launched.close()


@pytest.fixture
def opened(browser: Any, page_file: Path) -> Iterator[tuple[Any, list[str]]]:
    """The page opened in a fresh tab, and every console error and uncaught exception it raised."""
    tab = browser.new_page(viewport={"width": 1400, "height": 2400})
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("request", lambda r: errors.append(f"request {r.url}") if not r.url.startswith(("file:", "data:")) else None)
    tab.goto(page_file.resolve().as_uri())
    tab.wait_for_selector("#tiles .tile")
    yield tab, errors
    tab.close()


def _figures(tab: Any) -> dict[str, Any]:
    return Page(tab.content()).figures


def _tile(tab: Any, name: str) -> tuple[str | None, str | None, str]:
    tile = tab.locator(f'[data-tile="{name}"]')
    return tile.get_attribute("data-value"), tile.get_attribute("data-previous"), tile.inner_text()


def test_the_page_carries_its_rows_as_json_without_personal_data(page_file: Path) -> None:
    text = page_file.read_text(encoding="utf-8")
    data = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', text, re.S)
    assert data is not None
    assert '"dims":' in data.group(1) and '"enrollments":' in data.group(1)
    assert not re.search(r"<script[^>]*\bsrc=", text)
    for secret in PERSONAL:
        assert secret not in text


def test_unfiltered_tiles_and_the_open_alerts_on_top(opened: tuple[Any, list[str]]) -> None:
    tab, errors = opened
    # the latest 14 days hold all three: 10+4+5+8+2+0 started, 6+3+2+8+1+1 completed; nothing before D1
    assert _tile(tab, "enrollments")[:2] == ("29", "null")
    assert float(_tile(tab, "completion_rate")[0] or "nan") == pytest.approx(21 / 29, abs=1e-4)
    assert "no data for the previous 3 day(s)" in _tile(tab, "enrollments")[2]
    assert _tile(tab, "open_alerts")[0] == "2"
    rows = tab.locator("#alerts tr[data-rule]")
    assert [rows.nth(i).get_attribute("data-rule") for i in range(rows.count())] == ["match_rate_floor",
                                                                                     "gold_freshness"]
    alerts_box, first_chart = tab.locator("#alerts").bounding_box(), tab.locator("figure.chart").first.bounding_box()
    assert alerts_box["y"] < first_chart["y"]
    assert errors == []


def test_choosing_a_region_redraws_every_chart_to_its_rows(opened: tuple[Any, list[str]]) -> None:
    tab, errors = opened
    tab.select_option('select[name="region"]', "SUR")
    figures = _figures(tab)
    assert values(figures["enrollments_by_region"]) == {("SUR", D1): 5, ("SUR", D2): 2, ("SUR", D3): 0}
    assert values(figures["enrollments_by_channel"]) == {
        ("mobile", D1): 5, ("mobile", D2): 0, ("mobile", D3): 0, ("office", D1): 0, ("office", D2): 0,
        ("office", D3): 0, ("web", D1): 0, ("web", D2): 2, ("web", D3): 0}
    assert values(figures["completion_rate"]) == {("mobile", D1): 0.4, ("web", D2): 0.5,
                                                  ("all channels", D1): 0.4, ("all channels", D2): 0.5}
    assert values(figures["match_rate"]) == {("fingerprint", D1): 0.0, ("iris", D2): 1.0}
    assert values(figures["validation_times"]) == {("fingerprint p50", D1): 400, ("fingerprint p95", D1): 500,
                                                   ("iris p50", D2): 50, ("iris p95", D2): 50}
    assert values(figures["office_attendance"]) == {("SUR", D1): 1.0, ("all offices", D1): 1.0}
    # tiles: 5+2+0 started, 2+1+1 completed; p95 (500*1 + 50*1) / 2; 1 match of 2 timed
    assert _tile(tab, "enrollments")[0] == "7"
    assert float(_tile(tab, "completion_rate")[0] or "nan") == pytest.approx(4 / 7, abs=1e-4)
    assert _tile(tab, "p95_validation_ms")[0] == "275"
    assert _tile(tab, "match_rate")[0] == "0.5"
    assert _tile(tab, "open_alerts")[0] == "1"  # NORTE's is hidden, the one without a region stays
    assert errors == []


def test_a_channel_and_a_date_range_narrow_the_charts_and_the_tiles_compare_periods(
        opened: tuple[Any, list[str]]) -> None:
    tab, errors = opened
    tab.fill('input[name="from"]', D2)
    tab.locator('input[name="from"]').dispatch_event("change")
    # D2..D3: 8+2+0 started against D1 (the two days before: Sep 30 and D1): 10+4+5
    value, previous, text = _tile(tab, "enrollments")
    assert (value, previous) == ("10", "19")
    assert "-47.4% vs 2026-09-30 to 2026-10-01" in text
    tab.select_option('select[name="channel"]', "web")
    assert values(_figures(tab)["enrollments_by_region"]) == {("NORTE", D2): 8, ("SUR", D2): 2}
    assert _tile(tab, "enrollments")[:2] == ("10", "10")  # web on D1: 10
    assert errors == []


def test_hovering_a_day_shows_its_values(opened: tuple[Any, list[str]]) -> None:
    tab, errors = opened
    tab.select_option('select[name="region"]', "SUR")
    svg = tab.locator('figure[data-chart="enrollments_by_region"] svg.plot')
    box = svg.bounding_box()
    # D2 is the middle of D1..D3: x = 64 + (640 - 64 - 36) / 2 = 334 of the 640-wide view box
    tab.mouse.move(box["x"] + 334 * box["width"] / 640, box["y"] + box["height"] / 2)
    tip = tab.locator('figure[data-chart="enrollments_by_region"] .tip')
    tip.wait_for(state="visible")
    assert tip.get_attribute("data-date") == D2
    assert "SUR: 2" in tip.inner_text()
    tab.mouse.move(box["x"] + 70 * box["width"] / 640, box["y"] + box["height"] / 2)  # near the left edge: D1
    assert tip.get_attribute("data-date") == D1 and "SUR: 5" in tip.inner_text()
    assert errors == []


def test_a_screenshot_of_one_region_is_not_blank(opened: tuple[Any, list[str]], tmp_path: Path) -> None:
    from PIL import Image

    tab, errors = opened
    tab.select_option('select[name="region"]', "NORTE")
    shot = tmp_path / "dashboard-NORTE.png"
    tab.screenshot(path=str(shot), full_page=True)
    image = Image.open(shot).convert("RGB")
    pixels = list(image.getdata())
    assert len(set(pixels)) > 200
    blue = sum(1 for r, g, b in pixels if abs(r - 0x4E) < 8 and abs(g - 0x79) < 8 and abs(b - 0xA7) < 8)
    assert blue > 300  # NORTE's line (the first palette colour) was drawn
    assert errors == []
