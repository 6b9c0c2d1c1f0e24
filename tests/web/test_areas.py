"""Operation areas screen and API: CRUD through forms with CSRF, JSON API, audit, roles, filters."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from conftest import csrf_of

from harmmap.store.accounts import read_audit
from harmmap.store.areas import delete_area
from harmmap.web.data import operation_areas

PLACES = ["town_centre:TC001", "town_centre:TC002", "town_centre:TC010"]


@pytest.fixture()
def cleanup(web_workspace):
    """Names of areas a test creates; they are deleted afterwards (the workspace is shared)."""
    names: list[str] = []
    yield names
    areas = operation_areas(web_workspace)
    for area_id in areas.loc[areas["name"].isin(names), "area_id"]:
        delete_area(web_workspace, int(area_id))


def _unique(stem: str) -> str:
    return f"{stem} {uuid.uuid4().hex[:8]}"


def _area(ws, name: str) -> dict:
    areas = operation_areas(ws)
    match = areas[areas["name"] == name]
    return match.iloc[0].to_dict() if len(match) else {}


def test_create_edit_delete_through_the_forms(as_user, web_workspace, cleanup):
    client = as_user("planner")
    page = client.get("/areas")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="town_centre:TC001"' in html
    name = _unique("Summer op")
    cleanup.append(name)
    response = client.post("/areas", data={"name": name, "places": PLACES[:2], "csrf_token": csrf_of(html)})
    assert response.status_code == 302
    area = _area(web_workspace, name)
    assert area["places"] == PLACES[:2] and area["created_by"] == "planner"
    listing = client.get("/areas").get_data(as_text=True)
    assert name in listing and f'href="/places?area={area["area_id"]}"' in listing

    edit = client.get(f"/areas/{area['area_id']}").get_data(as_text=True)
    assert re.search(r'value="town_centre:TC001" checked', edit)
    renamed = _unique("Renamed op")
    cleanup.append(renamed)
    response = client.post(f"/areas/{area['area_id']}", data={"name": renamed, "places": PLACES[1:],
                                                              "csrf_token": csrf_of(edit)})
    assert response.status_code == 302
    assert _area(web_workspace, renamed)["places"] == PLACES[1:] and not _area(web_workspace, name)

    response = client.post(f"/areas/{area['area_id']}/delete", data={"csrf_token": csrf_of(edit)})
    assert response.status_code == 302 and not _area(web_workspace, renamed)
    assert client.get(f"/areas/{area['area_id']}").status_code == 404
    actions = [(e["action"], e["target"]) for e in read_audit(web_workspace, 30)]
    for action in ("area_create", "area_update", "area_delete"):
        assert (action, f"area:{area['area_id']}") in actions


def test_forms_without_csrf_token_are_refused(as_user, web_workspace, cleanup):
    client = as_user("admin")
    name = _unique("No token")
    cleanup.append(name)
    response = client.post("/areas", data={"name": name, "places": PLACES})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    response = client.post("/areas", data={"name": name, "places": PLACES, "csrf_token": "forged"})
    assert response.status_code == 400 and not _area(web_workspace, name)


def test_invalid_form_shows_the_error_and_keeps_the_input(as_user, web_workspace):
    client = as_user("planner")
    token = csrf_of(client.get("/areas").get_data(as_text=True))
    response = client.post("/areas", data={"name": "Nothing chosen", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "1 to 5,000 places" in html and 'value="Nothing chosen"' in html
    assert not _area(web_workspace, "Nothing chosen")


def test_api_list_and_create(as_user, bearer, web_workspace, cleanup):
    name = _unique("API op")
    cleanup.append(name)
    client = bearer("planner")
    response = client.post("/api/areas", json={"name": name, "places": PLACES})
    assert response.status_code == 201
    body = response.get_json()
    assert body["name"] == name and body["places"] == sorted(PLACES) and body["created_by"] == "planner"
    listed = client.get("/api/areas").get_json()["areas"]
    assert any(a["area_id"] == body["area_id"] and a["places"] == sorted(PLACES) for a in listed)
    assert client.post("/api/areas", json={"name": name, "places": PLACES}).status_code == 409  # duplicate name
    assert client.post("/api/areas", json={"name": "x", "places": ["nowhere:1"]}).status_code == 404
    assert client.post("/api/areas", data="not json").status_code == 400
    assert client.post("/api/areas", json={"name": 3, "places": "all"}).get_json()["status"] == 400


def test_api_create_with_a_session_needs_the_csrf_header(as_user, web_workspace, cleanup):
    client = as_user("planner")
    name = _unique("Session op")
    cleanup.append(name)
    payload = json.dumps({"name": name, "places": PLACES[:1]})
    refused = client.post("/api/areas", data=payload, content_type="application/json")
    assert refused.status_code == 400 and not _area(web_workspace, name)
    token = csrf_of(client.get("/areas").get_data(as_text=True))
    accepted = client.post("/api/areas", data=payload, content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert accepted.status_code == 201 and _area(web_workspace, name)


@pytest.mark.parametrize("who", ["deploy", "acme_user", "other_user"])
def test_only_admins_and_planners_manage_areas(bearer, web_workspace, who):
    client = bearer(who)
    assert client.get("/areas").status_code == 403
    assert client.get("/api/areas").status_code == 403
    assert client.post("/api/areas", json={"name": _unique("x"), "places": PLACES}).status_code == 403


def test_area_filter_reaches_rankings_and_lists(as_user, bearer, web_workspace, cleanup):
    name = _unique("Filter op")
    cleanup.append(name)
    area_id = bearer("admin").post("/api/areas", json={"name": name, "places": PLACES}).get_json()["area_id"]
    client = as_user("planner")
    places = client.get(f"/api/places?area={area_id}").get_json()["rows"]
    assert sorted(p["place_id"] for p in places) == PLACES
    listed = client.get(f"/api/priority?kind=places&area={area_id}").get_json()
    assert sorted(r["place_id"] for r in listed["rows"]) == PLACES and listed["total"] == 3
    assert client.get("/api/priority?area=999999").status_code == 404  # no such area
