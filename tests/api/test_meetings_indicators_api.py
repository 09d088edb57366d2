"""Meetings and their decisions, the iCalendar export, indicators and their progress, and the dashboard."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from alianza.cooperation.models import Commitment, Decision, FollowUp, Observation
from alianza.node import Node
from tests.api.helpers import (
    assert_error,
    commitment_body,
    count,
    detail_fields,
    indicator_body,
    meeting_body,
    yesterday,
)


def _post(api: TestClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(url, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _meeting(api: TestClient, **overrides: Any) -> dict[str, Any]:
    return _post(api, "/api/v1/meetings", meeting_body(**overrides))


def _summaries(ics: bytes) -> list[str]:
    calendar = Calendar.from_ical(ics)
    return [str(event["SUMMARY"]) for event in calendar.walk("VEVENT")]


# --- meetings -------------------------------------------------------------------------------------------


def test_meeting_create_get_list(api: TestClient) -> None:
    created = _meeting(api, chairs=["SRE", "State"], agencies=["mx_sre", "us_state"], next_meeting_date="2026-01-20")
    assert created["title"]["es"] == "Grupo de Implementación de Seguridad, primera reunión"
    assert created["date"] == "2025-10-15"
    assert created["decisions"] == []
    assert created["agenda"] == {"en": "Review of the commitments", "es": "Revisión de los compromisos"}

    got = api.get(f"/api/v1/meetings/{created['id']}")
    assert got.status_code == 200
    assert got.json()["next_meeting_date"] == "2026-01-20"
    assert got.json()["agencies"] == ["mx_sre", "us_state"]
    listed = api.get("/api/v1/meetings").json()
    assert [m["id"] for m in listed] == [created["id"]]
    assert_error(api.get("/api/v1/meetings/999"), 404, "not_found")


def test_meeting_validation(api: TestClient) -> None:
    bad = api.post("/api/v1/meetings", json=meeting_body(agencies=["nope"], next_meeting_date="2025-10-01"))
    error = assert_error(bad, 422, "validation_error")
    assert detail_fields(error) == {"agencies", "next_meeting_date"}
    assert api.get("/api/v1/meetings").json() == []


def test_decision_that_creates_a_commitment(api: TestClient, node: Node) -> None:
    meeting = _meeting(api)
    decision = _post(
        api,
        f"/api/v1/meetings/{meeting['id']}/decisions",
        {
            "text_en": "Set up a joint task force on fuel theft",
            "text_es": "Crear un grupo conjunto contra el robo de combustible",
            "creates": commitment_body(areas=["fuel_theft"], due_date="2026-06-30"),
        },
    )
    assert decision["kind"] == "creates"
    assert decision["commitment_id"] is not None
    commitment = api.get(f"/api/v1/commitments/{decision['commitment_id']}").json()
    assert commitment["origin"] == {"meeting_id": meeting["id"], "date": "2025-10-15", "kind": "meeting"}
    [created] = commitment["followups"]
    assert created["kind"] == "created"
    assert created["meeting_id"] == meeting["id"]
    assert "Crear un grupo conjunto" in created["note"]
    detail = api.get(f"/api/v1/meetings/{meeting['id']}").json()
    assert [d["id"] for d in detail["decisions"]] == [decision["id"]]


def test_decision_creating_a_commitment_due_before_the_meeting_is_refused(api: TestClient, node: Node) -> None:
    meeting = _meeting(api)
    response = api.post(
        f"/api/v1/meetings/{meeting['id']}/decisions",
        json={
            "text_en": "Too late already",
            "text_es": "Ya es tarde",
            "creates": commitment_body(due_date="2025-10-14"),
        },
    )
    error = assert_error(response, 422, "validation_error")
    assert detail_fields(error) == {"due_date"}
    assert "2025-10-15" in error["details"][0]["message"]
    assert count(node, Commitment) == 0
    assert count(node, Decision) == 0


def test_decision_that_updates_a_commitment(api: TestClient, node: Node) -> None:
    commitment = _post(api, "/api/v1/commitments", commitment_body())
    meeting = _meeting(api)
    decision = _post(
        api,
        f"/api/v1/meetings/{meeting['id']}/decisions",
        {
            "text_en": "Both parties agree",
            "text_es": "Ambas partes acuerdan",
            "updates_commitment_id": commitment["id"],
            "updates": {"version": 1, "status": "agreed"},
        },
    )
    assert decision["kind"] == "updates"
    assert decision["commitment_id"] == commitment["id"]
    after = api.get(f"/api/v1/commitments/{commitment['id']}").json()
    assert after["status"] == "agreed"
    assert after["version"] == 2
    entry = after["followups"][-1]
    assert entry["kind"] == "decision"
    assert entry["meeting_id"] == meeting["id"]
    assert entry["changes"] == {"status": ["proposed", "agreed"]}
    assert entry["note"] == "Both parties agree / Ambas partes acuerdan"


def test_decision_update_with_a_stale_version_writes_nothing(api: TestClient, node: Node) -> None:
    commitment = _post(api, "/api/v1/commitments", commitment_body())
    meeting = _meeting(api)
    before = (count(node, Decision), count(node, FollowUp))
    response = api.post(
        f"/api/v1/meetings/{meeting['id']}/decisions",
        json={
            "text_en": "x",
            "text_es": "x",
            "updates_commitment_id": commitment["id"],
            "updates": {"version": 7, "status": "agreed"},
        },
    )
    assert_error(response, 409, "conflict")
    assert (count(node, Decision), count(node, FollowUp)) == before


def test_decision_cannot_update_a_commitment_born_after_the_meeting(api: TestClient, node: Node) -> None:
    meeting = _meeting(api, date="2025-09-01")
    commitment = _post(api, "/api/v1/commitments", commitment_body())  # origin: the statement, 2025-09-03
    response = api.post(
        f"/api/v1/meetings/{meeting['id']}/decisions",
        json={
            "text_en": "x",
            "text_es": "x",
            "updates_commitment_id": commitment["id"],
            "updates": {"version": 1, "status": "agreed"},
        },
    )
    assert_error(response, 422, "validation_error")
    assert count(node, Decision) == 0


def test_decision_that_both_creates_and_updates_is_refused(api: TestClient, node: Node) -> None:
    commitment = _post(api, "/api/v1/commitments", commitment_body())
    meeting = _meeting(api)
    response = api.post(
        f"/api/v1/meetings/{meeting['id']}/decisions",
        json={
            "text_en": "x",
            "text_es": "x",
            "creates": commitment_body(),
            "updates_commitment_id": commitment["id"],
            "updates": {"version": 1, "status": "agreed"},
        },
    )
    assert_error(response, 422, "validation_error")
    assert count(node, Commitment) == 1


def test_icalendar_exports(api: TestClient) -> None:
    first = _meeting(api)
    second = _meeting(
        api, title_en="Second meeting", title_es="Segunda reunión", date="2026-01-20", place="Washington, D.C."
    )
    spanish = api.get("/api/v1/meetings.ics", params={"lang": "es"})
    assert spanish.status_code == 200
    assert spanish.headers["content-type"].startswith("text/calendar")
    assert _summaries(spanish.content) == [
        "Grupo de Implementación de Seguridad, primera reunión",
        "Segunda reunión",
    ]
    english = api.get("/api/v1/meetings.ics", params={"lang": "en"})
    assert _summaries(english.content) == ["Security Implementation Group, first meeting", "Second meeting"]

    one = api.get(f"/api/v1/meetings/{second['id']}/ics", params={"lang": "es"})
    assert one.status_code == 200
    calendar = Calendar.from_ical(one.content)
    [event] = calendar.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Segunda reunión"
    assert event.decoded("DTSTART") == dt.date(2026, 1, 20)
    assert str(event["LOCATION"]) == "Washington, D.C."
    assert str(event["UID"]) == f"meeting-{second['id']}@alianza"
    assert first["id"] != second["id"]
    assert_error(api.get("/api/v1/meetings/999/ics"), 404, "not_found")


def test_icalendar_defaults_to_the_users_language(api: TestClient) -> None:
    _meeting(api)
    # The coordinator of the fixtures reads Spanish.
    assert _summaries(api.get("/api/v1/meetings.ics").content) == [
        "Grupo de Implementación de Seguridad, primera reunión"
    ]


# --- indicators -----------------------------------------------------------------------------------------


def test_indicator_create_observe_progress(api: TestClient, node: Node) -> None:
    created = _post(api, "/api/v1/indicators", indicator_body())
    assert created["code"] == "fuel_taps"
    assert created["latest"] is None
    assert created["progress"] is None
    assert created["observations"] == []

    url = "/api/v1/indicators/fuel_taps/observations"
    no_source = api.post(url, json={"date": "2025-12-31", "value": 75})
    assert detail_fields(assert_error(no_source, 422, "validation_error")) == {"source"}
    empty_source = api.post(url, json={"date": "2025-12-31", "value": 75, "source": "  "})
    assert detail_fields(assert_error(empty_source, 422, "validation_error")) == {"source"}
    assert count(node, Observation) == 0

    observed = _post(api, url, {"date": "2025-12-31", "value": 75, "source": "Pemex, informe mensual"})
    assert observed["value"] == 75
    assert observed["source"] == "Pemex, informe mensual"

    duplicate = api.post(url, json={"date": "2025-12-31", "value": 70, "source": "Pemex"})
    error = assert_error(duplicate, 422, "validation_error")
    assert "2025-12-31" in error["message"]
    assert count(node, Observation) == 1

    indicator = api.get("/api/v1/indicators/fuel_taps").json()
    assert indicator["latest"]["value"] == 75
    assert indicator["change"] == -25
    assert indicator["progress"] == pytest.approx(0.5)
    assert indicator["improving"] is None  # a single observation has no trend
    assert [o["date"] for o in indicator["observations"]] == ["2025-12-31"]

    _post(api, url, {"date": "2026-03-31", "value": 60, "source": "Pemex"})
    indicator = api.get("/api/v1/indicators/fuel_taps").json()
    assert indicator["progress"] == pytest.approx(0.8)
    assert indicator["improving"] is True
    listed = api.get("/api/v1/indicators").json()
    assert [(i["code"], i["latest"]["value"]) for i in listed] == [("fuel_taps", 60)]


def test_indicator_validation(api: TestClient) -> None:
    _post(api, "/api/v1/indicators", indicator_body())
    again = api.post("/api/v1/indicators", json=indicator_body(area="nowhere", target_date=None))
    error = assert_error(again, 422, "validation_error")
    assert detail_fields(error) == {"code", "area", "target_value"}
    bad_code = api.post("/api/v1/indicators", json=indicator_body(code="Fuel Taps"))
    assert detail_fields(assert_error(bad_code, 422, "validation_error")) == {"code"}
    assert_error(api.get("/api/v1/indicators/nothing"), 404, "not_found")
    missing = api.post(
        "/api/v1/indicators/nothing/observations", json={"date": "2025-12-31", "value": 1, "source": "x"}
    )
    assert_error(missing, 404, "not_found")


# --- dashboard ------------------------------------------------------------------------------------------


def test_dashboard_counts(api: TestClient) -> None:
    soon = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    late = _post(api, "/api/v1/commitments", commitment_body(due_date=yesterday(), status="in_progress"))
    also_late = _post(
        api, "/api/v1/commitments", commitment_body(due_date=yesterday(), status="agreed", areas=["fuel_theft"])
    )
    _post(api, "/api/v1/commitments", commitment_body(due_date=yesterday(), status="completed"))
    due_soon = _post(api, "/api/v1/commitments", commitment_body(due_date=soon))
    _post(api, "/api/v1/commitments", commitment_body(due_date="2030-01-01", status="agreed"))
    _post(api, "/api/v1/indicators", indicator_body())
    meeting = _meeting(api, date=soon)

    response = api.get("/api/v1/dashboard")
    assert response.status_code == 200
    board = response.json()
    assert board["today"] == dt.date.today().isoformat()
    assert board["total"] == 5
    assert board["by_status"] == {"overdue": 2, "completed": 1, "proposed": 1, "agreed": 1}
    assert sum(board["by_status"].values()) == board["total"]
    assert {c["id"] for c in board["overdue"]} == {late["id"], also_late["id"]}
    assert all(c["effective_status"] == "overdue" for c in board["overdue"])
    assert [c["id"] for c in board["due_soon"]] == [due_soon["id"]]
    assert board["by_area_status"]["fuel_theft"] == {"overdue": 1}
    assert board["by_area_status"]["cartels"] == {"overdue": 1, "completed": 1, "proposed": 1, "agreed": 1}
    assert board["next_meeting"] == {"date": soon, "meeting_id": meeting["id"]}
    assert [i["code"] for i in board["indicators"]] == ["fuel_taps"]


def test_dashboard_of_an_empty_node(api: TestClient) -> None:
    board = api.get("/api/v1/dashboard").json()
    assert board["total"] == 0
    assert board["by_status"] == {}
    assert board["overdue"] == [] and board["due_soon"] == []
    assert board["next_meeting"] == {"date": None, "meeting_id": None}
