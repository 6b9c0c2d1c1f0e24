"""Screen: plans (patrols, team deployment, the persistent-crime store list), their exports and JSON API."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for

from harmmap.errors import HarmmapError
from harmmap.web.audit import audit
from harmmap.web.data import operation_areas
from harmmap.web.exports import FORMATS, attachment, json_records
from harmmap.web.openapi import FILE_CONTENT, GEOJSON_CONTENT, error_responses
from harmmap.web.plan_pages import (MAX_CANDIDATES, MAX_K, MAX_PAIRS, MAX_PAIRS_CAPACITY, MAX_SECONDS, MAX_SITES,
                                    MAX_TEAMS, PARAMS, PLAN_FORMATS, PLAN_KINDS, TEAM_COLOURS, TIER_COLOURS,
                                    PlanResult, area_outlines, export_plan, make_plan, shown_params)
from harmmap.web.priority import area_exists, openapi_parameters, parse_query
from harmmap.web.security import login_required

blueprint = Blueprint("plans", __name__)
ROLES = ("admin", "planner", "deployment")
FORMAT_LABELS = {"csv": "CSV", "xlsx": "Excel (XLSX)", "geojson": "GeoJSON", "kml": "KML"}
TITLES = {"patrol": "Patrol plan", "deploy": "Deployment", "stores": "Persistent-crime stores"}

_NUM, _INT, _STR, _STRN = {"type": ["number", "null"]}, {"type": "integer"}, {"type": "string"}, \
    {"type": ["string", "null"]}
_WHERE = {"lat": _NUM, "lng": _NUM, "easting": _NUM, "northing": _NUM}
_TARGET = {"target_id": _STR, "name": _STRN, "kind": _STR, "emerging_class": _STRN, "forecast_harm": _NUM,
           "harm_total": _NUM, "incidents_total": _NUM}
_CLOCK = {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}


def _row(properties: dict) -> dict:
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}


def _rows(name: str) -> dict:
    return {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}}


_SUMMARY = {
    "patrol": {"unit": {"enum": ["places", "cells", "stores"]}, "weight": _STR, "teams": _INT, "shifts": _INT,
               "rounds": _INT, "stops": _INT, "visits": _INT, "visit_minutes": {"type": "number"},
               "revisit_minutes": {"type": "number"}, "speed_kmh": {"type": "number"},
               "harm_covered": {"type": "number"}, "harm_total": {"type": "number"},
               "share": {"type": "number", "minimum": 0, "maximum": 1.000001}},
    "deploy": {"teams": _INT, "placed": _INT, "demand": _STR, "sites": _STR, "weight": _STR,
               "radius_m": {"type": "number"}, "covered": {"type": "number"}, "total": {"type": "number"},
               "share": {"type": "number", "minimum": 0, "maximum": 1.000001}, "upper_bound": {"type": "number"},
               "gap": {"type": "number", "minimum": 0}, "solver": {"enum": ["scip", "highs", "greedy"]},
               "status": {"enum": ["optimal", "time_limit", "heuristic"]},
               "bound": {"enum": ["solver", "lp_relaxation", "submodular"]}, "pairs": _INT, "demand_points": _INT,
               "notes": {"type": "array", "items": _STR}},
    "stores": {"months": {"type": "array", "items": _STR, "maxItems": 2}, "stores": _INT, "listed": _INT,
               "tiers": _row({str(t): _INT for t in (1, 2, 3)}), "matching": _INT, "shown": _INT},
}
_TABLES = {"patrol": {"teams": "PlanTeam", "stops": "PlanStop", "schedule": "PlanVisit"},
           "deploy": {"sites": "PlanSite"}, "stores": {"stores": "PlanStore"}}
OPENAPI_SCHEMAS = {
    "PlanTeam": _row({"team": _INT, "stops": _INT, "loop_minutes": _NUM, "travel_minutes": _NUM,
                      "visit_minutes": _NUM, "spare_minutes": _NUM, "harm": _NUM}),
    "PlanStop": _row({"team": _INT, "order": _INT, "target_id": _STR, "name": _STRN, "kind": _STR,
                      "emerging_class": _STRN, "harm": _NUM, "visits_per_shift": _INT, "minutes_per_shift": _NUM,
                      "visit_times": _STRN, **{k: _TARGET[k] for k in ("forecast_harm", "harm_total",
                                                                         "incidents_total")}, **_WHERE}),
    "PlanVisit": _row({"shift": _INT, "team": _INT, "round": _INT, "stop": _INT, "target_id": _STR, "name": _STRN,
                       "arrive": _CLOCK, "leave": _CLOCK, "arrive_minute": _NUM, "leave_minute": _NUM,
                       "travel_minutes": _NUM, **_WHERE}),
    "PlanSite": _row({"team": _INT, "target_id": _STR, "name": _STRN, "kind": _STR, "emerging_class": _STRN,
                      "demand_covered": _NUM, "demand_points": _INT, "share_of_total": _NUM,
                      **{k: _TARGET[k] for k in ("forecast_harm", "harm_total", "incidents_total")}, **_WHERE}),
    "PlanStore": _row({"rank": _INT, "store_id": _STR, "org_id": _STR, "name": _STRN, "postcode": _STRN, **_WHERE,
                       "cell": {"type": "string", "pattern": "^[0-9a-f]{15}$"},
                       "tier": {"type": "integer", "minimum": 0, "maximum": 3}, "reasons": _STR,
                       "cell_class": _STRN, "cell_forecast_harm": _NUM, "own_incidents_recent": _INT,
                       "own_incidents_previous": _INT, "own_harm_recent": _NUM, "own_active_months": _INT,
                       "own_trend_z": _NUM, "own_trend_p": _NUM, "own_slope": _NUM}),
    "PlanArea": {"type": ["object", "null"], "additionalProperties": False, "required": ["area_id", "name", "places"],
                 "properties": {"area_id": _INT, "name": _STR, "places": _INT}},
} | {
    f"{kind.capitalize()}Plan": _row({
        "kind": {"const": kind}, "run_id": _STR, "params": {"type": "object"},
        "area": {"$ref": "#/components/schemas/PlanArea"}, "summary": _row(_SUMMARY[kind]),
        "seconds": {"type": "number", "minimum": 0},
        **{table: _rows(name) for table, name in _TABLES[kind].items()}}) for kind in PLAN_KINDS
}
_BOUNDS = (f"Bounds: at most {MAX_TEAMS} patrol teams over the {MAX_CANDIDATES} targets of most harm; at most "
           f"{MAX_K} deployment teams among the {MAX_SITES:,} candidate sites of most harm, refused (400) above "
           f"{MAX_PAIRS:,} demand-site pairs in reach ({MAX_PAIRS_CAPACITY:,} with a capacity), solver time limit "
           f"at most {MAX_SECONDS:g} s.  An unknown operation area is 404; 503 when the planner is busy.")
_ABOUT = {"patrol": "Patrol plan: stops per team, visit order and times, dosage, share of forecast harm covered.",
          "deploy": "Deployment (maximal covering location problem): sites for K teams, harm covered, solver gap.",
          "stores": "Persistent-crime store list of every organisation's stores, ranked, with reason codes."}
OPENAPI_PATHS = {
    f"/api/plans/{kind}": {"get": {
        "summary": _ABOUT[kind], "description": _BOUNDS, "operationId": f"plan{kind.capitalize()}",
        "parameters": openapi_parameters(PARAMS[kind]),
        "responses": {"200": {"description": "The plan", "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{kind.capitalize()}Plan"}}}},
            **error_responses(400, 401, 403, 404, 503)}}} for kind in PLAN_KINDS
} | {
    f"/api/plans/{kind}/export.{{fmt}}": {"get": {
        "summary": f"Export: {_ABOUT[kind]} (formula-safe CSV/XLSX with WGS84 and BNG coordinates)",
        "description": "Patrol: CSV and XLSX one row per visit, GeoJSON and KML one point per stop.  " + _BOUNDS,
        "operationId": f"plan{kind.capitalize()}Export",
        "parameters": [{"name": "fmt", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(PLAN_FORMATS)}}, *openapi_parameters(PARAMS[kind])],
        "responses": {"200": {"description": "The file (Content-Disposition: attachment)",
                              "content": {FORMATS[f][0].split(";")[0]: GEOJSON_CONTENT if f == "geojson" else FILE_CONTENT
                                          for f in PLAN_FORMATS}},
                      **error_responses(400, 401, 403, 404, 503)}}} for kind in PLAN_KINDS
}


def _ws():
    return current_app.extensions["harmmap"].ws


def _params(kind: str) -> dict:
    """The checked query of a plan; 404 for an unknown plan kind or operation area."""
    if kind not in PLAN_KINDS:
        abort(404)
    params = parse_query(request.args, PARAMS[kind])
    if not area_exists(_ws(), params["area"]):
        abort(404, description="no such operation area")
    return params


def _area_json(result: PlanResult) -> dict | None:
    area = result.area
    return None if area is None else {"area_id": area.area_id, "name": area.name, "places": len(area.place_ids)}


def _rows_count(result: PlanResult) -> int:
    return sum(len(t) for t in result.tables.values())


def _plan_json(result: PlanResult, seconds: float) -> dict:
    return {"kind": result.kind, "run_id": result.run_id, "params": shown_params(result.params),
            "area": _area_json(result), "summary": result.summary, "seconds": round(seconds, 4),
            **{name: json_records(table) for name, table in result.tables.items()}}


def _map_meta(result: PlanResult | None) -> dict:
    config = current_app.extensions["harmmap"].config
    return {"kind": result.kind if result else None, "layers": result.layers if result else {},
            "outlines": area_outlines(_ws(), result.area) if result else [], "tiles_url": config.tiles_url,
            "tiles_attribution": config.tiles_attribution, "team_colours": list(TEAM_COLOURS),
            "tier_colours": {str(k): v for k, v in TIER_COLOURS.items()}}


@blueprint.route("/plans")
@login_required(*ROLES)
def index():
    """The three plan forms; with ``plan=patrol|deploy|stores`` in the query, that plan on a map and in tables."""
    kind = request.args.get("plan") or None
    values = {k: parse_query({}, PARAMS[k]) for k in PLAN_KINDS}
    result, seconds, error, status = None, 0.0, None, 200
    if kind is not None:
        try:
            params = values[kind] = _params(kind)
            result, seconds = make_plan(_ws(), kind, params)
            audit("view", "/plans", plan=kind, params=shown_params(params), rows=_rows_count(result))
        except HarmmapError as exc:
            error, status = str(exc), 400
    args = {k: v for k, v in request.args.items() if kind and k in PARAMS[kind] and v != ""}
    exports = [(FORMAT_LABELS[f], url_for("plans.export", kind=kind, fmt=f, **args)) for f in PLAN_FORMATS] \
        if result else []
    api_url = url_for("plans.api_plan", kind=kind, **args) if result else None
    tables = {name: table.to_dict("records") for name, table in result.tables.items()} if result else {}
    return render_template("plans.html", kind=kind or "patrol", result=result, seconds=seconds, error=error,
                           values=values, params=PARAMS, areas=operation_areas(_ws()), exports=exports,
                           api_url=api_url, tables=tables, meta=_map_meta(result), titles=TITLES), status


def _export(kind: str, fmt: str):
    if fmt not in PLAN_FORMATS:
        abort(404)
    params = _params(kind)
    result, _ = make_plan(_ws(), kind, params)
    body, rows = export_plan(result, fmt)
    audit("export", f"export:plan-{kind}.{fmt}", plan=kind, format=fmt, params=shown_params(params), rows=rows)
    return attachment(body, fmt, f"harmmap-plan-{kind}")


@blueprint.route("/plans/<kind>/export.<fmt>")
@login_required(*ROLES)
def export(kind: str, fmt: str):
    """Download a plan (same query as the page)."""
    return _export(kind, fmt)


@blueprint.route("/api/plans/<kind>")
@login_required(*ROLES)
def api_plan(kind: str):
    """JSON of a plan."""
    params = _params(kind)
    result, seconds = make_plan(_ws(), kind, params)
    audit("view", f"/api/plans/{kind}", plan=kind, params=shown_params(params), rows=_rows_count(result))
    return jsonify(_plan_json(result, seconds))


@blueprint.route("/api/plans/<kind>/export.<fmt>")
@login_required(*ROLES)
def api_export(kind: str, fmt: str):
    """The export for scripts (token authentication)."""
    return _export(kind, fmt)
