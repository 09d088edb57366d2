"""``POST /api/v1/matching/link``: a CSV uploaded and linked against the node's records the caller may see, with
what agreed and disagreed; a bad file refused (422, every problem with its line) in the one error shape; no
credentials 401, no right to read records 403. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.node import Node
from tests.api.helpers import assert_error, detail_fields
from tests.api.test_matching_api import bearer
from tests.conftest import make_user
from tests.matching.test_link_records import FILE, HELD, seed

URL = "/api/v1/matching/link"


def linked_runs(node: Node) -> list[dict[str, object]]:
    with node.db.reading() as session:
        return [e.details for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "match.linked"))]


def test_a_file_is_linked_with_what_agreed(app_client: TestClient, node: Node, analyst: User) -> None:
    seed(node, analyst)
    client = bearer(app_client, node, analyst)
    response = client.post(URL, files={"file": ("fiscalia.csv", FILE, "text/csv")}, data={"schema": "Person"})
    assert response.status_code == 200, response.text
    matches = response.json()
    assert isinstance(matches, list)
    assert {m["ref"]: m["record"]["id"] for m in matches} == {"F-1": "r-1", "F-2": "r-2", "F-3": "r-3"}
    pepe = next(m for m in matches if m["ref"] == "F-1")
    assert pepe["name"] == "PÉREZ LÓPEZ, Pepe"
    assert pepe["record"] == {"id": "r-1", "schema": "Person", "caption": "José Luis Pérez López"}
    assert 0.5 <= pepe["probability"] <= 1
    assert {"comparison": "given_names", "level": "hypocorism"} in pepe["agreed"]
    assert isinstance(pepe["disagreed"], list)
    assert pepe["explanation"]["algorithm"] == "alianza-fs-v1"
    assert linked_runs(node) == [
        {
            "file": "fiscalia.csv",
            "schema": "Person",
            "rows": 4,
            "records": HELD,
            "matches": 3,
            "algorithm": "alianza-fs-v1",
            "threshold": 0.5,
        }
    ]
    strict = client.post(URL, files={"file": ("fiscalia.csv", FILE, "text/csv")}, data={"threshold": "0.999999"})
    assert strict.status_code == 200, strict.text
    assert len(strict.json()) < len(matches)
    assert linked_runs(node)[-1]["threshold"] == 0.999999


def test_another_agency_does_not_see_a_restricted_record(app_client: TestClient, node: Node, analyst: User) -> None:
    seed(node, analyst)
    client = bearer(app_client, node, make_user(node, "sspc", "analyst", agency="mx_sspc"))
    response = client.post(URL, files={"file": ("fiscalia.csv", FILE, "text/csv")})
    assert response.status_code == 200, response.text
    assert "r-3" not in {m["record"]["id"] for m in response.json()}


def test_a_bad_file_is_refused_with_its_lines(app_client: TestClient, node: Node, analyst: User) -> None:
    seed(node, analyst)
    client = bearer(app_client, node, analyst)
    bad = b"ref,name,birth_date\nA,Ana Ruiz,1990-01-01\nB,,1990-01-02\nC,Luis,1990,extra\n"
    error = assert_error(client.post(URL, files={"file": ("malo.csv", bad, "text/csv")}), 422, "validation_error")
    assert detail_fields(error) == {"malo.csv"}
    messages = [d["message"] for d in error["details"]]
    assert any("line 3" in m for m in messages) and any("line 4" in m for m in messages), messages
    analista = bearer(app_client, node, make_user(node, "analista", "analyst", "mx_fgr", lang="es"))
    spanish = analista.post(URL, files={"file": ("malo.csv", bad, "text/csv")}).json()["error"]
    assert "malo.csv" in spanish["message"] and "no se leyó nada" in spanish["message"]
    assert any("línea 3" in d["message"] for d in spanish["details"]), spanish
    client = bearer(app_client, node, analyst)
    assert_error(client.post(URL, data={"schema": "Person"}), 422, "validation_error")  # no file
    wrong_kind = client.post(URL, files={"file": ("f.csv", FILE, "text/csv")}, data={"schema": "Vessel"})
    assert_error(wrong_kind, 422, "validation_error")
    assert_error(
        client.post(URL, files={"file": ("f.csv", FILE, "text/csv")}, data={"threshold": "2"}), 422, "validation_error"
    )
    assert linked_runs(node) == []


def test_credentials_and_role_are_required(
    anon: TestClient, app_client: TestClient, node: Node, coordinator: User
) -> None:
    assert_error(anon.post(URL, files={"file": ("f.csv", FILE, "text/csv")}), 401, "authentication_required")
    client = bearer(app_client, node, coordinator)
    assert_error(client.post(URL, files={"file": ("f.csv", FILE, "text/csv")}), 403, "permission_denied")
    assert linked_runs(node) == []
