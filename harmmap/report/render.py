"""Render an :class:`Assessment` to one self-contained HTML file (inline CSS and SVG, no scripts).

The page carries a Content-Security-Policy that forbids every external load, so it
reads the same offline, in a locked-down browser, or printed to PDF by headless
chromium (:mod:`harmmap.report.browser`).  Small-count suppression is applied
here to every table and chart, from the report's ``suppression`` setting.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from importlib.resources import files

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from harmmap.privacy import (
    NOT_AVAILABLE,
    describe_suppression,
    suppress_counts,
    suppress_total,
    suppress_values_by_count,
)
from harmmap.report.model import Assessment, ReportTable, Section, Series, suppress_series
from harmmap.report.charts import render_bar_chart, render_line_chart
from harmmap.report.svg import render_hex_map

TEMPLATE = "assessment.html"
STYLESHEET = "assessment.css"
_CSS_SAFE = re.compile(r"[A-Za-z0-9 ,.()]")


def _css_string(text: object) -> Markup:
    """Return ``text`` as a quoted CSS string, every other character hex-escaped."""
    escaped = "".join(ch if _CSS_SAFE.fullmatch(ch) else f"\\{ord(ch):06X}" for ch in str(text))
    return Markup(f'"{escaped}"')


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harmmap.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["css_string"] = _css_string
    return env


def _stylesheet() -> Markup:
    css = files("harmmap.report").joinpath("templates", STYLESHEET).read_text(encoding="utf-8")
    return Markup(css.replace("</", "<\\/"))


def _paragraphs(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"\n\s*\n", text or "") if part.strip()]


def _plain_text(value: object, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return NOT_AVAILABLE
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):,.{decimals}f}"
    return str(value)


def _count_column(table: ReportTable, column: str, threshold: int, base: int) -> tuple[list[str], str]:
    """Published text of a count column and a footnote (non-empty if the total was coarsened)."""
    counts = table.frame[column].to_numpy(dtype="float64")
    if not table.total_row:
        return suppress_counts(counts, threshold=threshold, base=base).display.tolist(), ""
    rows = suppress_counts(counts[:-1], threshold=threshold, base=base)
    total = suppress_total(counts[-1], parts=counts[:-1], threshold=threshold, base=base)
    note = (f"The total of {column} is rounded to the nearest {total.base} so that it cannot be used "
            "to work out a hidden row." if total.base != base and not total.hidden.item() else "")
    return rows.display.tolist() + [total.display.item()], note


def _value_column(table: ReportTable, column: str, threshold: int, base: int) -> list[str]:
    values = table.frame[column].to_numpy(dtype="float64")
    counts = table.frame[table.count_columns[0]].to_numpy(dtype="float64")
    shown = suppress_values_by_count(values, counts, threshold=threshold, base=base,
                                     decimals=table.decimals).display.tolist()
    if table.total_row and any(text == "[c]" for text in shown[:-1]):
        shown[-1] = "[c]"  # an exact total beside a hidden value would give the value away
    return shown


def table_to_view(table: ReportTable, threshold: int, base: int) -> dict:
    """Return the printable cells of a table, with suppression applied (used by the template).

    Returns
    -------
    dict
        ``title``, ``columns`` [(heading, "num" | "text")], ``rows`` [[text]],
        ``total_row``, ``notes`` [str].
    """
    columns, notes = {}, [table.note] if table.note else []
    for column in table.frame.columns:
        if column in table.count_columns:
            columns[column], note = _count_column(table, column, threshold, base)
            notes += [note] if note else []
        elif column in table.value_columns:
            columns[column] = _value_column(table, column, threshold, base)
        else:
            columns[column] = [_plain_text(v, table.decimals) for v in table.frame[column].tolist()]
    numeric = set(table.count_columns + table.value_columns + table.plain_columns)
    return {
        "title": table.title,
        "columns": [(str(c), "num" if c in numeric else "text") for c in table.frame.columns],
        "rows": [list(cells) for cells in zip(*columns.values())] if columns else [],
        "total_row": table.total_row,
        "notes": notes,
    }


def _chart_svg(chart: Series, threshold: int, base: int) -> Markup:
    lines = suppress_series(chart, threshold, base)
    if chart.kind == "bar":
        name = next(iter(chart.values))
        displays = [f"{v:,.1f}" if math.isfinite(v) else "[c]" if chart.counts is not None else NOT_AVAILABLE
                    for v in lines[name].tolist()]
        return Markup(render_bar_chart(chart, displays=displays, values=lines[name]))
    return Markup(render_line_chart(chart, lines=lines))


def _section_view(number: int, section: Section, threshold: int, base: int) -> dict:
    return {
        "anchor": f"section-{number}",
        "number": number,
        "heading": section.heading,
        "intro": _paragraphs(section.intro),
        "maps": [{"title": layer.title, "note": layer.note,
                  "svg": Markup(render_hex_map(layer, section.boundaries))} for layer in section.maps],
        "charts": [{"title": chart.title, "note": chart.note, "svg": _chart_svg(chart, threshold, base)}
                   for chart in section.charts],
        "tables": [table_to_view(table, threshold, base) for table in section.tables],
    }


def render_assessment(assessment: Assessment) -> str:
    """Return the assessment as one self-contained HTML document.

    Parameters
    ----------
    assessment : Assessment

    Returns
    -------
    str
        HTML5 with inline CSS and SVG, no scripts and no external references;
        A4 print styles with the handling marking and page numbers on every page.
    """
    threshold, base = assessment.suppression
    method_notes = [(heading, _paragraphs(text)) for heading, text in assessment.method_notes]
    method_notes.append(("Small-count suppression", [describe_suppression(threshold, base)]))
    context = {
        "css": _stylesheet(),
        "title": assessment.title,
        "period_label": assessment.period_label,
        "area_name": assessment.area_name,
        "generated": f"{assessment.generated_at:%d %B %Y, %H:%M}".lstrip("0"),
        "prepared_by": assessment.prepared_by,
        "marking": assessment.marking,
        "summary_points": list(assessment.summary_points),
        "sections": [_section_view(i, s, threshold, base) for i, s in enumerate(assessment.sections, 1)],
        "data_sources": table_to_view(assessment.data_sources, threshold, base),
        "method_notes": method_notes,
        "suppression_text": describe_suppression(threshold, base),
    }
    return _environment().get_template(TEMPLATE).render(**context)
