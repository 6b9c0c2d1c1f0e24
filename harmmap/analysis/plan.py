"""Plans for a workspace: read the latest trends run, places and stores; call :mod:`harmmap.plan`.

Targets and demand points come from the latest trends run (``harmmap trends``):
cells and places with their ``forecast_harm`` (default weight), ``harm_total``
(``weight="harm"``: harm over the run's window) or ``incidents_total``
(``weight="incidents"``: a count-based plan).  Stores weigh the forecast harm
of their cell shared equally among the stores in it, or (``harm`` /
``incidents``) their own retailer incidents over the run's window.  Every
table returned carries WGS84 ``lat``/``lng`` and BNG ``easting``/``northing``.

**Operation areas** (``place_ids``: the places of an area, see :func:`resolve_area`)
limit every plan to the area: places that are members, cells whose centre lies
in a member place (as the web map's area filter), stores standing inside a
member place.  A deployment draws both its demand points and its candidate
sites from the area; a patrol's share covered is a share of the area's harm.
The store list is computed over all the stores (so ``OWN_INCIDENTS_HIGH`` still
means the top share of the whole estate) and then cut to the area's stores,
ranked 1..N again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree
from h3ronpy.vector import cells_to_coordinates

from harmmap.errors import ConfigError, WorkspaceError
from harmmap.geo.cells import cells_to_parents, cells_to_strings, strings_to_cells
from harmmap.geo.crs import bng_to_wgs84, wgs84_to_bng
from harmmap.geo.study_area import places_to_cells
from harmmap.plan.coverage import CoverageSolution, build_coverage, solve_coverage, travel_minutes_to_metres
from harmmap.plan.patrol import PatrolPlan, PatrolSettings, plan_patrol
from harmmap.plan.stores import StoreList, StoreListSettings, list_persistent_stores
from harmmap.scoring.harm import incidents_to_harm
from harmmap.store.incidents import read_incidents
from harmmap.store.places import load_places, load_stores
from harmmap.store.results import RunRow, load_result
from harmmap.store.workspace import Workspace, connect, workspace_resolution
from harmmap.weights import load_harm_weights

UNITS = ("cells", "places", "stores")
WEIGHTS = ("forecast", "harm", "incidents")
_COLUMNS = {"forecast": "forecast_harm", "harm": "harm_total", "incidents": "incidents_total"}
_OWN = ["store_id", "org_id", "month", "crime_type", "offence", "injury", "weapon", "value_gbp"]


@dataclass(frozen=True, slots=True)
class OperationArea:
    """A named set of places (``harmmap`` web app: Operation areas)."""

    area_id: int
    name: str
    place_ids: tuple[str, ...]


def resolve_area(ws: Workspace, name_or_id: int | str) -> OperationArea:
    """The operation area with this id (an integer, or digits) or, failing that, this name (case-insensitive)."""
    text = str(name_or_id).strip()
    with contextlib.closing(connect(ws)) as conn:
        row = conn.execute("SELECT area_id, name FROM operation_areas WHERE area_id = ?", (int(text),)).fetchone() \
            if text.isdigit() and len(text) < 19 else None
        if row is None:
            row = conn.execute("SELECT area_id, name FROM operation_areas WHERE lower(name) = lower(?) "
                               "ORDER BY area_id LIMIT 1", (text,)).fetchone()
        if row is None:
            raise WorkspaceError("no such operation area", given=text[:100],
                                 fix="give an area's id or name (see the web app's Operation areas page)")
        places = [r[0] for r in conn.execute("SELECT place_id FROM operation_area_places WHERE area_id = ? "
                                             "ORDER BY place_id", (row[0],))]
    return OperationArea(int(row[0]), str(row[1]), tuple(places))


def _area_shapes(ws: Workspace, place_ids: Sequence[str]):
    shapes = load_places(ws)
    return shapes[shapes["place_id"].isin(list(place_ids))]


def _cells_in(ws: Workspace, cells: pd.DataFrame, place_ids: Sequence[str], resolution: int) -> pd.DataFrame:
    """Cells whose centre lies in one of the places (a place smaller than a cell: the cell holding it)."""
    _, inside = places_to_cells(_area_shapes(ws, place_ids), resolution)
    return cells[np.isin(cells["cell"].to_numpy(np.uint64), inside)]


def stores_in_places(ws: Workspace, easting: np.ndarray, northing: np.ndarray, place_ids: Sequence[str]) -> np.ndarray:
    """True for each point (BNG) standing inside one of the places."""
    shapes = _area_shapes(ws, place_ids)
    inside = np.zeros(len(easting), dtype=bool)
    if len(shapes) and len(easting):
        points = shapely.points(np.asarray(easting, float), np.asarray(northing, float))
        hits = shapely.STRtree(shapes.geometry.to_numpy()).query(points, predicate="within")
        inside[np.unique(hits[0])] = True
    return inside


def _in_area(frame: pd.DataFrame, unit: str, ws: Workspace, place_ids: Sequence[str] | None) -> pd.DataFrame:
    if place_ids is None:
        return frame
    if unit == "places":
        kept = frame[frame["target_id"].isin(list(place_ids))]
    else:
        kept = frame[stores_in_places(ws, frame["easting"].to_numpy(), frame["northing"].to_numpy(), place_ids)]
    if kept.empty:
        raise _nothing_in_area(unit, place_ids)
    return kept


def _nothing_in_area(unit: str, place_ids: Sequence[str]) -> WorkspaceError:
    return WorkspaceError(f"no {unit} in this operation area", given=f"{len(place_ids)} place(s)",
                          fix="choose another operation area, or plan over another unit")


@dataclass(frozen=True, slots=True)
class PatrolOutcome:
    """A patrol plan with the targets' ids, names and coordinates joined on."""

    plan: PatrolPlan
    stops: pd.DataFrame
    schedule: pd.DataFrame
    run_id: str
    unit: str
    weight: str


