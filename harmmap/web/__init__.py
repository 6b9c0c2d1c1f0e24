"""The Flask web application: maps, rankings and exports over persisted results.

``create_app(config=None)`` builds one app for one workspace; ``harmmap serve``
runs it on waitress.  One blueprint per screen (``harmmap/web/views/``), thin
views over :mod:`harmmap.web.data`, templates and JavaScript in files.  The web
layer never recomputes statistics: it filters and renders the latest scoring and
trends runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from flask import Flask

from harmmap.store.workspace import Workspace, open_workspace
from harmmap.web.config import WebConfig, check_config


#: (endpoint, label, roles allowed): the menu shows an entry when its screen is registered.
NAV_ITEMS = (
    ("map.index", "Map", ("admin", "planner")),
    ("places.index", "Places", ("admin", "planner", "deployment")),
    ("areas.index", "Operation areas", ("admin", "planner")),
    ("deployment.index", "Priority lists", ("admin", "planner", "deployment")),
    ("plans.index", "Plans", ("admin", "planner", "deployment")),
    ("retailer.stores", "My stores", ("retailer",)),
    ("retailer.upload", "Upload", ("retailer",)),
)


@dataclass(frozen=True, slots=True)
class HarmmapState:
    """What the views reach through ``current_app.extensions["harmmap"]``."""

    config: WebConfig
    ws: Workspace


def create_app(config: Mapping[str, Any] | WebConfig | None = None) -> Flask:
    """Create the web app for one workspace.

    Parameters
    ----------
    config : mapping or WebConfig, optional
        Settings (:class:`harmmap.web.config.WebConfig`); ``workspace`` is required
        (or ``HARMMAP_WORKSPACE``).

    Returns
    -------
    flask.Flask
    """
    settings = check_config(config if isinstance(config, WebConfig) else WebConfig.from_mapping(config))
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key, TESTING=settings.testing,
        SESSION_COOKIE_NAME="harmmap_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies, PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        MAX_CONTENT_LENGTH=int(settings.max_upload_mb * 1024 * 1024), WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_SSL_STRICT=settings.secure_cookies)
    app.extensions["harmmap"] = HarmmapState(settings, open_workspace(settings.workspace))
    from harmmap.web.errors import install_error_handlers
    from harmmap.web.security import install_security
    from harmmap.web.views import register_blueprints

    app.jinja_env.globals["nav_items"] = NAV_ITEMS
    app.jinja_env.globals["view_functions"] = app.view_functions
    install_security(app)
    install_error_handlers(app)
    register_blueprints(app)
    return app
