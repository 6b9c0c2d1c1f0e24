"""The OpenAPI 3.1 document of ``/api/``, assembled from the view modules.

Each view module that serves JSON declares ``OPENAPI_PATHS`` (path -> operations,
in OpenAPI form) and optionally ``OPENAPI_SCHEMAS`` (component schemas); this
module merges them, so the document cannot drift from the list of blueprints.
"""

from __future__ import annotations

from types import ModuleType

ERROR_SCHEMA = {
    "type": "object", "required": ["error", "message", "status"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "status": {"type": "integer"}},
}


#: Response content of a downloaded file, and of a GeoJSON FeatureCollection (exports).
FILE_CONTENT = {"schema": {"type": "string", "format": "binary"}}
GEOJSON_CONTENT = {"schema": {"type": "object", "required": ["type", "features"], "properties": {
    "type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": {
        "type": "object", "required": ["type", "properties", "geometry"], "properties": {
            "type": {"const": "Feature"}, "properties": {"type": "object"},
            "geometry": {"type": ["object", "null"]}}}}}}}


def error_responses(*codes: int) -> dict:
    """Standard error responses (401 unauthenticated, 403 forbidden, 404 not found, 400 bad request...)."""
    text = {400: "Bad request", 401: "Not logged in / bad token", 403: "Forbidden for this role",
            404: "Not found (or not yours)", 413: "Upload too large", 415: "Unsupported file type"}
    return {str(c): {"description": text.get(c, "Error"),
                     "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for c in codes}


def build_document(modules: tuple[ModuleType, ...], version: str) -> dict:
    """Merge the paths and schemas the modules declare into one OpenAPI document."""
    paths: dict = {}
    schemas: dict = {"Error": ERROR_SCHEMA}
    for module in modules:
        for path, operations in getattr(module, "OPENAPI_PATHS", {}).items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(getattr(module, "OPENAPI_SCHEMAS", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": "harmmap API", "version": version,
                 "description": "Rankings, maps, priority lists and exports of the latest scoring and trends runs. "
                                "Authenticate with a session cookie or `Authorization: Bearer <token>` "
                                "(`harmmap user token NAME`)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "harmmap_session"}}},
    }
