"""Screen: retailer — store risk table and map, a page per store, uploads of store lists and incident reports.

Only the ``retailer`` role reaches these screens and endpoints (admins, planners and the
deployment team get 403: they see stores through the priority lists instead).  The
organisation is always the logged-in user's (``g.user.org_id``), never a parameter, and a
store id of another organisation is 404, exactly like one that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from harmmap.errors import HarmmapError
from harmmap.scoring.store_risk import REASONS
from harmmap.web.audit import audit
from harmmap.web.openapi import error_responses
from harmmap.web.priority import openapi_parameters, parse_query
from harmmap.web.retailer_data import area_statistics, own_by_month, store_risk
from harmmap.web.retailer_pages import (BAND_COLOURS, METHOD, SORT_KEYS, STORES_PARAMS, default_order, map_payload,
                                        own_chart, risk_record, risk_records, sort_rows)
from harmmap.web.security import login_required
from harmmap.web.uploads import ingest_incident_upload, mapping_path, read_upload, save_store_upload

blueprint = Blueprint("retailer", __name__)
ROLE = "retailer"
UPLOAD_KINDS = ("stores", "incidents")

_STR, _NSTR, _INT = {"type": "string"}, {"type": ["string", "null"]}, {"type": "integer", "minimum": 0}
_NUM = {"type": "number"}
_ROW = {"type": "object", "additionalProperties": False,
        "required": ["row", "status", "reason", "detail", "original", "summary"],
        "properties": {"row": {"type": ["integer", "null"]},
                       "status": {"type": "string", "enum": ["accepted", "rejected", "duplicate"]},
                       "reason": _NSTR, "detail": _NSTR, "original": _NSTR, "summary": _NSTR}}
_MONTH = {"type": "object", "additionalProperties": False, "required": ["month", "incidents"],
          "properties": {"month": _STR, "incidents": _INT}}
_AREA_ROW = {"type": "object", "additionalProperties": False,
             "required": ["crime_type", "incidents", "incidents_value", "harm", "harm_value", "hidden"],
             "properties": {"crime_type": _STR, "incidents": _STR, "harm": _STR, "hidden": {"type": "boolean"},
                            "incidents_value": {"type": ["number", "null"]},
                            "harm_value": {"type": ["number", "null"]}}}
OPENAPI_SCHEMAS = {
    "StoreRisk": {"type": "object", "additionalProperties": False, "required": [
        "store_id", "name", "postcode", "lat", "lng", "score", "band", "reasons", "local_harm_pct", "hot_spot",
        "trend", "own_incidents", "own_recent", "own_previous", "own_rising", "components"], "properties": {
        "store_id": _STR, "name": _NSTR, "postcode": _NSTR, "lat": _NUM, "lng": _NUM,
        "score": {"type": "number", "minimum": 0, "maximum": 100},
        "band": {"type": "string", "enum": ["high", "medium", "low"]},
        "reasons": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                               "required": ["code", "text"], "properties": {
                                                   "code": {"type": "string", "enum": list(REASONS)},
                                                   "text": _STR}}},
        "local_harm_pct": {"type": "number", "minimum": 0, "maximum": 100},
        "hot_spot": {"type": "object", "additionalProperties": False, "required": ["gi_bin", "label"],
                     "properties": {"gi_bin": {"type": "integer", "minimum": -3, "maximum": 3}, "label": _STR}},
        "trend": {"type": "object", "additionalProperties": False, "required": ["emerging_class", "label"],
                  "properties": {"emerging_class": _STR, "label": _STR}},
        "own_incidents": _INT, "own_recent": _INT, "own_previous": _INT, "own_rising": {"type": "boolean"},
        "components": {"type": "object", "additionalProperties": False,
                       "required": ["local_harm", "hot_spot", "trend", "own_incidents"],
                       "properties": {k: {"type": "number", "minimum": 0, "maximum": 1}
                                      for k in ("local_harm", "hot_spot", "trend", "own_incidents")}}}},
    "StoreRiskList": {"type": "object", "additionalProperties": False, "required": [
        "org_id", "scoring_run", "trends_run", "window", "sort", "order", "method", "stores"], "properties": {
        "org_id": _STR, "scoring_run": _STR, "trends_run": _NSTR,
        "window": {"type": "object", "additionalProperties": False, "required": ["first", "last"],
                   "properties": {"first": _STR, "last": _STR}},
        "sort": {"type": "string", "enum": list(SORT_KEYS)}, "order": {"type": "string", "enum": ["asc", "desc"]},
        "method": {"type": "object"},
        "stores": {"type": "array", "items": {"$ref": "#/components/schemas/StoreRisk"}}}},
    "StoreDetail": {"type": "object", "additionalProperties": False, "required": ["store", "own_by_month", "area"],
                    "properties": {"store": {"$ref": "#/components/schemas/StoreRisk"},
                                   "own_by_month": {"type": "array", "items": _MONTH},
                                   "area": {"$ref": "#/components/schemas/AreaStatistics"}}},
    "AreaStatistics": {"type": "object", "additionalProperties": False,
                       "required": ["available", "reason", "note", "cells", "rows"],
                       "properties": {"available": {"type": "boolean"}, "reason": _NSTR, "note": _STR, "cells": _INT,
                                      "rows": {"type": "array", "items": _AREA_ROW}}},
    "UploadReport": {"type": "object", "additionalProperties": False, "required": [
        "kind", "file", "status", "rows_read", "accepted", "rejected", "duplicates", "rejected_by_reason", "updated",
        "notes", "rows", "rows_truncated"], "properties": {
        "kind": {"type": "string", "enum": list(UPLOAD_KINDS)}, "file": _STR,
        "status": {"type": "string", "enum": ["saved", "ingested", "duplicate"]},
        "rows_read": _INT, "accepted": _INT, "rejected": _INT, "duplicates": _INT, "updated": _INT,
        "rejected_by_reason": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
        "notes": {"type": "array", "items": _STR}, "rows": {"type": "array", "items": _ROW},
        "rows_truncated": {"type": "boolean"}}},
}
_STORE_ID = [{"name": "store_id", "in": "path", "required": True,
              "schema": {"type": "string", "minLength": 1, "maxLength": 200}}]
_MULTIPART = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}


def _json_response(schema: str, text: str) -> dict:
    return {"200": {"description": text, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}}


def _upload_path(kind: str) -> dict:
    return {"post": {"summary": f"Upload your organisation's {'store list' if kind == 'stores' else 'incident report'}"
                                " (CSV or XLSX); answers the row-by-row validation report",
                     "operationId": f"upload{kind.title()}", "requestBody": _MULTIPART,
                     "responses": {**_json_response("UploadReport", "The validation report"),
                                   **error_responses(400, 401, 403, 413, 415)}}}


OPENAPI_PATHS = {
    "/api/retailer/stores": {"get": {
        "summary": "Store risk of your organisation's stores", "operationId": "listRetailerStores",
        "parameters": openapi_parameters(STORES_PARAMS),
        "responses": {**_json_response("StoreRiskList", "Every store with its risk"),
                      **error_responses(400, 401, 403)}}},
    "/api/retailer/stores/{store_id}": {"get": {
        "summary": "One of your stores: risk, own incidents by month, suppressed area statistics",
        "operationId": "getRetailerStore", "parameters": _STORE_ID,
        "responses": {**_json_response("StoreDetail", "The store"), **error_responses(400, 401, 403, 404)}}},
    "/api/retailer/uploads/stores": _upload_path("stores"),
    "/api/retailer/uploads/incidents": _upload_path("incidents"),
}


def _state():
    return current_app.extensions["harmmap"]


def _org() -> str:
    if not g.user.org_id:
        abort(403)
    return g.user.org_id


def _risk_and_order():
    params = parse_query(request.args, STORES_PARAMS)
    order = params["order"] or default_order(params["sort"])
    risk = store_risk(_state().ws, _org())
    return risk, sort_rows(risk.table, params["sort"], order), params["sort"], order


def _store_view(store_id: str) -> dict:
    """Risk, own incidents by month and the suppressed area statistics of one of the user's stores."""
    state, org = _state(), _org()
    risk = store_risk(state.ws, org)
    match = risk.table[risk.table["store_id"] == store_id]
    if match.empty:
        abort(404)  # another organisation's store looks exactly like a missing one
    row = match.iloc[0]
    own = own_by_month(state.ws, org, store_id, risk.window)
    area = area_statistics(state.ws, risk, row, state.config.suppression_threshold, state.config.suppression_base)
    return {"store": risk_record(row), "own_by_month": own.to_dict("records"), "area": area, "risk": risk,
            "own_frame": own}


