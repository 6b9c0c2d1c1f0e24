"""The assessment HTML: suppression always applied, nothing external, everything escaped."""

from __future__ import annotations

import dataclasses
import re
import time
from html.parser import HTMLParser
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from report_sample import HOSTILE, places_table, sample_assessment

from harmmap.errors import ConfigError
from harmmap.report.model import ReportTable, Section
from harmmap.report.render import render_assessment, table_to_view


class PageParser(HTMLParser):
    """Collects tag names, attributes and tables (with the caption of their figure)."""

    def __init__(self):
        super().__init__()
        self.tags, self.attributes, self.tables = [], [], []
        self._cell, self._caption, self._in_caption = None, [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        if tag == "figcaption":
            self._caption, self._in_caption = [], True
        elif tag == "table":
            self.tables.append({"caption": "".join(self._caption).strip(), "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption:
            self._caption.append(data)


@pytest.fixture(scope="module")
def page() -> tuple[str, PageParser]:
    html = render_assessment(sample_assessment())
    parser = PageParser()
    parser.feed(html)
    return html, parser


def table_named(parser: PageParser, title: str) -> pd.DataFrame:
    table = next(t for t in parser.tables if title in t["caption"])
    header, *rows = table["rows"]
    return pd.DataFrame(rows, columns=header)


def test_counts_are_suppressed_in_every_count_column(page):
    _, parser = page
    places = table_named(parser, "Top places by harm")
    assert places["Incidents"].tolist() == ["1,235", "250", "10", "<10", "<10", "1,500"]
    assert places["Harm (custody days)"].tolist() == ["8,123.4", "1,500.2", "88.0", "[c]", "[c]", "[c]"]
    assert places["Gi* z"].tolist()[:2] == ["6.1", "3.2"]
    classes = table_named(parser, "Cells by emerging class")
    assert classes["Incidents"].tolist() == ["<10", "50", "<10", "0"]
    shown = [cell for cell in places["Incidents"].tolist() + classes["Incidents"].tolist()]
    assert not set(shown) & {str(n) for n in range(1, 10)}


def test_a_total_that_would_give_a_hidden_row_away_is_rounded_coarser(page):
    _, parser = page
    html = page[0]
    assert "rounded to the nearest 20" in html  # 1,506 with rows 3 and 7 hidden
    view = table_to_view(places_table(), 10, 5)
    assert view["rows"][-1][2] == "1,500"


def test_no_external_resource_anywhere(page):
    html, parser = page
    assert not {"script", "link", "iframe", "object", "embed", "img", "base", "form"} & set(parser.tags)
    for tag, name, value in parser.attributes:
        assert not re.search(r"https?:|//", value, re.IGNORECASE), (tag, name, value)
        if name in ("href", "src", "xlink:href", "action", "srcset", "poster", "data"):
            assert value.startswith("#"), (tag, name, value)
    assert not re.search(r"url\(\s*['\"]?(?!#)", html)
    assert "@import" not in html
    assert "default-src 'none'" in html  # the page itself forbids loading anything
    assert "https://doi.org/10.1093/police/paw003" in html  # plain-text citations stay readable


def test_hostile_text_is_escaped_everywhere():
    hostile = "</style><script>alert(1)</script>"
    assessment = dataclasses.replace(sample_assessment(), title=hostile, marking=hostile, area_name=HOSTILE)
    html = render_assessment(assessment)
    assert "<script" not in html.lower()
    assert "</style><script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\\00003C\\00002F" in html  # inside CSS strings every risky character is hex-escaped


def test_handling_marking_is_configurable():
    plain = render_assessment(dataclasses.replace(sample_assessment(), marking=""))
    assert 'class="marking' not in plain and "@top-right { content" not in plain
    official = render_assessment(dataclasses.replace(sample_assessment(), marking="OFFICIAL"))
    assert official.count('class="marking') == 2 and '@top-right { content: "OFFICIAL"; }' in official


def test_structure_sections_notes_and_sources(page):
    html, parser = page
    assert parser.tags.count("section") == 5  # findings, two chapters, sources, notes
    assert html.count('<svg class="hex-map"') == 2 and html.count('<svg class="line-chart"') == 1
    assert 'id="section-1"' in html and 'href="#section-2"' in html
    assert "Small-count suppression" in html and "Counts from 1 to 9 are shown as &lt;10" in html
    sources = table_named(parser, "Data sources")
    assert sources["Rows used"].tolist() == ["302,114", "4,812", "38"]
    assert "14 July 2022, 09:30" in html and "break-before: page" in html and "size: A4" in html


def test_charts_drop_points_whose_count_is_suppressed(page):
    html, _ = page
    lough = re.search(r'data-series="Loughborough"[^>]*><path d="([^"]*)"', html).group(1)
    assert lough.count("M") == 2  # March (4 incidents) is not drawn


def test_total_row_must_be_the_sum_of_the_rows():
    frame = pd.DataFrame({"Place": ["a", "b", "Total"], "Incidents": [12, 3, 99]})
    table = ReportTable("t", frame, count_columns=("Incidents",), total_row=True)
    with pytest.raises(ConfigError, match="sum"):
        table_to_view(table, 10, 5)


def test_bar_charts_render_with_suppressed_bars():
    from harmmap.report.model import Series

    chart = Series("Harm by place", ("A", "B"), {"harm": np.array([100.0, 20.0])}, kind="bar",
                   counts={"harm": np.array([50, 2])})
    assessment = dataclasses.replace(sample_assessment(), sections=(Section("Bars", charts=(chart,)),))
    html = render_assessment(assessment)
    assert '<svg class="bar-chart"' in html and ">[c]</text>" in html and html.count("<rect x=") == 1


def test_templates_ship_as_package_files():
    folder = files("harmmap.report").joinpath("templates")
    assert folder.joinpath("assessment.html").is_file() and folder.joinpath("assessment.css").is_file()
    assert folder.joinpath("table.html").is_file()


def test_render_time():
    start = time.perf_counter()
    html = render_assessment(sample_assessment())
    seconds = time.perf_counter() - start
    print(f"sample assessment: {len(html):,} bytes of HTML in {seconds:.3f} s")
    assert seconds < 2
