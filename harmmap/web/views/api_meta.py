"""``/api/openapi.json`` and ``/api/me``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, g, jsonify

from harmmap.web.openapi import build_document, error_responses
from harmmap.web.security import login_required

blueprint = Blueprint("api_meta", __name__, url_prefix="/api")

OPENAPI_SCHEMAS = {"Me": {"type": "object", "required": ["username", "role"], "properties": {
    "username": {"type": "string"}, "role": {"type": "string", "enum": ["admin", "planner", "retailer", "deployment"]},
    "org_id": {"type": ["string", "null"]}}}}
OPENAPI_PATHS = {
    "/api/me": {"get": {"summary": "The authenticated user", "operationId": "me",
                        "responses": {"200": {"description": "The user", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Me"}}}}, **error_responses(401)}}},
    "/api/openapi.json": {"get": {"summary": "This document", "operationId": "openapi", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1 document",
                                                        "content": {"application/json": {"schema": {
                                                            "type": "object"}}}}}}},
}


def _version() -> str:
    try:
        return version("harmmap")
    except PackageNotFoundError:
        return "0"


@blueprint.route("/openapi.json")
def openapi():
    """The OpenAPI document (public: it describes the API, not the data)."""
    from harmmap.web.views import API_MODULES

    return jsonify(build_document(API_MODULES, _version()))


@blueprint.route("/me")
@login_required()
def me():
    """Who the caller is."""
    return jsonify({"username": g.user.username, "role": g.user.role, "org_id": g.user.org_id})
