"""Static SVG charts for the report (line and horizontal bar): no JavaScript, no external files.

Lines use the Okabe-Ito colours and a dash pattern each, so they stay apart for
colour-blind readers and in greyscale print; every text is XML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from harmmap.report.model import Series
from harmmap.report.palettes import LINE_COLOURS, LINE_DASHES
from harmmap.report.svg import FONT, escape_text, nice_step


def _format_tick(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}"


def _axis_range(values: list[np.ndarray], ticks: int = 5) -> tuple[float, float, np.ndarray, float]:
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.empty(0)
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    if high <= low:
        high = low + 1.0
    step = nice_step(high - low, ticks)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    return low, high, np.arange(low, high + step / 2, step), step


def _line_legend(names: Sequence[str], x0: float, width: float) -> str:
    items, x, y = [], x0, 14.0
    for i, name in enumerate(names):
        span = 34 + 6.2 * len(name)
        if x + span > width and x > x0:
            x, y = x0, y + 16
        dash = LINE_DASHES[i % len(LINE_DASHES)]
        items.append(f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 24:.1f}" y2="{y - 4:.1f}"'
                     f' stroke="{LINE_COLOURS[i % len(LINE_COLOURS)]}" stroke-width="2.2"'
                     f'{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>'
                     f'<text x="{x + 30:.1f}" y="{y:.1f}">{escape_text(name)}</text>')
        x += span + 12
    return f'<g class="chart-legend">{"".join(items)}</g>'


def _legend_rows(names: Sequence[str], x0: float, width: float) -> int:
    rows, x = 1, x0
    for name in names:
        span = 34 + 6.2 * len(name)
        if x + span > width and x > x0:
            rows, x = rows + 1, x0
        x += span + 12
    return rows


def render_line_chart(series: Series, *, width: int = 720, height: int = 240,
                      lines: dict[str, np.ndarray] | None = None) -> str:
    """Return an SVG line chart: one line per series name over the shared labels.

    Parameters
    ----------
    series : Series
    width, height : int
        Pixels.
    lines : dict of str to numpy.ndarray, optional
        Values to draw instead of ``series.values`` (the renderer passes the
        suppressed values here).

    Returns
    -------
    str
        A standalone ``<svg>`` with axes, ticks, labels and a legend.
    """
    lines = dict(series.values) if lines is None else lines
    names = list(lines)
    legend_height = 16 * _legend_rows(names, 56, width)
    left, right, top, bottom = 62.0, 16.0, 12.0 + legend_height, 34.0
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high, ticks, step = _axis_range(list(lines.values()))
    n = len(series.labels)
    x_of = lambda i: left + (i + 0.5) * plot_w / n  # noqa: E731  (points centred in equal slots)
    y_of = lambda v: top + (high - v) / (high - low) * plot_h  # noqa: E731
    grid = "".join(
        f'<line x1="{left}" x2="{width - right}" y1="{y_of(t):.1f}" y2="{y_of(t):.1f}" stroke="#e3e3e3"/>'
        f'<text x="{left - 6}" y="{y_of(t) + 3.5:.1f}" text-anchor="end">{_format_tick(t, step)}</text>'
        for t in ticks)
    every = max(1, math.ceil(n / max(1, plot_w // 64)))
    xlabels = "".join(
        f'<line x1="{x_of(i):.1f}" x2="{x_of(i):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#555"/>'
        f'<text x="{x_of(i):.1f}" y="{top + plot_h + 17}" text-anchor="middle">{escape_text(label)}</text>'
        for i, label in enumerate(series.labels) if i % every == 0)
    paths = []
    for k, name in enumerate(names):
        values = lines[name]
        segments, pen_up = [], True
        for i, v in enumerate(values.tolist()):
            if not math.isfinite(v):
                pen_up = True
                continue
            segments.append(f'{"M" if pen_up else "L"}{x_of(i):.1f} {y_of(v):.1f}')
            pen_up = False
        dash = LINE_DASHES[k % len(LINE_DASHES)]
        colour = LINE_COLOURS[k % len(LINE_COLOURS)]
        dots = "".join(f'<circle cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="2.4"/>'
                       for i, v in enumerate(values.tolist()) if math.isfinite(v)) if n <= 36 else ""
        paths.append(f'<g class="series" data-series="{escape_text(name)}" fill="{colour}">'
                     f'<path d="{"".join(segments)}" fill="none" stroke="{colour}" stroke-width="2"'
                     f' stroke-linejoin="round"{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>'
                     f'{dots}</g>')
    return (
        f'<svg class="line-chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' {FONT} font-size="11" fill="#333"><title>{escape_text(series.title)}</title>'
        f'{grid}<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#555"/>'
        f'{xlabels}{"".join(paths)}{_line_legend(names, left, width - right)}'
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
        f'{escape_text(series.y_label)}</text></svg>'
    )


def render_bar_chart(series: Series, *, width: int = 720, displays: Sequence[str] | None = None,
                     values: np.ndarray | None = None) -> str:
    """Return an SVG horizontal bar chart of the first series (one bar per label).

    Parameters
    ----------
    series : Series
    width : int
    displays : sequence of str, optional
        Text printed at each bar's end (defaults to the value with separators);
        the renderer passes suppressed text here.
    values : numpy.ndarray, optional
        Values to draw instead of the first series (NaN draws no bar).

    Returns
    -------
    str
    """
    name = next(iter(series.values))
    values = series.values[name] if values is None else np.asarray(values, dtype="float64")
    if displays is None:
        displays = [f"{v:,.1f}" if math.isfinite(v) else "[x]" for v in values.tolist()]
    label_w = min(260.0, 20 + 6.4 * max(len(str(label)) for label in series.labels))
    left, right, top, bar, gap = label_w, 64.0, 22.0, 16.0, 6.0
    height = top + len(series.labels) * (bar + gap) + 24
    low, high, ticks, step = _axis_range([values], ticks=4)
    x_of = lambda v: left + (v - low) / (high - low) * (width - left - right)  # noqa: E731
    rows = []
    for i, (label, v, text) in enumerate(zip(series.labels, values.tolist(), displays)):
        y = top + i * (bar + gap)
        bar_svg = (f'<rect x="{min(x_of(0), x_of(v)):.1f}" y="{y:.1f}" width="{abs(x_of(v) - x_of(0)):.1f}"'
                   f' height="{bar}" fill="{LINE_COLOURS[0]}"/>' if math.isfinite(v) else "")
        end = max(x_of(v), x_of(0)) if math.isfinite(v) else x_of(0)
        rows.append(f'<text x="{left - 8:.1f}" y="{y + 12:.1f}" text-anchor="end">{escape_text(label)}</text>{bar_svg}'
                    f'<text x="{end + 5:.1f}" y="{y + 12:.1f}">{escape_text(text)}</text>')
    axis = "".join(f'<text x="{x_of(t):.1f}" y="{top - 8}" text-anchor="middle" fill="#666">'
                   f'{_format_tick(t, step)}</text>' for t in ticks)
    return (
        f'<svg class="bar-chart" role="img" viewBox="0 0 {width} {height:.0f}" width="{width}"'
        f' height="{height:.0f}" {FONT} font-size="11" fill="#333"><title>{escape_text(series.title)}</title>'
        f'{axis}<line x1="{x_of(0):.1f}" x2="{x_of(0):.1f}" y1="{top - 4}" y2="{height - 20:.0f}" stroke="#555"/>'
        f'{"".join(rows)}<text x="{width - right:.1f}" y="{height - 4:.0f}" text-anchor="end" fill="#666">'
        f'{escape_text(series.y_label)}</text></svg>'
    )
