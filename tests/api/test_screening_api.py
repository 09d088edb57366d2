"""The screening API: lists loaded from OFAC's files as published, names and files screened with an explanation,
the stored records re-screened when a list changes, decisions on the hits, and the one error shape throughout.

Every test runs on SQLite and PostgreSQL (the ``node`` fixture). The OFAC fixtures below are written as OFAC
publishes its legacy CSV: no header, CRLF, ``-0-`` for empty, weak a.k.a. in the remarks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.matching.screening import ALGORITHM
from alianza.matching.screening_models import ListEntry, SanctionsList, ScreeningHit
from alianza.node import Node
from alianza.records import service as records
from alianza.records.schemas import Markings, RecordInput
from alianza.web.app import create_app
from tests.api.helpers import assert_error, count, detail_fields
from tests.conftest import make_user, token_for

ROW = '{ent},"{name}","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"{remarks}"\r\n'
MENCHO = ROW.format(
    ent=17301,
    name="OSEGUERA CERVANTES, Nemesio",
    remarks="DOB 17 Jul 1966; POB Aguililla, Michoacan, Mexico; nationality Mexico; a.k.a. 'EL MENCHO'.",
)
CHUY = ROW.format(ent=17400, name="PEREZ LOPEZ, Jesus", remarks="DOB 01 Jan 1960; nationality Mexico.")
CHAPO = ROW.format(ent=17500, name="GUZMAN LOERA, Joaquin Archivaldo", remarks="a.k.a. 'EL CHAPO'.")
SDN_V1 = MENCHO + CHUY
SDN_V2 = MENCHO + CHAPO  # Pérez López delisted, Guzmán Loera listed
ALT = '17301,1001,"aka","OSEGUERA, Nemesio",-0- \r\n'
BAD_SDN = MENCHO + '17400,"PEREZ LOPEZ, Jesus","individual"\r\n'  # line 2: three columns of twelve


def ofac_files(sdn: str = SDN_V1, alt: str | None = ALT) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The ``files`` of a multipart upload of an OFAC list."""
    files = [("files", ("sdn.csv", sdn.encode("cp1252"), "text/csv"))]
    if alt is not None:
        files.append(("files", ("alt.csv", alt.encode(), "text/csv")))
    return files


def seed_person(node: Node, actor: User, record_id: str, name: str) -> None:
    data = RecordInput.model_validate(
        {
            "id": record_id,
            "schema": "Person",
            "properties": {"name": name, "nationality": "mx"},
            "markings": Markings(
                origin_agency="mx_fgr", tlp="AMBER", legal_basis="mx_cnpp", purpose="criminal_investigation"
            ),
        }
    )
    with node.db.transaction() as session:
        records.create_record(session, actor, node.trail, node.settings.country, data)


@pytest.fixture
def analyst_api(node: Node, analyst: User) -> Iterator[TestClient]:
    """A client authenticated as an FGR analyst (who may read and edit records, so load lists and decide)."""
    with TestClient(create_app(node), base_url="http://127.0.0.1") as client:
        client.headers["Authorization"] = f"Bearer {token_for(node, analyst)}"
        yield client


def load(client: TestClient, sdn: str = SDN_V1, alt: str | None = ALT, **form: Any) -> Any:
    data = {"name": "ofac-sdn", "format": "ofac", "source": "OFAC SDN"} | form
    return client.post("/api/v1/lists", data=data, files=ofac_files(sdn, alt))


def _actions(node: Node) -> list[str]:
    with node.db.reading() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


# ---------------------------------------------------------------------------------------------------- lists