@blueprint.route("/retailer/stores")
@login_required(ROLE)
def stores():
    """Risk table (sortable) and map of the organisation's stores."""
    risk, table, sort, order = _risk_and_order()
    records = risk_records(table)
    urls = {r["store_id"]: url_for("retailer.store", store_id=r["store_id"]) for r in records}
    audit("view", f"retailer:{risk.org_id}/stores", stores=len(records))
    links = {key: url_for("retailer.stores", sort=key, order=("asc" if order == "desc" else "desc")
                          if key == sort else None) for key in SORT_KEYS}
    return render_template("retailer_stores.html", risk=risk, records=records, urls=urls, sort=sort, order=order,
                           links=links, method=METHOD, colours=BAND_COLOURS,
                           map_data=map_payload(_state().ws, records, urls), tiles_url=_state().config.tiles_url,
                           tiles_attribution=_state().config.tiles_attribution)


@blueprint.route("/retailer/stores/<path:store_id>")
@login_required(ROLE)
def store(store_id: str):
    """One store: its risk and reasons, own incidents by month, suppressed area statistics."""
    view = _store_view(store_id)
    audit("view", f"retailer:{view['risk'].org_id}/stores/{store_id}")
    chart = own_chart(view["own_frame"], view["store"]["name"] or store_id)
    return render_template("retailer_store.html", view=view, store=view["store"], area=view["area"], chart=chart,
                           risk=view["risk"], colours=BAND_COLOURS, method=METHOD)


