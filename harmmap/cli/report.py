"""``harmmap report assessment``: the six-monthly assessment as offline HTML (and PDF / PNG)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from harmmap.cli.output import emit_json


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder, so a crash leaves no half file."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


@click.group("report")
def report_group() -> None:
    """Reports: the six-monthly assessment."""


@report_group.command("assessment")
@click.option("--period", required=True, help="The half-year assessed: YYYYH1 or YYYYH2, e.g. 2022H1.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option("--pdf", type=click.Path(dir_okay=False), help="Also print it to this PDF (needs chromium).")
@click.option("--png", type=click.Path(dir_okay=False), help="Also save a picture of its first page.")
@click.option("--area-name", "area_name", default="", help="Area named on the cover.")
@click.option("--kind", "kinds", multiple=True, help="Place kinds to rank (default: all).")
@click.option("--weights", default="cchi", show_default=True)
@click.option("--k", default=1, show_default=True, type=click.IntRange(1, 20))
@click.option("--marking", default="OFFICIAL-SENSITIVE", show_default=True, help="Handling marking on every page.")
@click.option("--threshold", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Counts below this are hidden.")
@click.option("--rounding", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Other counts are rounded to a multiple of this.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def assessment_command(obj, period, out, pdf, png, area_name, kinds, weights, k, marking, threshold, rounding,
                       as_json) -> None:
    """Current picture, emerging trends and predicted hot spots of one half-year, readable offline."""
    from harmmap.report.assessment import build_assessment
    from harmmap.report.render import render_assessment
    from harmmap.store.workspace import open_workspace

    ws = open_workspace(obj["workspace"])
    say = (lambda _m: None) if as_json else (lambda m: click.echo(m, err=True))
    assessment = build_assessment(ws, period, area_name=area_name, kinds=list(kinds) or None, weights=weights, k=k,
                                  marking=marking, suppression=(threshold, rounding), progress=say)
    html_path = Path(out)
    _write_atomically(html_path, render_assessment(assessment))
    written = {"html": str(html_path)}
    if pdf or png:
        from harmmap.report.browser import ReportBrowser

        with ReportBrowser() as browser:
            for target, render in ((pdf, browser.render_pdf), (png, browser.render_png)):
                if target:
                    result = render(html_path, target)
                    written[Path(target).suffix.lstrip(".") or "file"] = str(result.path)
                    if result.blocked_requests:
                        click.echo(f"warning: the report asked for {len(result.blocked_requests)} outside "
                                   "resources (blocked)", err=True)
    if as_json:
        emit_json({"period": assessment.period_label, "written": written, "summary": list(assessment.summary_points)})
    else:
        for kind, path in written.items():
            click.echo(f"{kind}: {path}")


COMMANDS = [report_group]
