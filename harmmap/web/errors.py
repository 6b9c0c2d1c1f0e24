"""Error pages for people and JSON errors for the API; never a traceback."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from harmmap.errors import HarmmapError


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _respond(status: int, title: str, message: str):
    if _wants_json():
        return jsonify({"error": title, "message": message, "status": status}), status
    return render_template("error.html", status=status, title=title, message=message), status


def install_error_handlers(app: Flask) -> None:
    """JSON under /api/, an HTML page elsewhere."""

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        return _respond(400, "CSRF check failed", "Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        response = _respond(error.code or 500, error.name, error.description or "")
        if getattr(error, "valid_methods", None):  # 405 must say what is allowed
            body, status = response
            return body, status, {"Allow": ", ".join(sorted(error.valid_methods))}
        return response

    @app.errorhandler(HarmmapError)
    def harmmap_error(error: HarmmapError):
        return _respond(400, "Bad request", str(error))
