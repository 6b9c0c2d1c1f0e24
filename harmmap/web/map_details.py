"""Planner map details: a drawn cell or place, harm series, place boundaries, stores, legends and meta.

Everything here reads a :class:`harmmap.web.maps.MapIndex` (one scoring run and the
latest trends run); parents at coarse zooms sum their native cells, and their Gi* and
emerging classes are the strongest among them, as on the map itself.
"""

from __future__ import annotations

import json

import h3ronpy
import numpy as np
import pandas as pd
import shapely

from harmmap.errors import ConfigError
from harmmap.geo.cells import cells_to_parents
from harmmap.report.palettes import EMERGING_ORDER, EMERGING_PALETTE, GI_BIN_LABELS, GI_PALETTE, sequential_palette
from harmmap.scoring.emerging import codes_to_names
from harmmap.web.map_json import hex_strings
from harmmap.web.maps import (EMERGING_CODES, EMERGING_PRIORITY, GI_PRIORITY, HARM_CLASSES, LAYERS, ZOOM_RESOLUTION,
                              MapIndex, MapQuery, Values, parse_cells, resolution_for_zoom, strongest)


def legends(index: MapIndex) -> dict:
    """Legend entries (label, colour) of the three layers, as the report draws them."""
    harm = list(sequential_palette(tuple(str(i) for i in range(HARM_CLASSES))).values())
    present = set(index.trends.cells["emerging_code"].astype(int)) if index.trends is not None else set()
    named = sorted(zip(EMERGING_CODES, codes_to_names(EMERGING_CODES)), key=lambda cn: EMERGING_ORDER.index(cn[1]))
    emerging = [{"code": int(c), "label": str(n), "colour": EMERGING_PALETTE[n]} for c, n in named
                if c in present or c == 0]
    gi = [{"bin": b, "label": GI_BIN_LABELS[b], "colour": GI_PALETTE[GI_BIN_LABELS[b]]}
          for b in (3, 2, 1, 0, -1, -2, -3)]
    return {"harm": harm, "gi": gi, "emerging": emerging}


def check_choice(value: str | None, allowed: tuple, what: str) -> str | None:
    """``value`` when it is one of ``allowed`` (None passes), else a ConfigError (shown as 400)."""
    if value is None or value in allowed:
        return value
    shown = ", ".join(list(allowed)[:12]) + (" ..." if len(allowed) > 12 else "")
    raise ConfigError(f"unknown {what}", given=value, fix=f"use one of: {shown}")


def locate(index: MapIndex, text: str) -> tuple[int, int, int] | None:
    """(resolution, first, stop): the native positions a hex cell id drawn on the map covers (None: not there)."""
    try:
        cell = parse_cells([text])[0]
    except ValueError:
        return None
    res = int(h3ronpy.cells_resolution(np.array([cell], np.uint64))[0].as_py())
    level = index.levels.get(res)
    if level is None:
        return None
    k = int(np.searchsorted(level.cells, cell))
    if k >= len(level.cells) or level.cells[k] != cell:
        return None
    if level.parent_of is None:
        return res, k, k + 1
    a, b = np.searchsorted(level.parent_of, np.array([k, k + 1], level.parent_of.dtype))
    return res, int(a), int(b)


def _native_fields(index: MapIndex, p: int) -> dict:
    """Scoring and trends columns of one native cell."""
    out = {"gi_z": None, "gi_p": None, "rank": None, "rank_low": None, "rank_high": None, "p_top_n": None,
           "places": "", "trend_z": None, "forecast_harm": None}
    row = index.score_row[p]
    if row >= 0:
        rec = index.run.cells.iloc[row]
        for name in ("gi_z", "gi_p", "p_top_n"):
            out[name] = _num(rec.get(name))
        for name in ("rank", "rank_low", "rank_high"):
            out[name] = None if pd.isna(rec.get(name)) else int(rec[name])
        out["places"] = str(rec.get("places") or "")
    if index.trends is not None and index.trend_row[p] >= 0:
        rec = index.trends.cells.iloc[index.trend_row[p]]
        out["trend_z"], out["forecast_harm"] = _num(rec.get("trend_z")), _num(rec.get("forecast_harm"))
    return out


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) or not np.isfinite(value) else round(float(value), 6)


def cell_details(index: MapIndex, where: tuple[int, int, int], filtered: Values | None,
                 query: MapQuery | None) -> dict:
    """Details of one drawn cell (native, or a parent summing its native cells)."""
    res, a, b = where
    gi = strongest(index.gi[a:b], np.zeros(b - a, np.int64), 1, GI_PRIORITY, 3, None)[0]
    emerging = strongest(index.emerging[a:b], np.zeros(b - a, np.int64), 1, EMERGING_PRIORITY, 8, None)[0]
    out = {"cell": hex_strings(cells_to_parents(index.cells[a:a + 1], res))[0], "resolution": res,
           "native_resolution": index.native, "native_cells": b - a,
           "harm": round(float(index.harm[a:b].sum()), 2), "incidents": int(index.incidents[a:b].sum()),
           "gi_bin": int(gi), "gi_label": GI_BIN_LABELS[int(gi)], "emerging": int(emerging),
           "emerging_label": str(codes_to_names([int(emerging)])[0]), "filtered": None}
    native = _native_fields(index, a)
    out.update(native if res == index.native else {k: None for k in native} | {"places": ""})
    if filtered is not None and query is not None:
        out["filtered"] = {"period": query.period, "crime_type": query.crime_type,
                           "harm": round(float(filtered.harm[a:b].sum()), 2),
                           "incidents": int(filtered.incidents[a:b].sum())}
    return out


