"""Log in and out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from harmmap.store.accounts import authenticate, end_sessions, recent_login_failures, record_login_failure
from harmmap.web.audit import audit
from harmmap.web.security import login_required, start_session

blueprint = Blueprint("auth", __name__)
ADDRESS_FACTOR = 4


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return url_for("home.index")
    return target


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    """The login form; failed attempts are rate-limited per name and per address."""
    state = current_app.extensions["harmmap"]
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""), error=None)
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")[:1024]
    address = request.remote_addr or ""
    by_name, by_address = recent_login_failures(state.ws, username, address, state.config.login_window_s)
    # Per name: stops guessing one password; per address (more, for offices behind one NAT): stops spraying.
    if by_name >= state.config.login_attempts or by_address >= ADDRESS_FACTOR * state.config.login_attempts:
        audit("login_blocked", "/login", username=username)
        return render_template("login.html", next=request.form.get("next", ""),
                               error="Too many failed attempts. Wait 15 minutes and try again."), 429
    user = authenticate(state.ws, username, password)
    if user is None:
        record_login_failure(state.ws, username, address)
        audit("login_failed", "/login", username=username)
        return render_template("login.html", next=request.form.get("next", ""),
                               error="Wrong user name or password."), 401
    start_session(user)
    g.user = user
    audit("login", "/login")
    return redirect(_safe_next(request.form.get("next")))


@blueprint.route("/logout", methods=["POST"])
@login_required()
def logout():
    """End every session of this user (the cookie alone is not trusted afterwards)."""
    if g.via_token:
        abort(400)
    end_sessions(current_app.extensions["harmmap"].ws, g.user.user_id)
    audit("logout", "/logout")
    from flask import session

    session.clear()
    return redirect(url_for("auth.login"))
