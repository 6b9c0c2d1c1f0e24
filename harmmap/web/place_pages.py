"""The places ranking and the figures of one place's page (no Flask here).

The ranking is the scoring run's places joined with the trends run (emerging
class, forecast, change on a year earlier), filtered and sorted server-side.  A
place's page adds its harm by quarter (scoring run) and by month (trends run),
its crime mix (the scoring run's ``crime_types`` table, summed over the window)
and the scored H3 cells whose centre lies inside it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from harmmap.geo.cells import cells_to_strings
from harmmap.geo.grid import polygons_to_cells
from harmmap.report.charts import render_bar_chart, render_line_chart
from harmmap.report.model import Series
from harmmap.report.palettes import GI_BIN_LABELS
from harmmap.store.results import load_result
from harmmap.store.workspace import Workspace
from harmmap.web.data import area_places, latest_run, places_wgs84, require_run
from harmmap.web.priority import EMERGING_KEYS, PLACE_KINDS, place_table

SORT_KEYS = ("rank", "name", "kind", "harm", "incidents", "harm_per_km2", "gi_z", "hot_cells", "forecast_harm",
             "change_year_pct", "emerging_class")
ASCENDING_BY_DEFAULT = frozenset({"rank", "name", "kind", "emerging_class"})

#: Query parameters of /places and /api/places.
PLACES_PARAMS: dict[str, dict] = {
    "kind": {"type": "string", "enum": list(PLACE_KINDS), "description": "Only places of this kind."},
    "q": {"type": "string", "maxLength": 100, "description": "Name, code or id contains this (any case)."},
    "hot": {"type": "boolean", "default": False, "description": "Only places that are Gi* hot spots (90 %+)."},
    "area": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647,
             "description": "Only the places of this operation area."},
    "emerging": {"type": "string", "enum": list(EMERGING_KEYS), "description": "Only this emerging class."},
    "sort": {"type": "string", "enum": list(SORT_KEYS), "default": "rank", "description": "Sort column."},
    "order": {"type": "string", "enum": ["asc", "desc"],
              "description": "Sort direction (default: ascending for rank and names, else descending)."},
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100, "description": "Rows per page."},
    "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0, "description": "Rows to skip."},
}
RANKING_COLUMNS = ("place_id", "name", "kind", "code", "rank", "rank_low", "rank_high", "p_top_n", "harm",
                   "incidents", "area_km2", "harm_per_km2", "stores", "cells", "hot_cells", "gi_z", "gi_p", "gi_bin",
                   "gi_class", "emerging_class", "emerging_label", "forecast_harm", "harm_recent", "change_year_pct",
                   "lat", "lng")


def _case_blind(column: pd.Series) -> pd.Series:
    return column.str.lower() if pd.api.types.is_string_dtype(column) else column


def sort_order(params: dict) -> str:
    """The effective direction of the chosen sort."""
    return params.get("order") or ("asc" if params["sort"] in ASCENDING_BY_DEFAULT else "desc")


def rank_places(ws: Workspace, params: dict) -> tuple[pd.DataFrame, int]:
    """Filter and sort the places ranking.

    Parameters
    ----------
    ws : Workspace
    params : dict
        As returned by ``parse_query(args, PLACES_PARAMS)``.

    Returns
    -------
    rows : pandas.DataFrame
        One page (``limit`` rows from ``offset``), columns :data:`RANKING_COLUMNS`.
    total : int
        Places matching the filters.
    """
    table = place_table(ws)
    mask = np.ones(len(table), dtype=bool)
    if params.get("kind"):
        mask &= (table["kind"] == params["kind"]).to_numpy()
    if params.get("q"):
        text = table["name"].astype(str) + " " + table["code"].fillna("").astype(str) + " " + table["place_id"]
        mask &= text.str.contains(params["q"], case=False, regex=False).to_numpy()
    if params.get("hot"):
        mask &= table["gi_bin"].to_numpy() >= 1
    if params.get("emerging"):
        mask &= (table["emerging_class"] == params["emerging"]).to_numpy()
    if params.get("area") is not None:
        mask &= table["place_id"].isin(area_places(ws, params["area"])).to_numpy()
    chosen = table[mask]
    key = params["sort"]
    by = [key, "rank"] if key != "rank" else ["rank", "place_id"]
    ordered = chosen.sort_values(by, ascending=[sort_order(params) == "asc", True], na_position="last",
                                 kind="mergesort", key=_case_blind)
    start = int(params.get("offset") or 0)
    page = ordered.iloc[start:start + int(params["limit"])]
    return page[list(RANKING_COLUMNS)].reset_index(drop=True), int(mask.sum())


@functools.lru_cache(maxsize=2)
def _place_crime_mix(ws: Workspace, run_id: str) -> pd.DataFrame:
    _, tables = load_result(ws, run_id, tables=("crime_types",))
    mix = tables["crime_types"]
    if mix.empty:
        return pd.DataFrame(columns=["unit", "crime_type", "harm", "incidents"])
    mix = mix[mix["unit_kind"] == "place"]
    return mix.groupby(["unit", "crime_type"], as_index=False, observed=True)[["harm", "incidents"]].sum()


@functools.lru_cache(maxsize=4)
def _place_periods(ws: Workspace, run_id: str, column: str) -> pd.DataFrame:
    """The rows of a run's periods table that belong to places (cached: the table also holds every cell)."""
    run = latest_run(ws, "scoring" if column == "unit_kind" else "trends")
    if run is None or run.row.run_id != run_id:
        return pd.DataFrame(columns=["unit", "period", "harm", "incidents", "gi_z", "gi_bin"])
    periods = run.periods
    return periods[periods[column] == "place"].reset_index(drop=True)


