"""Plans on the web: patrol plans, team deployment and the persistent-crime store list.

The views parse the query against :data:`PARAMS` (OpenAPI schemas with bounds:
a plan URL is a GET, shareable, with no CSRF token) and call :func:`make_plan`,
which runs :mod:`harmmap.analysis.plan` on the latest trends run.

**Bounds** (one request must not hog the server): at most :data:`MAX_TEAMS`
patrol teams over the :data:`MAX_CANDIDATES` targets of most harm and
:data:`MAX_SHIFTS` shifts; deployment of at most :data:`MAX_K` teams among the
:data:`MAX_SITES` candidate sites of most harm (a note says when more existed),
refused (400) above :data:`MAX_PAIRS` demand-site pairs in reach
(:data:`MAX_PAIRS_CAPACITY` with capacities, a much harder model), with the
solver's time limit at most :data:`MAX_SECONDS`; at most :data:`WORKERS` plans
are computed at once (others wait up to :data:`BUSY_WAIT_S`, then 503).
Plans are cached by (parameters, trends run, stores/places/incidents version,
the area's places).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from werkzeug.exceptions import ServiceUnavailable

from harmmap.analysis.plan import (OperationArea, deploy_workspace, list_workspace_stores, plan_workspace_patrol,
                                   resolve_area)
from harmmap.errors import WorkspaceError
from harmmap.geo.cells import cells_to_strings
from harmmap.plan.patrol import SPEEDS, PatrolSettings
from harmmap.plan.stores import REASON_CODES, StoreListSettings
from harmmap.store.results import list_runs
from harmmap.store.workspace import Workspace, connect
from harmmap.web.data import places_wgs84
from harmmap.web.exports import write_export

PLAN_KINDS = ("patrol", "deploy", "stores")
PLAN_FORMATS = ("csv", "xlsx", "geojson", "kml")
MAX_TEAMS, MAX_CANDIDATES, MAX_SHIFTS = 20, 500, 3
MAX_K, MAX_SITES, MAX_PAIRS, MAX_PAIRS_CAPACITY, MAX_SECONDS = 50, 1_000, 500_000, 50_000, 20.0
MAX_ROWS, MAX_MAP_POINTS, MAX_AREA_OUTLINES = 5_000, 3_000, 300
WORKERS, BUSY_WAIT_S, CACHE_SIZE = 2, 30.0, 16

_AREA = {"type": "integer", "minimum": 1, "maximum": 2_147_483_647,
         "description": "Operation area id: plan only within its places (their cells, the stores inside them)."}
_ORG = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$",
        "description": "Stores of this organisation only (default: every organisation)."}
_WEIGHT = {"type": "string", "enum": ["forecast", "harm", "incidents"], "default": "forecast",
           "description": "What a target is worth: forecast harm, past harm, or incident count."}
_TRAVEL = {
    "mode": {"type": "string", "enum": list(SPEEDS), "default": "vehicle",
             "description": "Travel speed by mode: vehicle 24, cycle 12, foot 4.8 km/h."},
    "speed": {"type": "number", "minimum": 1, "maximum": 120, "description": "Travel speed in km/h (overrides mode)."},
    "detour": {"type": "number", "minimum": 1, "maximum": 3, "default": 1.3,
               "description": "Road distance over straight-line distance."},
}
PARAMS: dict[str, dict[str, dict]] = {
    "patrol": {
        "unit": {"type": "string", "enum": ["places", "cells", "stores"], "default": "places",
                 "description": "What teams visit."},
        "weight": _WEIGHT,
        "teams": {"type": "integer", "minimum": 1, "maximum": MAX_TEAMS, "default": 2},
        "shift_minutes": {"type": "number", "minimum": 30, "maximum": 720, "default": 480,
                          "description": "Patrol minutes in a shift."},
        "visit_minutes": {"type": "number", "minimum": 5, "maximum": 60, "default": 15,
                          "description": "Minutes per visit (Koper curve: 10-15); at most the revisit interval."},
        "revisit_minutes": {"type": "number", "minimum": 15, "maximum": 720, "default": 120,
                            "description": "Each stop is visited once per this many minutes."},
        **_TRAVEL,
        "candidates": {"type": "integer", "minimum": 1, "maximum": MAX_CANDIDATES, "default": 200,
                       "description": "Targets with the most harm considered."},
        "shifts": {"type": "integer", "minimum": 1, "maximum": MAX_SHIFTS, "default": 1},
        "randomise": {"type": "boolean", "default": False,
                      "description": "Random loop start, direction and spare-time placement per shift (seeded)."},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2_147_483_647, "default": 0},
        "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "maxLength": 5,
                  "default": "08:00", "description": "Clock time the shift starts (HH:MM)."},
        "area": _AREA, "org": _ORG,
    },
    "deploy": {
        "teams": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 5,
                  "description": "Teams (sites) to place."},
        "demand": {"type": "string", "enum": ["cells", "places", "stores"], "default": "cells",
                   "description": "Where harm is (demand points)."},
        "sites": {"type": "string", "enum": ["stores", "places", "cells"], "default": "stores",
                  "description": "Where teams can be based (candidate sites)."},
        "weight": _WEIGHT,
        "radius": {"type": "number", "minimum": 50, "maximum": 30_000,
                   "description": "Service radius in metres (default 3,000 when minutes is not given)."},
        "minutes": {"type": "number", "minimum": 0.5, "maximum": 60,
                    "description": "Service radius in travel minutes (instead of radius)."},
        **_TRAVEL,
        "capacity": {"type": "number", "minimum": 1, "maximum": 1_000_000,
                     "description": "Most demand points one team can serve (default: no limit)."},
        "solver": {"type": "string", "enum": ["auto", "greedy"], "default": "auto",
                   "description": "auto: exact (SCIP) when small enough, else greedy; greedy: always greedy."},
        "time_limit": {"type": "number", "minimum": 0.5, "maximum": MAX_SECONDS, "default": 10,
                       "description": "Seconds for the exact solver."},
        "area": _AREA, "org": _ORG,
    },
    "stores": {
        "recent_months": {"type": "integer", "minimum": 1, "maximum": 24, "default": 6},
        "high_share": {"type": "number", "minimum": 1, "maximum": 100, "default": 10,
                       "description": "OWN_INCIDENTS_HIGH: top percent of stores by recent own harm."},
        "min_incidents": {"type": "integer", "minimum": 1, "maximum": 1_000, "default": 3,
                          "description": "Recent own incidents needed for OWN_INCIDENTS_HIGH and _RISING."},
        "persistent_months": {"type": "integer", "minimum": 1, "maximum": 36, "default": 12},
        "trend_alpha": {"type": "number", "minimum": 0.001, "maximum": 0.5, "default": 0.05},
        "tier": {"type": "integer", "minimum": 1, "maximum": 3, "description": "Only tiers 1..tier."},
        "reason": {"type": "string", "enum": list(REASON_CODES), "description": "Only stores with this code."},
        "all": {"type": "boolean", "default": False, "description": "Also list stores without a reason code."},
        "top": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS, "default": 500, "description": "Rows shown."},
        "area": _AREA, "org": _ORG,
    },
}
TEAM_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22")
TIER_COLOURS = {1: "#b2182b", 2: "#ef8a62", 3: "#67a9cf", 0: "#999999"}

_LOCK = threading.Lock()
_CACHE: OrderedDict = OrderedDict()
_GATES: dict[tuple, threading.Lock] = {}
_WORKERS = threading.BoundedSemaphore(WORKERS)


@dataclass(frozen=True)
class PlanResult:
    """One computed plan: ``tables`` are what the API returns (and the page shows); ``layers`` feed the map."""

    kind: str
    params: dict
    run_id: str
    area: OperationArea | None
    summary: dict
    tables: dict[str, pd.DataFrame]
    layers: dict


def shown_params(params: dict) -> dict:
    """The parameters that were given or have a default (None dropped)."""
    return {k: v for k, v in params.items() if v is not None}


def _speed(p: dict) -> float:
    return float(p["speed"]) if p.get("speed") is not None else SPEEDS[p["mode"]]


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    digits = {"lat": 6, "lng": 6, "easting": 1, "northing": 1}
    out = frame.copy()
    for column in out.columns:
        if column in digits:
            out[column] = out[column].astype(float).round(digits[column])
        elif pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(4)
    return out


def _patrol(ws: Workspace, p: dict, run_id: str, area: OperationArea | None) -> PlanResult:
    settings = PatrolSettings(teams=p["teams"], shift_minutes=p["shift_minutes"], visit_minutes=p["visit_minutes"],
                              revisit_minutes=p["revisit_minutes"], speed_kmh=_speed(p), detour=p["detour"],
                              candidates=p["candidates"], shifts=p["shifts"], randomise=p["randomise"])
    out = plan_workspace_patrol(ws, settings, unit=p["unit"], weight=p["weight"], run_id=run_id, org_id=p["org"],
                                seed=p["seed"], start=p["start"], place_ids=area.place_ids if area else None)
    stops = _rounded(out.stops[["team", "order", "target_id", "name", "kind", "emerging_class", "harm",
                                "visits_per_shift", "minutes_per_shift", "visit_times", "forecast_harm", "harm_total",
                                "incidents_total", "lat", "lng", "easting", "northing"]])
    schedule = _rounded(out.schedule[["shift", "team", "round", "stop", "target_id", "name", "arrive", "leave",
                                      "arrive_minute", "leave_minute", "travel_minutes", "lat", "lng", "easting",
                                      "northing"]])
    plan = out.plan
    summary = {"unit": p["unit"], "weight": p["weight"], "teams": settings.teams, "shifts": settings.shifts,
               "rounds": plan.rounds, "stops": len(stops), "visits": len(schedule),
               "visit_minutes": settings.visit_minutes, "revisit_minutes": settings.revisit_minutes,
               "speed_kmh": settings.speed_kmh, "harm_covered": plan.harm_covered, "harm_total": plan.harm_total,
               "share": plan.share}
    teams = [{"team": int(t), "colour": TEAM_COLOURS[(int(t) - 1) % len(TEAM_COLOURS)],
              "stops": [{"order": int(r.order), "name": None if pd.isna(r.name) else str(r.name), "lat": r.lat,
                         "lng": r.lng, "visit_times": r.visit_times, "harm": r.harm}
                        for r in group.sort_values("order").itertuples()]}
             for t, group in stops.groupby("team")]
    return PlanResult("patrol", p, run_id, area, summary,
                      {"teams": _rounded(plan.teams), "stops": stops, "schedule": schedule}, {"teams": teams})


def _deploy(ws: Workspace, p: dict, run_id: str, area: OperationArea | None) -> PlanResult:
    radius = p["radius"] if p["radius"] is not None or p["minutes"] is not None else 3_000.0
    out = deploy_workspace(ws, p["teams"], demand=p["demand"], sites=p["sites"], weight=p["weight"], radius_m=radius,
                           minutes=p["minutes"], speed_kmh=_speed(p), detour=p["detour"], capacity=p["capacity"],
                           solver=p["solver"], time_limit_s=p["time_limit"], run_id=run_id, org_id=p["org"],
                           place_ids=area.place_ids if area else None, max_sites=MAX_SITES,
                           max_pairs=MAX_PAIRS if p["capacity"] is None else MAX_PAIRS_CAPACITY)
    s = out.solution
    sites = _rounded(out.sites[["team", "target_id", "name", "kind", "emerging_class", "demand_covered",
                                "demand_points", "share_of_total", "forecast_harm", "harm_total", "incidents_total",
                                "lat", "lng", "easting", "northing"]])
    summary = {"teams": p["teams"], "placed": len(sites), "demand": p["demand"], "sites": p["sites"],
               "weight": p["weight"], "radius_m": out.radius_m, "covered": s.covered_demand, "total": s.total_demand,
               "share": s.share, "upper_bound": s.upper_bound, "gap": s.gap, "solver": s.solver, "status": s.status,
               "bound": s.bound, "pairs": s.pairs, "demand_points": len(out.demand), "notes": list(s.notes)}
    top = np.argsort(-out.demand["weight"].to_numpy(float), kind="stable")[:MAX_MAP_POINTS]
    points = out.demand.iloc[top]
    layers = {"sites": [{"team": int(r.team), "name": None if pd.isna(r.name) else str(r.name), "lat": r.lat,
                         "lng": r.lng, "covered": r.demand_covered} for r in sites.itertuples()],
              "radius_m": out.radius_m,
              "demand": {"lat": points["lat"].round(6).tolist(), "lng": points["lng"].round(6).tolist(),
                         "covered": points["covered"].astype(bool).tolist(), "shown": len(points),
                         "total": len(out.demand)}}
    return PlanResult("deploy", p, run_id, area, summary, {"sites": sites}, layers)


def _stores(ws: Workspace, p: dict, run_id: str, area: OperationArea | None) -> PlanResult:
    settings = StoreListSettings(recent_months=p["recent_months"], high_share=p["high_share"] / 100.0,
                                 min_incidents=p["min_incidents"], persistent_months=p["persistent_months"],
                                 trend_alpha=p["trend_alpha"])
    found = list_workspace_stores(ws, settings, org_id=p["org"], run_id=run_id,
                                  place_ids=area.place_ids if area else None)
    table = found.stores if p["all"] else found.listed
    if p["tier"] is not None:
        table = table[(table["tier"] >= 1) & (table["tier"] <= p["tier"])]
    if p["reason"]:
        table = table[table["reasons"].str.split("; ").map(lambda codes: p["reason"] in codes)]
    matching = len(table)
    table = table.head(p["top"]).reset_index(drop=True)
    table = _rounded(table.assign(cell=cells_to_strings(table["cell"].to_numpy(np.uint64)) if len(table)
                                  else np.empty(0, dtype=object)))
    tiers = found.listed["tier"].value_counts()
    summary = {"months": [found.months[0], found.months[-1]] if found.months else [], "stores": len(found.stores),
               "listed": len(found.listed), "tiers": {str(t): int(tiers.get(t, 0)) for t in (1, 2, 3)},
               "matching": matching, "shown": len(table)}
    layers = {"stores": [{"rank": int(r.rank), "tier": int(r.tier), "name": None if pd.isna(r.name) else str(r.name),
                          "org_id": r.org_id, "store_id": r.store_id, "reasons": r.reasons, "lat": r.lat, "lng": r.lng,
                          "colour": TIER_COLOURS[int(r.tier)]} for r in table.itertuples()]}
    return PlanResult("stores", p, run_id, area, summary, {"stores": table}, layers)


_COMPUTE = {"patrol": _patrol, "deploy": _deploy, "stores": _stores}


def _data_version(ws: Workspace) -> tuple:
    """Changes whenever stores, places or incident segments are added, replaced or retired."""
    with contextlib.closing(connect(ws)) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) || '/' || ifnull(max(rowid), 0) || '/' || ifnull(max(imported_at), '') "
            "FROM stores), (SELECT count(*) || '/' || ifnull(max(rowid), 0) FROM places), "
            "(SELECT count(*) || '/' || ifnull(max(rowid), 0) || '/' || ifnull(sum(active), 0) FROM segments)"
        ).fetchone()


def _cached(key: tuple, compute):
    """``compute()`` once per key (concurrent callers of one key wait for the first); at most WORKERS at once."""
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        gate = _GATES.setdefault(key, threading.Lock())
    with gate:
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]
        if not _WORKERS.acquire(timeout=BUSY_WAIT_S):
            raise ServiceUnavailable("the planner is busy with other plans: try again in a minute")
        try:
            value = compute()
        finally:
            _WORKERS.release()
            with _LOCK:
                _GATES.pop(key, None)
        with _LOCK:
            _CACHE[key] = value
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
    return value


def make_plan(ws: Workspace, kind: str, params: dict) -> tuple[PlanResult, float]:
    """The plan of ``kind`` for checked ``params`` (cached), and the seconds this call took.

    Raises WorkspaceError without a trends run or when the operation area does not exist (views check
    the area first and answer 404), ConfigError for settings that do not fit together (400).
    """
    clock = time.perf_counter()
    runs = list_runs(ws, "trends")
    if not runs:
        raise WorkspaceError("this workspace has no trends run yet", given=str(ws.root), fix="run `harmmap trends`")
    area = resolve_area(ws, params["area"]) if params.get("area") is not None else None
    key = (str(ws.root), kind, tuple(sorted(params.items())), runs[0].run_id, _data_version(ws),
           area.place_ids if area else None)
    result = _cached(key, lambda: _COMPUTE[kind](ws, dict(params), runs[0].run_id, area))
    return result, time.perf_counter() - clock


def area_outlines(ws: Workspace, area: OperationArea | None) -> list[dict]:
    """The area's place boundaries (WGS84 GeoJSON geometries, simplified to about 10 m) for the map."""
    if area is None:
        return []
    shapes = places_wgs84(ws)
    chosen = shapes[shapes["place_id"].isin(area.place_ids)].head(MAX_AREA_OUTLINES)
    simple = shapely.simplify(chosen.geometry.to_numpy(), 0.0001, preserve_topology=True)
    return [{"name": str(n), "geometry": g} for n, g in zip(chosen["name"], shapely.to_geojson(simple))]


