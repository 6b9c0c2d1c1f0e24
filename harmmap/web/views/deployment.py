"""Screen: deployment (being built)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("deployment", __name__)
