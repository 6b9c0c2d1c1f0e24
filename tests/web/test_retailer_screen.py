"""Retailer screens: store risk table, map and store pages, JSON API, isolation between organisations,
role checks, and suppression of every area-level figure a retailer sees."""

from __future__ import annotations

import html as html_module
import json
import re

import jsonschema_rs
import numpy as np
import pandas as pd
import pytest
from flask import g, render_template
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmmap.store.accounts import get_user, read_audit
from harmmap.web.retailer_data import area_rows, others_by_type
from harmmap.web.retailer_pages import sort_rows

OTHER_MARKERS = ("Other Leicester", "HYPERLINK")  # names of the other organisation's stores
PAGES = ("/retailer/stores", "/retailer/stores/1001", "/retailer/upload")
APIS = ("/api/retailer/stores", "/api/retailer/stores/1001")


def _validator(client, name: str):
    document = client.get("/api/openapi.json").get_json()
    return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}", "components": document["components"]})


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"(?<![\w<.\[])\d[\d,]*(?:\.\d+)?", text)]


# -- what a retailer sees --------------------------------------------------------------------------

def test_store_risk_page_lists_own_stores_with_band_reasons_and_map(as_user):
    client = as_user("acme_user")
    page = client.get("/retailer/stores")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="retailer-map"' in html and "vendor/leaflet/leaflet.js" in html
    assert not any(marker in html for marker in OTHER_MARKERS)
    data = json.loads(re.search(r'id="retailer-map-data">(.*?)</script>', html, re.S).group(1))
    ids = {s["id"] for s in data["stores"]}
    assert ids and all(i.startswith("10") for i in ids) and {s["band"] for s in data["stores"]} <= {"high", "medium",
                                                                                                   "low"}
    rows = re.findall(r'<tr data-store="([^"]+)">', html)
    assert set(rows) == ids and "LOCAL_HARM_TOP" in html and "band-high" in html
    assert 'style="' not in html and "onclick" not in html  # CSP: no inline styles or handlers


def test_store_table_sorts_on_every_column_and_refuses_unknown_columns(as_user):
    client = as_user("acme_user")
    body = client.get("/api/retailer/stores").get_json()
    scores = [s["score"] for s in body["stores"]]
    assert scores == sorted(scores, reverse=True) and (body["sort"], body["order"]) == ("score", "desc")
    by_id = client.get("/api/retailer/stores?sort=store_id&order=asc").get_json()["stores"]
    assert [s["store_id"] for s in by_id] == sorted(s["store_id"] for s in by_id)
    bands = [s["band"] for s in client.get("/api/retailer/stores?sort=band").get_json()["stores"]]
    assert bands == sorted(bands, key=["high", "medium", "low"].index)
    page = client.get("/retailer/stores?sort=own_incidents&order=asc").get_data(as_text=True)
    assert 'aria-sort="ascending"' in page
    assert client.get("/api/retailer/stores?sort=secret").status_code == 400
    assert client.get("/retailer/stores?order=sideways").status_code == 400


def test_sort_rows_is_deterministic_whatever_the_input_order():
    table = pd.DataFrame({"store_id": ["b", "a", "c"], "name": ["x", None, "y"], "score": [10.0, 10.0, 5.0],
                          "band": ["low"] * 3, "local_harm_pct": [1.0] * 3, "gi_bin": [0, 0, 0],
                          "emerging_class": ["no_pattern"] * 3, "own_incidents": [1, 2, 3]})
    for sort in ("score", "name", "band", "gi_bin"):
        first = sort_rows(table, sort, None)["store_id"].tolist()
        assert sort_rows(table.iloc[::-1], sort, None)["store_id"].tolist() == first
    assert sort_rows(table, "score", "desc")["store_id"].tolist() == ["a", "b", "c"]


def test_store_page_and_api_match_the_schema(as_user):
    client = as_user("acme_user")
    listing = client.get("/api/retailer/stores").get_json()
    _validator(client, "StoreRiskList").validate(listing)
    store_id = listing["stores"][0]["store_id"]
    detail = client.get(f"/api/retailer/stores/{store_id}").get_json()
    _validator(client, "StoreDetail").validate(detail)
    assert detail["store"] == listing["stores"][0] and len(detail["own_by_month"]) == 24
    assert detail["area"]["available"] and detail["area"]["cells"] == 7
    page = client.get(f"/retailer/stores/{store_id}").get_data(as_text=True)
    assert "Around the store" in page and "<svg" in page and 'id="area-table"' in page


