"""A file of people linked against the node's records (``resolution.link_file`` / ``link_to_records``): only the
records the actor may see are compared, one-to-one, each match explained; the run is audited with the file's name
and counts (never its contents); a bad or oversized file is refused whole with its lines and nothing is written.
Every test runs on SQLite and PostgreSQL (the ``node`` fixture)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.errors import PermissionDeniedError, ValidationError
from alianza.matching import resolution
from alianza.matching.generator import generate_pair_sets
from alianza.matching.resolution import ALGORITHM, MAX_LINK_RECORDS, agreement, link_file, link_to_records
from alianza.node import Node
from alianza.records.schemas import Markings, RecordInput
from alianza.records.service import create_record
from tests.conftest import make_user

OURS = [
    ("r-1", "José Luis Pérez López", "1980-05-17", "AMBER"),
    ("r-2", "María Fernanda Ruiz Paz", "1991-02-03", "AMBER"),
    ("r-3", "Rafael Ortega Quintero", "1968-12-01", "RED"),  # only the FGR (its agency) sees it
    ("r-4", "Graciela Hernández Arellano", "1988-03-14", "AMBER"),
    ("r-5", "Ana Sofía Zúñiga Beltrán", "1975-07-30", "AMBER"),
]

FILE = (
    "referencia,nombre,fecha_nacimiento,nacionalidad\n"
    'F-1,"PÉREZ LÓPEZ, Pepe",1980-05-17,mx\n'
    "F-2,Fernanda Ruiz Paz,1991-02-03,mx\n"
    "F-3,ORTEGA QUINTERO RAFAEL,1968-12-01,mx\n"
    "F-4,Tomás Vidal Osorio,1999-09-09,mx\n"
).encode()


#: Other people the node holds (generated): the model learns from random pairs how rare agreeing surnames are.
OTHERS = [
    (f"g-{k}", str(p["name"]), str(p["birth_date"]), "AMBER", list(p["ids"]))
    for k, p in enumerate(generate_pair_sets(40, seed=5)[0])
]
HELD = len(OURS) + len(OTHERS)


def seed(node: Node, analyst: User) -> None:
    with node.db.transaction() as session:
        for rid, name, born, tlp, ids in [*((*p, []) for p in OURS), *OTHERS]:
            data = RecordInput.model_validate(
                {
                    "id": rid,
                    "schema": "Person",
                    "properties": {"name": name, "birthDate": born, "nationality": "mx", "idNumber": ids},
                    "markings": Markings(
                        origin_agency="mx_fgr",
                        tlp=tlp,  # type: ignore[arg-type]
                        legal_basis="mx_cnpp",
                        purpose="criminal_investigation",
                    ),
                }
            )
            create_record(session, analyst, node.trail, "MX", data)


def runs(node: Node) -> list[AuditEntry]:
    with node.db.reading() as session:
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "match.linked")))
        for row in rows:
            session.expunge(row)
        return rows


def audit_size(node: Node) -> int:
    with node.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_the_rows_we_hold_are_found_explained_and_audited(node: Node, analyst: User) -> None:
    seed(node, analyst)
    with node.db.transaction() as session:
        linked = link_file(session, analyst, node.trail, FILE, "fiscalia.csv")
    found = {m.ref: m for m in linked.matches}
    assert {ref: m.record_id for ref, m in found.items()} == {"F-1": "r-1", "F-2": "r-2", "F-3": "r-3"}
    assert linked.rows == 4 and linked.records == HELD and linked.threshold == resolution.DEFAULT_THRESHOLD
    pepe = found["F-1"]
    assert pepe.name == "PÉREZ LÓPEZ, Pepe" and pepe.caption == "José Luis Pérez López" and pepe.schema == "Person"
    assert 0.5 <= pepe.probability <= 1
    assert {"comparison": "given_names", "level": "hypocorism"} in pepe.agreed
    assert {f["comparison"] for f in pepe.agreed} >= {"surnames", "birth_date"}
    assert (pepe.agreed, pepe.disagreed) == tuple(agreement(pepe.explanation).values())
    assert pepe.explanation["threshold"] == resolution.DEFAULT_THRESHOLD
    probabilities = [m.probability for m in linked.matches]
    assert probabilities == sorted(probabilities, reverse=True)  # the likeliest first
    (entry,) = runs(node)
    assert entry.actor == "analyst" and entry.object_type == "record" and entry.object_id == "*"
    assert entry.details == {
        "file": "fiscalia.csv",
        "schema": "Person",
        "rows": 4,
        "records": HELD,
        "matches": 3,
        "algorithm": ALGORITHM,
        "threshold": resolution.DEFAULT_THRESHOLD,
    }
    assert "Pepe" not in json.dumps(entry.details) and "F-1" not in json.dumps(entry.details)  # never the contents


def test_a_record_the_actor_may_not_see_never_appears(node: Node, analyst: User) -> None:
    seed(node, analyst)
    other = make_user(node, "sspc", "analyst", agency="mx_sspc")
    with node.db.transaction() as session:
        linked = link_file(session, other, node.trail, FILE, "fiscalia.csv")
        at_one = link_to_records(
            session, other, node.trail, [{"id": "x", "name": "Rafael Ortega Quintero", "ids": []}], threshold=0.01
        )
    assert "r-3" not in {m.record_id for m in [*linked.matches, *at_one.matches]}
    assert "F-3" not in {m.ref for m in linked.matches}
    assert {m.ref: m.record_id for m in linked.matches} == {"F-1": "r-1", "F-2": "r-2"}
    assert [e.details["records"] for e in runs(node)] == [HELD - 1, HELD - 1]  # the RED record was not even read


def test_a_bad_file_is_refused_with_its_lines_and_nothing_is_written(node: Node, analyst: User) -> None:
    seed(node, analyst)
    before = audit_size(node)
    bad = b"ref,name,birth_date\nA,Ana Ruiz,1990-01-01\nB,,1990-01-02\nC,Luis,1990,extra\nA,Otra Ana,\n"
    with pytest.raises(ValidationError) as refused, node.db.transaction() as session:
        link_file(session, analyst, node.trail, bad, "malo.csv")
    messages = [d["message"] for d in refused.value.details]
    assert any("line 3" in m and "name is empty" in m for m in messages), messages
    assert any("line 4" in m and "columns" in m for m in messages), messages
    assert any("line 5" in m and "also on line 2" in m for m in messages), messages
    assert {d["field"] for d in refused.value.details} == {"malo.csv"}
    assert audit_size(node) == before and runs(node) == []


def test_a_file_over_the_web_bound_is_refused_saying_the_bound(node: Node, analyst: User) -> None:
    assert MAX_LINK_RECORDS == 50_000
    rows = "".join(f"P-{i},Persona {i} Apellido,1980-01-01\n" for i in range(4))
    with pytest.raises(ValidationError) as refused, node.db.transaction() as session:
        link_file(session, analyst, node.trail, f"ref,name,birth_date\n{rows}".encode(), "big.csv", max_records=3)
    assert "more than 3 records" in refused.value.details[0]["message"]
    records = [{"id": str(i), "name": f"Persona {i}", "ids": []} for i in range(3)]
    with pytest.raises(ValidationError) as direct, node.db.transaction() as session:
        link_to_records(session, analyst, node.trail, records, file_name="x.csv", max_records=2)
    assert "more than 2 records" in direct.value.details[0]["message"]
    assert runs(node) == []


def test_rows_of_another_kind_are_refused_with_their_ref(node: Node, analyst: User) -> None:
    seed(node, analyst)
    mixed = b"ref,name,tipo\nF-1,Ana Ruiz Paz,persona\nF-2,Transportes del Norte SA de CV,empresa\n"
    with pytest.raises(ValidationError) as refused, node.db.transaction() as session:
        link_file(session, analyst, node.trail, mixed, "mixto.csv")
    (detail,) = refused.value.details
    assert detail["params"]["ref"] == "F-2" and "is a company" in detail["message"]
    with pytest.raises(ValidationError), node.db.transaction() as session:
        link_file(session, analyst, node.trail, mixed, "mixto.csv", schema="Vessel")
    assert runs(node) == []


def test_roles_and_threshold_are_checked(node: Node, analyst: User, coordinator: User) -> None:
    with pytest.raises(PermissionDeniedError), node.db.transaction() as session:
        link_file(session, coordinator, node.trail, FILE, "fiscalia.csv")
    with pytest.raises(ValidationError), node.db.transaction() as session:
        link_file(session, analyst, node.trail, FILE, "fiscalia.csv", threshold=1.5)
    assert runs(node) == []


def test_nothing_to_compare_is_still_audited(node: Node, analyst: User) -> None:
    with node.db.transaction() as session:
        linked = link_file(session, analyst, node.trail, FILE, "fiscalia.csv")
    assert linked.matches == [] and linked.records == 0
    assert [e.details["matches"] for e in runs(node)] == [0]


def test_agreement_sums_up_an_explanation() -> None:
    explanation = {
        "features": [
            {"comparison": "surnames", "level": "both_exact", "weight": 5.1},
            {"comparison": "birth_date", "level": "differ", "weight": -4.0},
            {"comparison": "country", "level": "same", "weight": -0.04},  # no evidence either way
            {"comparison": "identifiers", "level": "null", "weight": 0.0},
        ]
    }
    assert agreement(explanation) == {
        "agreed": [{"comparison": "surnames", "level": "both_exact"}],
        "disagreed": [{"comparison": "birth_date", "level": "differ"}],
    }
    assert agreement({}) == {"agreed": [], "disagreed": []}
