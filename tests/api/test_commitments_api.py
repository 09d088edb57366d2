"""Commitments through the API: create, filter, read the timeline, change with optimistic locking, evidence."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from alianza.cooperation.models import Commitment, Evidence, FollowUp
from alianza.node import Node
from tests.api.helpers import assert_error, commitment_body, count, detail_fields, yesterday

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _create(api: TestClient, **overrides: Any) -> dict[str, Any]:
    response = api.post("/api/v1/commitments", json=commitment_body(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()]


def _files_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def test_create_returns_the_full_commitment(api: TestClient, node: Node) -> None:
    created = _create(api)
    assert created["title"] == {
        "en": "Dismantle clandestine drug laboratories",
        "es": "Desmantelar laboratorios clandestinos de drogas",
    }
    assert created["status"] == "proposed"
    assert created["effective_status"] == "proposed"
    assert created["version"] == 1
    assert created["origin"] == {"meeting_id": None, "date": "2025-09-03", "kind": "statement"}
    assert [f["kind"] for f in created["followups"]] == ["created"]
    assert created["evidence"] == []
    assert count(node, Commitment) == 1


def test_list_filters(api: TestClient) -> None:
    labs = _create(api)["id"]
    money = _create(
        api,
        title_en="Freeze accounts of cartel front companies",
        title_es="Congelar cuentas de empresas fachada",
        description_en="",
        description_es="",
        areas=["illicit_finance", "cartels"],
        lead_agency="mx_uif",
        supporting_agencies=[],
    )["id"]
    guns = _create(
        api,
        title_en="Trace seized firearms",
        title_es="Rastrear armas aseguradas",
        description_en="eTrace submissions",
        description_es="Solicitudes eTrace",
        areas=["drugs_arms"],
        country="US",
        lead_agency="us_atf",
        supporting_agencies=["us_cbp"],
        due_date=yesterday(),
        status="in_progress",
    )["id"]

    # Ordered by due date, then by id.
    assert _ids(api.get("/api/v1/commitments")) == [guns, labs, money]
    assert set(_ids(api.get("/api/v1/commitments", params={"area": "cartels"}))) == {labs, money}
    assert _ids(api.get("/api/v1/commitments", params={"area": "illicit_finance"})) == [money]
    assert _ids(api.get("/api/v1/commitments", params={"country": "US"})) == [guns]
    assert set(_ids(api.get("/api/v1/commitments", params={"country": "MX"}))) == {labs, money}
    assert _ids(api.get("/api/v1/commitments", params={"status": "overdue"})) == [guns]
    assert set(_ids(api.get("/api/v1/commitments", params={"status": "proposed"}))) == {labs, money}
    # Lead or supporting agency.
    assert _ids(api.get("/api/v1/commitments", params={"agency": "mx_semar"})) == [labs]
    assert _ids(api.get("/api/v1/commitments", params={"agency": "us_cbp"})) == [guns]
    assert _ids(api.get("/api/v1/commitments", params={"agency": "mx_uif"})) == [money]
    # Free text, case-insensitive, in either language.
    assert _ids(api.get("/api/v1/commitments", params={"q": "FACHADA"})) == [money]
    assert _ids(api.get("/api/v1/commitments", params={"q": "etrace"})) == [guns]
    assert _ids(api.get("/api/v1/commitments", params={"q": "laboratorios", "country": "US"})) == []
    # Filters combine.
    assert _ids(api.get("/api/v1/commitments", params={"area": "cartels", "agency": "mx_uif"})) == [money]
    # A country outside the mechanism is a validation error, not an empty list.
    assert_error(api.get("/api/v1/commitments", params={"country": "CA"}), 422, "validation_error")


def test_list_is_ordered_by_due_date(api: TestClient) -> None:
    late = _create(api, due_date="2027-12-31")["id"]
    early = _create(api, due_date="2026-12-31")["id"]
    assert _ids(api.get("/api/v1/commitments")) == [early, late]


def test_get_shows_the_created_follow_up(api: TestClient) -> None:
    created = _create(api)
    response = api.get(f"/api/v1/commitments/{created['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == created["id"]
    [first] = body["followups"]
    assert first["kind"] == "created"
    assert first["author"] == "coord"
    assert first["changes"]["status"] == [None, "proposed"]


def test_patch_with_version_then_stale_patch_is_a_conflict(api: TestClient, node: Node) -> None:
    cid = _create(api)["id"]
    url = f"/api/v1/commitments/{cid}"

    first = api.patch(url, json={"version": 1, "status": "agreed", "note": "Agreed at the SIG"})
    assert first.status_code == 200, first.text
    saved = first.json()
    assert saved["status"] == "agreed"
    assert saved["version"] == 2
    change = saved["followups"][-1]
    assert change["kind"] == "updated"
    assert change["changes"] == {"status": ["proposed", "agreed"]}
    assert change["note"] == "Agreed at the SIG"
    assert change["author"] == "coord"

    followups_before = count(node, FollowUp)
    stale = api.patch(url, json={"version": 1, "status": "dropped", "progress": 10})
    error = assert_error(stale, 409, "conflict")
    details = error["details"]
    assert set(details) == {"current", "yours"}
    assert details["current"]["version"] == 2
    assert details["current"]["status"] == "agreed"
    assert details["yours"] == {"status": "dropped", "progress": 10, "version": 1}

    after = api.get(url).json()
    assert after["status"] == "agreed"
    assert after["progress"] == 0
    assert after["version"] == 2
    assert count(node, FollowUp) == followups_before


def test_illegal_transition_names_the_allowed_moves(api: TestClient, node: Node) -> None:
    cid = _create(api)["id"]
    before = count(node, FollowUp)
    response = api.patch(f"/api/v1/commitments/{cid}", json={"version": 1, "status": "completed"})
    error = assert_error(response, 422, "validation_error")
    assert detail_fields(error) == {"status"}
    message = error["details"][0]["message"]
    assert "proposed" in message and "completed" in message
    assert "agreed, dropped" in message
    assert count(node, FollowUp) == before
    assert api.get(f"/api/v1/commitments/{cid}").json()["version"] == 1


def test_overdue_cannot_be_set(api: TestClient) -> None:
    cid = _create(api)["id"]
    error = assert_error(
        api.patch(f"/api/v1/commitments/{cid}", json={"version": 1, "status": "overdue"}), 422, "validation_error"
    )
    assert detail_fields(error) == {"status"}
    created = api.post("/api/v1/commitments", json=commitment_body(status="overdue"))
    assert detail_fields(assert_error(created, 422, "validation_error")) == {"status"}


def test_completing_sets_progress_to_100(api: TestClient) -> None:
    cid = _create(api, status="in_progress")["id"]
    done = api.patch(f"/api/v1/commitments/{cid}", json={"version": 1, "status": "completed"})
    assert done.status_code == 200, done.text
    assert done.json()["progress"] == 100
    assert done.json()["followups"][-1]["changes"]["progress"] == [0, 100]


def test_patch_that_changes_nothing_is_refused(api: TestClient, node: Node) -> None:
    cid = _create(api)["id"]
    before = count(node, FollowUp)
    response = api.patch(f"/api/v1/commitments/{cid}", json={"version": 1, "status": "proposed"})
    assert_error(response, 422, "validation_error")
    assert count(node, FollowUp) == before


def test_note_follow_up(api: TestClient, node: Node) -> None:
    cid = _create(api)["id"]
    response = api.post(f"/api/v1/commitments/{cid}/followups", json={"note": "  First joint operation done.  "})
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "note"
    assert response.json()["note"] == "First joint operation done."
    timeline = api.get(f"/api/v1/commitments/{cid}").json()["followups"]
    assert [f["kind"] for f in timeline] == ["created", "note"]

    before = count(node, FollowUp)
    assert_error(api.post(f"/api/v1/commitments/{cid}/followups", json={"note": ""}), 422, "validation_error")
    assert_error(api.post(f"/api/v1/commitments/{cid}/followups", json={"note": "   "}), 422, "validation_error")
    assert_error(api.post("/api/v1/commitments/999/followups", json={"note": "lost"}), 404, "not_found")
    assert count(node, FollowUp) == before


def test_a_note_does_not_invalidate_an_open_edit(api: TestClient) -> None:
    cid = _create(api)["id"]
    assert api.post(f"/api/v1/commitments/{cid}/followups", json={"note": "Operation done."}).status_code == 201
    response = api.patch(f"/api/v1/commitments/{cid}", json={"version": 1, "status": "agreed"})
    assert response.status_code == 200, response.text


def test_evidence_link(api: TestClient, node: Node) -> None:
    cid = _create(api)["id"]
    url = "https://www.state.gov/releases/joint-statement"
    response = api.post(f"/api/v1/commitments/{cid}/evidence/link", json={"title": "Joint statement", "url": url})
    assert response.status_code == 201, response.text
    evidence = response.json()
    assert evidence["kind"] == "link"
    assert evidence["url"] == url
    detail = api.get(f"/api/v1/commitments/{cid}").json()
    assert [e["id"] for e in detail["evidence"]] == [evidence["id"]]
    assert detail["followups"][-1]["kind"] == "evidence"

    before = (count(node, Evidence), count(node, FollowUp))
    bad = api.post(f"/api/v1/commitments/{cid}/evidence/link", json={"title": "x", "url": "javascript:alert(1)"})
    assert detail_fields(assert_error(bad, 422, "validation_error")) == {"url"}
    assert (count(node, Evidence), count(node, FollowUp)) == before


def test_evidence_file_round_trip(api: TestClient, node: Node) -> None:
    cid = _create(api)["id"]
    response = api.post(
        f"/api/v1/commitments/{cid}/evidence/file",
        files={"file": ("informe-sesión.pdf", PDF, "application/octet-stream")},
        data={"title": "Informe de la sesión"},
    )
    assert response.status_code == 201, response.text
    evidence = response.json()
    assert evidence["kind"] == "file"
    assert evidence["title"] == "Informe de la sesión"
    assert evidence["filename"] == "informe-sesión.pdf"
    # The stored type comes from the checked extension, not from what the browser claimed.
    assert evidence["content_type"] == "application/pdf"
    assert evidence["size"] == len(PDF)

    stored = _files_in(node.settings.upload_dir)
    assert [p.read_bytes() for p in stored] == [PDF]
    assert stored[0].name == evidence["sha256"]
    assert_error(api.get("/api/v1/evidence/999"), 404, "not_found")


EVIDENCE_DETACHED = (
    "BUG: GET /api/v1/evidence/{id} reads e.kind after db.reading() has rolled back and closed the session "
    "(rollback expires the instance) -> DetachedInstanceError, 500; no evidence can be downloaded."
)


def test_evidence_file_download_returns_the_same_bytes(api: TestClient) -> None:
    cid = _create(api)["id"]
    uploaded = api.post(
        f"/api/v1/commitments/{cid}/evidence/file",
        files={"file": ("informe.pdf", PDF, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    download = api.get(f"/api/v1/evidence/{uploaded.json()['id']}")
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"].startswith("application/pdf")
    assert "informe.pdf" in download.headers["content-disposition"]


def test_evidence_link_redirects(api: TestClient) -> None:
    cid = _create(api)["id"]
    url = "https://www.state.gov/releases/joint-statement"
    created = api.post(f"/api/v1/commitments/{cid}/evidence/link", json={"title": "Statement", "url": url})
    assert created.status_code == 201, created.text
    redirect = api.get(f"/api/v1/evidence/{created.json()['id']}", follow_redirects=False)
    assert redirect.status_code in (302, 303, 307)
    assert redirect.headers["location"] == url


def test_same_file_twice_is_stored_once(api: TestClient, node: Node) -> None:
    cid = _create(api)["id"]
    for _ in range(2):
        response = api.post(
            f"/api/v1/commitments/{cid}/evidence/file", files={"file": ("a.pdf", PDF, "application/pdf")}
        )
        assert response.status_code == 201, response.text
    assert count(node, Evidence) == 2
    assert len(_files_in(node.settings.upload_dir)) == 1


def test_refused_uploads_write_nothing(api: TestClient, node: Node) -> None:
    cid = _create(api)["id"]
    url = f"/api/v1/commitments/{cid}/evidence/file"
    before = (count(node, Evidence), count(node, FollowUp))

    not_pdf = api.post(url, files={"file": ("report.pdf", b"MZ this is an executable", "application/pdf")})
    error = assert_error(not_pdf, 415, "upload_unsupported")
    assert 400 <= not_pdf.status_code < 500
    assert ".pdf" in error["message"]

    empty = api.post(url, files={"file": ("empty.pdf", b"", "application/pdf")})
    assert_error(empty, 415, "upload_unsupported")

    binary_txt = api.post(url, files={"file": ("notes.txt", b"\xff\xfe\x00bad", "text/plain")})
    assert_error(binary_txt, 415, "upload_unsupported")

    missing = api.post("/api/v1/commitments/999/evidence/file", files={"file": ("a.pdf", PDF, "application/pdf")})
    assert_error(missing, 404, "not_found")

    assert (count(node, Evidence), count(node, FollowUp)) == before
    assert _files_in(node.settings.upload_dir) == []


def test_overdue_is_computed(api: TestClient) -> None:
    late = _create(api, due_date=yesterday(), status="in_progress")
    done = _create(api, due_date=yesterday(), status="completed")
    dropped = _create(api, due_date=yesterday(), status="dropped")
    future = _create(api, due_date=(dt.date.today() + dt.timedelta(days=1)).isoformat(), status="in_progress")

    assert late["status"] == "in_progress"
    assert late["effective_status"] == "overdue"
    assert done["effective_status"] == "completed"
    assert done["progress"] == 100
    assert dropped["effective_status"] == "dropped"
    assert future["effective_status"] == "in_progress"
    assert _ids(api.get("/api/v1/commitments", params={"status": "overdue"})) == [late["id"]]
    # Moving the due date forward clears overdue: nothing stale is stored.
    moved = api.patch(
        f"/api/v1/commitments/{late['id']}",
        json={"version": 1, "due_date": (dt.date.today() + dt.timedelta(days=10)).isoformat()},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["effective_status"] == "in_progress"
    assert moved.json()["followups"][-1]["changes"]["due_date"][0] == yesterday()
    # Completing a late commitment never leaves it overdue.
    closing = api.patch(f"/api/v1/commitments/{late['id']}", json={"version": 2, "due_date": yesterday()})
    assert closing.json()["effective_status"] == "overdue"
    completed = api.patch(f"/api/v1/commitments/{late['id']}", json={"version": 3, "status": "completed"})
    assert completed.json()["effective_status"] == "completed"


def test_unknown_commitment_for_patch(api: TestClient) -> None:
    assert_error(api.patch("/api/v1/commitments/999", json={"version": 1, "status": "agreed"}), 404, "not_found")