def test_own_incidents_are_the_stores_counted_retailer_incidents(as_user, web_workspace):
    from harmmap.store.incidents import read_incidents

    client = as_user("acme_user")
    listing = client.get("/api/retailer/stores").get_json()
    own = read_incidents(web_workspace, ["store_id", "month"], sources=["retailer:acme"])
    counts = own["store_id"].astype(str).value_counts()
    for store in listing["stores"]:  # the fixture's window covers all 24 simulated months
        assert store["own_incidents"] == counts.get(store["store_id"], 0)
    monthly = client.get(f"/api/retailer/stores/{listing['stores'][0]['store_id']}").get_json()["own_by_month"]
    assert sum(m["incidents"] for m in monthly) == listing["stores"][0]["own_incidents"]


# -- isolation -------------------------------------------------------------------------------------

@pytest.mark.parametrize("user, foreign", [("acme_user", "O1"), ("acme_user", "O2"), ("other_user", "1001")])
def test_another_organisations_store_is_404_like_a_missing_one(as_user, user, foreign):
    client = as_user(user)
    for prefix in ("/retailer/stores/", "/api/retailer/stores/"):
        theirs, missing = client.get(prefix + foreign), client.get(prefix + "no-such-store")
        assert theirs.status_code == missing.status_code == 404
        token = re.compile(r'name="csrf[-_]token" (?:content|value)="[^"]*"')
        assert token.sub("", theirs.get_data(as_text=True)) == token.sub("", missing.get_data(as_text=True))


def test_other_org_sees_only_its_own_two_stores(as_user):
    client = as_user("other_user")
    stores = client.get("/api/retailer/stores").get_json()["stores"]
    assert sorted(s["store_id"] for s in stores) == ["O1", "O2"]
    assert all(s["own_incidents"] == 0 for s in stores)
    page = client.get("/retailer/stores").get_data(as_text=True)
    assert "=HYPERLINK(&#34;http://x&#34;)" in page or "=HYPERLINK(&quot;http://x&quot;)" in page  # escaped text
    assert "Leicester Town Centre" not in page


def test_no_route_shows_a_retailer_another_organisations_stores(app, as_user):
    """Every GET route of the app (pages, API, exports) with store and place ids filled in."""
    client = as_user("acme_user")
    seen = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        values = {arg: "O1" for arg in rule.arguments}
        try:
            url = app.url_for(rule.endpoint, **values) if rule.arguments else rule.rule
        except Exception:  # converters that do not take text
            continue
        response = client.get(url)
        body = response.get_data(as_text=True)
        assert not any(marker in body for marker in OTHER_MARKERS), url
        assert response.status_code < 500, url
        seen += 1
    assert seen >= 5


# -- roles -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("user", ["admin", "planner", "deploy"])
def test_other_roles_are_forbidden(as_user, user):
    client = as_user(user)
    for url in PAGES + APIS:
        assert client.get(url).status_code == 403, url
    assert client.post("/api/retailer/uploads/stores", headers={"X-CSRFToken": "x"}).status_code in (400, 403)


def test_anonymous_users_are_sent_to_login_or_get_401(app):
    client = app.test_client()
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    for url in APIS:
        assert client.get(url).status_code == 401
    assert client.post("/api/retailer/uploads/incidents").status_code in (400, 401)


def test_views_are_audited(as_user, web_workspace):
    client = as_user("acme_user")
    client.get("/retailer/stores")
    client.get("/api/retailer/stores/1002")
    entries = read_audit(web_workspace, 10)
    targets = {(e["username"], e["action"], e["target"]) for e in entries}
    assert ("acme_user", "view", "retailer:acme/stores") in targets
    assert ("acme_user", "view", "retailer:acme/stores/1002") in targets


# -- suppression ---------------------------------------------------------------------------------------

def test_area_statistics_of_the_api_hide_small_counts(as_user):
    client = as_user("acme_user")
    shown = []
    for store in client.get("/api/retailer/stores").get_json()["stores"][:12]:
        area = client.get(f"/api/retailer/stores/{store['store_id']}").get_json()["area"]
        for row in area["rows"]:
            value = row["incidents_value"]
            assert value is None or value == 0 or (value >= 10 and value % 5 == 0)
            assert (row["incidents"] == "<10") == row["hidden"] == (row["harm"] == "[c]") == (value is None)
            shown.append(value)
    assert any(v is None for v in shown) and any(v and v >= 10 for v in shown)  # both kinds were exercised