def _run_upload(kind: str):
    """Read, check and ingest the uploaded file of ``kind``; audit the outcome either way."""
    state, org = _state(), _org()
    limit = int(state.config.max_upload_mb * 1024 * 1024)
    name = None
    try:
        upload = read_upload(request.files.get("file"), limit)
        name = upload.name
        run = save_store_upload if kind == "stores" else ingest_incident_upload
        report = run(state.ws, org, upload)
    except (HTTPException, HarmmapError) as error:
        code = error.code if isinstance(error, HTTPException) else 400
        audit("upload", f"retailer:{org}/{kind}", file=name, outcome="refused", status=code)
        raise
    audit("upload", f"retailer:{org}/{kind}", file=report.file, outcome=report.status, rows_read=report.rows_read,
          accepted=report.accepted, rejected=report.rejected, duplicates=report.duplicates)
    return report


@blueprint.route("/retailer/upload", methods=["GET", "POST"])
@login_required(ROLE)
def upload():
    """Upload form and the row-by-row validation report (errors are shown on the form)."""
    org = _org()
    context = {"kinds": UPLOAD_KINDS, "limit_mb": _state().config.max_upload_mb,
               "has_mapping": mapping_path(_state().ws, org).is_file(), "report": None, "error": None,
               "kind": request.form.get("kind", "incidents") if request.method == "POST" else "incidents"}
    if request.method == "GET":
        return render_template("retailer_upload.html", **context)
    if context["kind"] not in UPLOAD_KINDS:
        context.update(kind="incidents", error="Choose what the file holds: a store list or incident reports.")
        return render_template("retailer_upload.html", **context), 400
    try:
        context["report"] = _run_upload(context["kind"])
    except HTTPException as error:
        context["error"] = error.description
        return render_template("retailer_upload.html", **context), error.code
    except HarmmapError as error:
        context["error"] = str(error)
        return render_template("retailer_upload.html", **context), 400
    return render_template("retailer_upload.html", **context)


@blueprint.route("/api/retailer/stores")
@login_required(ROLE)
def api_stores():
    """JSON twin of the store risk table."""
    risk, table, sort, order = _risk_and_order()
    records = risk_records(table)
    audit("view", f"retailer:{risk.org_id}/stores", stores=len(records))
    return jsonify({"org_id": risk.org_id, "scoring_run": risk.run.row.run_id, "trends_run": risk.trends_run_id,
                    "window": {"first": risk.window[0], "last": risk.window[1]}, "sort": sort, "order": order,
                    "method": METHOD, "stores": records})


@blueprint.route("/api/retailer/stores/<path:store_id>")
@login_required(ROLE)
def api_store(store_id: str):
    """JSON twin of a store's page."""
    view = _store_view(store_id)
    audit("view", f"retailer:{view['risk'].org_id}/stores/{store_id}")
    return jsonify({"store": view["store"], "own_by_month": view["own_by_month"], "area": view["area"]})


@blueprint.route("/api/retailer/uploads/<kind>", methods=["POST"])
@login_required(ROLE)
def api_upload(kind: str):
    """Upload a store list or an incident report (multipart field ``file``); answers the validation report."""
    if kind not in UPLOAD_KINDS:
        abort(404)
    return jsonify(_run_upload(kind).to_dict())


__all__ = ["OPENAPI_PATHS", "OPENAPI_SCHEMAS", "blueprint"]
