"""Screening on a node: lists loaded whole and audited, bad files leave nothing behind, records screened, a list's
new version re-screens them and reports the hits that appeared and went, decisions stay with their hits."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.errors import NotFoundError, PermissionDeniedError, ValidationError
from alianza.matching.lists import ListFile, load_list
from alianza.matching.screening import (
    ALGORITHM,
    FALSE_POSITIVE,
    MATCH,
    Subject,
    decide_hit,
    list_hits,
    rescreen,
    screen,
    screen_records,
)
from alianza.matching.screening_models import SCREENING_TABLES, ListEntry, SanctionsList, ScreeningHit
from alianza.node import Node
from alianza.records.schemas import Markings, RecordInput
from alianza.records.service import create_record, purge_record
from tests.conftest import make_user

ROW = '{ent},"{name}","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"{remarks}"\r\n'
MENCHO = ROW.format(ent=17301, name="OSEGUERA CERVANTES, Nemesio", remarks="DOB 17 Jul 1966; a.k.a. 'EL MENCHO'.")
CHUY = ROW.format(ent=17400, name="PEREZ LOPEZ, Jesus", remarks="DOB 01 Jan 1960.")
CHAPO = ROW.format(ent=17500, name="GUZMAN LOERA, Joaquin Archivaldo", remarks="a.k.a. 'EL CHAPO'.")
V1 = [ListFile("sdn.csv", (MENCHO + CHUY).encode()), ListFile("alt.csv", b'17301,1,"aka","OSEGUERA, Nemesio",-0- \r\n')]
V2 = [ListFile("sdn.csv", (MENCHO + CHAPO).encode()), V1[1]]  # Pérez López delisted, Guzmán Loera listed

PEOPLE = [
    ("r-mencho", "Nemesio Oseguera", "AMBER"),
    ("r-chuy", "Chuy Pérez", "AMBER"),
    ("r-chapo", "Chapo Guzmán", "AMBER"),
    ("r-sibling", "Pedro Pérez López", "AMBER"),
    ("r-red", "OSEGUERA CERVANTES, Nemesio", "RED"),  # only its agency (mx_fgr) sees it
]


@pytest.fixture
def tables(node: Node) -> None:
    """The screening tables come with the node's migrations; this fixture only names the dependency."""
    assert SCREENING_TABLES


def _seed(node: Node, analyst: User) -> None:
    with node.db.transaction() as session:
        for rid, name, tlp in PEOPLE:
            data = RecordInput.model_validate(
                {
                    "id": rid,
                    "schema": "Person",
                    "properties": {"name": name, "nationality": "mx"},
                    "markings": Markings(
                        origin_agency="mx_fgr",
                        tlp=tlp,  # type: ignore[arg-type]
                        legal_basis="mx_cnpp",
                        purpose="criminal_investigation",
                    ),
                }
            )
            create_record(session, analyst, node.trail, "MX", data)


def _actions(node: Node) -> list[str]:
    with node.db.reading() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