@dataclass(frozen=True, slots=True)
class DeployOutcome:
    """A deployment: the solution, the chosen sites and the demand points (with their serving site)."""

    solution: CoverageSolution
    sites: pd.DataFrame
    demand: pd.DataFrame
    radius_m: float
    run_id: str


def _trends(ws: Workspace, run_id: str | None) -> tuple[RunRow, dict[str, pd.DataFrame]]:
    return load_result(ws, run_id, tables=("cells", "places"), kind="trends")


def _with_wgs84(frame: pd.DataFrame) -> pd.DataFrame:
    lat, lng = bng_to_wgs84(frame["easting"].to_numpy(float), frame["northing"].to_numpy(float))
    return frame.assign(lat=lat, lng=lng)


def _cell_targets(cells: pd.DataFrame) -> pd.DataFrame:
    ids = cells["cell"].to_numpy(np.uint64)
    centres = cells_to_coordinates(ids) if ids.size else None
    lat = np.asarray(centres.column("lat"), dtype=float) if ids.size else np.zeros(0)
    lng = np.asarray(centres.column("lng"), dtype=float) if ids.size else np.zeros(0)
    easting, northing = wgs84_to_bng(lat, lng)
    return pd.DataFrame({"target_id": cells_to_strings(ids), "name": cells_to_strings(ids), "kind": "cell",
                         "emerging_class": cells["emerging_class"].to_numpy(object), "lat": lat, "lng": lng,
                         "easting": easting, "northing": northing,
                         **{c: cells[c].to_numpy(float) for c in _COLUMNS.values()}})


def _place_targets(ws: Workspace, places: pd.DataFrame, kinds) -> pd.DataFrame:
    shapes = load_places(ws, list(kinds) if kinds else None)
    places = places[places["place_id"].isin(shapes["place_id"])]
    geometry = shapes.set_index("place_id").geometry.reindex(places["place_id"]).to_numpy()
    centre = shapely.centroid(geometry)
    inside = shapely.contains(geometry, centre)
    point = np.where(inside, centre, shapely.point_on_surface(geometry))
    frame = pd.DataFrame({"target_id": places["place_id"].to_numpy(object), "name": places["name"].to_numpy(object),
                          "kind": places["kind"].to_numpy(object),
                          "emerging_class": places["emerging_class"].to_numpy(object),
                          "easting": shapely.get_x(point), "northing": shapely.get_y(point),
                          **{c: places[c].to_numpy(float) for c in _COLUMNS.values()}})
    return _with_wgs84(frame)


