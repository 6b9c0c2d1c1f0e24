"""View-models of the retailer screens: risk rows for tables and JSON, the stores map, the own-incident chart."""

from __future__ import annotations

import math

import pandas as pd
import shapely

from harmmap.errors import ConfigError
from harmmap.report.palettes import EMERGING_ORDER, GI_BIN_LABELS
from harmmap.scoring.store_risk import HIGH_FROM, MEDIUM_FROM, REASONS, WEIGHTS
from harmmap.web.data import places_wgs84
from harmmap.store.workspace import Workspace

#: Band colours (ColorBrewer RdBu ends and a mid orange: distinct in greyscale and for red-green deficiencies).
BAND_COLOURS = {"high": "#b2182b", "medium": "#f4a582", "low": "#92c5de"}
BAND_ORDER = {"high": 0, "medium": 1, "low": 2}
SORT_KEYS = ("score", "store_id", "name", "band", "local_harm_pct", "gi_bin", "emerging_class", "own_incidents")
STORES_PARAMS: dict[str, dict] = {
    "sort": {"type": "string", "enum": list(SORT_KEYS), "default": "score", "description": "Sort column."},
    "order": {"type": "string", "enum": ["asc", "desc"],
              "description": "Sort direction (default: descending for score, ascending otherwise)."},
}
_EMERGING_KEYS = {name.lower().replace(" ", "_"): name for name in EMERGING_ORDER}
EMERGING_LABELS = {("no_pattern" if k == "no_pattern_detected" else k): v for k, v in _EMERGING_KEYS.items()}
METHOD = {
    "weights": WEIGHTS, "bands": {"high": f"score >= {HIGH_FROM:g}", "medium": f"{MEDIUM_FROM:g} <= score < "
                                  f"{HIGH_FROM:g}", "low": f"score < {MEDIUM_FROM:g}"},
    "summary": "Local harm (percentile of the 7-cell neighbourhood's harm in the study grid, on a log scale), "
               "Gi* hot spot class, emerging trend class and your own incidents (level and rise), weighted to "
               "0-100. See harmmap.scoring.store_risk.",
}


def default_order(sort: str) -> str:
    """Score sorts highest first, everything else A-Z / lowest first."""
    return "desc" if sort == "score" else "asc"


def sort_rows(table: pd.DataFrame, sort: str, order: str | None) -> pd.DataFrame:
    """Sort the risk table by one column (ties: score, then store id), stable and deterministic."""
    if sort not in SORT_KEYS:
        raise ConfigError("unknown sort column", given=sort, fix=f"use one of {', '.join(SORT_KEYS)}")
    ascending = (order or default_order(sort)) == "asc"
    key = table["band"].map(BAND_ORDER) if sort == "band" else table[sort]
    keyed = table.assign(_key=key.fillna("") if key.dtype == object else key, _tie=-table["score"])
    return keyed.sort_values(["_key", "_tie", "store_id"], ascending=[ascending, True, True],
                             kind="mergesort").drop(columns=["_key", "_tie"])


def _text(value) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value) else str(value)


def risk_record(row) -> dict:
    """One store's risk as JSON (the API's ``StoreRisk`` schema) and for templates."""
    return {
        "store_id": str(row["store_id"]), "name": _text(row["name"]), "postcode": _text(row["postcode"]),
        "lat": float(row["lat"]), "lng": float(row["lng"]), "score": float(row["score"]), "band": str(row["band"]),
        "reasons": [{"code": c, "text": REASONS[c]} for c in row["reasons"]],
        "local_harm_pct": float(row["local_harm_pct"]),
        "hot_spot": {"gi_bin": int(row["gi_bin"]), "label": GI_BIN_LABELS[int(row["gi_bin"])]},
        "trend": {"emerging_class": str(row["emerging_class"]),
                  "label": EMERGING_LABELS.get(str(row["emerging_class"]), str(row["emerging_class"]))},
        "own_incidents": int(row["own_incidents"]), "own_recent": int(row["own_recent"]),
        "own_previous": int(row["own_previous"]), "own_rising": bool(row["own_rising"]),
        "components": {name: round(float(row[f"c_{name}"]), 4)
                       for name in ("local_harm", "hot_spot", "trend", "own_incidents")},
    }


def risk_records(table: pd.DataFrame) -> list[dict]:
    """Every row of a risk table as :func:`risk_record`."""
    return [risk_record(row) for _, row in table.iterrows()]  # one row per store of one organisation


def map_payload(ws: Workspace, records: list[dict], urls: dict[str, str], margin: float = 0.05) -> dict:
    """Stores (coloured by band) and the boundaries of places around them, for static/retailer.js."""
    stores = [{"id": r["store_id"], "name": r["name"] or r["store_id"], "lat": r["lat"], "lng": r["lng"],
               "band": r["band"], "score": r["score"], "url": urls[r["store_id"]]} for r in records]
    boundaries: dict = {"type": "FeatureCollection", "features": []}
    if stores:
        lats, lngs = [s["lat"] for s in stores], [s["lng"] for s in stores]
        box = (min(lngs) - margin, min(lats) - margin, max(lngs) + margin, max(lats) + margin)
        places = places_wgs84(ws)
        near = places[places.intersects(shapely.box(*box))].head(500)
        shapes = shapely.simplify(near.geometry.to_numpy(), 0.0003)
        boundaries["features"] = [{"type": "Feature", "properties": {"name": str(name)},
                                   "geometry": shapely.geometry.mapping(shape)}
                                  for name, shape in zip(near["name"], shapes) if shape is not None]
    return {"stores": stores, "boundaries": boundaries, "colours": BAND_COLOURS}


def own_chart(own: pd.DataFrame, store_name: str) -> str:
    """SVG line chart of the store's own incidents per month."""
    from harmmap.report.charts import render_line_chart
    from harmmap.report.model import Series

    series = Series(f"Your reported incidents at {store_name}, by month", tuple(own["month"]),
                    {"Your incidents": own["incidents"].to_numpy(dtype="float64")}, y_label="incidents")
    return render_line_chart(series, width=720, height=220)


def shown_counts(view: dict) -> list[float]:
    """Every area-level number a retailer's store view publishes (for the suppression tests)."""
    area = view.get("area") or {}
    return [v for row in area.get("rows", []) for v in (row["incidents_value"],) if v is not None]


__all__ = ["BAND_COLOURS", "EMERGING_LABELS", "METHOD", "SORT_KEYS", "STORES_PARAMS", "default_order", "map_payload",
           "own_chart", "risk_record", "risk_records", "shown_counts", "sort_rows"]

