"""Screen: the places ranking and a page per place (map, harm trend, crime mix, class, rank)."""

from __future__ import annotations

import pandas as pd
from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, url_for

from harmmap.report.palettes import GI_BIN_LABELS
from harmmap.web.audit import audit
from harmmap.web.data import operation_areas
from harmmap.web.exports import json_records
from harmmap.web.openapi import error_responses
from harmmap.web.place_map import place_map
from harmmap.web.place_pages import (PLACES_PARAMS, RANKING_COLUMNS, crime_mix_chart, place_detail, rank_places,
                                     sort_order, trend_charts)
from harmmap.web.priority import (EMERGING_KEYS, EMERGING_LABELS, PLACE_KINDS, area_exists, openapi_parameters,
                                  parse_query)
from harmmap.web.security import login_required

blueprint = Blueprint("places", __name__)
ROLES = ("admin", "planner", "deployment")

_NUM, _INT, _STR = {"type": ["number", "null"]}, {"type": "integer"}, {"type": "string"}
_PLACE_PROPS = {
    "place_id": _STR, "name": _STR, "kind": {"type": "string", "enum": list(PLACE_KINDS)},
    "code": {"type": ["string", "null"]}, "rank": _INT, "rank_low": _INT, "rank_high": _INT, "p_top_n": _NUM,
    "harm": {"type": "number"}, "incidents": _INT, "area_km2": _NUM, "harm_per_km2": _NUM, "stores": _INT,
    "cells": _INT, "hot_cells": _INT, "gi_z": _NUM, "gi_p": _NUM, "gi_bin": {"type": "integer", "minimum": -3,
                                                                             "maximum": 3},
    "gi_class": {"type": "string", "enum": list(GI_BIN_LABELS.values())},
    "emerging_class": {"type": ["string", "null"], "enum": [*EMERGING_KEYS, None]},
    "emerging_label": {"type": ["string", "null"]}, "forecast_harm": _NUM, "harm_recent": _NUM,
    "change_year_pct": _NUM, "lat": _NUM, "lng": _NUM,
}
_PERIOD = {"type": "object", "additionalProperties": False, "required": ["period", "harm", "incidents"],
           "properties": {"period": _STR, "harm": {"type": "number"}, "incidents": _INT, "gi_z": _NUM,
                          "gi_bin": {"type": "integer"}}}
