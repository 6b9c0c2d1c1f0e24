"""Screen: operation areas, named sets of places that every ranking, list and export can be limited to."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from harmmap.errors import HarmmapError
from harmmap.store.areas import (MAX_NAME, MAX_PLACES, DuplicateAreaError, UnknownPlaceError, create_area,
                                  delete_area, update_area)
from harmmap.web.audit import audit
from harmmap.web.data import operation_areas, places_wgs84
from harmmap.web.openapi import error_responses
from harmmap.web.priority import PLACE_KINDS
from harmmap.web.security import login_required

blueprint = Blueprint("areas", __name__)
ROLES = ("admin", "planner")
#: Most places offered as check boxes at once (choose a kind or search to narrow).
MAX_CHOICES = 2_000

_AREA = {"type": "object", "additionalProperties": False,
         "required": ["area_id", "name", "created_by", "created_at", "places"],
         "properties": {"area_id": {"type": "integer", "minimum": 1}, "name": {"type": "string"},
                        "created_by": {"type": "string"}, "created_at": {"type": "string"},
                        "places": {"type": "array", "items": {"type": "string"}}}}
OPENAPI_SCHEMAS = {
    "Area": _AREA,
    "AreaList": {"type": "object", "additionalProperties": False, "required": ["areas"],
                 "properties": {"areas": {"type": "array", "items": {"$ref": "#/components/schemas/Area"}}}},
    "AreaCreate": {"type": "object", "required": ["name", "places"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": "\\S"},
        "places": {"type": "array", "minItems": 1, "maxItems": MAX_PLACES,
                   "items": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"}}}},
}
OPENAPI_PATHS = {
    "/api/areas": {
        "get": {"summary": "Operation areas", "operationId": "listAreas",
                "responses": {"200": {"description": "Every operation area", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/AreaList"}}}}, **error_responses(401, 403)}},
        "post": {"summary": "Create an operation area (admin, planner; session callers send X-CSRFToken)",
                 "description": "404 when a place id is unknown, 409 when the name is taken.",
                 "operationId": "createArea",
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/AreaCreate"}}}},
                 "responses": {"201": {"description": "The new area", "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/Area"}}}},
                               **error_responses(400, 401, 403, 404, 409)}},
    },
}


def _ws():
    return current_app.extensions["harmmap"].ws


def _area_or_404(area_id: int) -> dict:
    areas = operation_areas(_ws())
    match = areas[areas["area_id"] == area_id]
    if match.empty:
        abort(404)
    return match.iloc[0].to_dict()


def _choices(kind: str | None, chosen: list[str]) -> tuple[list[dict], int]:
    """Places offered as check boxes: those chosen first, then those of ``kind`` (capped)."""
    places = places_wgs84(_ws())[["place_id", "kind", "name", "code"]]
    picked = places["place_id"].isin(chosen)
    offered = places[picked | (places["kind"] == kind)] if kind else places
    offered = offered.assign(chosen=offered["place_id"].isin(chosen)).sort_values(
        ["chosen", "kind", "name"], ascending=[False, True, True], kind="mergesort")
    return offered.head(MAX_CHOICES + int(picked.sum())).to_dict("records"), len(offered)


def _kind_of(args) -> str | None:
    kinds = set(places_wgs84(_ws())["kind"])
    kind = args.get("kind") or ("town_centre" if "town_centre" in kinds else None)
    return kind if kind in PLACE_KINDS else None


def _render(area: dict | None, error: str | None = None, status: int = 200, name: str = "",
            chosen: list[str] | None = None):
    chosen = list(chosen if chosen is not None else (area["places"] if area else []))
    kind = _kind_of(request.args)
    choices, offered = _choices(kind, chosen)
    return render_template("areas.html", areas=operation_areas(_ws()).to_dict("records"), area=area, error=error,
                           name=name or (area["name"] if area else ""), choices=choices, offered=offered,
                           max_choices=MAX_CHOICES, kinds=PLACE_KINDS, kind=kind), status


@blueprint.route("/areas", methods=["GET", "POST"])
@login_required(*ROLES)
def index():
    """List the areas; the form creates one (name and places)."""
    if request.method == "GET":
        return _render(None)
    name, chosen = request.form.get("name", ""), request.form.getlist("places")
    try:
        area_id = create_area(_ws(), name, chosen, g.user.username)
    except HarmmapError as error:
        return _render(None, str(error), 400, name=name, chosen=chosen)
    audit("area_create", f"area:{area_id}", name=name, places=len(set(chosen)))
    flash(f"Created operation area {name!r}.", "ok")
    return redirect(url_for("areas.index"))


@blueprint.route("/areas/<int:area_id>", methods=["GET", "POST"])
@login_required(*ROLES)
def edit(area_id: int):
    """Rename an area or change its places."""
    area = _area_or_404(area_id)
    if request.method == "GET":
        return _render(area)
    name, chosen = request.form.get("name", ""), request.form.getlist("places")
    try:
        update_area(_ws(), area_id, name=name, place_ids=chosen)
    except HarmmapError as error:
        return _render(area, str(error), 400, name=name, chosen=chosen)
    audit("area_update", f"area:{area_id}", name=name, places=len(set(chosen)), previous_name=area["name"])
    flash(f"Saved operation area {name!r}.", "ok")
    return redirect(url_for("areas.index"))


@blueprint.route("/areas/<int:area_id>/delete", methods=["POST"])
@login_required(*ROLES)
def delete(area_id: int):
    """Delete an area (its places stay)."""
    area = _area_or_404(area_id)
    delete_area(_ws(), area_id)
    audit("area_delete", f"area:{area_id}", name=area["name"], places=len(area["places"]))
    flash(f"Deleted operation area {area['name']!r}.", "ok")
    return redirect(url_for("areas.index"))


def _area_json(area: dict) -> dict:
    return {"area_id": int(area["area_id"]), "name": str(area["name"]), "created_by": str(area["created_by"]),
            "created_at": str(area["created_at"]), "places": [str(p) for p in area["places"]]}


@blueprint.route("/api/areas", methods=["GET", "POST"])
@login_required(*ROLES)
def api_areas():
    """GET: every area; POST (JSON ``{"name", "places"}``): create one."""
    if request.method == "GET":
        return jsonify({"areas": [_area_json(a) for a in operation_areas(_ws()).to_dict("records")]})
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not isinstance(body.get("places"), list) \
            or not all(isinstance(p, str) for p in body["places"]):
        abort(400, description='send JSON {"name": "...", "places": ["place id", ...]}')
    try:
        area_id = create_area(_ws(), body["name"], body["places"], g.user.username)
    except UnknownPlaceError as error:
        abort(404, description=str(error))
    except DuplicateAreaError as error:
        abort(409, description=str(error))
    audit("area_create", f"area:{area_id}", name=body["name"], places=len(set(body["places"])))
    return jsonify(_area_json(_area_or_404(area_id))), 201
