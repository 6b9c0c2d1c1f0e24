"""One blueprint per screen."""

from __future__ import annotations

from flask import Flask

from harmmap.web.views import auth, home

BLUEPRINTS = (auth.blueprint, home.blueprint)


def register_blueprints(app: Flask) -> None:
    """Register every screen's blueprint."""
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