def own_incidents(ws: Workspace, org_id: str | None, weights: str) -> pd.DataFrame:
    """The retailers' own incidents (store_id, org_id, month, harm) with harm from ``weights``."""
    frame = read_incidents(ws, _OWN, sources=["retailer:*" if org_id is None else f"retailer:{org_id}"])
    frame = frame[frame["store_id"].notna()].reset_index(drop=True)
    harm = incidents_to_harm(frame, load_harm_weights(weights)) if len(frame) else np.zeros(0)
    return pd.DataFrame({"store_id": frame["store_id"].astype(str).to_numpy(object),
                         "org_id": frame["org_id"].astype(str).to_numpy(object),
                         "month": pd.to_datetime(frame["month"]).dt.strftime("%Y-%m").to_numpy(object), "harm": harm})


def _window(run: RunRow) -> tuple[str, str] | None:
    window = run.settings.get("window")
    return (window[0], window[1]) if window else None


def _stores(ws: Workspace, run: RunRow, org_id: str | None) -> pd.DataFrame:
    """The stores (of ``org_id``, or all), with ``cell`` as uint64 at the trends run's resolution."""
    stores = load_stores(ws, org_id)
    if stores.empty:
        raise WorkspaceError("no stores in this workspace", given=org_id or "all organisations",
                             fix="import stores with `harmmap ingest` (a stores file)")
    resolution = int(run.settings.get("resolution", workspace_resolution(ws)))
    own_cells = strings_to_cells(stores["cell"])
    stores["cell"] = cells_to_parents(own_cells, resolution) if resolution < workspace_resolution(ws) else own_cells
    return stores


def _store_targets(ws: Workspace, run: RunRow, cells: pd.DataFrame, org_id: str | None) -> pd.DataFrame:
    stores = _stores(ws, run, org_id)
    position = pd.Index(cells["cell"].to_numpy(np.uint64)).get_indexer(stores["cell"].to_numpy(np.uint64))
    forecast = np.where(position >= 0, cells["forecast_harm"].to_numpy(float)[position], 0.0)
    sharing = stores.groupby("cell")["store_id"].transform("size").to_numpy(float)
    own = own_incidents(ws, org_id, str(run.settings.get("weights", "cchi")))
    window = _window(run)
    if window:
        own = own[(own["month"] >= window[0]) & (own["month"] <= window[1])]
    key = stores["org_id"].astype(str) + "/" + stores["store_id"].astype(str)
    grouped = own.assign(key=own["org_id"] + "/" + own["store_id"]).groupby("key")["harm"].agg(["sum", "size"])
    emerging = np.where(position >= 0, cells["emerging_class"].to_numpy(object)[position], "no_data")
    return pd.DataFrame({"target_id": key.to_numpy(object), "name": stores["name"].to_numpy(object), "kind": "store",
                         "emerging_class": emerging, "lat": stores["lat"].to_numpy(float),
                         "lng": stores["lng"].to_numpy(float), "easting": stores["easting"].to_numpy(float),
                         "northing": stores["northing"].to_numpy(float), "forecast_harm": forecast / sharing,
                         "harm_total": grouped["sum"].reindex(key).fillna(0.0).to_numpy(float),
                         "incidents_total": grouped["size"].reindex(key).fillna(0).to_numpy(float)})


def load_targets(ws: Workspace, unit: str = "places", *, weight: str = "forecast", kinds=None,
                 run_id: str | None = None, org_id: str | None = None,
                 place_ids: Sequence[str] | None = None) -> tuple[RunRow, pd.DataFrame]:
    """Cells, places or stores of the latest (or given) trends run with a ``weight`` column and coordinates.

    ``place_ids`` (an operation area's places) keeps only the targets in those places (module docstring);
    raises WorkspaceError when none is left.
    """
    if unit not in UNITS or weight not in WEIGHTS:
        raise ConfigError("unknown unit or weight", given=f"{unit}, {weight}",
                          fix=f"units: {', '.join(UNITS)}; weights: {', '.join(WEIGHTS)}")
    run, tables = _trends(ws, run_id)
    if unit == "cells":
        cells = tables["cells"]
        if place_ids is not None:
            resolution = int(run.settings.get("resolution", workspace_resolution(ws)))
            cells = _cells_in(ws, cells, place_ids, resolution)
            if cells.empty:
                raise _nothing_in_area(unit, place_ids)
        frame = _cell_targets(cells)
    elif unit == "places":
        frame = _in_area(_place_targets(ws, tables["places"], kinds), unit, ws, place_ids)
    else:
        frame = _in_area(_store_targets(ws, run, tables["cells"], org_id), unit, ws, place_ids)
    frame["weight"] = np.nan_to_num(frame[_COLUMNS[weight]].to_numpy(float)).clip(min=0.0)
    return run, frame.reset_index(drop=True)


