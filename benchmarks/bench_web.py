"""Web map benchmark: payload size and server time of the planner map at national scale.

1. A national-scale workspace (or ``--workspace`` to reuse one): a res-9 grid over
   England's bounding box (about 3.5M cells) with a synthesised scoring run saved by
   ``save_result`` (harm and incidents around the ONS Major Towns and Cities plus a
   Poisson background, so ~40 % of cells have harm: harsher than police.uk data;
   Gi* bins, ranks, 8 quarterly periods, 4 crime types), a trends run (emerging
   classes of the significant cells), the 112 towns as places and the 14k GEOLYTIX
   stores (``../shared/data``; synthetic towns when missing).
2. In process (Flask test client, session cookie as in a browser): bytes, gzip bytes
   and server time of representative views: whole England at low zoom, a region, a
   city at high zoom, filtered views, cell details.  Target <= 2 MB per view.
3. ``harmmap serve`` (waitress, 8 threads) on loopback with 20 concurrent clients
   for a bounded run (default 400 requests) of random views (zoom 6..14 over eight
   cities, 70 % harm / 15 % Gi* / 15 % emerging layers).  Target p95 <= 200 ms.
4. Naive peer: folium ``GeoJson`` of every res-9 cell with harm in the same view
   (HTML size and time); for whole England extrapolated from a 50,000-cell sample.
5. ``--browser``: first paint of /map in Debian's chromium (Playwright), target < 1.5 s.

    python benchmarks/bench_web.py [--workspace DIR] [--requests 400] [--clients 20] [--browser]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import h3
import h3ronpy
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from h3ronpy.vector import geometry_to_cells

from harmmap.geo.cells import points_to_cells
from harmmap.geo.study_area import places_to_cells
from harmmap.store.accounts import add_user, generate_password
from harmmap.store.places import load_places, save_places, save_stores
from harmmap.store.results import list_runs, save_result
from harmmap.store.workspace import init_workspace, open_workspace

ENGLAND_BBOX = (-5.75, 49.95, 1.77, 55.81)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CITIES = {"Leicester": (52.636, -1.135), "Manchester": (53.480, -2.243), "Birmingham": (52.480, -1.900),
          "London": (51.510, -0.120), "Leeds": (53.797, -1.546), "Bristol": (51.455, -2.593),
          "Newcastle": (54.973, -1.614), "Nottingham": (52.954, -1.150)}
QUARTERS = ("2023-Q1", "2023-Q2", "2023-Q3", "2023-Q4", "2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4")
MONTHS = tuple(f"{y}-{m:02d}" for y in (2023, 2024) for m in range(1, 13))
CRIMES = ("Shoplifting", "Violence and sexual offences", "Anti-social behaviour", "Burglary")
SCREEN = (1400, 900)
USER = "bench_planner"


@dataclass
class Result:
    """What save_result persists."""

    cells: pd.DataFrame
    places: pd.DataFrame
    periods: pd.DataFrame
    metadata: dict
    crime_types: pd.DataFrame | None = None


@dataclass
class Row:
    name: str
    figures: dict = field(default_factory=dict)


def view_bbox(lat: float, lng: float, zoom: int, size=SCREEN) -> tuple[float, float, float, float]:
    """The lng/lat box a Leaflet map of ``size`` pixels shows at ``zoom`` around a centre (Web Mercator)."""
    scale = 256 * 2 ** zoom
    x = (lng + 180) / 360 * scale
    y = (1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * scale
    to_lng = lambda px: px / scale * 360 - 180  # noqa: E731
    to_lat = lambda py: math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * py / scale))))  # noqa: E731
    west, east = max(to_lng(x - size[0] / 2), -180), min(to_lng(x + size[0] / 2), 180)
    return west, to_lat(y + size[1] / 2), east, to_lat(y - size[1] / 2)


def bbox_text(box) -> str:
    return ",".join(f"{v:.5f}" for v in box)


# ---------------------------------------------------------------------------- national workspace
def _towns(ws, rng) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Import the ONS Major Towns and Cities as town centres (when the shared data is there); return the places
    and town centres (lat, lng) for the intensity field, with 300 random small towns added."""
    source = SHARED / "boundaries" / "major_towns_cities_2015" / "Major_Towns_and_Cities__December_2015__Boundaries.shp"
    lat = rng.uniform(50.3, 55.0, 300)
    lng = rng.uniform(-4.5, 1.2, 300)
    if source.is_file():
        from harmmap.geo.places import read_places

        save_places(ws, read_places(source, kind="town_centre").places, "ONS Major Towns and Cities 2015")
        places = load_places(ws)
        centre = places.geometry.to_crs("EPSG:4326").representative_point()
        lat, lng = np.concatenate([centre.y.to_numpy(), lat]), np.concatenate([centre.x.to_numpy(), lng])
    return load_places(ws), lat, lng


