"""Accounts and sessions: login, CSRF, rate limiting, logout ends sessions, headers, audit."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, csrf_of, login

from harmmap.errors import ConfigError
from harmmap.store.accounts import add_user, append_audit, authenticate, read_audit, reset_password
from harmmap.store.workspace import connect


def test_pages_need_a_login_and_the_api_answers_401(app):
    client = app.test_client()
    assert client.get("/").status_code == 302 and "/login" in client.get("/").headers["Location"]
    assert client.get("/api/does-not-exist").status_code in (401, 404)


def test_login_without_csrf_token_is_refused(app):
    client = app.test_client()
    response = client.post("/login", data={"username": "planner", "password": PASSWORD})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)


def test_login_logout_and_logout_ends_every_session(app):
    first, second = app.test_client(), app.test_client()
    assert login(first, "planner").status_code == 302 and login(second, "planner").status_code == 302
    page = first.get("/", follow_redirects=True)
    assert page.status_code == 200
    token = csrf_of(page.get_data(as_text=True))
    assert first.post("/logout", data={"csrf_token": token}).status_code == 302
    assert second.get("/").status_code == 302  # the other session is gone too


def test_wrong_password_is_401_and_repeated_failures_are_rate_limited(app, web_workspace):
    add_user(web_workspace, "target_user", "planner", password=PASSWORD)  # its own user: others keep logging in
    client = app.test_client()
    for _ in range(5):
        assert login(client, "target_user", "wrong-password-1").status_code == 401
    assert login(client, "target_user").status_code == 429  # even the right password waits now
    entries = read_audit(app.extensions["harmmap"].ws, 20)
    assert {"login_failed", "login_blocked"} <= {e["action"] for e in entries}


def test_no_open_redirect_after_login(app):
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"username": "admin", "password": PASSWORD, "next": "//evil.example/x",
                                           "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert response.headers["Location"] == "/"


def test_security_headers_and_cookie_flags(app):
    client = app.test_client()
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"
    login_response = login(client, "admin")
    cookie = login_response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_passwords_are_hashed_strong_and_resettable(web_workspace):
    with connect(web_workspace) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE username = 'planner'").fetchone()[0]
    assert stored.startswith("scrypt:") and PASSWORD not in stored
    with pytest.raises(ConfigError, match="too weak"):
        add_user(web_workspace, "weak", "planner", password="short")
    with pytest.raises(ConfigError, match="exactly one organisation"):
        add_user(web_workspace, "lost", "retailer")
    with pytest.raises(ConfigError, match="unknown organisation"):
        add_user(web_workspace, "ghost", "retailer", org_id="nobody")
    user, generated = add_user(web_workspace, "temp_user", "planner")
    assert len(generated) >= 20 and authenticate(web_workspace, "temp_user", generated) == user
    new = reset_password(web_workspace, "temp_user")
    assert authenticate(web_workspace, "temp_user", generated) is None and authenticate(web_workspace, "temp_user", new)


def test_audit_log_is_append_only(web_workspace):
    append_audit(web_workspace, username="x", role="admin", org_id=None, action="view", target="/t")
    with connect(web_workspace) as conn:
        with pytest.raises(Exception, match="append-only"):
            conn.execute("UPDATE audit_log SET username = 'y'")
        with pytest.raises(Exception, match="append-only"):
            conn.execute("DELETE FROM audit_log")


def test_login_over_https_with_secure_cookies(web_workspace):
    """Behind TLS: Secure cookies, and Flask-WTF's strict Referer check passes because pages keep a
    same-origin referrer (a no-referrer policy would make every HTTPS form post fail)."""
    from harmmap.web import create_app

    app = create_app({"workspace": str(web_workspace.root), "secure_cookies": True, "testing": True})
    client = app.test_client()
    page = client.get("/login", base_url="https://harmmap.example")
    response = client.post("/login", base_url="https://harmmap.example",
                           headers={"Referer": "https://harmmap.example/login"},
                           data={"username": "admin", "password": PASSWORD,
                                 "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert response.status_code == 302 and "Secure" in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in response.headers
