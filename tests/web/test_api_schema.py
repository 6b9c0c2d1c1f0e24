"""schemathesis against /api/openapi.json: no 5xx, every response matches its schema, for each role.

The document is loaded from the app itself (WSGI, no server); each role calls the API with its own
token, so role checks (403/404 answers) are validated against the declared error responses too.
"""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from hypothesis import HealthCheck, given, settings

from harmmap.store.accounts import create_token
from harmmap.store.workspace import open_workspace
from harmmap.web import create_app

ROLES = ("planner", "deploy", "acme_user", "admin")
#: What the issue asks: no 5xx, and every response (status, content type, body) as documented.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_workspace(web_workspace, tmp_path_factory):
    """A copy: schemathesis posts uploads and creates areas, which must not leak into other tests."""
    root = tmp_path_factory.mktemp("schemathesis") / "ws"
    shutil.copytree(web_workspace.root, root)
    return open_workspace(root)


@pytest.fixture(scope="module")
def api_app(api_workspace):
    return create_app({"workspace": str(api_workspace.root), "secure_cookies": False, "testing": True})


@pytest.fixture(scope="module")
def tokens(api_workspace):
    return {name: create_token(api_workspace, name, "schemathesis") for name in ROLES}


@pytest.fixture(scope="module")
def api_schema(api_app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", api_app)


@pytest.mark.slow
def test_api_conforms_to_its_document(api_schema, tokens):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case):
            for name in ROLES:
                response = case.call_and_validate(headers={"Authorization": f"Bearer {tokens[name]}"}, checks=CHECKS)
                assert response.status_code < 500

        check()


def test_document_is_public_and_lists_every_api_route(api_app):
    import re

    client = api_app.test_client()
    document = client.get("/api/openapi.json").get_json()
    declared = set(document["paths"])
    routed = {re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", str(rule.rule)) for rule in api_app.url_map.iter_rules()
              if str(rule.rule).startswith("/api/")}
    def pattern(path: str) -> re.Pattern:
        return re.compile(re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(path)))

    undeclared = {r for r in routed if not any(pattern(r).fullmatch(d) or r == d for d in declared)}
    unrouted = {d for d in declared if not any(pattern(r).fullmatch(d) for r in routed)}
    assert not undeclared and not unrouted, (undeclared, unrouted)