OPENAPI_SCHEMAS = {
    "PlaceRow": {"type": "object", "additionalProperties": False, "required": list(RANKING_COLUMNS),
                 "properties": _PLACE_PROPS},
    "PlaceList": {"type": "object", "additionalProperties": False,
                  "required": ["total", "count", "offset", "limit", "sort", "order", "rows"],
                  "properties": {"total": {"type": "integer", "minimum": 0}, "count": {"type": "integer", "minimum": 0},
                                 "offset": {"type": "integer", "minimum": 0},
                                 "limit": {"type": "integer", "minimum": 1}, "sort": _STR,
                                 "order": {"type": "string", "enum": ["asc", "desc"]},
                                 "rows": {"type": "array", "items": {"$ref": "#/components/schemas/PlaceRow"}}}},
    "PlaceDetail": {"type": "object", "additionalProperties": False,
                    "required": ["place", "top_n", "quarterly", "monthly", "crime_mix", "cells"],
                    "properties": {
                        "place": {"$ref": "#/components/schemas/PlaceRow"}, "top_n": _INT,
                        "quarterly": {"type": "array", "items": _PERIOD},
                        "monthly": {"type": "array", "items": _PERIOD},
                        "crime_mix": {"type": "array", "items": {
                            "type": "object", "additionalProperties": False,
                            "required": ["crime_type", "harm", "incidents", "share"],
                            "properties": {"crime_type": _STR, "harm": {"type": "number"}, "incidents": _INT,
                                           "share": _NUM}}},
                        "cells": {"type": "array", "items": {
                            "type": "object", "additionalProperties": False,
                            "required": ["cell", "harm", "incidents", "gi_z", "gi_bin", "gi_class", "rank"],
                            "properties": {"cell": _STR, "harm": {"type": "number"}, "incidents": _INT, "gi_z": _NUM,
                                           "gi_bin": _INT, "gi_class": _STR, "rank": _INT}}}}},
}
OPENAPI_PATHS = {
    "/api/places": {"get": {
        "summary": "Ranking of places (latest scoring run, with emerging classes)", "operationId": "listPlaces",
        "parameters": openapi_parameters(PLACES_PARAMS),
        "responses": {"200": {"description": "One page of the ranking", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/PlaceList"}}}}, **error_responses(400, 401, 403, 404)}}},
    "/api/places/{place_id}": {"get": {
        "summary": "One place: figures, harm by period, crime mix, cells", "operationId": "getPlace",
        "parameters": [{"name": "place_id", "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200}}],
        "responses": {"200": {"description": "The place", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/PlaceDetail"}}}}, **error_responses(400, 401, 403, 404)}}},
}


def _state():
    return current_app.extensions["harmmap"]


def _params() -> dict:
    """The checked query; 404 when it names an operation area that does not exist."""
    params = parse_query(request.args, PLACES_PARAMS)
    if not area_exists(_state().ws, params["area"]):
        abort(404, description="no such operation area")
    return params


def _sort_links(params: dict) -> dict[str, tuple[str, str]]:
    """Column -> (URL sorting by it, aria-sort value of the header)."""
    current, order = params["sort"], sort_order(params)
    base = {k: v for k, v in request.args.items() if k not in ("sort", "order", "offset")}
    links = {}
    for key in PLACES_PARAMS["sort"]["enum"]:
        flip = "desc" if order == "asc" else "asc"
        url = url_for("places.index", **base, sort=key, order=flip if key == current else None)
        links[key] = (url, ("ascending" if order == "asc" else "descending") if key == current else "none")
    return links


@blueprint.route("/places")
@login_required(*ROLES)
def index():
    """The places ranking: filters, server-side sorting, paging."""
    params = _params()
    ws = _state().ws
    rows, total = rank_places(ws, params)
    audit("view", "/places", filters={k: v for k, v in params.items() if v not in (None, False)}, rows=len(rows))
    page_args = {k: v for k, v in request.args.items() if k != "offset"}
    return render_template("places.html", rows=rows.to_dict("records"), total=total, params=params,
                           order=sort_order(params), links=_sort_links(params), areas=operation_areas(ws),
                           kinds=PLACE_KINDS, emerging=EMERGING_LABELS, page_args=page_args)


@blueprint.route("/places/<place_id>")
@login_required(*ROLES)
def place(place_id: str):
    """One place: map of its boundary and hot cells, harm trend, crime mix, Gi* and emerging class, rank."""
    state = _state()
    detail = place_detail(state.ws, place_id)
    if detail is None:
        abort(404)
    audit("view", f"/places/{place_id}")
    fmap = place_map(detail.geometry, detail.cells, nonce=g.nonce,
                     leaflet_js=url_for("static", filename="vendor/leaflet/leaflet.js"),
                     leaflet_css=url_for("static", filename="vendor/leaflet/leaflet.css"),
                     tiles_url=state.config.tiles_url, attribution=state.config.tiles_attribution)
    return render_template("place.html", detail=detail, place=detail.place, fmap=fmap, charts=trend_charts(detail),
                           mix_chart=crime_mix_chart(detail), mix=detail.crime_mix.to_dict("records"),
                           gi_labels=GI_BIN_LABELS, hot_cells=detail.cells[detail.cells["gi_bin"] != 0])


@blueprint.route("/api/places")
@login_required(*ROLES)
def api_places():
    """JSON twin of the ranking."""
    params = _params()
    rows, total = rank_places(_state().ws, params)
    audit("view", "/api/places", rows=len(rows))
    return jsonify({"total": total, "count": len(rows), "offset": params["offset"], "limit": params["limit"],
                    "sort": params["sort"], "order": sort_order(params), "rows": json_records(rows)})


@blueprint.route("/api/places/<place_id>")
@login_required(*ROLES)
def api_place(place_id: str):
    """JSON twin of a place's page."""
    detail = place_detail(_state().ws, place_id)
    if detail is None:
        abort(404)
    audit("view", f"/api/places/{place_id}")
    return jsonify({"place": json_records(pd.DataFrame([detail.place]))[0], "top_n": detail.top_n,
                    "quarterly": json_records(detail.quarterly), "monthly": json_records(detail.monthly),
                    "crime_mix": json_records(detail.crime_mix), "cells": json_records(detail.cells)})
