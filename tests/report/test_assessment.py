"""The six-monthly assessment of a simulated workspace, end to end, rendered offline in chromium.

Artifacts (kept by CI): test-artifacts/assessment_simulated_first_page.png and .pdf.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harmmap.errors import ConfigError, ReportError
from harmmap.report.assessment import build_assessment, parse_half_year
from harmmap.report.browser import ReportBrowser
from harmmap.report.render import render_assessment, table_to_view

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def assessment(simulated_workspace):
    return build_assessment(simulated_workspace, "2023H2", area_name="Simulated East Midlands")


def test_half_years_parse_and_bad_ones_are_explained():
    assert parse_half_year("2022H1").first == "2022-01" and parse_half_year("2022-H2").last == "2022-12"
    assert parse_half_year("2023H2").name == "July to December 2023"
    for bad in ("2022", "2022H3", "H1 2022", "2022-06"):
        with pytest.raises(ConfigError, match="half-year"):
            parse_half_year(bad)


def test_a_half_year_the_data_do_not_cover_is_refused(simulated_workspace):
    with pytest.raises(ConfigError, match="does not cover"):
        build_assessment(simulated_workspace, "2024H1")


def test_the_assessment_has_the_three_pictures_and_a_backtested_forecast(assessment):
    headings = [s.heading for s in assessment.sections]
    assert headings == ["Current picture", "Emerging trends", "Predicted hot spots"]
    current, emerging, predicted = assessment.sections
    assert "July to December 2023" in current.tables[0].title and len(current.tables[0].frame) > 0
    assert emerging.maps[0].cells.size > 0 and len(emerging.charts) == 1
    assert any("Backtest scorecard" in t.title for t in predicted.tables)
    assert "past windows" in predicted.intro and len(assessment.summary_points) >= 3
    assert any(h == "Forecast" for h, _ in assessment.method_notes)


def test_html_is_self_contained_and_suppresses_small_counts(assessment):
    html = render_assessment(assessment)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html.lower()
    threshold, base = assessment.suppression
    tables = [t for s in assessment.sections for t in s.tables] + [assessment.data_sources]
    checked = 0
    for table in tables:
        view = table_to_view(table, threshold, base)
        headings = [heading for heading, _ in view["columns"]]
        for column in table.count_columns:
            for row in view["rows"]:
                text = row[headings.index(column)].replace(",", "")
                assert text in (f"<{threshold}", "0") or (int(text) >= threshold and int(text) % base == 0), text
                checked += 1
    assert checked > 20


def test_renders_offline_in_chromium_with_a_first_page_screenshot(assessment, tmp_path):
    html_path = tmp_path / "assessment.html"
    html_path.write_text(render_assessment(assessment), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with ReportBrowser() as browser:
            png = browser.render_png(html_path, ARTIFACTS / "assessment_simulated_first_page.png")
            pdf = browser.render_pdf(html_path, ARTIFACTS / "assessment_simulated.pdf")
    except ReportError as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to render the report in chromium: {error}")
        pytest.skip(f"no headless chromium here: {error}")
    assert png.blocked_requests == () and pdf.blocked_requests == ()
    assert png.bytes > 20_000 and (ARTIFACTS / "assessment_simulated.pdf").read_bytes()[:4] == b"%PDF"
