"""The cells payload of the planner map: fast JSON encoders and the bounded body of one view.

Arrays of a few thousand numbers or hex ids are formatted by numpy into one buffer
(no Python string per value); the body is coarsened a level at a time, then truncated
to the highest-harm cells, until it fits the byte budget (see :mod:`harmmap.web.maps`).
"""

from __future__ import annotations

import json

import h3ronpy
import numpy as np
import pandas as pd

from harmmap.web.maps import (TOP_N, Level, LevelValues, MapIndex, MapQuery, Values, in_box, level_values,
                              resolution_for_zoom, shown)

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLES = np.arange(56, -4, -4).astype(np.uint64)  # the 15 hex digits of an H3 index (top nibble is 0)
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)


def json_hex(cells: np.ndarray) -> bytes:
    """A JSON array of the cells' hex ids, written by numpy into one buffer (no Python string per cell)."""
    if len(cells) == 0:
        return b"[]"
    out = np.empty((len(cells), 18), np.uint8)
    out[:, 0] = out[:, 16] = ord('"')
    out[:, 17] = ord(",")
    out[:, 1:16] = _HEX_DIGITS[((np.asarray(cells, np.uint64)[:, None] >> _NIBBLES) & np.uint64(15)).astype(np.intp)]
    return b"[" + out.tobytes()[:-1] + b"]"


def json_fixed(values: np.ndarray, decimals: int = 0) -> bytes:
    """A JSON array of integers (``values`` as int64) or of fixed-point numbers (``values`` in units of
    10**-decimals), formatted digit by digit in numpy: 5-10x faster than ``json.dumps`` of a list."""
    v = np.asarray(values, np.int64)
    if v.size == 0:
        return b"[]"
    neg, rest = v < 0, np.abs(v)
    digits = np.searchsorted(_POW10, rest // 10 ** decimals, side="right") + 1
    width = digits + neg + (decimals + 1 if decimals else 0)
    ends = np.cumsum(width + 1)
    buf = np.full(int(ends[-1]), ord(","), np.uint8)
    last = ends - 2
    for j in range(decimals):
        buf[last - j] = 48 + rest % 10
        rest = rest // 10
    if decimals:
        buf[last - decimals] = ord(".")
        last = last - decimals - 1
    for j in range(int(digits.max())):
        live = digits > j
        buf[last[live] - j] = 48 + rest[live] % 10
        rest = rest // 10
    buf[(ends - width - 1)[neg]] = ord("-")
    return b"[" + buf[:-1].tobytes() + b"]"


def json_numbers(values: np.ndarray) -> bytes:
    """Values rounded to 2 decimals as a JSON array (integers when all are whole)."""
    hundredths = np.round(np.asarray(values, float) * 100).astype(np.int64)
    if not (hundredths % 100).any():
        return json_fixed(hundredths // 100)
    return json_fixed(hundredths, 2)



def hex_strings(cells: np.ndarray) -> list[str]:
    return h3ronpy.cells_to_string(np.asarray(cells, np.uint64)).to_pylist() if len(cells) else []


def _place_names(index: MapIndex) -> np.ndarray:
    """Place names of each scoring-table row (object array, built once)."""
    if "names" not in index.lazy:
        cells = index.run.cells
        names = cells["places"].fillna("").astype(str) if "places" in cells else pd.Series([""] * len(cells))
        index.lazy["names"] = np.append(names.to_numpy(dtype=object), "")  # row -1 -> ""
    return index.lazy["names"]


def _entries(index: MapIndex, pos: np.ndarray, values: Values, native: LevelValues) -> list[dict]:
    names = _place_names(index)[index.score_row[pos]]
    return [{"cell": c, "harm": round(float(values.harm[p]), 2), "incidents": int(values.incidents[p]),
             "gi_bin": int(native.gi[p]), "emerging": int(native.emerging[p]), "places": name}
            for c, p, name in zip(hex_strings(index.cells[pos]), pos, names)]



def _top(index: MapIndex, q: MapQuery, values: Values, native: LevelValues, limit: int = TOP_N) -> np.ndarray:
    """Native positions of the highest-harm cells shown in the box (scans the harm order in growing chunks)."""
    level, found, start, size = index.levels[index.native], [], 0, 512
    while start < len(values.order) and len(found) < limit:
        idx = values.order[start:start + size]
        ok = in_box(level, q.bbox, idx) & shown(q.layer, native, idx)
        found.extend(idx[ok][:limit - len(found)].tolist())
        start, size = start + size, size * 4
    return np.asarray(found, dtype=np.int64)



def _body(payload: dict, level: Level, lv: LevelValues, sel: np.ndarray) -> bytes:
    payload.update(count=int(len(sel)), breaks=lv.breaks)
    head = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()[:-1]
    return b"".join([head, b',"cells":', json_hex(level.cells[sel]), b',"harm":', json_numbers(lv.harm[sel]),
                     b',"incidents":', json_fixed(lv.incidents[sel]), b',"gi_bin":', json_fixed(lv.gi[sel]),
                     b',"emerging":', json_fixed(lv.emerging[sel]), b"}"])


def _too_many(level: Level, bbox: tuple, max_bytes: int) -> bool:
    """Cheap upper-bound test (latitude band x longitude share) that a level holds far too many cells for
    the budget, so a huge box at a high zoom skips the fine levels without selecting them."""
    south, north = bbox[1], bbox[3]
    a, b = np.searchsorted(level.lat_sorted, np.array([south, north], np.float32))  # float32: no array cast
    span = float(level.lng_span) or 1.0
    return (b - a) * min(1.0, (bbox[2] - bbox[0]) / span) * 18 > 4 * max_bytes


def cells_json(index: MapIndex, q: MapQuery, values: Values, key: tuple, max_bytes: int) -> bytes:
    """The cells payload of one view, at most ``max_bytes`` (see the module docstring)."""
    res = resolution_for_zoom(q.zoom, index.native)
    lowest = min(index.levels)
    native = level_values(index, index.native, values, key)
    top = _entries(index, _top(index, q, values, native), values, native)
    while True:
        level = index.levels[res]
        if res > lowest and _too_many(level, q.bbox, max_bytes):
            res -= 1
            continue
        lv = level_values(index, res, values, key)
        sel = in_box(level, q.bbox)
        sel = sel[shown(q.layer, lv, sel)]
        if len(sel) * 45 <= max_bytes or res == lowest:
            payload = {"run_id": index.key[0], "trends_run_id": index.key[1], "layer": q.layer, "zoom": q.zoom,
                       "resolution": res, "native_resolution": index.native,
                       "coarsened": res < resolution_for_zoom(q.zoom, index.native), "truncated": False,
                       "period": q.period, "crime_type": q.crime_type, "bbox": list(q.bbox), "top": top}
            body = _body(payload, level, lv, sel)
            if len(body) <= max_bytes or res == lowest:
                break
        res -= 1
    while len(body) > max_bytes and len(sel):
        sel = np.sort(sel[np.argsort(-lv.harm[sel], kind="stable")][: max(len(sel) * max_bytes // len(body) - 50, 0)])
        payload["truncated"] = True
        body = _body(payload, level, lv, sel)
    return body