def test_load_a_list_then_the_same_files_change_nothing(analyst_api: TestClient, node: Node) -> None:
    loaded = load(analyst_api)
    assert loaded.status_code == 201, loaded.text
    body = loaded.json()
    assert body["summary"]["added"] == 2 and body["summary"]["entries"] == 2
    assert body["summary"]["previous_version"] is None
    assert body["added"] == ["17301", "17400"]
    assert body["list"] | {"loaded_at": None} == {
        "name": "ofac-sdn",
        "format": "ofac-csv",
        "version": body["summary"]["version"],
        "source": "OFAC SDN",
        "entries": 2,
        "files": body["list"]["files"],
        "loaded_at": None,
        "loaded_by": "analyst",
    }
    assert {f["name"] for f in body["list"]["files"]} == {"sdn.csv", "alt.csv"}
    assert body["summary"]["rescreen"] == {
        "lists": {"ofac-sdn": body["summary"]["version"]},
        "screened": 0,
        "names": 0,
        "new": 0,
        "removed": 0,
        "kept": 0,
    }
    again = load(analyst_api)
    assert again.status_code == 200 and again.json()["summary"]["unchanged"] is True
    listed = analyst_api.get("/api/v1/lists")
    assert listed.status_code == 200
    assert [(lst["name"], lst["entries"], lst["version"]) for lst in listed.json()] == [
        ("ofac-sdn", 2, body["summary"]["version"])
    ]
    assert _actions(node).count("screening.list_loaded") == 1


def test_a_malformed_file_names_the_line_and_nothing_is_loaded(analyst_api: TestClient, node: Node) -> None:
    error = assert_error(load(analyst_api, BAD_SDN), 422, "validation_error")
    assert error["details"][0]["field"] == "sdn.csv"
    assert error["details"][0]["message"] == "line 2: expected 12 columns, found 3."
    assert "nothing was changed" in error["message"]
    assert "template" not in error["details"][0]  # the template stays server-side
    assert count(node, SanctionsList) == 0 and count(node, ListEntry) == 0
    assert analyst_api.get("/api/v1/lists").json() == []
    assert "screening.list_loaded" not in _actions(node)
    # In the reader's language, line number included
    es = analyst_api.post(
        "/api/v1/lists?lang=es", data={"name": "ofac-sdn", "format": "ofac"}, files=ofac_files(BAD_SDN)
    )
    assert assert_error(es, 422, "validation_error")["details"][0]["message"].startswith("línea 2")


def test_bad_uploads_are_refused_with_the_field(analyst_api: TestClient, node: Node) -> None:
    no_files = analyst_api.post("/api/v1/lists", data={"name": "ofac-sdn"}, files=[])
    assert no_files.status_code == 422
    bad_name = load(analyst_api, name="OFAC SDN!")
    assert "list name" in assert_error(bad_name, 422, "validation_error")["message"]
    bad_format = load(analyst_api, format="xlsx")
    assert "Unknown list format" in assert_error(bad_format, 422, "validation_error")["message"]
    assert count(node, SanctionsList) == 0


def test_an_auditor_cannot_load_a_list(node: Node, app_client: TestClient) -> None:
    auditor = make_user(node, "auditor", "auditor", "mx_sre")
    app_client.headers["Authorization"] = f"Bearer {token_for(node, auditor)}"
    assert_error(load(app_client), 403, "permission_denied")
    assert count(node, SanctionsList) == 0
    assert app_client.get("/api/v1/lists").status_code == 200  # reading them is allowed


def test_a_coordinator_reads_no_screening(api: TestClient) -> None:
    assert_error(api.get("/api/v1/lists"), 403, "permission_denied")
    assert_error(api.post("/api/v1/screening", json={"names": [{"name": "Mencho"}]}), 403, "permission_denied")
    assert_error(api.get("/api/v1/screening/algorithm"), 403, "permission_denied")


# ---------------------------------------------------------------------------------------------------- screening


def _hits(body: dict[str, Any], index: int = 0) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = body["results"][index]["hits"]
    return hits