def cell_series(index: MapIndex, where: tuple[int, int, int]) -> dict:
    """Harm per period of a drawn cell: monthly from the trends run when it kept the cell, else the scoring
    run's periods (summed over the native cells of a parent)."""
    res, a, b = where
    trend = index.trend_rows
    if res == index.native and trend is not None:
        i, j = np.searchsorted(trend.pos, np.array([a, b], trend.pos.dtype))
        if j > i:
            labels = index.trends.row.metadata.get("periods") or sorted(index.trends.periods["period"].unique())
            return _series("trends", list(labels), trend.period[i:j], trend.harm[i:j], trend.incidents[i:j],
                           trend.gi_bin[i:j])
    rows = index.period_rows
    i, j = np.searchsorted(rows.pos, np.array([a, b], rows.pos.dtype))
    return _series("scoring", list(index.periods), rows.period[i:j], rows.harm[i:j], rows.incidents[i:j], None)


def _series(source: str, labels: list, period: np.ndarray, harm: np.ndarray, incidents: np.ndarray,
            gi_bin: np.ndarray | None) -> dict:
    n = len(labels)
    ok = period >= 0
    out = {"source": source, "periods": [str(x) for x in labels],
           "harm": np.round(np.bincount(period[ok], weights=harm[ok], minlength=n), 2).tolist(),
           "incidents": np.bincount(period[ok], weights=incidents[ok], minlength=n).astype(int).tolist(),
           "gi_bin": None}
    if gi_bin is not None:
        bins = np.zeros(n, np.int64)
        bins[period[ok]] = gi_bin[ok]
        out["gi_bin"] = bins.tolist()
    return out


def place_details(index: MapIndex, place_id: str) -> dict | None:
    """A place's harm, rank, classes and harm series (monthly from the trends run when there is one)."""
    places = index.run.places
    match = places[places["place_id"] == place_id]
    if match.empty:
        return None
    rec = match.iloc[0]
    out = {"place_id": place_id, "name": str(rec["name"]), "kind": str(rec["kind"]),
           "harm": round(float(rec["harm"]), 2), "incidents": int(rec["incidents"]), "rank": int(rec["rank"]),
           "gi_z": _num(rec.get("gi_z")), "gi_bin": int(rec["gi_bin"]), "gi_label": GI_BIN_LABELS[int(rec["gi_bin"])],
           "emerging": 0, "emerging_label": codes_to_names([0])[0]}
    frame, kind, labels = index.run.periods, "unit_kind", list(index.periods)
    if index.trends is not None:
        trend = index.trends.places[index.trends.places["place_id"] == place_id]
        if not trend.empty:
            code = int(trend.iloc[0]["emerging_code"])
            out.update(emerging=code, emerging_label=str(codes_to_names([code])[0]))
        frame, kind = index.trends.periods, "kind"
        labels = list(index.trends.row.metadata.get("periods") or sorted(frame["period"].unique()))
    rows = frame[(frame[kind] == "place") & (frame["unit"] == place_id)]
    codes = pd.Categorical(rows["period"], categories=labels).codes.astype(np.int64)
    out["series"] = _series("trends" if kind == "kind" else "scoring", labels, codes, rows["harm"].to_numpy(float),
                            rows["incidents"].to_numpy(np.int64),
                            rows["gi_bin"].to_numpy(np.int64) if "gi_bin" in rows else None)
    return out


def _tolerance(zoom: int) -> float:
    """Simplification tolerance (degrees): half a pixel at ``zoom``, at least ~4 m."""
    return max(0.00005, 180.0 / (256 * 2 ** zoom))


def _intersects(bounds: np.ndarray, bbox: tuple | None) -> np.ndarray:
    """Rows of (minx, miny, maxx, maxy) ``bounds`` touching ``bbox`` (all when None)."""
    if bbox is None:
        return np.arange(len(bounds))
    west, south, east, north = bbox
    return np.flatnonzero((bounds[:, 0] <= east) & (bounds[:, 2] >= west) & (bounds[:, 1] <= north) &
                          (bounds[:, 3] >= south))