def _stores(ws) -> int:
    source = SHARED / "stores" / "geolytix_retailpoints_v34_202412_clean.csv.gz"
    if not source.is_file():
        return 0
    frame = pd.read_csv(source)
    frame = frame.rename(columns={"id": "store_id", "store_name": "name", "lat_wgs": "lat", "long_wgs": "lng",
                                  "bng_e": "easting", "bng_n": "northing"})
    for retailer, group in frame.groupby("retailer"):
        save_stores(ws, re.sub(r"[^a-z0-9]+", "-", retailer.lower()).strip("-"), group)
    return len(frame)


def _intensity(cells: np.ndarray, lat: np.ndarray, lng: np.ndarray, rng) -> np.ndarray:
    """Expected incidents per cell: 0.5 everywhere plus a bump (10-40 rings wide) around each town."""
    lam = np.full(len(cells), 0.5)
    centres = points_to_cells(lat, lng, 9)
    for centre, amplitude, rings in zip(centres, rng.lognormal(2.0, 0.8, len(centres)), rng.integers(10, 40, len(centres))):
        disk = h3ronpy.grid_disk_distances(np.array([centre], np.uint64), int(rings), flatten=True)
        ids, k = np.asarray(disk.column("cell"), np.uint64), np.asarray(disk.column("k"), float)
        pos = np.minimum(np.searchsorted(cells, ids), len(cells) - 1)
        ok = cells[pos] == ids
        np.add.at(lam, pos[ok], amplitude * np.exp(-(k[ok] / (rings / 2.5)) ** 2))
    return lam


def _hex(cells: np.ndarray) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([h3ronpy.cells_to_string(cells)]).cast(pa.large_string())))


def _long_tables(cells, incidents, harm, rng, place_of_cell, place_ids):
    """Quarterly (cell, period) rows and (cell, period, crime type) rows of the cells with incidents."""
    nz = np.flatnonzero(incidents)
    split = rng.multinomial(incidents[nz], np.full(len(QUARTERS), 1 / len(QUARTERS)))
    cell_i, q = np.nonzero(split)
    n = split[cell_i, q]
    row_cell = nz[cell_i]
    row_harm = harm[row_cell] * n / incidents[row_cell]
    periods = pd.DataFrame({"unit_kind": "cell", "unit": _hex(cells[row_cell]), "period": np.asarray(QUARTERS)[q],
                            "harm": row_harm, "incidents": n.astype(np.int64)})
    crimes = rng.multinomial(n, [0.4, 0.3, 0.2, 0.1])
    r, c = np.nonzero(crimes)
    m = crimes[r, c]
    crime_types = pd.DataFrame({"unit_kind": "cell", "unit": periods["unit"].take(r).reset_index(drop=True),
                                "period": periods["period"].to_numpy()[r], "crime_type": np.asarray(CRIMES)[c],
                                "harm": row_harm[r] * m / n[r], "incidents": m.astype(np.int64)})
    inside = place_of_cell[row_cell] >= 0
    key = pd.DataFrame({"p": place_of_cell[row_cell][inside], "q": q[inside], "h": row_harm[inside], "n": n[inside]})
    agg = key.groupby(["p", "q"], as_index=False).sum()
    place_rows = pd.DataFrame({"unit_kind": "place", "unit": np.asarray(place_ids, dtype=object)[agg["p"]],
                               "period": np.asarray(QUARTERS)[agg["q"]], "harm": agg["h"],
                               "incidents": agg["n"].astype(np.int64)})
    return pd.concat([place_rows, periods], ignore_index=True), crime_types