def test_screen_a_name_finds_the_entry_with_its_explanation(analyst_api: TestClient, node: Node) -> None:
    assert load(analyst_api).status_code == 201
    response = analyst_api.post("/api/v1/screening", json={"names": [{"name": "Mencho Oseguera"}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["algorithm"] == ALGORITHM and body["threshold"] == 0.7
    assert body["screened"] == 1 and body["with_hits"] == 1
    [hit] = _hits(body)
    assert hit["entry"] == {"id": "17301", "caption": "OSEGUERA CERVANTES, Nemesio", "schema": "Person"}
    assert hit["list"] == "ofac-sdn" and hit["decision"] is None
    assert hit["score"] >= 0.7
    features = {f["feature"]: f for f in hit["explanation"]["features"]}
    assert features["paternal_surname"]["level"] == "exact"
    assert features["given_name"]["level"] == "nickname"  # "Mencho" stands for Nemesio
    assert features["given_name"]["query"] == "mencho"
    assert hit["explanation"]["entry"]["programs"] == ["SDNTK"]

    with_evidence = analyst_api.post(
        "/api/v1/screening",
        json={"names": [{"name": "Nemesio Oseguera", "birth_date": "17/07/1966", "nationality": "mexicana"}]},
    ).json()
    features = {f["feature"]: f["level"] for f in _hits(with_evidence)[0]["explanation"]["features"]}
    assert features["birth_date"] == "exact" and features["nationality"] == "same"
    nobody = analyst_api.post("/api/v1/screening", json={"names": [{"name": "Pedro Ramírez Soto"}], "list": "ofac-sdn"})
    assert _hits(nobody.json()) == []
    assert "screening.names" in _actions(node)


def test_screen_a_file_of_names(analyst_api: TestClient) -> None:
    assert load(analyst_api).status_code == 201
    names = "nombre,fecha_nacimiento\nMencho Oseguera,1966-07-17\nPedro Ramírez Soto,\nChuy Pérez,\n"
    response = analyst_api.post(
        "/api/v1/screening", files={"file": ("names.csv", names.encode(), "text/csv")}, data={"threshold": "0.7"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["screened"] == 3 and body["with_hits"] == 2
    assert [[h["entry"]["id"] for h in r["hits"]] for r in body["results"]] == [["17301"], [], ["17400"]]
    bad = analyst_api.post("/api/v1/screening", files={"file": ("names.csv", b"nombre,fecha_nacimiento\nX,ayer\n")})
    error = assert_error(bad, 422, "validation_error")
    assert error["details"][0]["field"] == "names.csv" and error["details"][0]["message"].startswith("line 2:")


def test_screening_input_problems(analyst_api: TestClient) -> None:
    nothing_loaded = analyst_api.post("/api/v1/screening", json={"names": [{"name": "Mencho Oseguera"}]})
    assert "No sanctions list is loaded" in assert_error(nothing_loaded, 404, "not_found")["message"]
    assert load(analyst_api).status_code == 201
    bad = analyst_api.post(
        "/api/v1/screening", json={"names": [{"name": "Mencho", "birth_date": "ayer", "nationality": "Narnia"}]}
    )
    assert detail_fields(assert_error(bad, 422, "validation_error")) == {"names.0.birth_date", "names.0.nationality"}
    empty = analyst_api.post("/api/v1/screening", json={"names": []})
    assert "names" in detail_fields(assert_error(empty, 422, "validation_error"))
    unknown_list = analyst_api.post("/api/v1/screening", json={"names": [{"name": "Mencho"}], "list": "uif-lpb"})
    assert "No list named uif-lpb" in assert_error(unknown_list, 404, "not_found")["message"]
    threshold = analyst_api.post("/api/v1/screening", json={"names": [{"name": "Mencho"}], "threshold": 2})
    assert_error(threshold, 422, "validation_error")
    not_json = analyst_api.post("/api/v1/screening", content=b"Mencho", headers={"Content-Type": "text/plain"})
    assert_error(not_json, 422, "validation_error")
    no_file = analyst_api.post("/api/v1/screening", files={"other": ("x.txt", b"x")})
    assert detail_fields(assert_error(no_file, 422, "validation_error")) == {"file"}


def test_algorithm_is_described(analyst_api: TestClient) -> None:
    body = analyst_api.get("/api/v1/screening/algorithm").json()
    assert body["algorithm"] == ALGORITHM
    assert body["features"]["paternal_surname"]["exact"] > 0


# ---------------------------------------------------------------------------------------------------- hits


def test_review_a_hit_and_the_decision_stays(analyst_api: TestClient, node: Node) -> None:
    assert load(analyst_api).status_code == 201
    screened = analyst_api.post("/api/v1/screening", json={"names": [{"name": "Mencho Oseguera"}]}).json()
    hit_id = _hits(screened)[0]["id"]
    pending = analyst_api.get("/api/v1/screening/hits?pending=true").json()
    assert [h["id"] for h in pending] == [hit_id]
    decided = analyst_api.post(
        f"/api/v1/screening/hits/{hit_id}/decision", json={"decision": "false_positive", "note": "a namesake"}
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["decision"] == "false_positive" and decided.json()["decided_by"] == "analyst"
    assert analyst_api.get("/api/v1/screening/hits?pending=true").json() == []
    again = analyst_api.post("/api/v1/screening", json={"names": [{"name": "Mencho Oseguera"}]}).json()
    assert _hits(again)[0]["id"] == hit_id and _hits(again)[0]["decision"] == "false_positive"
    wrong = analyst_api.post(f"/api/v1/screening/hits/{hit_id}/decision", json={"decision": "maybe"})
    assert "decision" in detail_fields(assert_error(wrong, 422, "validation_error"))
    missing = analyst_api.post("/api/v1/screening/hits/999999/decision", json={"decision": "match"})
    assert_error(missing, 404, "not_found")
    assert "screening.false_positive" in _actions(node)


def test_records_are_rescreened_when_the_list_changes(analyst_api: TestClient, node: Node, analyst: User) -> None:
    seed_person(node, analyst, "r-mencho", "Nemesio Oseguera")
    seed_person(node, analyst, "r-chuy", "Chuy Pérez")
    seed_person(node, analyst, "r-chapo", "Chapo Guzmán")
    first = load(analyst_api).json()
    assert sorted((h["subject"]["record_id"], h["entry"]["id"]) for h in first["new_hits"]) == [
        ("r-chuy", "17400"),
        ("r-mencho", "17301"),
    ]
    second = load(analyst_api, SDN_V2)
    assert second.status_code == 201
    body = second.json()
    assert (body["added"], body["removed"], body["changed"]) == (["17500"], ["17400"], [])
    assert body["summary"]["previous_version"] == first["summary"]["version"]
    assert [(h["subject"]["record_id"], h["entry"]["id"]) for h in body["new_hits"]] == [("r-chapo", "17500")]
    assert [(h["subject"]["record_id"], h["entry"]["id"]) for h in body["removed_hits"]] == [("r-chuy", "17400")]
    assert body["removed_hits"][0]["removed_at"] is not None
    # Screening the records again changes nothing more.
    again = analyst_api.post("/api/v1/screening/records", json={"list": "ofac-sdn"})
    assert again.status_code == 200, again.text
    assert again.json()["summary"]["new"] == 0 and again.json()["summary"]["kept"] == 2
    one = analyst_api.post("/api/v1/screening/records", json={"record_ids": ["r-mencho"]}).json()
    assert one["summary"]["screened"] == 1
    removed = analyst_api.get("/api/v1/screening/hits?record_id=r-chuy&include_removed=true").json()
    assert [h["entry"]["id"] for h in removed] == ["17400"]
    with node.db.reading() as session:
        assert session.scalars(select(ScreeningHit).where(ScreeningHit.removed_at.is_(None))).all()