@pytest.mark.usefixtures("tables")
def test_load_reload_and_rescreen(node: Node, analyst: User) -> None:
    _seed(node, analyst)
    with node.db.transaction() as session:
        first = load_list(session, analyst, node.trail, "ofac-sdn", *V1, source="OFAC SDN", rescreen_records=True)
    assert first.previous_version is None
    assert first.entries == 2
    assert first.added == ["17301", "17400"]
    assert first.rescreen is not None
    assert {(h.subject_record_id, h.entry_external_id) for h in first.rescreen.new} == {
        ("r-mencho", "17301"),
        ("r-chuy", "17400"),
        ("r-red", "17301"),
    }  # not the sibling; the RED record is its agency's analyst's to screen
    with node.db.reading() as session:
        lst = session.scalars(select(SanctionsList)).one()
        assert (lst.name, lst.format, lst.source, lst.entry_count) == ("ofac-sdn", "ofac-csv", "OFAC SDN", 2)
        entry = session.scalars(select(ListEntry).where(ListEntry.external_id == "17301")).one()
        assert entry.weak_aliases == ["EL MENCHO"]
        hit = session.scalars(select(ScreeningHit).where(ScreeningHit.subject_record_id == "r-chuy")).one()
        assert hit.algorithm == ALGORITHM
        assert hit.list_version == first.version
        features = {f["feature"]: f["level"] for f in hit.explanation["features"]}
        assert features["given_name"] == "hypocorism"
        chuy_hit = hit.id

    # The same files again: nothing changes, nothing is written.
    before = _actions(node)
    with node.db.transaction() as session:
        again = load_list(session, analyst, node.trail, "ofac-sdn", *V1, rescreen_records=True)
    assert again.unchanged and again.rescreen is None
    assert _actions(node) == before

    # An analyst decides the Chuy hit is a match; then a new version delists him and lists El Chapo.
    with node.db.transaction() as session:
        decide_hit(session, analyst, node.trail, chuy_hit, MATCH, "same CURP in the case file")
    with node.db.transaction() as session:
        second = load_list(session, analyst, node.trail, "ofac-sdn", *V2, rescreen_records=True)
    assert second.version != first.version and second.previous_version == first.version
    assert (second.added, second.removed, second.changed) == (["17500"], ["17400"], [])
    assert second.rescreen is not None
    assert [(h.subject_record_id, h.entry_external_id) for h in second.rescreen.new] == [("r-chapo", "17500")]
    assert [(h.subject_record_id, h.entry_external_id) for h in second.rescreen.removed] == [("r-chuy", "17400")]
    assert {h.subject_record_id for h in second.rescreen.kept} == {"r-mencho", "r-red"}
    with node.db.reading() as session:
        removed = session.get(ScreeningHit, chuy_hit)
        assert removed is not None
        assert removed.removed_at is not None and removed.decision == MATCH  # the decision stays on file
        assert session.scalar(select(func.count()).select_from(ListEntry)) == 2
        assert [h.entry_external_id for h in list_hits(session, analyst, record_id="r-chuy")] == []
        assert [h.id for h in list_hits(session, analyst, record_id="r-chuy", include_removed=True)] == [chuy_hit]
    actions = _actions(node)
    assert actions.count("screening.list_loaded") == 2
    assert actions.count("screening.records") == 2
    assert "screening.match" in actions


@pytest.mark.usefixtures("tables")
def test_typed_names_are_screened_again_when_the_list_changes(node: Node, analyst: User) -> None:
    """Typed names are kept with their hits; a new list version screens them again like the records."""
    both = Subject(names=("Chuy Pérez", "Joaquín Guzmán Loera"))  # an alias the list adds later
    with node.db.transaction() as session:
        load_list(session, analyst, node.trail, "ofac-sdn", *V1, rescreen_records=True)
        results = screen(session, analyst, node.trail, ["Nemesio Oseguera", both, "Chapo Guzmán"])
        assert [[h.entry.external_id for h in r.hits] for r in results] == [["17301"], ["17400"], []]
        keys = {r.subject.text: r.subject.key for r in results}
    with node.db.transaction() as session:
        second = load_list(session, analyst, node.trail, "ofac-sdn", *V2, rescreen_records=True)
    assert second.rescreen is not None and second.rescreen.names == 2  # the one without a hit left nothing
    assert [(h.subject_key, h.entry_external_id) for h in second.rescreen.new] == [(keys["Chuy Pérez"], "17500")]
    assert [(h.subject_key, h.entry_external_id) for h in second.rescreen.removed] == [(keys["Chuy Pérez"], "17400")]
    assert [(h.subject_key, h.entry_external_id) for h in second.rescreen.kept] == [(keys["Nemesio Oseguera"], "17301")]
    with node.db.reading() as session:
        rows = session.scalars(select(ScreeningHit).where(ScreeningHit.subject_key == keys["Chuy Pérez"])).all()
        assert {(r.entry_external_id, r.removed_at is None) for r in rows} == {("17400", False), ("17500", True)}
        assert all(r.subject_record_id is None and r.list_version == second.version for r in rows)
    assert "screening.names_rescreened" in _actions(node)