def export_table(result: PlanResult, fmt: str) -> pd.DataFrame:
    """What a file holds: patrol CSV/XLSX one row per visit, GeoJSON/KML one point per stop; the chosen
    sites of a deployment; the listed stores."""
    if result.kind == "patrol":
        return result.tables["schedule" if fmt in ("csv", "xlsx") else "stops"]
    return result.tables["sites" if result.kind == "deploy" else "stores"]


def _labels(result: PlanResult, rows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    name = rows["name"].astype(object).where(rows["name"].notna(), rows.get("target_id", rows.get("store_id")))
    if result.kind == "patrol" and "visit_times" in rows:
        text = "team " + rows["team"].astype(str) + ", stop " + rows["order"].astype(str) + ", visits " \
            + rows["visit_times"].astype(str)
    elif result.kind == "patrol":
        text = "team " + rows["team"].astype(str) + " at " + rows["arrive"].astype(str)
    elif result.kind == "deploy":
        text = "team " + rows["team"].astype(str) + ": covers " + rows["demand_covered"].map("{:,.0f}".format) \
            + " " + str(result.summary["weight"])
    else:
        text = "rank " + rows["rank"].astype(str) + ": " + rows["reasons"].astype(str)
    return name.astype(str), text


def export_plan(result: PlanResult, fmt: str):
    """(file body, rows) of the plan in ``fmt`` (one of :data:`PLAN_FORMATS`; formula-safe CSV/XLSX)."""
    rows = export_table(result, fmt).reset_index(drop=True)
    names, descriptions = _labels(result, rows)
    points = gpd.GeoSeries(gpd.points_from_xy(rows["lng"], rows["lat"]), crs="EPSG:4326")
    title = {"patrol": "patrol plan", "deploy": "deployment", "stores": "persistent-crime stores"}[result.kind]
    body = write_export(fmt, rows, points, title=f"harmmap {title}", layer=f"plan_{result.kind}", names=names,
                        descriptions=descriptions)
    return body, len(rows)