def _clock(minutes: np.ndarray, start: str) -> np.ndarray:
    hours, _, mins = start.partition(":")
    if not (hours.isdigit() and mins.isdigit() and int(hours) < 24 and int(mins) < 60):
        raise ConfigError("bad shift start time", given=start, fix="use HH:MM, e.g. 18:00")
    total = (int(hours) * 60 + int(mins) + np.round(np.asarray(minutes, float))).astype(np.int64) % 1440
    return np.array([f"{t // 60:02d}:{t % 60:02d}" for t in total], dtype=object)


def plan_workspace_patrol(ws: Workspace, settings: PatrolSettings = PatrolSettings(), *, unit: str = "places",
                          weight: str = "forecast", kinds=None, run_id: str | None = None, org_id: str | None = None,
                          seed: int = 0, start: str = "08:00",
                          place_ids: Sequence[str] | None = None) -> PatrolOutcome:
    """Plan patrols over the workspace's places (or cells, or stores) by forecast harm (in an area's places)."""
    run, targets = load_targets(ws, unit, weight=weight, kinds=kinds, run_id=run_id, org_id=org_id,
                                place_ids=place_ids)
    plan = plan_patrol(targets[["easting", "northing"]].to_numpy(float), targets["weight"].to_numpy(float), settings,
                       seed=seed)
    info = targets.drop(columns=["weight"])
    stops = plan.stops.join(info, on="target").drop(columns=["target"])
    schedule = plan.schedule.join(info[["target_id", "name", "lat", "lng", "easting", "northing"]], on="target")
    schedule = schedule.drop(columns=["target"]).assign(arrive=_clock(schedule["arrive_minute"], start),
                                                        leave=_clock(schedule["leave_minute"], start))
    visits = schedule[schedule["shift"] == 1].groupby("target_id")["arrive"].agg(", ".join)
    stops["visit_times"] = visits.reindex(stops["target_id"]).to_numpy(object)
    return PatrolOutcome(plan, stops, schedule, run.run_id, unit, weight)


def _check_pairs(demand_xy: np.ndarray, site_xy: np.ndarray, radius: float, max_pairs: int | None) -> None:
    if max_pairs is None or not len(demand_xy) or not len(site_xy) or not radius > 0:
        return
    pairs = int(cKDTree(demand_xy).count_neighbors(cKDTree(site_xy), radius))
    if pairs > max_pairs:
        raise ConfigError("too many demand-site pairs within the radius for this request",
                          given=f"{pairs:,} pairs (at most {max_pairs:,})",
                          fix="use a smaller radius, an operation area or fewer candidate sites; "
                              "or run `harmmap plan deploy` from the command line")


def _radius(radius_m: float | None, minutes: float | None, speed_kmh: float, detour: float) -> float:
    if (radius_m is None) == (minutes is None):
        raise ConfigError("give either a radius in metres or travel minutes", given=f"{radius_m}, {minutes}",
                          fix="e.g. --radius 5000 or --minutes 10")
    return float(radius_m) if radius_m is not None else travel_minutes_to_metres(minutes, speed_kmh, detour)