def _gi(lam: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from scipy.stats import norm

    z = (np.log1p(lam) - np.log1p(lam).mean()) / np.log1p(lam).std() * 1.2 + rng.normal(0, 0.7, len(lam))
    p = 2 * norm.sf(np.abs(z))
    bins = (np.sign(z) * ((np.abs(z) > 1.645).astype(int) + (np.abs(z) > 1.96) + (np.abs(z) > 2.576))).astype(np.int8)
    return z, p, bins


def build_workspace(root: Path, seed: int = 7) -> None:
    """Create the national workspace: places, stores, a scoring run and a trends run."""
    rng = np.random.default_rng(seed)
    ws = init_workspace(root)
    places, lat, lng = _towns(ws, rng)
    _stores(ws)
    cells = np.unique(np.asarray(geometry_to_cells(shapely.box(*ENGLAND_BBOX), 9), dtype=np.uint64))
    lam = _intensity(cells, lat, lng, rng)
    incidents = rng.poisson(lam).astype(np.int64)
    harm = np.where(incidents > 0, np.round(rng.gamma(np.maximum(incidents, 1) * 0.8, 10.0) * 2) / 2, 0.0)
    z, p, bins = _gi(lam, rng)
    place_index, place_cells = places_to_cells(places, 9) if len(places) else (np.empty(0, int), np.empty(0, np.uint64))
    place_of_cell = np.full(len(cells), -1)
    pos = np.searchsorted(cells, place_cells)
    ok = pos < len(cells)
    place_of_cell[pos[ok]] = place_index[ok]
    names = np.append(places["name"].to_numpy(dtype=object), "")[place_of_cell]
    rank = pd.Series(-harm).rank(method="first").to_numpy(np.int64)
    cell_table = pd.DataFrame({
        "cell": cells, "harm": harm, "incidents": incidents, "gi_z": z, "gi_p": p, "gi_p_sim": p, "gi_p_rand": p,
        "gi_q": p, "gi_bin": bins, "moran_i": z, "moran_p_sim": p, "moran_class": "NS", "rank": rank,
        "rank_low": np.maximum(rank - 3, 1), "rank_high": rank + 3, "p_top_n": np.exp(-rank / 5000.0),
        "harm_css": harm, "harm_count": incidents.astype(float), "places": names})
    periods, crime_types = _long_tables(cells, incidents, harm, rng, place_of_cell, places["place_id"])
    place_table = _place_table(places, place_of_cell, harm, incidents, bins)
    meta = {"resolution": 9, "window": {"periods": list(QUARTERS)}, "synthetic": True,
            "totals": {"harm": float(harm.sum()), "incidents": int(incidents.sum())}}
    save_result(ws, Result(cell_table, place_table, periods, meta, crime_types), {"bench": "bench_web"})
    _save_trends(ws, cells, bins, harm, incidents, place_table, rng)
    password = generate_password()
    add_user(ws, USER, "planner", password=password)
    (root / "bench_password").write_text(password, encoding="utf-8")


def _place_table(places, place_of_cell, harm, incidents, bins) -> pd.DataFrame:
    n = len(places)
    inside = place_of_cell >= 0
    p_harm = np.bincount(place_of_cell[inside], weights=harm[inside], minlength=n)
    p_inc = np.bincount(place_of_cell[inside], weights=incidents[inside], minlength=n).astype(np.int64)
    hot = np.bincount(place_of_cell[inside], weights=bins[inside] > 0, minlength=n).astype(np.int64)
    rank = pd.Series(-p_harm).rank(method="first").to_numpy(np.int64)
    return pd.DataFrame({"place_id": places["place_id"], "kind": places["kind"], "name": places["name"],
                         "code": places["code"], "harm": p_harm, "incidents": p_inc, "area_km2": places["area_km2"],
                         "harm_per_km2": p_harm / places["area_km2"].to_numpy(), "stores": 0, "harm_per_store": np.nan,
                         "cells": np.bincount(place_of_cell[inside], minlength=n), "hot_cells": hot,
                         "gi_z": np.log1p(p_harm), "gi_p": 0.01, "gi_p_rand": 0.01, "gi_q": 0.01,
                         "gi_bin": np.where(hot > 20, 3, 0).astype(np.int8), "rank": rank, "rank_low": rank,
                         "rank_high": rank, "p_top_n": 0.5, "harm_css": p_harm, "harm_count": p_inc.astype(float)})


def _save_trends(ws, cells, bins, harm, incidents, place_table, rng) -> None:
    """A trends run: random hot classes for hot cells, cold classes for cold cells, monthly series of both."""
    patterned = np.flatnonzero(bins != 0)
    codes = np.where(bins[patterned] > 0, rng.integers(1, 9, len(patterned)), -rng.integers(1, 9, len(patterned)))
    table = pd.DataFrame({"cell": cells[patterned], "emerging_class": "", "emerging_code": codes.astype(np.int8),
                          "hot_bins": 0, "cold_bins": 0, "final_run": 0, "final_gi_z": 0.0,
                          "final_gi_bin": bins[patterned], "trend_z": rng.normal(0, 1, len(patterned)),
                          "trend_p": 0.5, "harm_total": harm[patterned], "incidents_total": incidents[patterned],
                          "harm_last": 0.0, "harm_slope": 0.0, "forecast_harm": harm[patterned] / 24,
                          "forecast_rank": np.arange(1, len(patterned) + 1)})
    from harmmap.scoring.emerging import codes_to_keys
    table["emerging_class"] = codes_to_keys(table["emerging_code"].to_numpy())
    sample = patterned[: 200_000]  # monthly series of the first 200k patterned cells (a national run keeps all)
    monthly = rng.multinomial(incidents[sample], np.full(len(MONTHS), 1 / len(MONTHS)))
    periods = pd.DataFrame({"kind": "cell", "unit": _hex(np.repeat(cells[sample], len(MONTHS))),
                            "period": np.tile(MONTHS, len(sample)),
                            "harm": (monthly * (harm[sample] / np.maximum(incidents[sample], 1))[:, None]).ravel(),
                            "incidents": monthly.ravel().astype(np.int64), "gi_z": 0.0,
                            "gi_bin": rng.choice([-1, 0, 0, 1, 2, 3], monthly.size).astype(np.int8)})
    places = pd.DataFrame({"place_id": place_table["place_id"], "name": place_table["name"],
                           "kind": place_table["kind"], "emerging_class": "no_pattern", "emerging_code": np.int8(0)})
    meta = {"kind": "trends", "periods": list(MONTHS), "synthetic": True}
    save_result(ws, Result(table, places, periods, meta), {"bench": "bench_web"})


# ---------------------------------------------------------------------------- measurements
def login(client_get, client_post, password: str) -> None:
    page = client_get("/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    client_post("/login", {"username": USER, "password": password, "csrf_token": token})


def views() -> list[tuple[str, str]]:
    """(label, query) of the measured views."""
    lei, man, bir = CITIES["Leicester"], CITIES["Manchester"], CITIES["Birmingham"]
    england = bbox_text(ENGLAND_BBOX)
    return [
        ("England, zoom 6 (harm)", f"bbox={england}&zoom=6"),
        ("England, zoom 7 (harm)", f"bbox={england}&zoom=7"),
        ("England, zoom 7 (Gi*)", f"bbox={england}&zoom=7&layer=gi"),
        ("England, zoom 7, one quarter", f"bbox={england}&zoom=7&period=2024-Q4"),
        ("Midlands, zoom 9", f"bbox={bbox_text(view_bbox(*bir, 9))}&zoom=9"),
        ("Midlands, zoom 10", f"bbox={bbox_text(view_bbox(*bir, 10))}&zoom=10"),
        ("Leicester, zoom 12", f"bbox={bbox_text(view_bbox(*lei, 12))}&zoom=12"),
        ("Leicester, zoom 12, shoplifting", f"bbox={bbox_text(view_bbox(*lei, 12))}&zoom=12&crime_type=Shoplifting"),
        ("Manchester, zoom 14", f"bbox={bbox_text(view_bbox(*man, 14))}&zoom=14"),
        ("England box at zoom 14 (abuse)", f"bbox={england}&zoom=14"),
    ]


def in_process(root: Path, password: str, reps: int) -> list[Row]:
    """Bytes and server time of each view through the Flask test client (first call and median of ``reps``)."""
    from harmmap.web import create_app

    app = create_app({"workspace": str(root), "secure_cookies": False})
    client = app.test_client()
    login(lambda p: client.get(p).get_data(as_text=True), lambda p, d: client.post(p, data=d), password)
    rows = []
    start = time.perf_counter()
    page = client.get("/map")
    rows.append(Row("Page /map (index build + meta)", {"bytes": len(page.data), "first_ms": 1e3 * (time.perf_counter() - start)}))
    for label, query in views():
        times, body = [], b""
        for _ in range(reps + 1):
            t0 = time.perf_counter()
            response = client.get(f"/api/map/cells?{query}")
            times.append(1e3 * (time.perf_counter() - t0))
            body = response.data
        payload = json.loads(body)
        rows.append(Row(label, {"bytes": len(body), "gzip": len(gzip.compress(body, 6)), "first_ms": times[0],
                                "ms": float(np.median(times[1:])), "cells": payload["count"],
                                "res": payload["resolution"], "flags": "coarsened" * payload["coarsened"] +
                                " truncated" * payload["truncated"]}))
        if label.startswith("Leicester, zoom 12") and not label.endswith("shoplifting"):
            top = payload["top"][0]["cell"]
    england, city = bbox_text(ENGLAND_BBOX), bbox_text(view_bbox(*CITIES["Leicester"], 12))
    for label, path in (("Cell details", f"/api/map/cells/{top}"), ("Cell series", f"/api/map/cells/{top}/series"),
                        ("Boundaries, England zoom 7", f"/api/map/boundaries?bbox={england}&zoom=7"),
                        ("Boundaries, Leicester zoom 12", f"/api/map/boundaries?bbox={city}&zoom=12"),
                        ("Boundaries, no bbox/zoom", "/api/map/boundaries"),
                        ("Stores, England (all orgs)", f"/api/map/stores?bbox={england}"),
                        ("Stores, Leicester zoom 12", f"/api/map/stores?bbox={city}")):
        times = []
        for _ in range(reps + 1):
            t0 = time.perf_counter()
            body = client.get(path).data
            times.append(1e3 * (time.perf_counter() - t0))
        rows.append(Row(label, {"bytes": len(body), "gzip": len(gzip.compress(body, 6)), "first_ms": times[0],
                                "ms": float(np.median(times[1:]))}))
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _random_views(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    names = list(CITIES)
    out = []
    for _ in range(n):
        lat, lng = CITIES[names[rng.integers(len(names))]]
        zoom = int(rng.integers(6, 15))
        jitter = 2.0 / 2 ** (zoom - 6)
        box = view_bbox(lat + rng.uniform(-jitter, jitter), lng + rng.uniform(-jitter, jitter), zoom)
        layer = rng.choice(["harm"] * 14 + ["gi"] * 3 + ["emerging"] * 3)
        out.append(f"bbox={bbox_text(box)}&zoom={zoom}&layer={layer}")
    return out


def _hammer(base: str, cookies, paths: list[str], clients: int) -> tuple[np.ndarray, list[int], int, float]:
    """GET every path from ``clients`` threads (one session each); latencies (ms), sizes, errors, wall time."""
    import requests

    latencies, sizes, errors = [], [], []
    lock = threading.Lock()

    def worker(part: list[str]) -> None:
        s = requests.Session()
        s.cookies.update(cookies)
        for path in part:
            t = time.perf_counter()
            r = s.get(base + path)
            dt = time.perf_counter() - t
            with lock:
                latencies.append(dt)
                sizes.append(len(r.content))
                if r.status_code != 200:
                    errors.append(r.status_code)
    pool = [threading.Thread(target=worker, args=(paths[i::clients],)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return np.array(latencies) * 1e3, sizes, len(errors), time.perf_counter() - t0


def concurrent(root: Path, password: str, requests_n: int, clients: int, threads: int) -> dict:
    """p50/p95/p99 latency of /api/map/cells under ``clients`` concurrent sessions against harmmap serve,
    and of /api/me (authentication only: the floor of the framework on this machine) the same way."""
    import requests

    port = _free_port()
    exe = Path(sys.executable).with_name("harmmap")
    server = subprocess.Popen([str(exe), "--workspace", str(root), "serve", "--port", str(port), "--threads",
                               str(threads)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/login", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        session = requests.Session()
        login(lambda p: session.get(base + p).text,
              lambda p, d: session.post(base + p, data=d, allow_redirects=False), password)
        t0 = time.perf_counter()
        page = session.get(base + "/map")
        cold = time.perf_counter() - t0
        if page.status_code != 200 or 'id="map-meta"' not in page.text:
            raise RuntimeError(f"could not open /map on the server: {page.status_code} {page.url}")
        queries = [f"/api/map/cells?{q}" for q in _random_views(requests_n, seed=11)]
        for q in queries[:clients]:  # warm the per-level caches once, as a running server would have
            session.get(base + q)
        floor, _, _, _ = _hammer(base, session.cookies, ["/api/me"] * requests_n, clients)
        ms, sizes, errors, wall = _hammer(base, session.cookies, queries, clients)
        rss = _rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=20)
    return {"requests": len(ms), "errors": errors, "p50": np.percentile(ms, 50), "p95": np.percentile(ms, 95),
            "p99": np.percentile(ms, 99), "max": ms.max(), "throughput": len(ms) / wall,
            "largest_bytes": max(sizes), "cold_page_s": cold, "floor_p50": np.percentile(floor, 50),
            "floor_p95": np.percentile(floor, 95), "clients": clients, "threads": threads, "rss_mb": rss}


def _rss_mb(pid: int) -> int | None:
    """Resident memory of a process in MB (Linux; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))
    except (OSError, StopIteration):
        return None


def _hexagon(cell: int) -> dict:
    ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(h3.int_to_str(cell))]
    return {"type": "Polygon", "coordinates": [ring + ring[:1]]}


def folium_peer(root: Path) -> list[Row]:
    """folium GeoJson of every res-9 cell with harm in a view: HTML size and build time."""
    import folium
    from h3ronpy.vector import cells_to_coordinates

    from harmmap.web.data import latest_run

    run = latest_run(open_workspace(root), "scoring")
    cells = run.cells.loc[run.cells["harm"] > 0, ["cell", "harm"]]
    coords = cells_to_coordinates(cells["cell"].to_numpy(np.uint64))
    lat, lng = np.asarray(coords.column("lat")), np.asarray(coords.column("lng"))
    rows = []
    for label, box, sample in (("Leicester, zoom 12", view_bbox(*CITIES["Leicester"], 12), None),
                               ("England (all cells with harm)", ENGLAND_BBOX, 50_000)):
        inside = np.flatnonzero((lng >= box[0]) & (lng <= box[2]) & (lat >= box[1]) & (lat <= box[3]))
        take = inside if sample is None else inside[:sample]
        t0 = time.perf_counter()
        features = [{"type": "Feature", "properties": {"harm": float(h)}, "geometry": _hexagon(int(c))}
                    for c, h in zip(cells["cell"].to_numpy()[take], cells["harm"].to_numpy()[take])]
        fmap = folium.Map(location=[(box[1] + box[3]) / 2, (box[0] + box[2]) / 2], zoom_start=12, tiles=None)
        folium.GeoJson({"type": "FeatureCollection", "features": features},
                       style_function=lambda f: {"fillColor": "#e31a1c" if f["properties"]["harm"] > 50 else "#fed976",
                                                 "weight": 0}).add_to(fmap)
        html = fmap.get_root().render()
        seconds = time.perf_counter() - t0
        factor = len(inside) / max(len(take), 1)
        rows.append(Row(label, {"cells": len(inside), "bytes": len(html) * factor, "s": seconds * factor,
                                "extrapolated": factor > 1}))
    return rows


def browser_first_paint(root: Path, password: str) -> float | None:
    """Seconds from navigation to the first hexagons drawn on /map in chromium (None without Playwright)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    port = _free_port()
    exe = Path(sys.executable).with_name("harmmap")
    server = subprocess.Popen([str(exe), "--workspace", str(root), "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        time.sleep(3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": SCREEN[0], "height": SCREEN[1]})
            page.goto(base + "/login")
            page.fill("input[name=username]", USER)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.goto(base + "/map")  # warms the server's index (a running server has it)
            page.wait_for_selector("#map[data-ready='1']", timeout=120_000)
            page.goto(base + "/map")
            page.wait_for_selector("#map[data-ready='1']", timeout=60_000)
            ms = page.evaluate("performance.getEntriesByName('harmmap-first-paint')[0].startTime")
            browser.close()
        return ms / 1e3
    finally:
        server.terminate()
        server.wait(timeout=20)


def report(rows: list[Row], load: dict, peers: list[Row], paint: float | None, cells: int, max_bytes: int) -> None:
    print(f"\nNational workspace: {cells:,} res-9 cells in the scoring run\n")
    print(f"{'view':34} {'cells':>7} {'res':>3} {'bytes':>10} {'gzip':>9} {'first ms':>9} {'warm ms':>8}  target")
    for row in rows:
        f = row.figures
        ok = "ok" if f.get("bytes", 0) <= max_bytes else "OVER"
        print(f"{row.name:34} {f.get('cells', ''):>7} {f.get('res', ''):>3} {f['bytes']:>10,} "
              f"{f.get('gzip', 0):>9,} {f['first_ms']:>9.1f} {f.get('ms', float('nan')):>8.1f}  <= 2 MB {ok} "
              f"{f.get('flags', '')}")
    print(f"\nConcurrency: {load['requests']} requests, {load['clients']} clients, harmmap serve (waitress, "
          f"{load['threads']} threads) on loopback; load average before: {load.get('loadavg', '?')}")
    print(f"  p50 {load['p50']:.0f} ms, p95 {load['p95']:.0f} ms (target <= 200: "
          f"{'ok' if load['p95'] <= 200 else 'MISSED'}), p99 {load['p99']:.0f} ms, max {load['max']:.0f} ms, "
          f"{load['throughput']:.0f} req/s, errors {load['errors']}, largest {load['largest_bytes']:,} B, "
          f"cold /map (run tables + index) {load['cold_page_s']:.1f} s, server memory {load['rss_mb']} MB")
    print(f"  floor: /api/me (authentication only) under the same load: p50 {load['floor_p50']:.0f} ms, "
          f"p95 {load['floor_p95']:.0f} ms")
    print("\nNaive peer: folium GeoJson of every res-9 cell with harm in the view (tiles off)")
    for row in peers:
        f = row.figures
        note = " (extrapolated from 50,000 cells)" if f["extrapolated"] else ""
        print(f"  {row.name:32} {f['cells']:>9,} cells  HTML {f['bytes'] / 1e6:>9.1f} MB  {f['s']:>7.1f} s{note}")
    if paint is not None:
        print(f"\nBrowser first paint of /map (chromium, warm server): {paint:.2f} s (target < 1.5 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", help="reuse (or create) this national workspace instead of a temporary one")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--threads", type=int, default=8, help="waitress threads")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--browser", action="store_true", help="also time the first paint in chromium")
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    temp = None
    root = Path(args.workspace) if args.workspace else Path(tempfile.mkdtemp(prefix="bench_web_")) / "ws"
    if not args.workspace:
        temp = root.parent
    try:
        if not (root / "bench_password").is_file():
            t0 = time.perf_counter()
            build_workspace(root)
            print(f"built the national workspace in {time.perf_counter() - t0:.0f} s at {root}")
        password = (root / "bench_password").read_text(encoding="utf-8").strip()
        cells = list_runs(open_workspace(root), "scoring")[0].cells
        rows = in_process(root, password, args.reps)
        loadavg = " ".join(f"{v:.1f}" for v in os.getloadavg())
        load = concurrent(root, password, args.requests, args.clients, args.threads) | {"loadavg": loadavg}
        peers = [] if args.no_peer else folium_peer(root)
        paint = browser_first_paint(root, password) if args.browser else None
        report(rows, load, peers, paint, cells, 2_000_000)
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
