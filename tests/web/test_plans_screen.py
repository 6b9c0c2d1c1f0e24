"""The plans screen and /api/plans: roles, the operation-area filter, exports, CSP, determinism and bounds."""

from __future__ import annotations

import io
import json
import re
from xml.etree import ElementTree as ET

import pandas as pd
import pytest
import shapely
from openpyxl import load_workbook

from harmmap.store.accounts import read_audit
from harmmap.store.areas import create_area
from harmmap.web import plan_pages
from harmmap.web.data import places_wgs84
from harmmap.web.plan_pages import MAX_CANDIDATES, MAX_K, MAX_SECONDS, MAX_SITES, MAX_TEAMS, PLAN_FORMATS

STAFF = ("admin", "planner", "deploy")
KML = "{http://www.opengis.net/kml/2.2}"
QUERIES = {"patrol": "unit=cells&teams=3", "deploy": "teams=4&radius=2500", "stores": "all=true"}
TABLE = {"patrol": "stops", "deploy": "sites", "stores": "stores"}


@pytest.fixture(scope="module")
def area(web_workspace):
    """An operation area of the first town centre (Leicester: stores of both organisations)."""
    shapes = places_wgs84(web_workspace)
    place = shapes.iloc[0]
    area_id = create_area(web_workspace, "Plans test area", [place["place_id"]], created_by="test")
    return {"id": int(getattr(area_id, "area_id", area_id)), "place_id": place["place_id"],
            "shape": shapely.buffer(place.geometry, 0.002)}  # about 150 m: a cell centre in, its hexagon around


