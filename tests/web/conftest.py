"""A web workspace (copy of the simulated one, scored, with trends, two organisations and one user per role)."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

from harmmap.analysis.score import score_workspace
from harmmap.analysis.trends import trend_workspace
from harmmap.scoring.pipeline import ScoringSettings
from harmmap.scoring.trend_run import TrendSettings
from harmmap.store.accounts import add_user, create_token
from harmmap.store.places import save_stores
from harmmap.store.workspace import open_workspace
from harmmap.web import create_app

PASSWORD = "correct-Horse-battery-9"
USERS = {"admin": ("admin", None), "planner": ("planner", None), "deploy": ("deployment", None),
         "acme_user": ("retailer", "acme"), "other_user": ("retailer", "other")}


@pytest.fixture(scope="session")
def web_workspace(simulated_workspace, tmp_path_factory):
    root = tmp_path_factory.mktemp("web") / "ws"
    shutil.copytree(simulated_workspace.root, root)
    ws = open_workspace(root)
    save_stores(ws, "other", pd.DataFrame({
        "store_id": ["O1", "O2"], "name": ["Other Leicester", "=HYPERLINK(\"http://x\")"], "postcode": [None, None],
        "lat": [52.6365, 52.9548], "lng": [-1.1335, -1.1581], "easting": [458900.0, 457400.0],
        "northing": [304400.0, 340000.0]}))
    score_workspace(ws, ScoringSettings(permutations=99, replicates=20))
    trend_workspace(ws, TrendSettings())
    for name, (role, org) in USERS.items():
        add_user(ws, name, role, org_id=org, password=PASSWORD)
    return ws


@pytest.fixture()
def app(web_workspace):
    app = create_app({"workspace": str(web_workspace.root), "secure_cookies": False, "testing": True})
    return app


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_of(page.get_data(as_text=True))})


@pytest.fixture()
def as_user(app):
    """``as_user(name)`` -> a test client logged in as that user."""
    def make(name: str):
        client = app.test_client()
        response = login(client, name)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client
    return make


@pytest.fixture()
def bearer(app, web_workspace):
    """``bearer(name)`` -> a test client sending that user's API token (no cookie, no CSRF)."""
    def make(name: str):
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_token(web_workspace, name, 'tests')}"
        return client
    return make
