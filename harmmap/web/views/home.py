"""The landing page: where each role starts."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, url_for

from harmmap.web.security import login_required

blueprint = Blueprint("home", __name__)


@blueprint.route("/")
@login_required()
def index():
    """Send each role to its main screen (when the screen exists), else show the menu."""
    start = {"retailer": "retailer.stores", "deployment": "deployment.index", "planner": "map.index",
             "admin": "map.index"}.get(g.user.role)
    from flask import current_app

    if start and start in current_app.view_functions:
        return redirect(url_for(start))
    return render_template("home.html")