def deploy_workspace(ws: Workspace, k: int, *, demand: str = "cells", sites: str = "stores",
                     weight: str = "forecast", radius_m: float | None = None, minutes: float | None = None,
                     speed_kmh: float = 24.0, detour: float = 1.3, capacity: float | None = None,
                     solver: str = "auto", time_limit_s: float = 30.0, kinds=None, run_id: str | None = None,
                     org_id: str | None = None, place_ids: Sequence[str] | None = None, max_sites: int | None = None,
                     max_pairs: int | None = None) -> DeployOutcome:
    """Place ``k`` teams among candidate ``sites`` to cover the most ``demand`` (maximal covering).

    ``place_ids`` limits demand points and sites to an operation area's places; ``max_sites`` keeps only
    the candidate sites of most harm (a note says so); ``max_pairs`` refuses (ConfigError) a problem with
    more demand-site pairs in reach, counted before the coverage matrix is built.
    """
    radius = _radius(radius_m, minutes, speed_kmh, detour)
    run, points = load_targets(ws, demand, weight=weight, kinds=kinds, run_id=run_id, org_id=org_id,
                               place_ids=place_ids)
    _, candidates = load_targets(ws, sites, weight=weight, kinds=kinds, run_id=run.run_id, org_id=org_id,
                                 place_ids=place_ids)
    notes = []
    if max_sites is not None and len(candidates) > max_sites:
        notes.append(f"only the {max_sites:,} candidate {sites} of most {weight} of {len(candidates):,} "
                     "were considered")
        keep = np.sort(np.argsort(-candidates["weight"].to_numpy(float), kind="stable")[:max_sites])
        candidates = candidates.iloc[keep].reset_index(drop=True)
    demand_xy = points[["easting", "northing"]].to_numpy(float)
    site_xy = candidates[["easting", "northing"]].to_numpy(float)
    _check_pairs(demand_xy, site_xy, radius, max_pairs)
    coverage = build_coverage(demand_xy, site_xy, radius)
    solution = solve_coverage(coverage, points["weight"].to_numpy(float), k, capacities=capacity, solver=solver,
                              time_limit_s=time_limit_s)
    if notes:
        solution = replace(solution, notes=(*notes, *solution.notes))
    served = solution.assigned_site
    chosen = candidates.iloc[solution.sites].drop(columns=["weight"]).reset_index(drop=True)
    chosen.insert(0, "team", np.arange(1, len(chosen) + 1))
    chosen["demand_covered"] = solution.site_demand
    chosen["demand_points"] = np.bincount(np.searchsorted(solution.sites, served[served >= 0]),
                                          minlength=len(chosen))
    chosen["share_of_total"] = chosen["demand_covered"] / solution.total_demand if solution.total_demand else 0.0
    site_ids = candidates["target_id"].to_numpy(object)
    points = points.assign(served_by=np.where(served >= 0, site_ids[np.maximum(served, 0)], None),
                           covered=served >= 0)
    return DeployOutcome(solution, chosen, points, radius, run.run_id)


def list_workspace_stores(ws: Workspace, settings: StoreListSettings = StoreListSettings(), *,
                          org_id: str | None = None, run_id: str | None = None,
                          place_ids: Sequence[str] | None = None) -> StoreList:
    """The persistent-crime store list of the workspace's stores (latest trends run + own incidents).

    ``place_ids``: only the stores inside an operation area's places, ranked 1..N among themselves (the
    reason codes are those of the whole list: see the module docstring).
    """
    run, tables = _trends(ws, run_id)
    stores = _stores(ws, run, org_id)
    own = own_incidents(ws, org_id, str(run.settings.get("weights", "cchi")))
    stores["store_id"] = stores["org_id"].astype(str) + "/" + stores["store_id"].astype(str)
    own = own.assign(store_id=own["org_id"] + "/" + own["store_id"])
    window = _window(run)
    months = None
    if window:
        own = own[(own["month"] >= window[0]) & (own["month"] <= window[1])]
        months = [str(p) for p in pd.period_range(window[0], window[1], freq="M")]
    columns = ["store_id", "org_id", "name", "postcode", "lat", "lng", "easting", "northing", "cell"]
    found = list_persistent_stores(stores[columns], tables["cells"], own, months=months, settings=settings)
    table = found.stores.assign(store_id=found.stores["store_id"].str.split("/", n=1).str[1])
    if place_ids is not None:
        table = _in_area(table, "stores", ws, place_ids).reset_index(drop=True)
        listed = table["rank"].to_numpy() > 0
        table["rank"] = np.where(listed, np.cumsum(listed), 0)
    return StoreList(table, found.months, found.settings)
