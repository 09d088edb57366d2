"""The API describes itself (OpenAPI 3) and every /api/v1 operation but the description requires credentials.

None of this reads the database (the description is static and a request without credentials is refused
before any query), so one SQLite node serves the whole module instead of a node per test and backend.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from alianza.node import init_node, open_node
from alianza.web.app import create_app
from tests.api.helpers import assert_error
from tests.conftest import PASSWORD

MAIN_PATHS = {
    "/api/v1/commitments": {"get", "post"},
    "/api/v1/commitments/{commitment_id}": {"get", "patch"},
    "/api/v1/meetings": {"get", "post"},
    "/api/v1/indicators": {"get", "post"},
    "/api/v1/reports/progress": {"get"},
    "/api/v1/dashboard": {"get"},
}
PUBLIC = {"/api/v1/openapi.json", "/api/v1/docs"}


@pytest.fixture(scope="module")
def anon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    config = init_node(
        tmp_path_factory.mktemp("openapi") / "node",
        country="US",
        name="OpenAPI node",
        database_url=None,
        admin_username="admin",
        admin_password=PASSWORD,
        admin_agency="us_state",
    )
    node = open_node(config)
    try:
        with TestClient(create_app(node), base_url="http://127.0.0.1") as client:
            yield client
    finally:
        node.close()


def _spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def test_openapi_is_served_without_credentials_and_is_openapi_3(anon: TestClient) -> None:
    spec = _spec(anon)
    assert re.fullmatch(r"3\.\d+\.\d+", spec["openapi"])
    assert spec["info"]["title"] and spec["info"]["version"]
    assert isinstance(spec["paths"], dict) and spec["paths"]
    for path, operations in spec["paths"].items():
        assert path.startswith("/api/v1/"), path
        for method, operation in operations.items():
            assert method in {"get", "post", "put", "patch", "delete"}
            assert "responses" in operation, (path, method)


def test_openapi_lists_the_main_paths(anon: TestClient) -> None:
    paths = _spec(anon)["paths"]
    for path, methods in MAIN_PATHS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    report = {p["name"]: p for p in paths["/api/v1/reports/progress"]["get"]["parameters"]}
    assert report["from"]["required"] and report["to"]["required"]


def test_openapi_documents_the_input_schemas(anon: TestClient) -> None:
    spec = _spec(anon)
    schemas = spec["components"]["schemas"]
    commitment = schemas["CommitmentInput"]
    assert {"title_en", "title_es", "areas", "country", "lead_agency", "due_date"} <= set(commitment["required"])
    assert "version" in schemas["CommitmentPatch"]["required"]
    assert "source" in schemas["ObservationInput"]["required"]


def test_docs_page_is_served(anon: TestClient) -> None:
    response = anon.get("/api/v1/docs")
    assert response.status_code == 200
    assert "/api/v1/openapi.json" in response.text


def test_openapi_declares_bearer_security(anon: TestClient) -> None:
    spec = _spec(anon)
    schemes = spec.get("components", {}).get("securitySchemes", {})
    assert any(s.get("type") == "http" and s.get("scheme", "").lower() == "bearer" for s in schemes.values())
    assert "security" in spec["paths"]["/api/v1/commitments"]["get"] or "security" in spec


def api_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every APIRoute of the app, also those of included routers.

    FastAPI >= 0.16x nests included routers in ``app.routes``; ``routing.iter_route_contexts`` flattens them.
    """
    flatten = getattr(routing, "iter_route_contexts", None)
    routes: Any = flatten(app.routes) if flatten is not None else app.routes
    found: set[tuple[str, str]] = set()
    for route in routes:
        original = getattr(route, "original_route", route)
        path = getattr(route, "path", None)
        if not isinstance(original, APIRoute) or not isinstance(path, str) or not path.startswith("/api/v1/"):
            continue
        if not original.include_in_schema or path in PUBLIC:
            continue
        methods: set[str] = getattr(route, "methods", None) or original.methods or set()
        found.update((method, path) for method in methods)
    return found


def _concrete(path: str) -> str:
    """Fill path parameters: ids with 1, codes and names with a word."""
    return re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1).endswith("_id") else "cartels", path)


def test_every_api_operation_requires_credentials(anon: TestClient) -> None:
    operations = api_operations(anon.app)  # type: ignore[arg-type]
    # The walk really found the API, not an empty list.
    assert ("GET", "/api/v1/commitments") in operations
    assert ("GET", "/api/v1/reports/progress") in operations
    assert ("POST", "/api/v1/commitments/{commitment_id}/evidence/file") in operations
    assert ("GET", "/api/v1/evidence/{evidence_id}") in operations
    assert len(operations) >= 20
    for method, path in sorted(operations):
        response = anon.request(method, _concrete(path))
        assert response.status_code == 401, (method, path, response.status_code, response.text)
        assert_error(response, 401, "authentication_required")


def test_openapi_paths_match_the_routes(anon: TestClient) -> None:
    spec = _spec(anon)
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == api_operations(anon.app)  # type: ignore[arg-type]