@dataclass(frozen=True)
class PlaceDetail:
    """Everything one place's page and its API twin show."""

    place: dict
    geometry: object
    quarterly: pd.DataFrame
    monthly: pd.DataFrame
    crime_mix: pd.DataFrame
    cells: pd.DataFrame
    top_n: int


def _place_cells(ws: Workspace, geometry) -> pd.DataFrame:
    scoring = require_run(ws, "scoring")
    resolution = int(scoring.row.settings.get("resolution", 9))
    inside = polygons_to_cells([geometry], resolution)
    cells = scoring.cells[scoring.cells["cell"].isin(inside)]
    cells = cells[["cell", "harm", "incidents", "gi_z", "gi_bin", "rank"]].sort_values("rank", kind="mergesort")
    cells = cells.assign(cell=cells_to_strings(cells["cell"].to_numpy(np.uint64)) if len(cells) else [],
                         gi_class=cells["gi_bin"].map(GI_BIN_LABELS))
    return cells.reset_index(drop=True)


def place_detail(ws: Workspace, place_id: str) -> PlaceDetail | None:
    """The figures of one place, or None when it is not a scored place."""
    table = place_table(ws)
    match = table[table["place_id"] == place_id]
    shapes = places_wgs84(ws)
    shape = shapes[shapes["place_id"] == place_id]
    if match.empty or shape.empty:
        return None
    scoring, trends = require_run(ws, "scoring"), latest_run(ws, "trends")
    periods = _place_periods(ws, scoring.row.run_id, "unit_kind")
    quarterly = periods[periods["unit"] == place_id]
    monthly = pd.DataFrame(columns=["period", "harm", "incidents", "gi_z", "gi_bin"])
    if trends is not None:
        series = _place_periods(ws, trends.row.run_id, "kind")
        monthly = series[series["unit"] == place_id][list(monthly.columns)]
    mix = _place_crime_mix(ws, scoring.row.run_id)
    mix = mix[mix["unit"] == place_id].drop(columns="unit").sort_values(["harm", "incidents"], ascending=False)
    total = float(mix["harm"].sum())
    mix = mix.assign(share=mix["harm"] / total if total > 0 else np.nan).reset_index(drop=True)
    geometry = shape.geometry.iloc[0]
    return PlaceDetail(match.iloc[0][list(RANKING_COLUMNS)].to_dict(), geometry,
                       quarterly[["period", "harm", "incidents"]].sort_values("period").reset_index(drop=True),
                       monthly.sort_values("period").reset_index(drop=True), mix,
                       _place_cells(ws, geometry), int(scoring.row.settings.get("top_n", 20)))


def trend_charts(detail: PlaceDetail) -> list[tuple[str, str]]:
    """(caption, SVG line chart) of the place's harm by quarter and (with a trends run) by month."""
    charts = []
    for frame, title in ((detail.quarterly, "Harm by quarter (scoring run)"),
                         (detail.monthly, "Harm by month (trends run)")):
        if len(frame):
            series = Series(title=f"{detail.place['name']}: {title}", labels=tuple(frame["period"].astype(str)),
                            values={"Harm": frame["harm"].to_numpy(float)}, y_label="Harm")
            charts.append((title, render_line_chart(series, width=720, height=240)))
    return charts


def crime_mix_chart(detail: PlaceDetail, top: int = 12) -> str:
    """An SVG bar chart of harm by crime type (the largest ``top`` types)."""
    mix = detail.crime_mix.head(top)
    if mix.empty:
        return ""
    series = Series(title=f"{detail.place['name']}: harm by crime type", labels=tuple(mix["crime_type"].astype(str)),
                    values={"Harm": mix["harm"].to_numpy(float)}, y_label="Harm", kind="bar")
    return render_bar_chart(series, width=720)


def bounds_of(geometry) -> list[list[float]]:
    """Leaflet bounds [[south, west], [north, east]] of a WGS84 geometry."""
    west, south, east, north = shapely.bounds(geometry)
    return [[float(south), float(west)], [float(north), float(east)]]
