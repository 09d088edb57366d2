"""Records: FtM validation, the node's ingest rules, need-to-know by TLP, partner records read-only, purge."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.errors import NotFoundError, PermissionDeniedError, ValidationError
from alianza.node import Node
from alianza.records import service
from alianza.records.models import Record
from alianza.records.schemas import Markings, RecordInput, RecordPatch
from tests.conftest import make_user


def _input(schema: str = "Person", tlp: str = "AMBER", **props: object) -> RecordInput:
    return RecordInput.model_validate(
        {
            "schema": schema,
            "properties": props or {"name": "Rafael Caro Quintero", "birthDate": "1952-10-24"},
            "markings": Markings(
                origin_agency="mx_fgr",
                tlp=tlp,  # type: ignore[arg-type]
                legal_basis="mx_cnpp",
                purpose="criminal_investigation",
            ),
        }
    )


def _create(node: Node, actor: User, data: RecordInput) -> Record:
    with node.db.transaction() as session:
        record = service.create_record(session, actor, node.trail, node.settings.country, data)
        session.expunge(record)
    return record


def test_record_is_cleaned_by_ftm_and_audited(node: Node, analyst: User) -> None:
    record = _create(node, analyst, _input(name="  José  Pérez ", nationality="Mexico"))
    assert record.properties["nationality"] == ["mx"]
    assert record.personal_data  # persons carry personal data by default
    assert record.retention_review > dt.date.today() + dt.timedelta(days=4 * 365)
    with node.db.reading() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "record.created")).one()
        assert entry.object_id == record.id


def test_every_problem_is_reported_and_nothing_written(node: Node, analyst: User) -> None:
    bad = RecordInput.model_validate(
        {
            "schema": "Person",
            "properties": {"name": "X", "birthDate": "not a date", "favouriteColour": "red"},
            "markings": {"origin_agency": "us_dea", "legal_basis": "us_bsa", "purpose": "gossip"},
        }
    )
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        service.create_record(session, analyst, node.trail, "MX", bad)
    fields = {d["field"] for d in caught.value.details}
    assert fields == {
        "properties.birthDate",
        "properties.favouriteColour",
        "markings.origin_agency",
        "markings.legal_basis",
        "markings.purpose",
    }
    with node.db.reading() as session:
        assert session.scalars(select(Record)).all() == []
        assert session.scalars(select(AuditEntry)).all() == []


def test_us_ingest_rules_need_a_predicate_and_no_unrelated_political_data() -> None:
    problems: list[dict[str, object]] = []
    markings = Markings(origin_agency="us_dea", legal_basis="us_28cfr23", purpose="intelligence")
    found = service._check_markings(markings, "US", {"political": ["Party X"]}, problems)
    assert found == ["political"]
    assert {p["field"] for p in problems} == {"markings.criminal_predicate", "markings.sensitive_categories"}


def test_restricted_tlp_is_need_to_know_within_the_node(node: Node, analyst: User) -> None:
    red = _create(node, analyst, _input(tlp="RED"))
    other_agency = make_user(node, "uif", "analyst", "mx_uif")
    reviewer = make_user(node, "legal", "legal_reviewer", "mx_sre")
    with node.db.reading() as session:
        assert service.get_record(session, analyst, red.id).id == red.id
        assert service.get_record(session, reviewer, red.id).id == red.id
        with pytest.raises(NotFoundError):
            service.get_record(session, other_agency, red.id)
    with node.db.transaction() as session:
        assert service.search_records(session, other_agency, node.trail) == []


def test_partner_records_are_read_only(node: Node, analyst: User) -> None:
    record = _create(node, analyst, _input())
    with node.db.transaction() as session:
        stored = session.get(Record, record.id)
        assert stored is not None
        stored.partner = "us-node"
    with pytest.raises(PermissionDeniedError), node.db.transaction() as session:
        service.update_record(session, analyst, node.trail, record.id, RecordPatch(version=2, properties={"name": "Y"}))


def test_purge_keeps_the_audit_entry_but_not_the_data(node: Node, analyst: User) -> None:
    record = _create(node, analyst, _input())
    with pytest.raises(ValidationError), node.db.transaction() as session:
        service.purge_record(session, analyst, node.trail, record.id, "")
    with node.db.transaction() as session:
        service.purge_record(session, analyst, node.trail, record.id, "Five-year review: no longer relevant")
    with node.db.reading() as session:
        purged = session.get(Record, record.id)
        assert purged is not None and purged.properties == {} and purged.purged
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        assert actions == ["record.created", "record.purged"]
        assert node.trail.verify(session).ok


def test_links_follow_ftm_entity_references(node: Node, analyst: User) -> None:
    person = _create(node, analyst, _input())
    company = _create(node, analyst, _input("Company", name="Transportes del Norte S.A. de C.V."))
    ownership = _create(node, analyst, _input("Ownership", owner=person.id, asset=company.id))
    with node.db.reading() as session:
        linked = {(p, r.id) for p, r in service.links(session, analyst, session.get(Record, person.id))}  # type: ignore[arg-type]
    assert ("~owner", ownership.id) in linked
