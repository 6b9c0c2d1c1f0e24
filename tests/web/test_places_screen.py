"""Places ranking and place pages: sorting, filters, the offline folium map with CSP nonces, roles."""

from __future__ import annotations

import re

import numpy as np
import pytest

from harmmap.store.accounts import read_audit
from harmmap.store.areas import create_area, delete_area
from harmmap.web.data import latest_run


def _rows(client, query: str = "") -> list[dict]:
    response = client.get(f"/api/places?limit=1000{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["rows"]


def test_ranking_defaults_to_rank_and_sorts_server_side(as_user, web_workspace):
    client = as_user("planner")
    rows = _rows(client)
    scored = latest_run(web_workspace, "scoring").places
    assert len(rows) == len(scored) and [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    by_harm = _rows(client, "&sort=harm")
    assert [r["harm"] for r in by_harm] == sorted((r["harm"] for r in rows), reverse=True)
    by_name = _rows(client, "&sort=name&order=desc")
    assert [r["name"].lower() for r in by_name] == sorted((r["name"].lower() for r in rows), reverse=True)
    forecast = [r["forecast_harm"] for r in _rows(client, "&sort=forecast_harm&order=asc")]
    known = [f for f in forecast if f is not None]
    assert known == sorted(known) and forecast[:len(known)] == known  # missing values last
    assert all(r["emerging_class"] is not None for r in rows)  # joined from the trends run


def test_ranking_filters(as_user, web_workspace):
    client = as_user("admin")
    rows = _rows(client)
    hot = _rows(client, "&hot=true")
    assert hot and all(r["gi_bin"] >= 1 for r in hot) and len(hot) == sum(r["gi_bin"] >= 1 for r in rows)
    name = rows[3]["name"]
    found = _rows(client, f"&q={name[:4].upper()}")
    assert name in {r["name"] for r in found}
    assert all(name[:4].lower() in f"{r['name']} {r['code'] or ''} {r['place_id']}".lower() for r in found)
    assert all(r["kind"] == "town_centre" for r in _rows(client, "&kind=town_centre"))
    assert _rows(client, "&kind=ward") == []
    emerging = rows[0]["emerging_class"]
    assert {r["emerging_class"] for r in _rows(client, f"&emerging={emerging}")} == {emerging}
    page = client.get("/api/places?limit=5&offset=5").get_json()
    assert page["total"] == len(rows) and [r["place_id"] for r in page["rows"]] == [r["place_id"] for r in rows[5:10]]


def test_ranking_area_filter(as_user, web_workspace):
    client = as_user("planner")
    chosen = [r["place_id"] for r in _rows(client)[2:6]]
    area_id = create_area(web_workspace, "test_places area", chosen, "tests")
    try:
        assert sorted(r["place_id"] for r in _rows(client, f"&area={area_id}")) == sorted(chosen)
        page = client.get(f"/places?area={area_id}").get_data(as_text=True)
        assert page.count('href="/places/town_centre:') == len(chosen)
    finally:
        delete_area(web_workspace, area_id)
    assert client.get(f"/api/places?area={area_id}").status_code == 404  # the area is gone


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "offset=-1", "sort=evil", "order=up", "hot=maybe",
                                   "kind=planet", "area=x", "q=" + "a" * 101, "emerging=hot"])
def test_bad_ranking_parameters_are_400_json(as_user, query):
    response = as_user("planner").get(f"/api/places?{query}")
    assert response.status_code == 400 and response.get_json()["status"] == 400


def test_ranking_page_has_sortable_accessible_headers(as_user):
    html = as_user("planner").get("/places?sort=harm").get_data(as_text=True)
    assert 'aria-sort="descending"' in html and html.count('aria-sort="none"') >= 5
    assert 'href="/places?sort=harm&amp;order=asc"' in html and 'scope="col"' in html
    first = re.search(r'href="/places/([^"]+)"', html).group(1)
    assert first == "town_centre:TC010"  # the most harm in the fixture


def test_place_page_offline_map_with_nonces(as_user):
    response = as_user("planner").get("/places/town_centre:TC010")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert "folium-map" in html and "L.map(" in html and "/static/vendor/leaflet/leaflet.js" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no asset from another host"
    assert "cdn" not in html.lower() and "jquery" not in html.lower() and "bootstrap" not in html.lower()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or f'nonce="{nonce}"' in tag, tag
    for tag in re.findall(r"<style\b[^>]*>", html):
        assert f'nonce="{nonce}"' in tag, tag
    assert not re.search(r"<[^>]+\sstyle=", html) and not re.search(r"\son[a-z]+=", html)
    assert html.count('class="line-chart"') == 2 and 'class="bar-chart"' in html  # quarter + month, crime mix
    assert "Robbery" in html and "Hot spot, 99 % confidence" in html and "Diminishing Hot Spot" in html
    assert re.search(r"Rank</dt><dd>1 \(interval 1–1", html)


def test_vendored_leaflet_is_served(app):
    client = app.test_client()
    for asset in ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css"):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200 and len(response.data) > 10_000
        response.close()


def test_place_api_and_unknown_place(as_user, web_workspace):
    client = as_user("planner")
    body = client.get("/api/places/town_centre:TC010").get_json()
    assert body["place"]["name"] == "Derby" and body["place"]["rank"] == 1
    scoring = latest_run(web_workspace, "scoring")
    quarters = scoring.periods[(scoring.periods["unit"] == "town_centre:TC010")]
    assert [q["period"] for q in body["quarterly"]] == sorted(quarters["period"])
    assert np.isclose(sum(q["harm"] for q in body["quarterly"]), body["place"]["harm"])
    assert np.isclose(sum(m["harm"] for m in body["crime_mix"]), body["place"]["harm"])
    assert body["crime_mix"][0]["crime_type"] == "Robbery" and len(body["monthly"]) == 24
    assert sum(c["gi_bin"] >= 2 for c in body["cells"]) == body["place"]["hot_cells"]
    assert client.get("/places/town_centre:NOPE").status_code == 404
    assert client.get("/api/places/town_centre:NOPE").get_json()["status"] == 404
    entries = read_audit(web_workspace, 50)
    assert any(e["action"] == "view" and e["target"] == "/api/places/town_centre:TC010" for e in entries)


@pytest.mark.parametrize("url", ["/places", "/places/town_centre:TC010", "/api/places",
                                 "/api/places/town_centre:TC010"])
def test_retailers_are_refused(as_user, bearer, url):
    assert as_user("acme_user").get(url).status_code == 403
    assert bearer("other_user").get(url).status_code == 403
    assert bearer("deploy").get(url).status_code == 200


def test_anonymous_api_is_401(app):
    assert app.test_client().get("/api/places").status_code == 401
    assert app.test_client().get("/places").status_code == 302
