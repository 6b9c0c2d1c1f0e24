"""Screen: the planner map (``/map``) and its JSON API (``/api/map/...``), for admins and planners.

Retailers have their own store map; deployment staff work from priority lists: both get 403 here.

Audit: one "view" event per page load, per cell or place details request and per
stores request.  Cell requests made while panning (``/api/map/cells``) are not
logged for browser sessions (the page load already is, and panning would flood
the log); scripts using a token are logged on every call.

Errors: malformed parameters (bbox, zoom, layer, area not a positive integer) are 400 JSON;
a well-formed period, crime type, operation area or cell the latest run does not hold is 404
(as an unknown operation area is on the other screens, and as schemathesis expects).
"""

from __future__ import annotations

import math
import time

from flask import Blueprint, Response, abort, current_app, g, jsonify, render_template, request, url_for

from harmmap.errors import ConfigError, WorkspaceError
from harmmap.web import map_details, map_json, maps
from harmmap.web.audit import audit
from harmmap.web.data import area_places, latest_run, operation_areas, places_wgs84, require_run, stores_of
from harmmap.web.openapi import error_responses
from harmmap.web.security import login_required

blueprint = Blueprint("map", __name__)
ROLES = ("admin", "planner")


def _state():
    return current_app.extensions["harmmap"]


_RUNS: dict = {}
RUN_CHECK_S = 2.0  # a new run is picked up within this many seconds


def _index() -> maps.MapIndex:
    """The map index of the latest scoring and trends runs (which runs: looked up at most every 2 s)."""
    ws = _state().ws
    key = str(ws.root)
    seen = _RUNS.get(key)
    if seen is None or time.monotonic() - seen[0] > RUN_CHECK_S:
        seen = (time.monotonic(), require_run(ws, "scoring"), latest_run(ws, "trends"))
        _RUNS[key] = seen
    return maps.get_index(key, seen[1], seen[2])


def _crimes(index: maps.MapIndex):
    return maps.workspace_crime_rows(index, _state().ws)


def _int_arg(name: str, low: int, high: int, required: bool = False) -> int | None:
    text = request.args.get(name, "")
    if text == "":
        if required:
            raise ConfigError(f"{name} is required", given="(missing)", fix=f"pass {name}={low}..{high}")
        return None
    if not text.lstrip("-").isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}", given=text[:40])
    return int(text)


