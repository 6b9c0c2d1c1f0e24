"""schemathesis against /api/openapi.json: no 5xx, every response matches its schema, for each role.

The document is loaded from the app itself (WSGI, no server); each role calls the API with its own
token, so role checks (403/404 answers) are validated against the declared error responses too.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from harmmap.store.accounts import create_token
from harmmap.web import create_app

ROLES = ("planner", "deploy", "acme_user", "admin")


@pytest.fixture(scope="module")
def api_app(web_workspace):
    return create_app({"workspace": str(web_workspace.root), "secure_cookies": False, "testing": True})


@pytest.fixture(scope="module")
def tokens(web_workspace):
    return {name: create_token(web_workspace, name, "schemathesis") for name in ROLES}


@pytest.fixture(scope="module")
def api_schema(api_app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", api_app)


@pytest.mark.slow
def test_api_conforms_to_its_document(api_schema, tokens):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 1
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case):
            for name in ROLES:
                response = case.call_and_validate(headers={"Authorization": f"Bearer {tokens[name]}"})
                assert response.status_code < 500

        check()


def test_document_is_public_and_lists_every_api_route(api_app):
    client = api_app.test_client()
    document = client.get("/api/openapi.json").get_json()
    declared = set(document["paths"])
    routed = {str(rule.rule).replace("<", "{").replace(">", "}") for rule in api_app.url_map.iter_rules()
              if str(rule.rule).startswith("/api/")}
    routed = {r.split(":")[-1] if ":" in r else r for r in routed}
    normalised = {path for path in routed}
    assert {p for p in normalised if "{" not in p} <= declared
    assert all(any(d.split("{")[0] == r.split("{")[0] for d in declared) for r in normalised)
