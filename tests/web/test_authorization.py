"""The authorization matrix: every role x every route (x another organisation's ids) gets what it should.

EXPECTED is written here, independently of the decorators in the views: a route added without an entry
fails ``test_every_route_is_in_the_matrix``, and a decorator that lets the wrong role in fails the matrix.
"""

from __future__ import annotations

import re

import pytest
from conftest import csrf_of

from harmmap.store.areas import create_area
from harmmap.web.data import latest_run

STAFF = ("admin", "planner", "deploy")
EVERYONE = STAFF + ("acme_user",)
#: endpoint -> users allowed to GET it ("*" = anyone, even anonymous).
EXPECTED = {
    "home.index": EVERYONE, "api_meta.me": EVERYONE, "api_meta.openapi": "*", "auth.login": "*",
    "map.index": ("admin", "planner"), "map.api_boundaries": ("admin", "planner"), "map.api_cells": ("admin", "planner"),
    "map.api_cell": ("admin", "planner"), "map.api_cell_series": ("admin", "planner"), "map.api_meta": ("admin", "planner"),
    "map.api_place": ("admin", "planner"), "map.api_stores": ("admin", "planner"),
    "places.index": STAFF, "places.place": STAFF, "places.api_places": STAFF, "places.api_place": STAFF,
    "areas.index": ("admin", "planner"), "areas.edit": ("admin", "planner"), "areas.api_areas": ("admin", "planner"),
    "deployment.index": STAFF, "deployment.export": STAFF, "deployment.api_priority": STAFF,
    "deployment.api_export": STAFF,
    "plans.index": STAFF, "plans.export": STAFF, "plans.api_plan": STAFF, "plans.api_export": STAFF,
    "retailer.stores": ("acme_user",), "retailer.store": ("acme_user",), "retailer.upload": ("acme_user",),
    "retailer.api_stores": ("acme_user",), "retailer.api_store": ("acme_user",),
}
POST_ONLY = {"auth.logout": EVERYONE, "areas.delete": ("admin", "planner"), "retailer.api_upload": ("acme_user",)}


@pytest.fixture(scope="module")
def ids(web_workspace):
    scoring = latest_run(web_workspace, "scoring")
    area = create_area(web_workspace, "Matrix area", [scoring.places["place_id"].iloc[0]], created_by="test")
    return {"place_id": str(scoring.places["place_id"].iloc[0]), "cell": f"{int(scoring.cells['cell'].iloc[0]):x}",
            "area_id": str(getattr(area, "area_id", area)), "fmt": "csv", "kind": "stores",
            "store_id": "O1",  # organisation "other"'s store: never acme_user's
            "filename": "harmmap.css"}


#: Required query parameters, so that an allowed user gets a real 200.
QUERY = {"map.api_cells": "?bbox=-2.5,51.5,0.5,54&zoom=9", "map.api_boundaries": "?bbox=-2.5,51.5,0.5,54&zoom=9",
         "map.api_stores": "?bbox=-2.5,51.5,0.5,54"}


def _url(rule, ids) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: ids[m.group(1)], rule.rule) + QUERY.get(rule.endpoint, "")


def _routes(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def test_every_route_is_in_the_matrix(app):
    endpoints = {r.endpoint for r in _routes(app)}
    assert endpoints == set(EXPECTED) | set(POST_ONLY), endpoints ^ (set(EXPECTED) | set(POST_ONLY))


@pytest.mark.parametrize("user", [None, *EVERYONE])
def test_matrix_for_get(app, as_user, ids, user):
    client = as_user(user) if user else app.test_client()
    for rule in _routes(app):
        if rule.endpoint not in EXPECTED:
            continue
        allowed = EXPECTED[rule.endpoint]
        url = _url(rule, ids)
        status = client.get(url).status_code
        if allowed == "*" or (user in allowed and rule.endpoint != "retailer.store"
                              and rule.endpoint != "retailer.api_store"):
            assert status in (200, 302), (user, url, status)
        elif user is None:
            assert status in (302, 401), (user, url, status)
        elif user in allowed:  # a retailer asking for another organisation's store
            assert status == 404, (user, url, status)
        else:
            assert status in (403, 404), (user, url, status)


@pytest.mark.parametrize("user", [None, *EVERYONE])
def test_matrix_for_post_refuses_the_wrong_roles(app, as_user, ids, user):
    client = as_user(user) if user else app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    for rule in _routes(app):
        allowed = POST_ONLY.get(rule.endpoint) or EXPECTED.get(rule.endpoint)
        if "POST" not in rule.methods or rule.endpoint in ("auth.login", "auth.logout") or allowed == "*":
            continue
        if user in allowed:
            continue  # allowed writes are tested with the screens
        status = client.post(_url(rule, ids), data={"csrf_token": token}, headers={"X-CSRFToken": token}).status_code
        expected = (302, 401) if user is None else (403,)
        assert status in expected, (user, rule.rule, status)


def test_another_organisations_rows_never_reach_a_retailer(as_user, app, ids):
    client = as_user("acme_user")
    for rule in _routes(app):
        if "GET" in rule.methods and rule.endpoint != "static":
            body = client.get(_url(rule, ids)).get_data(as_text=True)
            assert "Other Leicester" not in body and "HYPERLINK" not in body, rule.rule
