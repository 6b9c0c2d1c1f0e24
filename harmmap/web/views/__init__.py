"""One blueprint per screen; modules serving JSON also declare their OpenAPI paths."""

from __future__ import annotations


from flask import Flask

from harmmap.web.views import api_meta, areas, auth, deployment, home, map, places, plans, retailer

#: Screen modules, each with a ``blueprint`` (add new screens here).
SCREENS = (auth, home, api_meta, map, places, areas, deployment, plans, retailer)
#: Modules whose OPENAPI_PATHS make up /api/openapi.json.
API_MODULES = tuple(m for m in SCREENS if hasattr(m, "OPENAPI_PATHS"))


def register_blueprints(app: Flask) -> None:
    """Register every screen's blueprint."""
    for module in SCREENS:
        app.register_blueprint(module.blueprint)


__all__ = ["API_MODULES", "SCREENS", "register_blueprints"]