def test_others_are_the_area_minus_own_and_mismatches_are_withheld():
    area = pd.DataFrame({"crime_type": ["Robbery", "Shoplifting"], "incidents": [12, 40], "harm": [4380.0, 40.0]})
    own = pd.DataFrame({"crime_type": ["Shoplifting"], "incidents": [35], "harm": [35.0]})
    others = others_by_type(area, own).set_index("crime_type")
    assert others.loc["Shoplifting", "incidents"] == 5 and others.loc["Robbery", "incidents"] == 12
    rows = {r["crime_type"]: r for r in area_rows(others.reset_index(), 10, 5)}
    assert rows["Shoplifting"]["incidents"] == "<10" and rows["Shoplifting"]["harm"] == "[c]"
    assert rows["Robbery"]["incidents"] == "10" and rows["Robbery"]["harm"] == "4,380"
    assert others_by_type(area, own.assign(incidents=[41])) is None  # own more than the area: not separable


@st.composite
def area_tables(draw):
    types = draw(st.lists(st.sampled_from(["Robbery", "Shoplifting", "Burglary", "Drugs", "Public order",
                                           "Other theft", "Vehicle crime"]), min_size=1, max_size=7, unique=True))
    others = [draw(st.integers(0, 60)) for _ in types]
    own = [draw(st.integers(0, 30)) for _ in types]
    harm = [draw(st.floats(0, 1e5, allow_nan=False)) * (n + m > 0) for n, m in zip(others, own)]
    area = pd.DataFrame({"crime_type": types, "incidents": np.add(others, own), "harm": harm})
    mine = pd.DataFrame({"crime_type": types, "incidents": own, "harm": np.zeros(len(types))})
    return area, mine, others


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(area_tables(), st.sampled_from([(10, 5), (10, 10), (20, 5)]))
def test_nothing_between_one_and_threshold_is_ever_shown(app, table, rule):
    """Generated area tables, through the view-model AND the store page template: no shown count in 1..threshold-1."""
    area, own, truth = table
    threshold, base = rule
    rows = area_rows(others_by_type(area, own), threshold, base)
    by_type = dict(zip(area["crime_type"], truth))
    for row in rows:
        value = row["incidents_value"]
        assert value is None or value == 0 or value >= threshold
        assert (value is None) == (0 < by_type[row["crime_type"]] < threshold) == (row["harm"] == "[c]")
        if value is not None:
            assert abs(value - by_type[row["crime_type"]]) <= base / 2
    with app.test_request_context("/retailer/stores/x"):
        g.user, g.nonce = get_user(app.extensions["harmmap"].ws, "acme_user"), "n"
        html = render_template("retailer_store.html", view={"own_by_month": []}, chart="", colours={},
                               risk=_FakeRisk(), method=_METHOD, store=_STORE,
                               area={"available": True, "rows": rows, "note": "", "cells": 7, "reason": None})
    table_html = re.search(r'<table class="data" id="area-table">(.*?)</table>', html, re.S).group(1)
    cells = [html_module.unescape(c) for c in re.findall(r'<td class="num">([^<]*)</td>', table_html)]
    assert len(cells) == 2 * len(rows)  # incidents and harm per crime type, no total row
    shown = _numbers(" ".join(cells[0::2]))
    assert all(not (0 < v < threshold) for v in shown)
    assert len(shown) == sum(r["incidents_value"] is not None for r in rows)


class _FakeRisk:
    window = ("2023-01", "2023-12")


_METHOD = {"weights": {"local_harm": 35, "hot_spot": 20, "trend": 20, "own_incidents": 20, "own_rising": 5}}
_STORE = {"store_id": "x", "name": "X", "postcode": None, "score": 1.0, "band": "low", "reasons": [],
          "local_harm_pct": 1.0, "hot_spot": {"label": "Not significant"}, "trend": {"label": "No Pattern Detected"},
          "own_incidents": 0, "own_recent": 0, "own_previous": 0, "own_rising": False,
          "components": {"local_harm": 0.0, "hot_spot": 0.0, "trend": 0.0, "own_incidents": 0.0}}
