"""The planner map page and /api/map/... over the shared web workspace (Flask test client)."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import h3
import jsonschema_rs
import pytest

from harmmap.store.accounts import read_audit
from harmmap.store.areas import create_area, delete_area
from harmmap.web import create_app, maps
from harmmap.web.data import latest_run

STATIC = Path(__file__).resolve().parents[2] / "harmmap" / "web" / "static"
WHOLE = "-8,49,2,56"  # covers every cell of the simulated workspace
ENDPOINTS = ["/map", "/api/map/meta", f"/api/map/cells?bbox={WHOLE}&zoom=8", "/api/map/boundaries",
             "/api/map/stores", "/api/map/places/town_centre:TC001"]
BAD = ["zoom=8", f"bbox={WHOLE}", "bbox=1,2,3&zoom=8", "bbox=a,b,c,d&zoom=8", f"bbox={WHOLE}&zoom=21",
       f"bbox={WHOLE}&zoom=-1", f"bbox={WHOLE}&zoom=7.5", f"bbox={WHOLE}&zoom=8&layer=heat",
       f"bbox={WHOLE}&zoom=8&area=0", f"bbox={WHOLE}&zoom=8&area=x", "bbox=-200,49,2,56&zoom=8",
       "bbox=nan,49,2,56&zoom=8", "bbox=-8,49,inf,56&zoom=8", "bbox=1,2,3,4,5&zoom=8"]
#: well formed, but naming data the run does not hold: 404 (as an unknown operation area is elsewhere)
UNKNOWN = [f"bbox={WHOLE}&zoom=8&period=1999-Q1", f"bbox={WHOLE}&zoom=8&crime_type=Piracy",
           f"bbox={WHOLE}&zoom=8&area=999999"]


@pytest.fixture()
def planner(as_user):
    return as_user("planner")


def cells(client, query: str) -> dict:
    response = client.get(f"/api/map/cells?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def scoring(ws):
    return latest_run(ws, "scoring")


@pytest.mark.parametrize("user", ["planner", "admin"])
def test_page_renders_with_local_assets_only(as_user, user):
    response = as_user(user).get("/map")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="map"' in html and "vendor/leaflet/leaflet.js" in html and "vendor/h3-js/h3-js.umd.js" in html
    assert not re.search(r"https?://", html), "no URL of another host in the page"
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+=", html) and " style=" not in html
    meta = json.loads(re.search(r'id="map-meta">(.*?)</script>', html, re.S).group(1))
    assert meta["tiles_url"] == "" and meta["periods"] and meta["crime_types"] and meta["native_resolution"] == 9


def test_csp_header_intact(planner):
    response = planner.get("/map")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert re.search(r"script-src 'self' 'nonce-[^']+';", csp) and "unsafe" not in csp
    assert "img-src 'self' data:;" in csp  # no tiles configured: no other image host


def test_tiles_only_when_configured(web_workspace, as_user):
    app = create_app({"workspace": str(web_workspace.root), "secure_cookies": False, "testing": True,
                      "tiles_url": "https://tiles.example.org/{z}/{x}/{y}.png", "tiles_attribution": "Example"})
    from conftest import login
    client = app.test_client()
    login(client, "planner")
    response = client.get("/map")
    assert "img-src 'self' data: https://tiles.example.org" in response.headers["Content-Security-Policy"]
    assert "tiles.example.org" in response.get_data(as_text=True)


def test_static_assets_are_served_and_map_js_has_no_url(planner):
    for path in ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "vendor/leaflet/images/layers.png",
                 "vendor/h3-js/h3-js.umd.js", "map.js", "map.css"):
        assert planner.get(f"/static/{path}").status_code == 200, path
    assert "http" not in (STATIC / "map.js").read_text(encoding="utf-8")
    assert "http" not in (STATIC / "map.css").read_text(encoding="utf-8")
    assert (STATIC / "vendor" / "leaflet" / "LICENSE").is_file() and (STATIC / "vendor" / "h3-js" / "LICENSE").is_file()


@pytest.mark.parametrize("user", ["acme_user", "other_user", "deploy"])
@pytest.mark.parametrize("path", ENDPOINTS + ["/api/map/cells/89194205a37ffff", "/api/map/cells/89194205a37ffff/series"])
def test_other_roles_are_forbidden(as_user, user, path):
    assert as_user(user).get(path).status_code == 403


def test_anonymous_is_sent_to_login_or_401(app):
    client = app.test_client()
    assert client.get("/map").status_code == 302
    for path in ENDPOINTS[1:]:
        assert client.get(path).status_code == 401, path


@pytest.mark.parametrize("query", BAD)
def test_bad_params_are_400_json(planner, query):
    response = planner.get(f"/api/map/cells?{query}")
    assert response.status_code == 400, query
    assert response.get_json()["status"] == 400


@pytest.mark.parametrize("query", UNKNOWN)
def test_unknown_filter_values_are_404_json(planner, query):
    response = planner.get(f"/api/map/cells?{query}")
    assert response.status_code == 404 and response.get_json()["status"] == 404


def test_bbox_corners_in_any_order_and_clamped(planner):
    normal = cells(planner, "bbox=-2,52,-1,53&zoom=12")
    assert cells(planner, "bbox=-1,53,-2,52&zoom=12")["cells"] == normal["cells"]
    assert cells(planner, "bbox=-2,52,-1,53&zoom=12")["bbox"] == [-2, 52, -1, 53]
    assert cells(planner, "bbox=-8,-120,2,170&zoom=6")["bbox"] == [-8, -90, 2, 90]


def test_bad_page_params(planner):
    assert planner.get("/map?layer=heat").status_code == 400
    assert planner.get("/map?area=999999").status_code == 404
    assert planner.get("/api/map/cells/not-a-cell").status_code == 404
    assert planner.get("/api/map/cells/8928308280fffff").status_code == 404  # valid H3, not on this map
    assert planner.get("/api/map/places/nowhere").status_code == 404


def test_bbox_returns_the_hand_checked_cells(planner, web_workspace):
    run = scoring(web_workspace)
    table = run.cells[run.cells["harm"] > 0]
    chosen = h3.int_to_str(int(table["cell"].iloc[0]))
    lat, lng = h3.cell_to_latlng(chosen)
    box = f"{lng - 0.001},{lat - 0.001},{lng + 0.001},{lat + 0.001}"
    body = cells(planner, f"bbox={box}&zoom=16")
    assert body["resolution"] == 9 and chosen in body["cells"]
    for cell in body["cells"]:  # only the chosen cell and its touching neighbours
        assert h3.grid_distance(cell, chosen) <= 2
    far = [h3.int_to_str(int(c)) for c in table["cell"] if h3.grid_distance(h3.int_to_str(int(c)), chosen) > 50]
    assert far and not set(far) & set(body["cells"])
    i = body["cells"].index(chosen)
    row = table.iloc[0]
    assert body["harm"][i] == pytest.approx(row["harm"]) and body["incidents"][i] == row["incidents"]
    assert body["gi_bin"][i] == row["gi_bin"]


def test_whole_region_view_fits_the_budget_at_every_zoom(planner, web_workspace):
    run = scoring(web_workspace)
    total = run.cells["harm"].sum()
    for zoom in range(0, 21, 2):
        response = planner.get(f"/api/map/cells?bbox={WHOLE}&zoom={zoom}")
        assert len(response.data) <= 2_000_000
        body = response.get_json()
        assert sum(body["harm"]) == pytest.approx(total, rel=1e-9, abs=1.0), zoom  # aggregation conserves harm
        assert len(body["cells"]) == len(body["harm"]) == len(body["gi_bin"]) == len(body["emerging"]) == body["count"]


def test_small_budget_is_respected(web_workspace, as_user):
    app = create_app({"workspace": str(web_workspace.root), "secure_cookies": False, "testing": True,
                      "max_map_bytes": 30_000})
    from conftest import login
    client = app.test_client()
    login(client, "planner")
    response = client.get(f"/api/map/cells?bbox={WHOLE}&zoom=14")
    body = response.get_json()
    assert len(response.data) <= 30_000 and (body["coarsened"] or body["truncated"])


def test_crime_type_filter_sums_equal_all_crime(planner):
    meta = planner.get("/api/map/meta").get_json()
    whole = cells(planner, f"bbox={WHOLE}&zoom=14")
    summed: dict[str, float] = {}
    counted: dict[str, int] = {}
    for crime in meta["crime_types"]:
        part = cells(planner, f"bbox={WHOLE}&zoom=14&crime_type={crime}")
        assert part["crime_type"] == crime
        for cell, harm, n in zip(part["cells"], part["harm"], part["incidents"]):
            summed[cell] = summed.get(cell, 0.0) + harm
            counted[cell] = counted.get(cell, 0) + n
    for cell, harm, n in zip(whole["cells"], whole["harm"], whole["incidents"]):
        assert summed.get(cell, 0.0) == pytest.approx(harm, abs=0.02) and counted.get(cell, 0) == n
    by_period = [cells(planner, f"bbox={WHOLE}&zoom=8&period={p}") for p in meta["periods"]]
    assert sum(sum(b["harm"]) for b in by_period) == pytest.approx(sum(whole["harm"]), abs=1.0)
    one = cells(planner, f"bbox={WHOLE}&zoom=14&crime_type=Shoplifting&period={meta['periods'][-1]}")
    assert one["period"] == meta["periods"][-1] and sum(one["harm"]) < sum(whole["harm"])


def test_gi_and_emerging_layers_show_classified_cells(planner):
    gi = cells(planner, f"bbox={WHOLE}&zoom=14&layer=gi")
    assert gi["cells"] and all(b != 0 for b in gi["gi_bin"])
    emerging = cells(planner, f"bbox={WHOLE}&zoom=14&layer=emerging")
    assert emerging["cells"] and all(c != 0 for c in emerging["emerging"])
    coarse = cells(planner, f"bbox={WHOLE}&zoom=6&layer=gi")
    assert coarse["resolution"] == 5 and max(coarse["gi_bin"]) == max(gi["gi_bin"])


def test_area_filter_keeps_only_the_area_cells(planner, web_workspace):
    run = scoring(web_workspace)
    area = create_area(web_workspace, "map test area", ["town_centre:TC001", "town_centre:TC002"], "planner")
    try:
        body = cells(planner, f"bbox={WHOLE}&zoom=14&area={area}")
        assert body["cells"]
        names = dict(zip(run.cells["cell"].map(h3.int_to_str), run.cells["places"]))
        places = {names.get(c, "") for c in body["cells"]}
        assert places <= {"Leicester", "Loughborough"}, places
        assert planner.get(f"/map?area={area}").status_code == 200
        detail = planner.get(f"/api/map/cells/{body['cells'][0]}?area={area}").get_json()
        assert detail["filtered"]["harm"] == pytest.approx(body["harm"][0])
    finally:
        delete_area(web_workspace, area)


def test_cell_details_series_and_audit(planner, web_workspace):
    body = cells(planner, f"bbox={WHOLE}&zoom=14")
    top = body["top"][0]
    assert top["harm"] == max(body["harm"])
    detail = planner.get(f"/api/map/cells/{top['cell']}").get_json()
    assert detail["harm"] == pytest.approx(top["harm"]) and detail["rank"] == 1 and detail["gi_z"] is not None
    series = planner.get(f"/api/map/cells/{top['cell']}/series").get_json()
    assert len(series["periods"]) == len(series["harm"]) and sum(series["harm"]) == pytest.approx(detail["harm"])
    coarse = cells(planner, f"bbox={WHOLE}&zoom=6")
    parent = planner.get(f"/api/map/cells/{coarse['cells'][0]}").get_json()
    assert parent["resolution"] == 5 and parent["harm"] == pytest.approx(coarse["harm"][0])
    psum = planner.get(f"/api/map/cells/{coarse['cells'][0]}/series").get_json()
    assert sum(psum["harm"]) == pytest.approx(parent["harm"])
    planner.get("/map")
    targets = [(e["action"], e["target"]) for e in read_audit(web_workspace, limit=20)]
    assert ("view", "/map") in targets and ("view", f"/api/map/cells/{top['cell']}") in targets
    assert not any(t.startswith("/api/map/cells?") for _, t in targets)  # panning is not logged


def test_place_boundaries_and_stores(planner):
    geo = planner.get("/api/map/boundaries").get_json()
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 33
    assert {f["properties"]["kind"] for f in geo["features"]} == {"town_centre"}
    place = planner.get("/api/map/places/town_centre:TC001").get_json()
    assert place["name"] == "Leicester" and len(place["series"]["harm"]) == len(place["series"]["periods"])
    stores = planner.get("/api/map/stores").get_json()
    assert {"acme", "other"} <= set(stores["org_id"]) and stores["count"] == len(stores["lat"])
    leicester = "-1.2,52.6,-1.1,52.67"
    near = planner.get(f"/api/map/stores?bbox={leicester}").get_json()
    assert 0 < near["count"] < stores["count"]
    assert all(-1.2 <= x <= -1.1 for x in near["lng"]) and all(52.6 <= y <= 52.67 for y in near["lat"])
    local = planner.get(f"/api/map/boundaries?bbox={leicester}&zoom=14").get_json()
    assert [f["properties"]["name"] for f in local["features"]] == ["Leicester"]
    coarse = planner.get("/api/map/boundaries?zoom=5")
    assert len(coarse.data) < len(planner.get("/api/map/boundaries?zoom=15").data)
    assert planner.get("/api/map/boundaries?zoom=99").status_code == 400


def test_responses_match_the_openapi_schemas(planner):
    doc = planner.get("/api/openapi.json").get_json()
    body = cells(planner, f"bbox={WHOLE}&zoom=12")
    cell = body["cells"][0]
    cases = {"MapMeta": "/api/map/meta", "MapCells": f"/api/map/cells?bbox={WHOLE}&zoom=12&period=2023-Q4",
             "MapCell": f"/api/map/cells/{cell}?crime_type=Shoplifting", "MapSeries": f"/api/map/cells/{cell}/series",
             "MapPlace": "/api/map/places/town_centre:TC001", "MapBoundaries": "/api/map/boundaries",
             "MapStores": "/api/map/stores"}
    for name, path in cases.items():
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        jsonschema_rs.validator_for(schema).validate(planner.get(path).get_json())
    assert {"/api/map/cells", "/api/map/cells/{cell}", "/api/map/meta"} <= set(doc["paths"])
    zoom = next(p for p in doc["paths"]["/api/map/cells"]["get"]["parameters"] if p["name"] == "zoom")
    assert zoom["schema"] == {"type": "integer", "minimum": 0, "maximum": 20}


def test_warm_index_builds_the_latest_runs_index(app, web_workspace, monkeypatch):
    monkeypatch.setattr(maps, "_INDEXES", OrderedDict())  # start cold (restored afterwards)
    index = maps.warm_index(app)
    run, trends = scoring(web_workspace), latest_run(web_workspace, "trends")
    assert index is not None and index.key == (run.row.run_id, trends.row.run_id)
    assert list(maps._INDEXES) == [(str(web_workspace.root), run.row.run_id, trends.row.run_id)]
    assert maps.get_index(str(web_workspace.root), run, trends) is index  # what the first /map will use
    assert index.lazy["crime"][0]  # crime types loaded too


def test_warm_index_failure_is_logged_not_raised(capsys):
    assert maps.warm_index(SimpleNamespace(extensions={})) is None
    assert "map warm-up failed" in capsys.readouterr().err


def test_serve_starts_the_warm_up_in_a_daemon_thread(web_workspace, monkeypatch):
    import waitress

    from harmmap.cli.web import serve_app

    warmed = threading.Event()
    seen = {}

    def fake_warm(app):
        seen["daemon"] = threading.current_thread().daemon
        seen["root"] = str(app.extensions["harmmap"].ws.root)
        warmed.set()

    monkeypatch.setattr(maps, "warm_index", fake_warm)
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: warmed.wait(10))
    serve_app(str(web_workspace.root), "127.0.0.1", 8099, 1)
    assert warmed.is_set() and seen == {"daemon": True, "root": str(web_workspace.root)}
