"""Screen: deployment priority lists of places, cells or stores, and their exports."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for

from harmmap.report.palettes import GI_BIN_LABELS
from harmmap.web.audit import audit
from harmmap.web.data import operation_areas
from harmmap.web.exports import FORMATS, attachment, json_records, write_export
from harmmap.web.openapi import FILE_CONTENT, GEOJSON_CONTENT, error_responses
from harmmap.web.priority import (COLUMNS, EMERGING_KEYS, EMERGING_LABELS, KINDS, PLACE_KINDS, PRIORITY_PARAMS,
                                  PRIORITY_TEXT, area_exists, openapi_parameters, parse_query, priority_geometries,
                                  priority_list,
                                  row_labels)
from harmmap.web.security import login_required

blueprint = Blueprint("deployment", __name__)
ROLES = ("admin", "planner", "deployment")
FORMAT_LABELS = {"csv": "CSV", "xlsx": "Excel (XLSX)", "geojson": "GeoJSON", "kml": "KML", "gpkg": "GeoPackage"}

_NUM, _INT, _STR = {"type": ["number", "null"]}, {"type": "integer"}, {"type": "string"}
_COMMON = {"priority": {"type": "integer", "minimum": 1}, "harm": {"type": "number"}, "incidents": _INT,
           "forecast_harm": _NUM, "gi_z": _NUM, "gi_bin": {"type": "integer", "minimum": -3, "maximum": 3},
           "gi_class": {"type": "string", "enum": list(GI_BIN_LABELS.values())},
           "emerging_class": {"type": ["string", "null"], "enum": [*EMERGING_KEYS, None]},
           "emerging_label": {"type": ["string", "null"]}, "lat": _NUM, "lng": _NUM, "easting": _NUM,
           "northing": _NUM}
_OWN = {
    "places": {"place_id": _STR, "name": _STR, "kind": {"type": "string", "enum": list(PLACE_KINDS)},
               "code": {"type": ["string", "null"]}, "harm_per_km2": _NUM, "change_year_pct": _NUM,
               "hot_cells": _INT, "rank": _INT, "rank_low": _INT, "rank_high": _INT},
    "cells": {"cell": {"type": "string", "pattern": "^[0-9a-f]{15}$"}, "places": _STR, "rank": _INT,
              "rank_low": _INT, "rank_high": _INT},
    "stores": {"org_id": _STR, "store_id": _STR, "name": {"type": ["string", "null"]},
               "postcode": {"type": ["string", "null"]}, "cell": _STR, "places": _STR},
}
_ROW_SCHEMA = {kind: f"Priority{kind[:-1].capitalize()}" for kind in KINDS}
OPENAPI_SCHEMAS = {
    _ROW_SCHEMA[kind]: {"type": "object", "additionalProperties": False, "required": list(COLUMNS[kind]),
                        "properties": {c: (_COMMON | _OWN[kind])[c] for c in COLUMNS[kind]}} for kind in KINDS
} | {
    "PriorityList": {"type": "object", "additionalProperties": False,
                     "required": ["kind", "priority", "filters", "total", "count", "rows"],
                     "properties": {"kind": {"type": "string", "enum": list(KINDS)}, "priority": _STR,
                                    "filters": {"type": "object"}, "total": {"type": "integer", "minimum": 0},
                                    "count": {"type": "integer", "minimum": 0},
                                    "rows": {"type": "array", "items": {"anyOf": [
                                        {"$ref": f"#/components/schemas/{name}"} for name in _ROW_SCHEMA.values()]}}}},
}
OPENAPI_PATHS = {
    "/api/priority": {"get": {
        "summary": "Deployment priority list (places, cells or stores of all organisations)",
        "description": PRIORITY_TEXT, "operationId": "priorityList",
        "parameters": openapi_parameters(PRIORITY_PARAMS),
        "responses": {"200": {"description": "The top N rows in priority order", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/PriorityList"}}}}, **error_responses(400, 401, 403, 404)}}},
    "/api/priority/export.{fmt}": {"get": {
        "summary": "Export the priority list as a file (formula-safe CSV/XLSX with WGS84 and BNG coordinates)",
        "operationId": "priorityExport",
        "parameters": [{"name": "fmt", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(FORMATS)}}, *openapi_parameters(PRIORITY_PARAMS)],
        "responses": {"200": {"description": "The file (Content-Disposition: attachment)",
                              "content": {FORMATS[f][0].split(";")[0]: GEOJSON_CONTENT if f == "geojson" else FILE_CONTENT
                                          for f in FORMATS}},
                      **error_responses(400, 401, 403, 404)}}},
}


def _ws():
    return current_app.extensions["harmmap"].ws


def _filters() -> dict:
    """The checked query; 404 when it names an operation area that does not exist."""
    filters = parse_query(request.args, PRIORITY_PARAMS)
    if not area_exists(_ws(), filters["area"]):
        abort(404, description="no such operation area")
    return filters


def _shown_filters(filters: dict) -> dict:
    return {k: v for k, v in filters.items() if v not in (None, False, "")}


@blueprint.route("/deployment")
@login_required(*ROLES)
def index():
    """The priority list with its filters and export links."""
    filters = _filters()
    plist = priority_list(_ws(), filters)
    audit("view", "/deployment", kind=plist.kind, filters=_shown_filters(filters), rows=len(plist.rows))
    args = {k: v for k, v in request.args.items() if k in PRIORITY_PARAMS and v != ""}
    exports = [(FORMAT_LABELS[f], url_for("deployment.export", fmt=f, **args)) for f in FORMATS]
    return render_template("deployment.html", plist=plist, rows=plist.rows.to_dict("records"), filters=filters,
                           exports=exports, areas=operation_areas(_ws()), kinds=KINDS, place_kinds=PLACE_KINDS,
                           emerging=EMERGING_LABELS, gi_labels=GI_BIN_LABELS, priority_text=PRIORITY_TEXT,
                           max_top=PRIORITY_PARAMS["top"]["maximum"])


def _export(fmt: str):
    if fmt not in FORMATS:
        abort(404)
    filters = _filters()
    ws = _ws()
    plist = priority_list(ws, filters)
    names, descriptions = row_labels(plist)
    body = write_export(fmt, plist.rows, priority_geometries(ws, plist), title=f"harmmap priority list: {plist.kind}",
                        layer=f"priority_{plist.kind}", names=names, descriptions=descriptions)
    audit("export", f"export:priority-{plist.kind}.{fmt}", kind=plist.kind, format=fmt,
          filters=_shown_filters(filters), rows=len(plist.rows))
    return attachment(body, fmt, f"harmmap-priority-{plist.kind}")


@blueprint.route("/deployment/export.<fmt>")
@login_required(*ROLES)
def export(fmt: str):
    """Download the current list (same query as the page)."""
    return _export(fmt)


@blueprint.route("/api/priority")
@login_required(*ROLES)
def api_priority():
    """JSON twin of the priority list."""
    filters = _filters()
    plist = priority_list(_ws(), filters)
    audit("view", "/api/priority", kind=plist.kind, filters=_shown_filters(filters), rows=len(plist.rows))
    return jsonify({"kind": plist.kind, "priority": PRIORITY_TEXT, "filters": _shown_filters(filters),
                    "total": plist.total, "count": len(plist.rows), "rows": json_records(plist.rows)})


@blueprint.route("/api/priority/export.<fmt>")
@login_required(*ROLES)
def api_export(fmt: str):
    """The export for scripts (token authentication)."""
    return _export(fmt)
