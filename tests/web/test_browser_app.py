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