def boundaries_json(index: MapIndex, places_wgs84, zoom: int | None = None, bbox: tuple | None = None,
                    max_bytes: int = 2_000_000) -> bytes:
    """Places touching ``bbox`` as GeoJSON, simplified to half a pixel at ``zoom`` (default 14; coarser
    until the answer fits ``max_bytes``), 5 decimals, with their harm, rank and classes."""
    zoom = 14 if zoom is None else zoom
    while True:
        body = _boundaries(index, places_wgs84, zoom, bbox)
        if len(body) <= max_bytes or zoom == 0:
            return body
        zoom -= 1


def _boundaries(index: MapIndex, places_wgs84, zoom: int, bbox: tuple | None) -> bytes:
    """Features are serialised once per tolerance and cached."""
    ids = tuple(places_wgs84["place_id"])

    def make() -> tuple[list[bytes], np.ndarray]:
        stats = index.run.places.set_index("place_id")
        emerging = pd.Series(dtype="int64")
        if index.trends is not None:
            emerging = index.trends.places.set_index("place_id")["emerging_code"]
        raw = places_wgs84.geometry.to_numpy()
        geoms = shapely.transform(shapely.simplify(raw, _tolerance(zoom), preserve_topology=True),
                                  lambda xy: np.round(xy, 5))
        features = []
        for pid, kind, name, geom in zip(ids, places_wgs84["kind"], places_wgs84["name"], geoms):
            row = stats.loc[pid] if pid in stats.index else None
            properties = {"place_id": pid, "kind": str(kind), "name": str(name),
                          "harm": None if row is None else round(float(row["harm"]), 2),
                          "rank": None if row is None else int(row["rank"]),
                          "gi_bin": 0 if row is None else int(row["gi_bin"]), "emerging": int(emerging.get(pid, 0))}
            features.append(('{"type":"Feature","geometry":' + shapely.to_geojson(geom) + ',"properties":'
                             + json.dumps(properties, separators=(",", ":")) + "}").encode())
        return features, shapely.bounds(raw).reshape(-1, 4)
    features, bounds = index.cache.get(("boundaries", hash(ids), _tolerance(zoom)), make)
    chosen = _intersects(bounds, bbox)
    return b'{"type":"FeatureCollection","features":[' + b",".join(features[i] for i in chosen) + b"]}"


def stores_payload(stores: pd.DataFrame, bbox: tuple | None = None, max_bytes: int = 2_000_000) -> dict:
    """Stores (in ``bbox`` when given) as parallel arrays: all organisations, for planners.  Should they
    exceed ``max_bytes`` (at ~150 bytes a store, a pessimistic guess) only that many are sent."""
    if bbox is not None:
        lat, lng = stores["lat"].to_numpy(float), stores["lng"].to_numpy(float)
        stores = stores[(lng >= bbox[0]) & (lng <= bbox[2]) & (lat >= bbox[1]) & (lat <= bbox[3])]
    truncated = len(stores) * 150 > max_bytes
    stores = stores.iloc[: max_bytes // 150] if truncated else stores
    text = lambda col: [None if pd.isna(v) else str(v) for v in stores[col]]  # noqa: E731
    return {"count": len(stores), "truncated": truncated, "org_id": text("org_id"), "store_id": text("store_id"),
            "name": text("name"),
            "lat": np.round(stores["lat"].to_numpy(float), 6).tolist(),
            "lng": np.round(stores["lng"].to_numpy(float), 6).tolist()}


def area_bounds(places_wgs84, place_ids: list) -> list | None:
    """[[south, west], [north, east]] of some places (None when none is known)."""
    chosen = places_wgs84[places_wgs84["place_id"].isin(place_ids)]
    if chosen.empty:
        return None
    west, south, east, north = (float(v) for v in chosen.total_bounds)
    return [[south, west], [north, east]]


def meta(index: MapIndex, crimes: tuple, areas: pd.DataFrame, places_wgs84, tiles_url: str, attribution: str) -> dict:
    """What the page needs before its first request: filters, legends, the data's extent."""
    level = index.levels[min(index.levels)]
    lv_harm = index.harm if level.parent_of is None else np.bincount(level.parent_of, weights=index.harm,
                                                                     minlength=len(level.cells))
    lat, lng = (level.lat[lv_harm > 0], level.lng[lv_harm > 0]) if (lv_harm > 0).any() else (level.lat, level.lng)
    bounds = [[float(lat.min()), float(lng.min())], [float(lat.max()), float(lng.max())]] if len(lat) else None
    return {"run_id": index.key[0], "trends_run_id": index.key[1], "native_resolution": index.native,
            "zoom_resolution": [resolution_for_zoom(z, index.native) for z in range(len(ZOOM_RESOLUTION))],
            "periods": list(index.periods), "crime_types": list(crimes),
            "areas": [{"area_id": int(a), "name": str(n), "places": [str(p) for p in ps],
                       "bounds": area_bounds(places_wgs84, list(ps))}
                      for a, n, ps in zip(areas["area_id"], areas["name"], areas["places"])],
            "layers": list(LAYERS), "legends": legends(index), "bounds": bounds,
            "tiles_url": tiles_url, "tiles_attribution": attribution}