def _bbox(required: bool = True) -> tuple[float, float, float, float] | None:
    """``bbox=west,south,east,north``: two opposite corners in either order, clamped to the world."""
    text = request.args.get("bbox", "")
    if not text and not required:
        return None
    try:
        x1, y1, x2, y2 = (float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError("bbox must be four numbers west,south,east,north", given=text[:80],
                          fix="e.g. bbox=-1.3,52.5,-1.0,52.7") from None
    if not all(math.isfinite(v) and -180 <= v <= 180 for v in (x1, y1, x2, y2)):
        raise ConfigError("bbox must be four finite numbers from -180 to 180 (degrees)", given=text[:80],
                          fix="west,south,east,north: longitudes -180..180, latitudes -90..90")
    clamp = lambda v: min(max(v, -90.0), 90.0)  # noqa: E731
    return min(x1, x2), clamp(min(y1, y2)), max(x1, x2), clamp(max(y1, y2))


def _known(value: str | None, allowed: tuple, what: str) -> str | None:
    """A filter naming data the run does not hold is a 404 (like an unknown operation area)."""
    if value is not None and value not in allowed:
        abort(404, description=f"no {what} {value[:80]!r} in the latest run (see /api/map/meta)")
    return value


def _filters(index: maps.MapIndex) -> tuple[maps.MapQuery, maps.Values, tuple]:
    """Period, crime type and operation area of the request, and the harm they select (404 for a period,
    crime type or area the run does not know: the value is well formed but names nothing)."""
    period = _known(request.args.get("period") or None, index.periods, "period")
    crime_type = request.args.get("crime_type") or None
    crime = None
    if crime_type is not None:
        crimes, rows = _crimes(index)
        _known(crime_type, crimes, "crime type")
        crime = (crimes.index(crime_type), rows)
    area_id = _int_arg("area", 1, 2**31 - 1)
    area = mask = None
    if area_id is not None:
        try:
            area = tuple(sorted(area_places(_state().ws, area_id)))
        except WorkspaceError:
            abort(404, description="no such operation area")
        mask = maps.area_mask(index, places_wgs84(_state().ws), area)
    key = (period, crime_type, area)
    values = maps.filtered_values(index, period, crime, mask, area)
    return maps.MapQuery((0.0, 0.0, 0.0, 0.0), 0, "harm", period, crime_type, area), values, key


def _meta(index: maps.MapIndex) -> dict:
    config = _state().config
    crimes, _ = _crimes(index)
    ws = _state().ws
    return map_details.meta(index, crimes, operation_areas(ws), places_wgs84(ws), config.tiles_url,
                            config.tiles_attribution)


@blueprint.route("/map")
@login_required(*ROLES)
def index():
    """The map page (``?layer=&period=&crime_type=&area=`` preset the controls); its settings are embedded
    so the first cells request starts at once."""
    layer = map_details.check_choice(request.args.get("layer") or "harm", maps.LAYERS, "layer")
    idx = _index()
    query, _, _ = _filters(idx)
    initial = {"layer": layer, "period": query.period, "crime_type": query.crime_type,
               "area": _int_arg("area", 1, 2**31 - 1)}
    urls = {"cells": url_for("map.api_cells"), "cell": url_for("map.api_cell", cell="__CELL__"),
            "series": url_for("map.api_cell_series", cell="__CELL__"),
            "place": url_for("map.api_place", place_id="__PLACE__"),
            "boundaries": url_for("map.api_boundaries"), "stores": url_for("map.api_stores")}
    audit("view", "/map", layer=layer, period=query.period, crime_type=query.crime_type, area=initial["area"])
    return render_template("map.html", meta=_meta(idx) | {"urls": urls, "initial": initial}, initial=initial)


@blueprint.route("/api/map/meta")
@login_required(*ROLES)
def api_meta():
    """Periods, crime types, operation areas, legends and the extent of the latest run."""
    return jsonify(_meta(_index()))


@blueprint.route("/api/map/cells")
@login_required(*ROLES)
def api_cells():
    """The cells of one view (bounding box, zoom, layer and filters), at most ``max_map_bytes``."""
    layer = request.args.get("layer") or "harm"
    map_details.check_choice(layer, maps.LAYERS, "layer")
    bbox, zoom = _bbox(), _int_arg("zoom", 0, 20, required=True)
    idx = _index()
    query, values, key = _filters(idx)
    query = maps.MapQuery(bbox, zoom, layer, query.period, query.crime_type, query.area)
    if g.get("via_token"):
        audit("view", "/api/map/cells", layer=layer, period=query.period, crime_type=query.crime_type)
    body = map_json.cells_json(idx, query, values, key, _state().config.max_map_bytes)
    return Response(body, mimetype="application/json")


@blueprint.route("/api/map/cells/<cell>")
@login_required(*ROLES)
def api_cell(cell: str):
    """One drawn cell: harm, incidents, Gi* and emerging classes (plus the filtered harm when filters are given)."""
    idx = _index()
    where = map_details.locate(idx, cell)
    if where is None:
        return _not_found("no such cell on the map")
    query, values, _ = _filters(idx)
    filtered = values if (query.period or query.crime_type or query.area) else None
    audit("view", f"/api/map/cells/{cell}")
    return jsonify(map_details.cell_details(idx, where, filtered, query))


@blueprint.route("/api/map/cells/<cell>/series")
@login_required(*ROLES)
def api_cell_series(cell: str):
    """Harm and incidents of a drawn cell per period (monthly from the trends run when available)."""
    idx = _index()
    where = map_details.locate(idx, cell)
    if where is None:
        return _not_found("no such cell on the map")
    return jsonify(map_details.cell_series(idx, where))


@blueprint.route("/api/map/places/<path:place_id>")
@login_required(*ROLES)
def api_place(place_id: str):
    """A place's figures, classes and harm series."""
    details = map_details.place_details(_index(), place_id)
    if details is None:
        return _not_found("no such place in the latest run")
    audit("view", f"/api/map/places/{place_id}")
    return jsonify(details)


@blueprint.route("/api/map/boundaries")
@login_required(*ROLES)
def api_boundaries():
    """Place boundaries touching ``bbox`` (GeoJSON, WGS84, simplified for ``zoom``) with harm, rank and classes."""
    bbox, zoom = _bbox(required=False), _int_arg("zoom", 0, 20)
    body = map_details.boundaries_json(_index(), places_wgs84(_state().ws), zoom, bbox, _state().config.max_map_bytes)
    return Response(body, mimetype="application/json")


@blueprint.route("/api/map/stores")
@login_required(*ROLES)
def api_stores():
    """The stores of every organisation (in ``bbox`` when given; planners and admins only)."""
    bbox = _bbox(required=False)
    audit("view", "/api/map/stores")
    return jsonify(map_details.stores_payload(stores_of(_state().ws, None), bbox, _state().config.max_map_bytes))


def _not_found(message: str):
    return jsonify({"error": "Not Found", "message": message, "status": 404}), 404


# ---------------------------------------------------------------- OpenAPI
_NUM_OR_NULL = {"type": ["number", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
_GI = {"type": "integer", "minimum": -3, "maximum": 3}
_EMERGING = {"type": "integer", "minimum": -8, "maximum": 8}
_FILTER_PARAMS = [
    {"name": "period", "in": "query", "required": False, "description": "A period of the scoring run (e.g. 2023-Q4); "
     "see /api/map/meta", "schema": {"type": "string", "maxLength": 40}},
    {"name": "crime_type", "in": "query", "required": False, "description": "A crime type of the run (harm and "
     "incidents only: Gi* and emerging classes stay all-crime)", "schema": {"type": "string", "maxLength": 200}},
    {"name": "area", "in": "query", "required": False, "description": "Operation area id: only its places' cells",
     "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}},
]
_BBOX = {"name": "bbox", "in": "query", "required": True, "style": "form", "explode": False,
         "description": "west,south,east,north in degrees (WGS84); corners in either order, latitudes clamped to "
                        "-90..90",
         "schema": {"type": "array", "minItems": 4, "maxItems": 4,
                    "items": {"type": "number", "minimum": -180, "maximum": 180}}}
_ZOOM = {"name": "zoom", "in": "query", "required": True, "description": "Leaflet zoom level",
         "schema": {"type": "integer", "minimum": 0, "maximum": 20}}
_CELL_PARAM = {"name": "cell", "in": "path", "required": True, "description": "H3 cell id (hex) as drawn on the map",
               "schema": {"type": "string", "minLength": 1, "maxLength": 20}}


def _obj(props: dict, required: list | None = None) -> dict:
    return {"type": "object", "required": list(props) if required is None else required, "properties": props}


def _json(ref: str, text: str) -> dict:
    return {"description": text, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _series_schema() -> dict:
    return _obj({"source": {"type": "string", "enum": ["trends", "scoring"]},
                 "periods": {"type": "array", "items": {"type": "string"}},
                 "harm": {"type": "array", "items": {"type": "number"}},
                 "incidents": {"type": "array", "items": {"type": "integer"}},
                 "gi_bin": {"type": ["array", "null"], "items": _GI}})


OPENAPI_SCHEMAS = {
    "MapCells": _obj({
        "run_id": {"type": "string"}, "trends_run_id": {"type": ["string", "null"]},
        "layer": {"type": "string", "enum": list(maps.LAYERS)}, "zoom": {"type": "integer"},
        "resolution": {"type": "integer"}, "native_resolution": {"type": "integer"},
        "coarsened": {"type": "boolean"}, "truncated": {"type": "boolean"},
        "period": {"type": ["string", "null"]}, "crime_type": {"type": ["string", "null"]},
        "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
        "top": {"type": "array", "items": _obj({"cell": {"type": "string"}, "harm": {"type": "number"},
                                                "incidents": {"type": "integer"}, "gi_bin": _GI,
                                                "emerging": _EMERGING, "places": {"type": "string"}})},
        "count": {"type": "integer", "minimum": 0},
        "breaks": {"type": "array", "items": {"type": "number"}},
        "cells": {"type": "array", "items": {"type": "string"}},
        "harm": {"type": "array", "items": {"type": "number"}},
        "incidents": {"type": "array", "items": {"type": "integer"}},
        "gi_bin": {"type": "array", "items": _GI}, "emerging": {"type": "array", "items": _EMERGING}}),
    "MapSeries": _series_schema(),
    "MapCell": _obj({
        "cell": {"type": "string"}, "resolution": {"type": "integer"}, "native_resolution": {"type": "integer"},
        "native_cells": {"type": "integer"}, "harm": {"type": "number"}, "incidents": {"type": "integer"},
        "gi_bin": _GI, "gi_label": {"type": "string"}, "emerging": _EMERGING, "emerging_label": {"type": "string"},
        "filtered": {"oneOf": [{"type": "null"}, _obj({
            "period": {"type": ["string", "null"]}, "crime_type": {"type": ["string", "null"]},
            "harm": {"type": "number"}, "incidents": {"type": "integer"}})]},
        "gi_z": _NUM_OR_NULL, "gi_p": _NUM_OR_NULL, "rank": _INT_OR_NULL, "rank_low": _INT_OR_NULL,
        "rank_high": _INT_OR_NULL, "p_top_n": _NUM_OR_NULL, "places": {"type": ["string", "null"]},
        "trend_z": _NUM_OR_NULL, "forecast_harm": _NUM_OR_NULL}),
    "MapPlace": _obj({
        "place_id": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"},
        "harm": {"type": "number"}, "incidents": {"type": "integer"}, "rank": {"type": "integer"},
        "gi_z": _NUM_OR_NULL, "gi_bin": _GI, "gi_label": {"type": "string"}, "emerging": _EMERGING,
        "emerging_label": {"type": "string"}, "series": _series_schema()}),
    "MapStores": _obj({"count": {"type": "integer", "minimum": 0}, "truncated": {"type": "boolean"},
                       **{k: {"type": "array", "items": {"type": ["string", "null"]}}
                          for k in ("org_id", "store_id", "name")},
                       "lat": {"type": "array", "items": {"type": "number"}},
                       "lng": {"type": "array", "items": {"type": "number"}}}),
    "MapBoundaries": _obj({"type": {"type": "string", "const": "FeatureCollection"},
                           "features": {"type": "array", "items": _obj({
                               "type": {"type": "string", "const": "Feature"}, "geometry": {"type": "object"},
                               "properties": _obj({"place_id": {"type": "string"}, "kind": {"type": "string"},
                                                   "name": {"type": "string"}, "harm": _NUM_OR_NULL,
                                                   "rank": _INT_OR_NULL, "gi_bin": _GI, "emerging": _EMERGING})})}}),
    "MapMeta": _obj({
        "run_id": {"type": "string"}, "trends_run_id": {"type": ["string", "null"]},
        "native_resolution": {"type": "integer"}, "zoom_resolution": {"type": "array", "items": {"type": "integer"}},
        "periods": {"type": "array", "items": {"type": "string"}},
        "crime_types": {"type": "array", "items": {"type": "string"}},
        "areas": {"type": "array", "items": _obj({
            "area_id": {"type": "integer"}, "name": {"type": "string"},
            "places": {"type": "array", "items": {"type": "string"}},
            "bounds": {"type": ["array", "null"], "items": {"type": "array", "items": {"type": "number"}}}})},
        "layers": {"type": "array", "items": {"type": "string", "enum": list(maps.LAYERS)}},
        "legends": _obj({"harm": {"type": "array", "items": {"type": "string"}},
                         "gi": {"type": "array", "items": _obj({"bin": _GI, "label": {"type": "string"},
                                                                "colour": {"type": "string"}})},
                         "emerging": {"type": "array", "items": _obj({"code": _EMERGING, "label": {"type": "string"},
                                                                      "colour": {"type": "string"}})}}),
        "bounds": {"type": ["array", "null"], "items": {"type": "array", "items": {"type": "number"}}},
        "tiles_url": {"type": "string"}, "tiles_attribution": {"type": "string"}}),
}


def _get(op: str, summary: str, ref: str, params: list, *errors: int) -> dict:
    return {"get": {"summary": summary, "operationId": op, "tags": ["map"], "parameters": params,
                    "responses": {"200": _json(ref, summary), **error_responses(*errors)}}}


OPENAPI_PATHS = {
    "/api/map/meta": _get("mapMeta", "Map settings: periods, crime types, areas, legends, extent", "MapMeta", [],
                          400, 401, 403),
    "/api/map/cells": _get("mapCells", "Cells of one map view (bounded size)", "MapCells", [
        _BBOX, _ZOOM, {"name": "layer", "in": "query", "required": False,
         "schema": {"type": "string", "enum": list(maps.LAYERS), "default": "harm"}},
        *_FILTER_PARAMS], 400, 401, 403, 404),
    "/api/map/cells/{cell}": _get("mapCell", "Details of one drawn cell", "MapCell", [_CELL_PARAM, *_FILTER_PARAMS],
                                  400, 401, 403, 404),
    "/api/map/cells/{cell}/series": _get("mapCellSeries", "Harm of one drawn cell per period", "MapSeries",
                                         [_CELL_PARAM], 400, 401, 403, 404),
    "/api/map/places/{place_id}": _get("mapPlace", "A place's figures and harm series", "MapPlace", [
        {"name": "place_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1,
                                                                          "maxLength": 200}}], 400, 401, 403, 404),
    "/api/map/boundaries": _get("mapBoundaries", "Place boundaries with their figures (GeoJSON)", "MapBoundaries",
                                [_BBOX | {"required": False, "description": "only places touching this box"},
                                 _ZOOM | {"required": False, "description": "simplify to half a pixel at this zoom"}],
                                400, 401, 403),
    "/api/map/stores": _get("mapStores", "Stores of every organisation", "MapStores",
                            [_BBOX | {"required": False, "description": "only stores in this box"}], 400, 401, 403),
}
