"""Deployment priority lists: the documented order, every filter, stores of all organisations, roles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmmap.store.accounts import read_audit
from harmmap.web.data import latest_run


def _list(client, query: str) -> dict:
    response = client.get(f"/api/priority?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _in_priority_order(rows: list[dict], key: str) -> bool:
    frame = pd.DataFrame(rows)
    expected = frame.sort_values(["forecast_harm", "harm", key], ascending=[False, False, True], na_position="last")
    return list(expected[key]) == list(frame[key]) and list(frame["priority"]) == list(range(1, len(frame) + 1))


@pytest.mark.parametrize("kind, key", [("places", "place_id"), ("cells", "cell"), ("stores", "store_id")])
def test_lists_follow_the_documented_priority(bearer, kind, key):
    body = _list(bearer("deploy"), f"kind={kind}&top=200")
    assert body["kind"] == kind and body["rows"] and "forecast harm" in body["priority"]
    assert _in_priority_order(body["rows"], key)
    assert body["count"] == len(body["rows"]) == min(200, body["total"])


def test_place_list_matches_the_runs(bearer, web_workspace):
    rows = _list(bearer("deploy"), "kind=places&top=5000")["rows"]
    scoring, trends = latest_run(web_workspace, "scoring").places, latest_run(web_workspace, "trends").places
    assert len(rows) == len(scoring)
    top = rows[0]
    assert top["place_id"] == trends.sort_values("forecast_harm", ascending=False)["place_id"].iloc[0]
    assert np.isclose(top["harm"], scoring.set_index("place_id").loc[top["place_id"], "harm"])


def test_filters(bearer):
    client = bearer("planner")
    every = _list(client, "kind=cells&top=5000")
    hot = _list(client, "kind=cells&hot=true&top=5000")
    assert hot["rows"] and all(r["gi_bin"] >= 1 for r in hot["rows"]) and hot["total"] < every["total"]
    heavy = _list(client, "kind=cells&min_harm=1000&top=5000")
    assert heavy["rows"] and all(r["harm"] >= 1000 for r in heavy["rows"])
    assert heavy["total"] == sum(r["harm"] >= 1000 for r in every["rows"]) or every["total"] > 5000
    assert _list(client, "kind=places&top=3")["count"] == 3
    emerging = _list(client, "kind=places&emerging=intensifying_hot_spot")["rows"]
    assert emerging and {r["emerging_class"] for r in emerging} == {"intensifying_hot_spot"}
    inside = _list(client, "kind=cells&place_kind=town_centre&top=5000")["rows"]
    assert inside and all(r["places"] for r in inside)  # every cell lies in a town centre
    assert _list(client, "kind=stores&place_kind=ward")["total"] == 0


def test_stores_of_every_organisation_with_coordinates(bearer):
    rows = _list(bearer("deploy"), "kind=stores&top=5000")["rows"]
    assert {r["org_id"] for r in rows} == {"acme", "other"}
    formula = next(r for r in rows if r["store_id"] == "O2")
    assert formula["name"] == '=HYPERLINK("http://x")'  # JSON carries the raw text; spreadsheets get it escaped
    assert all(r["lat"] and r["easting"] for r in rows)
    other = _list(bearer("deploy"), "kind=stores&org=other")["rows"]
    assert {r["store_id"] for r in other} == {"O1", "O2"}


@pytest.mark.parametrize("query", ["kind=people", "top=0", "top=5001", "min_harm=-1", "min_harm=nan", "hot=2",
                                   "emerging=warm", "area=0", "place_kind=city", "org=a%20b"])
def test_bad_parameters_are_400_json(bearer, query):
    response = bearer("planner").get(f"/api/priority?{query}")
    assert response.status_code == 400 and response.get_json()["error"] == "Bad request"
    assert bearer("planner").get(f"/deployment?{query}").status_code == 400


def test_page_lists_rows_and_export_links(as_user, web_workspace):
    html = as_user("planner").get("/deployment?kind=stores&top=10&hot=true").get_data(as_text=True)
    assert html.count('<td class="num">') >= 10 and "Export the" in html
    for fmt in ("csv", "xlsx", "geojson", "kml", "gpkg"):
        assert f'href="/deployment/export.{fmt}?kind=stores&amp;top=10&amp;hot=true"' in html
    entry = next(e for e in read_audit(web_workspace, 20) if e["target"] == "/deployment")
    assert entry["action"] == "view" and '"kind": "stores"' in entry["detail"]


@pytest.mark.parametrize("url", ["/deployment", "/api/priority", "/deployment/export.csv",
                                 "/api/priority/export.csv"])
def test_retailers_are_refused(as_user, bearer, url):
    assert as_user("acme_user").get(url).status_code == 403
    assert bearer("other_user").get(url).status_code == 403
    assert bearer("deploy").get(url).status_code == 200
