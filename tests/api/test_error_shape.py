"""Every failure of the API answers with one shape: ``{"error": {"code", "message", "details"}}``.

Each test provokes one kind of failure and checks the status, the exact key set, the code and, for
validation failures, that the details name the field to fix. Refused writes must leave the database as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alianza import i18n
from alianza.accounts import service as accounts
from alianza.accounts.models import User
from alianza.cooperation.models import Commitment, Evidence, FollowUp
from alianza.i18n import gettext_for
from alianza.node import Node
from alianza.web.auth import SESSION_COOKIE
from tests.api.helpers import assert_error, commitment_body, count, detail_fields
from tests.conftest import token_for

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def _create(api: TestClient, **overrides: object) -> dict[str, object]:
    response = api.post("/api/v1/commitments", json=commitment_body(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


# --- 401 ------------------------------------------------------------------------------------------------


def test_401_without_credentials(anon: TestClient) -> None:
    error = assert_error(anon.get("/api/v1/commitments"), 401, "authentication_required")
    assert error["details"] is None


def test_401_with_unknown_token(anon: TestClient) -> None:
    response = anon.get("/api/v1/commitments", headers={"Authorization": "Bearer alz_not-a-real-token"})
    error = assert_error(response, 401, "authentication_required")
    assert "token" in error["message"].lower()


def test_401_with_expired_session_cookie(anon: TestClient, node: Node, coordinator: User) -> None:
    with node.db.transaction() as session:
        cookie, _row = accounts.open_session(session, session.merge(coordinator), minutes=-5)
    anon.cookies.set(SESSION_COOKIE, cookie)
    assert_error(anon.get("/api/v1/commitments"), 401, "session_expired")


def test_401_announces_the_bearer_scheme(anon: TestClient) -> None:
    response = anon.get("/api/v1/commitments")
    assert response.status_code == 401
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")


# --- 404 / 405 ------------------------------------------------------------------------------------------


def test_404_unknown_commitment(api: TestClient) -> None:
    error = assert_error(api.get("/api/v1/commitments/987654"), 404, "not_found")
    assert "987654" in error["message"]


def test_404_unknown_route(api: TestClient) -> None:
    assert_error(api.get("/api/v1/no-such-thing"), 404, "not_found")


def test_404_unknown_route_without_credentials_is_still_json(anon: TestClient) -> None:
    assert_error(anon.get("/api/v1/no-such-thing"), 404, "not_found")


def test_405_wrong_method(api: TestClient) -> None:
    assert_error(api.delete("/api/v1/commitments"), 405, "method_not_allowed")


# --- 422 ------------------------------------------------------------------------------------------------


def test_422_pydantic_body_error_names_each_field(api: TestClient, node: Node) -> None:
    body = commitment_body()
    del body["title_es"]
    body["country"] = "CA"
    error = assert_error(api.post("/api/v1/commitments", json=body), 422, "validation_error")
    fields = detail_fields(error)
    assert "title_es" in fields
    assert "country" in fields
    assert count(node, Commitment) == 0


def test_422_malformed_json(api: TestClient) -> None:
    response = api.post("/api/v1/commitments", content=b'{"title_en": ', headers={"Content-Type": "application/json"})
    assert_error(response, 422, "validation_error")


def test_422_unknown_area_code_names_the_field(api: TestClient, node: Node) -> None:
    error = assert_error(
        api.post("/api/v1/commitments", json=commitment_body(areas=["cartels", "not_an_area"])),
        422,
        "validation_error",
    )
    assert detail_fields(error) == {"areas"}
    assert "not_an_area" in error["details"][0]["message"]
    assert count(node, Commitment) == 0


def test_422_due_date_before_origin_names_the_field(api: TestClient, node: Node) -> None:
    body = commitment_body(origin_date="2026-01-10", due_date="2026-01-09")
    error = assert_error(api.post("/api/v1/commitments", json=body), 422, "validation_error")
    assert detail_fields(error) == {"due_date"}
    assert "2026-01-09" in error["details"][0]["message"]
    assert count(node, Commitment) == 0


def test_422_lists_every_problem_at_once(api: TestClient) -> None:
    body = commitment_body(areas=["nope"], lead_agency="us_dea", due_date="2025-01-01")
    error = assert_error(api.post("/api/v1/commitments", json=body), 422, "validation_error")
    assert detail_fields(error) == {"areas", "lead_agency", "due_date"}


# --- 409 ------------------------------------------------------------------------------------------------


def test_409_conflict(api: TestClient) -> None:
    created = _create(api)
    url = f"/api/v1/commitments/{created['id']}"
    assert api.patch(url, json={"version": 1, "status": "agreed"}).status_code == 200
    error = assert_error(api.patch(url, json={"version": 1, "status": "dropped"}), 409, "conflict")
    assert isinstance(error["details"], dict)
    assert {"current", "yours"} <= set(error["details"])


# --- 403 ------------------------------------------------------------------------------------------------


def test_403_analyst_cannot_create_a_commitment(anon: TestClient, node: Node, analyst: User) -> None:
    anon.headers["Authorization"] = f"Bearer {token_for(node, analyst)}"
    error = assert_error(anon.post("/api/v1/commitments", json=commitment_body()), 403, "permission_denied")
    assert "analyst" in error["message"]
    assert count(node, Commitment) == 0


def test_403_cookie_session_without_csrf_token(anon: TestClient, node: Node, coordinator: User) -> None:
    with node.db.transaction() as session:
        cookie, row = accounts.open_session(session, session.merge(coordinator), minutes=60)
        csrf = row.csrf_token
    anon.cookies.set(SESSION_COOKIE, cookie)
    # Reading with the cookie alone is fine: the CSRF token guards changes only.
    assert anon.get("/api/v1/commitments").status_code == 200
    assert_error(anon.post("/api/v1/commitments", json=commitment_body()), 403, "csrf_failed")
    wrong = anon.post("/api/v1/commitments", json=commitment_body(), headers={"X-CSRF-Token": csrf + "x"})
    assert_error(wrong, 403, "csrf_failed")
    assert count(node, Commitment) == 0
    right = anon.post("/api/v1/commitments", json=commitment_body(), headers={"X-CSRF-Token": csrf})
    assert right.status_code == 201, right.text
    assert count(node, Commitment) == 1


# --- uploads --------------------------------------------------------------------------------------------


def _files_in(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def test_413_upload_too_large(api: TestClient, node: Node) -> None:
    created = _create(api)
    node.settings.upload_max_bytes = 64
    before = count(node, FollowUp)
    response = api.post(
        f"/api/v1/commitments/{created['id']}/evidence/file",
        files={"file": ("big.pdf", PDF + b"0" * 200, "application/pdf")},
    )
    assert_error(response, 413, "upload_too_large")
    assert count(node, Evidence) == 0
    assert count(node, FollowUp) == before
    assert _files_in(node.settings.upload_dir) == []


def test_upload_of_a_forbidden_type_is_refused_in_the_error_shape(api: TestClient, node: Node) -> None:
    created = _create(api)
    before = count(node, FollowUp)
    response = api.post(
        f"/api/v1/commitments/{created['id']}/evidence/file",
        files={"file": ("setup.exe", b"MZ\x90\x00" + b"\x00" * 60, "application/octet-stream")},
    )
    assert response.status_code == 415
    error = assert_error(response, 415, "upload_unsupported")
    assert ".exe" in error["message"]
    assert count(node, Evidence) == 0
    assert count(node, FollowUp) == before
    assert _files_in(node.settings.upload_dir) == []


def test_upload_of_a_forbidden_type_is_not_called_too_large(api: TestClient) -> None:
    created = _create(api)
    response = api.post(
        f"/api/v1/commitments/{created['id']}/evidence/file",
        files={"file": ("setup.exe", b"MZ\x90\x00", "application/octet-stream")},
    )
    assert response.status_code in (400, 415, 422)


# --- unexpected failures --------------------------------------------------------------------------------


def test_unexpected_failure_keeps_the_error_shape(api: TestClient, node: Node) -> None:
    created = _create(api)
    uploaded = api.post(
        f"/api/v1/commitments/{created['id']}/evidence/file",
        files={"file": ("minutes.pdf", PDF, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    for path in _files_in(node.settings.upload_dir):
        path.unlink()
    with TestClient(api.app, base_url="http://127.0.0.1", raise_server_exceptions=False) as quiet:
        quiet.headers["Authorization"] = api.headers["Authorization"]
        response = quiet.get(f"/api/v1/evidence/{uploaded.json()['id']}")
    assert response.status_code >= 400
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}


# --- language -------------------------------------------------------------------------------------------


def test_message_in_spanish_with_accept_language(api: TestClient) -> None:
    response = api.get("/api/v1/commitments/987654", headers={"Accept-Language": "es-MX,es;q=0.9"})
    error = assert_error(response, 404, "not_found")
    assert error["message"] == gettext_for("es")("No commitment with id {id}.").format(id=987654)


def test_message_follows_lang_query_over_header(api: TestClient) -> None:
    response = api.get("/api/v1/commitments/987654?lang=en", headers={"Accept-Language": "es"})
    error = assert_error(response, 404, "not_found")
    assert error["message"] == "No commitment with id 987654."


def _fake_spanish(monkeypatch: pytest.MonkeyPatch, table: dict[str, str]) -> None:
    """Stand in for the Spanish catalog so translation is observable whatever the .po files hold today."""
    monkeypatch.setattr(i18n, "_catalog", lambda lang: table if lang == "es" else {})


def test_error_template_is_translated_before_it_is_filled(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_spanish(
        monkeypatch,
        {
            "No commitment with id {id}.": "No existe el compromiso con id {id}.",
            "The request is not valid; see details for each field.": "La solicitud no es válida.",
        },
    )
    error = assert_error(api.get("/api/v1/commitments/5", headers={"Accept-Language": "es"}), 404, "not_found")
    assert error["message"] == "No existe el compromiso con id 5."
    # An explicit ?lang= wins over everything (the coordinator of the fixtures reads Spanish).
    english = assert_error(api.get("/api/v1/commitments/5?lang=en"), 404, "not_found")
    assert english["message"] == "No commitment with id 5."
    invalid = api.post("/api/v1/commitments", json={}, headers={"Accept-Language": "es"})
    assert assert_error(invalid, 422, "validation_error")["message"] == "La solicitud no es válida."


def test_detail_messages_are_translated(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_spanish(
        monkeypatch,
        {
            "Unknown area code '{code}'; use one of: {known}.": "Código de área desconocido '{code}'.",
        },
    )
    response = api.post("/api/v1/commitments", json=commitment_body(areas=["nope"]), headers={"Accept-Language": "es"})
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["message"] == "Código de área desconocido 'nope'."


def test_errors_follow_the_users_profile_language(
    api: TestClient, coordinator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert coordinator.lang == "es"
    _fake_spanish(monkeypatch, {"No commitment with id {id}.": "No existe el compromiso con id {id}."})
    error = assert_error(api.get("/api/v1/commitments/5"), 404, "not_found")
    assert error["message"] == "No existe el compromiso con id 5."
