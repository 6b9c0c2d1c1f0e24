"""Screen: retailer (being built)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("retailer", __name__)
