"""Build the six-monthly assessment of a workspace: current picture, emerging trends, predictions.

``build_assessment(ws, "2022H1")`` reads the workspace once and runs, in memory
(nothing is saved):

* a scoring run over the half-year (:func:`harmmap.scoring.pipeline.score`):
  the current picture;
* a trends run over up to 36 months ending with the half-year
  (:func:`harmmap.scoring.trend_run.analyse_trends`): emerging classes and the
  forecast of the next six months;
* a rolling-origin backtest on the same months
  (:func:`harmmap.scoring.backtest.backtest`): the scorecard of the forecast.

No month after the half-year is read by any of them, so an assessment of
2022H1 written in 2024 says what could have been said in July 2022.
:mod:`harmmap.report.sections` turns the results into report sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from harmmap.analysis.score import load_inputs
from harmmap.errors import ConfigError
from harmmap.report.model import Assessment
from harmmap.report.sections import (build_current, build_data_sources, build_emerging, build_method_notes,
                                     build_predicted, summarise_findings)
from harmmap.scoring.backtest import backtest, compare_to_baseline
from harmmap.scoring.forecast import DEFAULT_FORECASTER, cells_to_rings
from harmmap.scoring.pipeline import ScoringSettings, score
from harmmap.scoring.trend_run import TrendSettings, analyse_trends, build_cubes
from harmmap.store.places import load_places
from harmmap.store.workspace import Workspace, workspace_resolution

_PERIOD = re.compile(r"(?P<year>(19|20)\d\d)-?H(?P<half>[12])")
TREND_MONTHS = 36
BACKTEST_METHODS = (DEFAULT_FORECASTER, "previous", "moving_average")


@dataclass(frozen=True, slots=True)
class HalfYear:
    """A half-year: its label, first and last month, and a readable name."""

    label: str
    first: str
    last: str
    name: str


def parse_half_year(text: str) -> HalfYear:
    """Turn ``"2022H1"`` (or ``"2022-H2"``) into its months."""
    match = _PERIOD.fullmatch(text.strip())
    if not match:
        raise ConfigError("the assessment period must be a half-year", given=repr(text),
                          fix="use YYYYH1 (January to June) or YYYYH2 (July to December), e.g. 2022H1")
    year, half = match["year"], int(match["half"])
    first, last = (f"{year}-01", f"{year}-06") if half == 1 else (f"{year}-07", f"{year}-12")
    name = f"{'January' if half == 1 else 'July'} to {'June' if half == 1 else 'December'} {year}"
    return HalfYear(f"{year}H{half}", first, last, name)


def latest_half_year(last_month: str) -> HalfYear:
    """The latest half-year that ends at or before ``last_month`` (``"YYYY-MM"``)."""
    year, month = int(last_month[:4]), int(last_month[5:7])
    if month == 12:
        return parse_half_year(f"{year}H2")
    return parse_half_year(f"{year}H1") if month >= 6 else parse_half_year(f"{year - 1}H2")


def _months_covered(inputs, period: HalfYear) -> tuple[str, int]:
    """First month of the trend window; raise if the data do not cover the half-year."""
    months = inputs.incidents["month"].to_numpy(dtype="datetime64[M]")
    first_data, last_data = months.min(), months.max()
    if last_data < np.datetime64(period.last, "M") or first_data > np.datetime64(period.first, "M"):
        raise ConfigError("the workspace does not cover the whole assessment period",
                          given=f"{period.label} ({period.first}..{period.last}); data {first_data}..{last_data}",
                          fix="ingest the missing months or choose a covered half-year")
    start = max(first_data, np.datetime64(period.last, "M") - np.timedelta64(TREND_MONTHS - 1, "M"))
    return str(start), int((np.datetime64(period.last, "M") - start).astype(int)) + 1


def build_assessment(ws: Workspace, period_text: str, *, area_name: str = "", kinds: list[str] | None = None,
                     weights: str = "cchi", k: int = 1, marking: str = "OFFICIAL-SENSITIVE",
                     suppression: tuple[int, int] = (10, 5), prepared_by: str = "",
                     progress: Callable[[str], None] | None = None) -> Assessment:
    """Run the analyses of one half-year and assemble the :class:`Assessment`.

    Parameters
    ----------
    ws : Workspace
    period_text : str
        The half-year assessed, e.g. ``"2022H1"``.
    area_name : str
        Named on the cover (default: "the study area").
    kinds : list of str, optional
        Place kinds to rank (default: all).
    weights : str
        Harm weights (``cchi`` by default).
    k : int
        Neighbourhood rings of Gi* and of the emerging analysis.
    marking, suppression, prepared_by
        As :class:`harmmap.report.model.Assessment`.

    Returns
    -------
    Assessment
    """
    say = progress or (lambda _message: None)
    period = parse_half_year(period_text)
    resolution = workspace_resolution(ws)
    say("reading incidents and places")
    inputs = load_inputs(ws, ScoringSettings(resolution=resolution, k=k, weights=weights), kinds=kinds)
    trend_first, trend_months = _months_covered(inputs, period)
    say(f"scoring {period.label}")
    current = score(inputs, ScoringSettings(resolution=resolution, k=k, weights=weights, period="month",
                                            window=(period.first, period.last)))
    say(f"emerging hot spots over {trend_months} months and forecasts")
    trend_settings = TrendSettings(resolution=resolution, k=k, weights=weights, window=(trend_first, period.last))
    trends = analyse_trends(inputs, trend_settings)
    say("backtesting the forecast")
    cubes = build_cubes(inputs, trend_settings)
    horizon = 6
    min_train = max(6, min(12, trend_months - horizon - 11))  # 12 months of training and >= 12 windows if possible
    scorecard = comparison = None
    if trend_months - horizon - min_train + 1 >= 2:
        scorecard = backtest(cubes.count, cubes.harm, methods=BACKTEST_METHODS, horizon=horizon, min_train=min_train,
                             rings=cells_to_rings(inputs.study_cells, trend_settings.forecast_rings))
        comparison = compare_to_baseline(scorecard, DEFAULT_FORECASTER, "previous", coverage=0.05, weighting="harm")
    places = load_places(ws, kinds).to_crs("EPSG:4326")
    threshold, base = suppression
    sections = (
        build_current(current, places, period, threshold),
        build_emerging(trends, places, threshold),
        build_predicted(trends, scorecard, comparison, inputs.study_cells.size, horizon),
    )
    return Assessment(
        title="Retail crime assessment", period_label=period.name, area_name=area_name or "the study area",
        generated_at=datetime.now(timezone.utc).replace(tzinfo=None),
        summary_points=summarise_findings(current, trends, comparison, period, threshold, base),
        sections=sections, data_sources=build_data_sources(inputs.context, period, trend_first),
        method_notes=build_method_notes(trend_settings, scorecard), suppression=suppression, marking=marking,
        prepared_by=prepared_by)
