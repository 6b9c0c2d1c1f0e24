"""Who is asking, what they may see, and the headers every response carries.

* **Sessions**: a signed cookie holding the user id and its ``session_version``;
  each request checks both against the workspace, so logout, a password reset or
  removing the user ends every session at once.  Cookies are HttpOnly,
  SameSite=Lax and (behind HTTPS) Secure, and expire after ``session_hours``.
* **API tokens**: ``Authorization: Bearer hm_...`` for scripts; such requests carry no
  cookie and need no CSRF token.
* **CSRF**: every state-changing request made with a session cookie (and the login
  form) must carry the session's CSRF token (form field or ``X-CSRFToken``
  header), checked by Flask-WTF.
* **Headers**: a Content-Security-Policy with a per-request nonce for scripts and
  styles (no inline code without it, nothing from other hosts except configured
  basemap tiles), ``frame-ancestors 'none'``, nosniff, no referrer, and
  ``Cache-Control: no-store`` on everything that is not a static asset.
"""

from __future__ import annotations

import functools
import secrets
from typing import Callable

from flask import Flask, abort, current_app, g, request, session
from flask_wtf.csrf import CSRFProtect

from harmmap.store.accounts import User, find_user_by_id, user_for_token

csrf = CSRFProtect()
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def load_user() -> None:
    """Set ``g.user`` from the bearer token or the session (None when anonymous)."""
    g.user, g.via_token = None, False
    g.nonce = secrets.token_urlsafe(16)
    header = request.headers.get("Authorization", "")
    ws = current_app.extensions["harmmap"].ws
    if header.startswith("Bearer "):
        g.user, g.via_token = user_for_token(ws, header[7:].strip()), True
        if g.user is None:
            abort(401)
        return
    user_id, version = session.get("user_id"), session.get("session_version")
    if user_id is not None:
        user = find_user_by_id(ws, int(user_id))
        if user is not None and user.session_version == version:
            g.user = user
        else:
            session.clear()
    if request.method in _UNSAFE:
        if g.user is None and request.path.startswith("/api/"):
            abort(401)  # not logged in comes before a missing CSRF token
        csrf.protect()


def start_session(user: User) -> None:
    """Log ``user`` in: a fresh session (no fixation) that remembers the session version."""
    session.clear()
    session.permanent = True
    session["user_id"] = user.user_id
    session["session_version"] = user.session_version


def login_required(*roles: str) -> Callable:
    """Allow only logged-in users (of ``roles`` when given): 401 for anonymous API calls,
    a redirect to the login page for pages, 403 for the wrong role."""
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if g.get("user") is None:
                if request.path.startswith("/api/"):
                    abort(401)
                from flask import redirect, url_for
                return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
            if roles and g.user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorate


def _content_security_policy(nonce: str, tiles_url: str) -> str:
    images = "'self' data:"
    if tiles_url:
        scheme_host = "/".join(tiles_url.split("/")[:3]).replace("{s}", "*")
        images += f" {scheme_host}"
    return (f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
            f"img-src {images}; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")


def add_security_headers(response):
    """Headers on every response."""
    config = current_app.extensions["harmmap"].config
    response.headers["Content-Security-Policy"] = _content_security_policy(g.get("nonce", "none"), config.tiles_url)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # same-origin, not no-referrer: Flask-WTF checks the Referer of POSTs over HTTPS (WTF_CSRF_SSL_STRICT)
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "geolocation=(), camera=(), microphone=()"
    if config.secure_cookies:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def install_security(app: Flask) -> None:
    """Wire sessions, CSRF and headers into ``app``."""
    csrf.init_app(app)
    app.before_request(load_user)
    app.after_request(add_security_headers)
