"""Screen: places (being built)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("places", __name__)
