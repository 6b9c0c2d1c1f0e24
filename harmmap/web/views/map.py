"""Screen: map (being built)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("map", __name__)
