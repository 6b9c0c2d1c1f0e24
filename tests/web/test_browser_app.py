"""The web app in real headless chromium (Debian's, driven by Playwright), with the network shut off.

Logs in, loads the map, checks that hexagons, boundaries and the legend render with zero requests to
other hosts, opens a place page, downloads an export and checks its contents.  Screenshots are kept
in test-artifacts/ (CI keeps them).  In CI a missing chromium fails these tests; elsewhere they skip.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD
from waitress.server import create_server

from harmmap.report.browser import CHROMIUM_ARGS, find_chromium
from harmmap.errors import ReportError
from harmmap.web import create_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def live_server(web_workspace):
    app = create_app({"workspace": str(web_workspace.root), "secure_cookies": False})
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


@pytest.fixture(scope="module")
def browser():
    try:
        executable = find_chromium()
        from playwright.sync_api import sync_playwright
    except (ReportError, ImportError) as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {error}")
        pytest.skip(f"no headless chromium here: {error}")
    with sync_playwright() as playwright:
        # The report's args resolve no host at all; here loopback must stay reachable.
        args = [a for a in CHROMIUM_ARGS if not a.startswith("--host-resolver-rules")]
        args.append("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
        launched = playwright.chromium.launch(executable_path=str(executable), args=args)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser, live_server):
    """A fresh context; every request to another host is aborted and recorded."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 860})
    outside: list[str] = []
    host = urlsplit(live_server).netloc

    def guard(route):
        parts = urlsplit(route.request.url)
        if parts.scheme in ("data", "blob") or parts.netloc == host:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.outside_requests = outside
    yield page
    context.close()


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, page.content()[:500]


def test_login_page_renders_offline(page, live_server):
    page.goto(f"{live_server}/login")
    assert page.locator("input[name=username]").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_login.png"))
    assert page.outside_requests == []


def test_planner_sees_hexagons_boundaries_and_legend_with_nothing_fetched_from_outside(page, live_server):
    log_in(page, live_server, "planner")
    page.goto(f"{live_server}/map")
    page.wait_for_selector("#map[data-ready='1']", timeout=30_000)
    page.wait_for_function("document.querySelector('#map').dataset.boundaries !== undefined", timeout=30_000)
    cells = int(page.get_attribute("#map", "data-cells"))
    boundaries = int(page.get_attribute("#map", "data-boundaries"))
    legend_rows = page.locator("#legend .legend-row").count()
    drawn = page.evaluate("document.querySelectorAll('#map canvas').length")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_map.png"))
    assert cells > 100 and boundaries > 0 and legend_rows >= 5 and drawn >= 1
    assert page.locator(".leaflet-tile").count() == 0  # no basemap configured: boundaries only
    assert page.outside_requests == []


def test_place_page_and_an_export_download(page, live_server):
    log_in(page, live_server, "deploy")
    page.goto(f"{live_server}/places")
    first = page.locator("table a[href^='/places/']").first
    name = first.inner_text()
    first.click()
    page.wait_for_load_state("networkidle")
    assert name in page.content()
    page.screenshot(path=str(ARTIFACTS / "web_place.png"), full_page=True)
    page.goto(f"{live_server}/deployment?kind=stores&top=50")
    with page.expect_download() as info:
        page.locator("a.button", has_text="CSV").first.click()
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert 0 < len(rows) <= 50 and {"lat", "lng", "easting", "northing"} <= set(rows[0])
    names = {r.get("name", "") for r in rows}
    assert not any(n.startswith("=") for n in names)  # the formula-named store is escaped
    page.screenshot(path=str(ARTIFACTS / "web_priority.png"))
    assert page.outside_requests == []


def test_retailer_sees_only_its_stores(page, live_server):
    log_in(page, live_server, "acme_user")
    page.goto(f"{live_server}/retailer/stores")
    page.wait_for_load_state("networkidle")
    body = page.content()
    assert "Other Leicester" not in body and "HYPERLINK" not in body
    page.screenshot(path=str(ARTIFACTS / "web_retailer.png"), full_page=True)
    assert page.goto(f"{live_server}/map").status == 403
    assert page.outside_requests == []


def test_deployment_plan_draws_on_the_map_with_its_legend(page, live_server):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "deploy")
    page.goto(f"{live_server}/plans?plan=deploy&teams=4&radius=2500")
    page.wait_for_selector("#plan-legend .legend-row", timeout=30_000)
    legend = page.inner_text("#plan-legend")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_plan_deploy.png"))
    assert errors == []
    assert "2,500 m service radius" in legend  # numbers formatted by dom.js (whole numbers on this screen)
    assert page.locator("#plan-map .plan-site").count() >= 1
    assert page.outside_requests == []