def _json(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, (url, response.get_data(as_text=True)[:500])
    return response.get_json()


def _inside(shape, rows: list[dict]) -> bool:
    return all(shape.contains(shapely.Point(r["lng"], r["lat"])) for r in rows)


# ------------------------------------------------------------------ roles
@pytest.mark.parametrize("user", STAFF)
def test_page_renders_the_three_forms_for_staff(as_user, user):
    html = as_user(user).get("/plans").get_data(as_text=True)
    for kind in ("patrol", "deploy", "stores"):
        assert f'<input type="hidden" name="plan" value="{kind}">' in html
    assert 'name="visit_minutes"' in html and 'value="15"' in html and 'name="solver"' in html
    assert 'id="plan-map"' not in html  # nothing computed yet


@pytest.mark.parametrize("url", ["/plans", "/plans?plan=patrol", "/api/plans/patrol", "/api/plans/deploy",
                                 "/api/plans/stores", "/plans/stores/export.csv", "/api/plans/patrol/export.kml"])
def test_retailers_and_anonymous_are_refused(app, as_user, bearer, url):
    assert as_user("acme_user").get(url).status_code == 403
    assert bearer("other_user").get(url).status_code == 403
    assert app.test_client().get(url).status_code in (302, 401)
    assert bearer("deploy").get(url).status_code == 200


# ------------------------------------------------------------------ the page
@pytest.mark.parametrize("kind", ["patrol", "deploy", "stores"])
def test_plan_page_shows_map_tables_figures_and_exports(as_user, web_workspace, kind):
    query = QUERIES[kind]
    html = as_user("planner").get(f"/plans?plan={kind}&{query}").get_data(as_text=True)
    assert 'id="plan-map"' in html and "Trends run" in html
    for fmt in PLAN_FORMATS:
        assert f'href="/plans/{kind}/export.{fmt}?{query.replace("&", "&amp;")}"' in html
    meta = json.loads(re.search(r'<script type="application/json" id="plan-meta"[^>]*>(.*?)</script>', html,
                                re.S).group(1))
    assert meta["kind"] == kind and meta["tiles_url"] == ""
    if kind == "patrol":
        assert "Expected share of forecast covered" in html and "Visit schedule" in html
        assert len(meta["layers"]["teams"]) == 3 and all(t["stops"] for t in meta["layers"]["teams"])
        assert html.count("<tr><td class=\"num\">1</td><td class=\"num\">") >= 1  # schedule rows
    elif kind == "deploy":
        assert "optimality gap" in html and "scip, optimal" in html
        assert len(meta["layers"]["sites"]) == 4 and meta["layers"]["radius_m"] == 2500
    else:
        assert "Stores listed" in html and "OWN_INCIDENTS" in html
        assert {s["colour"] for s in meta["layers"]["stores"]} <= set(plan_pages.TIER_COLOURS.values())
    entry = next(e for e in read_audit(web_workspace, 20) if e["target"] == "/plans")
    assert entry["action"] == "view" and f'"plan": "{kind}"' in entry["detail"] and '"rows":' in entry["detail"]


def test_page_explains_bad_parameters_and_keeps_the_forms(as_user):
    response = as_user("deploy").get("/plans?plan=patrol&visit_minutes=60&revisit_minutes=30")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'role="alert"' in html and "visit" in html
    assert '<input type="hidden" name="plan" value="deploy">' in html
    response = as_user("deploy").get("/plans?plan=patrol&teams=0")
    assert response.status_code == 400 and "from 1 to 20" in response.get_data(as_text=True)


def test_no_other_host_no_inline_code_without_the_nonce(as_user):
    response = as_user("admin").get(f"/plans?plan=patrol&{QUERIES['patrol']}")
    html = response.get_data(as_text=True)
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert not re.search(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}", html), "a URL of another host in the page"
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or f'nonce="{nonce}"' in tag, tag
    assert not re.search(r"\sstyle\s*=", html) and not re.search(r"\son[a-z]+\s*=", html)
    for asset in ("plans.js", "plans.css"):
        text = as_user("admin").get(f"/static/{asset}").get_data(as_text=True)
        assert "http:" not in text and "https:" not in text and "//cdn" not in text, asset
        assert "innerHTML" not in text and "eval(" not in text


# ------------------------------------------------------------------ operation areas
def test_area_limits_every_plan(bearer, area):
    client = bearer("planner")
    whole = _json(client, "/api/plans/patrol?unit=cells&teams=3")
    local = _json(client, f"/api/plans/patrol?unit=cells&teams=3&area={area['id']}")
    assert local["area"]["area_id"] == area["id"] and local["area"]["places"] == 1
    assert local["stops"] and _inside(area["shape"], local["stops"]) and not _inside(area["shape"], whole["stops"])
    assert local["summary"]["harm_total"] < whole["summary"]["harm_total"]
    places = _json(client, f"/api/plans/patrol?unit=places&area={area['id']}")
    assert {s["target_id"] for s in places["stops"]} == {area["place_id"]}
    deploy = _json(client, f"/api/plans/deploy?teams=2&radius=500&area={area['id']}")
    everywhere = _json(client, "/api/plans/deploy?teams=2&radius=500")
    assert _inside(area["shape"], deploy["sites"]) and deploy["summary"]["demand_points"] < \
        everywhere["summary"]["demand_points"]
    stores = _json(client, f"/api/plans/stores?all=true&area={area['id']}")
    assert stores["stores"] and _inside(area["shape"], stores["stores"])
    assert stores["summary"]["stores"] < _json(client, "/api/plans/stores?all=true")["summary"]["stores"]
    listed = [s["rank"] for s in stores["stores"] if s["rank"]]
    assert listed == list(range(1, len(listed) + 1))


def test_unknown_area_is_404_everywhere(bearer, as_user):
    for url in ("/api/plans/patrol?area=987654", "/api/plans/deploy/export.csv?area=987654"):
        response = bearer("admin").get(url)
        assert response.status_code == 404 and response.get_json()["status"] == 404
    assert as_user("admin").get("/plans?plan=stores&area=987654").status_code == 404


# ------------------------------------------------------------------ exports
@pytest.mark.parametrize("kind", ["patrol", "deploy", "stores"])
def test_exports_parse_back_with_the_plan_rows(bearer, web_workspace, kind):
    client = bearer("deploy")
    plan = _json(client, f"/api/plans/{kind}?{QUERIES[kind]}")
    expected = {fmt: len(plan["schedule" if kind == "patrol" and fmt in ("csv", "xlsx") else TABLE[kind]])
                for fmt in PLAN_FORMATS}
    for fmt in PLAN_FORMATS:
        response = client.get(f"/api/plans/{kind}/export.{fmt}?{QUERIES[kind]}")
        assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
        body = response.get_data()
        if fmt == "csv":
            frame = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig", dtype=str)
            assert len(frame) == expected[fmt] and {"lat", "lng", "easting", "northing"} <= set(frame.columns)
        elif fmt == "xlsx":
            sheet = load_workbook(io.BytesIO(body), read_only=True).active
            assert sheet.max_row - 1 == expected[fmt]
        elif fmt == "geojson":
            features = json.loads(body)["features"]
            assert len(features) == expected[fmt] and all(f["geometry"]["type"] == "Point" for f in features)
        else:
            marks = ET.fromstring(body).findall(f"{KML}Document/{KML}Placemark")
            assert len(marks) == expected[fmt]
        entry = read_audit(web_workspace, 1)[0]
        assert entry["action"] == "export" and entry["target"] == f"export:plan-{kind}.{fmt}"
        assert f'"rows": {expected[fmt]}' in entry["detail"] and '"params":' in entry["detail"]


def test_store_export_is_formula_safe(bearer):
    client = bearer("admin")
    text = client.get("/api/plans/stores/export.csv?all=true").get_data().decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
    sheet = load_workbook(io.BytesIO(client.get("/api/plans/stores/export.xlsx?all=true").get_data())).active
    names = [c.value for c in next(col for col in sheet.columns if col[0].value == "name")[1:]]
    assert "'=HYPERLINK(\"http://x\")" in names and not any(str(n).startswith("=") for n in names if n)


def test_patrol_exports_name_visits_and_times(bearer):
    client = bearer("planner")
    frame = pd.read_csv(io.BytesIO(client.get("/api/plans/patrol/export.csv?unit=cells&teams=3").get_data()),
                        encoding="utf-8-sig")
    assert frame["arrive"].iloc[0] == "08:00" and frame["round"].max() == 4 and set(frame["team"]) == {1, 2, 3}
    kml = client.get("/api/plans/patrol/export.kml?unit=cells&teams=3").get_data(as_text=True)
    assert "visits 08:00" in kml


# ------------------------------------------------------------------ determinism and bounds
def test_randomised_patrol_is_deterministic_for_a_seed(bearer):
    client = bearer("planner")
    query = "/api/plans/patrol?unit=cells&teams=2&randomise=true&shifts=2&seed={}"
    first = _json(client, query.format(5))["schedule"]
    plan_pages._CACHE.clear()
    assert _json(client, query.format(5))["schedule"] == first
    assert _json(client, query.format(6))["schedule"] != first
    assert {v["shift"] for v in first} == {1, 2}


@pytest.mark.parametrize("query", [
    f"patrol?teams={MAX_TEAMS + 1}", f"patrol?candidates={MAX_CANDIDATES + 1}", "patrol?shifts=4",
    "patrol?start=25:00", "patrol?seed=-1", "patrol?unit=streets", "patrol?visit_minutes=60&revisit_minutes=30",
    f"deploy?teams={MAX_K + 1}", f"deploy?time_limit={MAX_SECONDS + 1}", "deploy?radius=30001",
    "deploy?radius=1000&minutes=5", "deploy?solver=scip", "deploy?sites=cells&demand=cells&radius=30000",
    "stores?top=5001", "stores?reason=NOPE", "stores?trend_alpha=0.9", "patrol?teams=2.5", "deploy?capacity=nan",
])
def test_big_or_bad_parameters_are_refused(bearer, query):
    response = bearer("planner").get(f"/api/plans/{query}")
    body = response.get_json()
    assert response.status_code == 400 and body["status"] == 400 and body["message"], (query, body)


def test_candidate_sites_are_capped_and_said_so(bearer):
    plan = _json(bearer("planner"), "/api/plans/deploy?sites=cells&demand=places&radius=2000&teams=3")
    assert any(f"only the {MAX_SITES:,} candidate cells" in n for n in plan["summary"]["notes"])


def test_unknown_kinds_and_formats_are_404(bearer):
    client = bearer("planner")
    for url in ("/api/plans/routes", "/api/plans/patrol/export.gpkg", "/api/plans/patrol/export.pdf",
                "/plans/nope/export.csv"):
        assert client.get(url).status_code == 404, url


def test_openapi_declares_the_plans_with_bounds(app):
    document = app.test_client().get("/api/openapi.json").get_json()
    for kind in ("patrol", "deploy", "stores"):
        assert f"/api/plans/{kind}" in document["paths"] and f"/api/plans/{kind}/export.{{fmt}}" in document["paths"]
    params = {p["name"]: p["schema"] for p in document["paths"]["/api/plans/patrol"]["get"]["parameters"]}
    assert params["teams"]["maximum"] == MAX_TEAMS and params["visit_minutes"]["default"] == 15
    deploy = {p["name"]: p["schema"] for p in document["paths"]["/api/plans/deploy"]["get"]["parameters"]}
    assert deploy["time_limit"]["maximum"] == MAX_SECONDS and deploy["solver"]["enum"] == ["auto", "greedy"]
