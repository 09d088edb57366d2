"""Review of resolution candidates on a node: candidates are found among visible records, decisions audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.errors import NotFoundError, PermissionDeniedError, ValidationError
from alianza.matching.models import MatchDecision
from alianza.matching.resolution import ALGORITHM, candidates, decide, plain_record
from alianza.node import Node
from alianza.records.models import Record
from alianza.records.schemas import Markings, RecordInput
from alianza.records.service import create_record
from tests.conftest import make_user

PEOPLE = [
    ("p-1", "José Luis Pérez López", "1980-05-17", "AMBER"),
    ("p-2", "PÉREZ LÓPEZ, Pepe", "1980-05-17", "AMBER"),
    ("p-3", "María Fernanda Ruiz Paz", "1991-02-03", "AMBER"),
    ("p-4", "Fernanda Ruiz Paz", "1991-02-03", "AMBER"),
    ("p-5", "Juan Pérez López", "1955-01-09", "AMBER"),
    ("p-6", "Ana Sofía Zúñiga Beltrán", "1975-07-30", "AMBER"),
    ("p-7", "Rafael Ortega Quintero", "1968-12-01", "AMBER"),
    ("p-8", "Graciela Hernández Arellano", "1988-03-14", "AMBER"),
    ("p-9", "ORTEGA QUINTERO RAFAEL", "1968-12-01", "RED"),  # only its agency sees it
]


def _seed(node: Node, analyst: User) -> None:
    with node.db.transaction() as session:
        for rid, name, born, tlp in PEOPLE:
            data = RecordInput.model_validate(
                {
                    "id": rid,
                    "schema": "Person",
                    "properties": {"name": name, "birthDate": born, "nationality": "mx"},
                    "markings": Markings(
                        origin_agency="mx_fgr",
                        tlp=tlp,  # type: ignore[arg-type]
                        legal_basis="mx_cnpp",
                        purpose="criminal_investigation",
                    ),
                }
            )
            create_record(session, analyst, node.trail, "MX", data)


def _pairs(rows: list[MatchDecision]) -> set[tuple[str, str]]:
    return {(r.left_record_id, r.right_record_id) for r in rows}


def test_candidates_are_found_explained_and_audited(node: Node, analyst: User) -> None:
    _seed(node, analyst)
    with node.db.transaction() as session:
        rows = candidates(session, analyst, node.trail)
        assert {("p-1", "p-2"), ("p-3", "p-4"), ("p-7", "p-9")} <= _pairs(rows)
        assert ("p-1", "p-5") not in _pairs(rows)  # the namesake born 25 years earlier
        first = next(r for r in rows if (r.left_record_id, r.right_record_id) == ("p-1", "p-2"))
        assert first.algorithm == ALGORITHM and first.score >= 0.5 and first.decision is None
        assert {f["comparison"] for f in first.explanation["features"]} >= {"surnames", "given_names"}
        given = next(f for f in first.explanation["features"] if f["comparison"] == "given_names")
        assert given["level"] == "hypocorism" and given["weight"] > 0
    with node.db.reading() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "match.candidates")).one()
        assert entry.actor == "analyst" and entry.details["candidates"] == len(rows)


def test_restricted_records_stay_out_for_other_agencies(node: Node, analyst: User) -> None:
    _seed(node, analyst)
    other = make_user(node, "dea", "analyst", agency="mx_sspc")
    with node.db.transaction() as session:
        rows = candidates(session, other, node.trail)
    assert not any("p-9" in pair for pair in _pairs(rows))


def test_confirm_and_reject_are_audited_and_kept_across_runs(node: Node, analyst: User) -> None:
    _seed(node, analyst)
    with node.db.transaction() as session:
        rows = {(r.left_record_id, r.right_record_id): r.id for r in candidates(session, analyst, node.trail)}
    with node.db.transaction() as session:
        confirmed = decide(session, analyst, node.trail, rows[("p-1", "p-2")], True, "same CURP in the file")
        rejected = decide(session, analyst, node.trail, rows[("p-3", "p-4")], False, "sisters")
        assert confirmed.decision == "confirmed" and rejected.decision == "rejected"
        assert confirmed.decided_by_id == analyst.id and confirmed.decided_at is not None
    with node.db.transaction() as session:  # a second run refreshes scores, keeps decisions, adds no duplicates
        again = candidates(session, analyst, node.trail)
        assert len(_pairs(again)) == len(again)
        kept = {(r.left_record_id, r.right_record_id): r.decision for r in again}
        assert kept[("p-1", "p-2")] == "confirmed" and kept[("p-3", "p-4")] == "rejected"
        assert session.scalars(select(MatchDecision)).all().__len__() == len(rows)
    with node.db.transaction() as session:
        revised = decide(session, analyst, node.trail, rows[("p-3", "p-4")], True, "one person after all")
        assert revised.decision == "confirmed"
    with node.db.reading() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(["match.confirmed", "match.rejected"]))
            .order_by(AuditEntry.seq)
        ).all()
        assert [e.action for e in entries] == ["match.confirmed", "match.rejected", "match.confirmed"]
        assert entries[0].details["note"] == "same CURP in the file"
        assert entries[-1].details["previous"] == "rejected"
        assert node.trail.verify(session).ok


def test_permissions_and_unknown_pairs(node: Node, analyst: User) -> None:
    _seed(node, analyst)
    auditor = make_user(node, "aud", "auditor")
    coordinator = make_user(node, "coord", "coordinator")
    with node.db.transaction() as session:
        pair_id = candidates(session, analyst, node.trail)[0].id
    with pytest.raises(PermissionDeniedError), node.db.transaction() as session:
        decide(session, auditor, node.trail, pair_id, True)  # reads records, decides nothing
    with pytest.raises(PermissionDeniedError), node.db.transaction() as session:
        candidates(session, coordinator, node.trail)
    with pytest.raises(NotFoundError), node.db.transaction() as session:
        decide(session, analyst, node.trail, 999_999, True)
    with pytest.raises(ValidationError), node.db.transaction() as session:
        candidates(session, analyst, node.trail, threshold=1.5)
    with node.db.reading() as session:
        assert session.get(MatchDecision, pair_id) is not None
        assert session.get(MatchDecision, pair_id).decision is None  # type: ignore[union-attr]


def test_plain_record_adapter(node: Node, analyst: User) -> None:
    _seed(node, analyst)
    with node.db.reading() as session:
        record = session.get(Record, "p-2")
        assert record is not None
        plain = plain_record(record)
    assert plain["id"] == "p-2" and plain["name"] == "PÉREZ LÓPEZ, Pepe"
    assert plain["birth_date"] == "1980-05-17" and plain["country"] == "mx" and plain["schema"] == "Person"