@pytest.mark.usefixtures("tables")
def test_a_bad_file_writes_nothing(node: Node, analyst: User) -> None:
    bad = [ListFile("sdn.csv", (MENCHO + '17400,"PEREZ LOPEZ, Jesus","individual"\r\n').encode())]
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        load_list(session, analyst, node.trail, "ofac-sdn", *bad)
    assert caught.value.details[0]["message"] == "line 2: expected 12 columns, found 3."
    assert caught.value.details[0]["field"] == "sdn.csv"
    with node.db.reading() as session:
        assert session.scalars(select(SanctionsList)).all() == []
        assert session.scalars(select(ListEntry)).all() == []
    assert _actions(node) == []
    with pytest.raises(ValidationError, match="list name"), node.db.transaction() as session:
        load_list(session, analyst, node.trail, "OFAC SDN!", *V1)


@pytest.mark.usefixtures("tables")
def test_screening_typed_names_keeps_decisions(node: Node, analyst: User) -> None:
    with node.db.transaction() as session:
        load_list(session, analyst, node.trail, "ofac-sdn", *V1)
    with node.db.transaction() as session:
        [result] = screen(session, analyst, node.trail, ["Mencho Oseguera"])
        assert [h.entry.external_id for h in result.hits] == ["17301"]
        hit_id = result.rows[0].id
        assert result.rows[0].subject_text == "Mencho Oseguera"
        assert result.rows[0].subject_record_id is None
    with node.db.transaction() as session:
        decide_hit(session, analyst, node.trail, hit_id, FALSE_POSITIVE, "a namesake")
    with node.db.transaction() as session:
        [again] = screen(session, analyst, node.trail, ["Mencho Oseguera"])
        assert again.rows[0].id == hit_id and again.rows[0].decision == FALSE_POSITIVE
        [none] = screen(session, analyst, node.trail, ["Pedro Pérez López"])
        assert none.hits == []
    other = make_user(node, "other", "analyst", "mx_uif")
    with node.db.transaction() as session, pytest.raises(NotFoundError):
        decide_hit(session, other, node.trail, hit_id, MATCH)  # another analyst's typed name
    with node.db.transaction() as session, pytest.raises(NotFoundError, match="No list named"):
        screen(session, analyst, node.trail, ["x"], lists=["uif-lpb"])
    details = next(d for action, d in reversed(_audit(node)) if action == "screening.names")
    assert details["names"] == ["Pedro Pérez López"]


def _audit(node: Node) -> list[tuple[str, dict[str, Any]]]:
    with node.db.reading() as session:
        return [(e.action, dict(e.details)) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


@pytest.mark.usefixtures("tables")
def test_permissions_visibility_and_purge(node: Node, analyst: User) -> None:
    _seed(node, analyst)
    auditor = make_user(node, "auditor", "auditor", "mx_sre")
    outsider = make_user(node, "outsider", "analyst", "mx_uif")
    with node.db.transaction() as session, pytest.raises(PermissionDeniedError):
        load_list(session, auditor, node.trail, "ofac-sdn", *V1)
    with node.db.transaction() as session:
        load_list(session, analyst, node.trail, "ofac-sdn", *V1)
    with node.db.transaction() as session:
        report = rescreen(session, outsider, node.trail, "ofac-sdn")
    assert {h.subject_record_id for h in report.new} == {"r-mencho", "r-chuy"}  # not the RED record
    with node.db.transaction() as session:
        purge_record(session, analyst, node.trail, "r-mencho", "retention period over")
    with node.db.transaction() as session:
        after = screen_records(session, analyst, node.trail)
    assert [(h.subject_record_id, h.entry_external_id) for h in after.removed] == [("r-mencho", "17301")]
    assert {h.subject_record_id for h in after.new} == {"r-red"}
