"""The report in real headless chromium, offline: map drawn, nothing fetched, PDF and PNG written.

Artifacts (kept by CI): test-artifacts/assessment_first_page.png and test-artifacts/assessment.pdf.
In CI (env CI set) a missing chromium fails these tests; elsewhere they are skipped.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import pytest
from report_sample import sample_assessment

from harmmap.errors import InputFileError, ReportError
from harmmap.report.browser import ReportBrowser, find_chromium
from harmmap.report.render import render_assessment

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    try:
        with ReportBrowser() as running:
            yield running
    except ReportError as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to render the report in chromium: {error}")
        pytest.skip(f"no headless chromium here: {error}")


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "assessment.html"
    path.write_text(render_assessment(sample_assessment()), encoding="utf-8")
    return path


def test_map_and_chart_render_with_no_request_leaving_the_machine(browser, report_html):
    with browser.open(report_html) as (page, blocked):
        drawn = page.evaluate("""() => [...document.querySelectorAll('svg.hex-map')].map(svg => ({
            classes: svg.querySelectorAll('path.cells').length,
            boundaries: svg.querySelectorAll('path.boundary').length,
            legend: svg.querySelectorAll('g.legend rect').length,
            width: svg.getBoundingClientRect().width,
        }))""")
        lines = page.evaluate("document.querySelectorAll('svg.line-chart g.series').length")
        title = page.title()
    assert blocked == []
    assert [m["classes"] for m in drawn] == [4, 5]  # Gi* map: 4 classes present; emerging map: 5
    assert all(m["boundaries"] == 1 and m["width"] > 300 for m in drawn)
    assert [m["legend"] for m in drawn] == [7, 17]
    assert lines == 3 and "Leicestershire" in title


def test_external_requests_are_blocked_and_recorded(browser, tmp_path):
    page_path = tmp_path / "leaky.html"
    page_path.write_text('<img src="http://example.invalid/x.png"><link rel="stylesheet" '
                         'href="https://example.invalid/a.css"><p>offline</p>', encoding="utf-8")
    with browser.open(page_path) as (page, blocked):
        assert page.inner_text("p") == "offline"
    assert sorted(blocked) == ["http://example.invalid/x.png", "https://example.invalid/a.css"]


def test_first_page_screenshot_is_kept_as_an_artifact(browser, report_html):
    ARTIFACTS.mkdir(exist_ok=True)
    result = browser.render_png(report_html, ARTIFACTS / "assessment_first_page.png")
    data = result.path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1000, 1414)
    assert result.blocked_requests == () and result.bytes == len(data)
    print(f"PNG {result.bytes:,} bytes in {result.seconds:.2f} s")


def test_pdf_is_kept_as_an_artifact(browser, report_html):
    ARTIFACTS.mkdir(exist_ok=True)
    result = browser.render_pdf(report_html, ARTIFACTS / "assessment.pdf")
    data = result.path.read_bytes()
    assert data.startswith(b"%PDF")
    pages = max(int(n) for n in re.findall(rb"/Count (\d+)", data))
    assert pages >= 4  # cover, one page per chapter, data sources and notes
    assert result.blocked_requests == ()
    print(f"PDF {pages} pages, {result.bytes:,} bytes in {result.seconds:.2f} s")


def test_missing_chromium_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("HARMMAP_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(ReportError, match="apt-get install --no-install-recommends chromium"):
        find_chromium()


def test_missing_html_is_an_input_file_error(browser, tmp_path):
    with pytest.raises(InputFileError), browser.open(tmp_path / "missing.html"):
        pass
