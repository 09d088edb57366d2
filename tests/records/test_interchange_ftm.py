"""FtM JSON lines: a round trip keeps every property and marking; one bad line refuses the whole file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.errors import PermissionDeniedError, ValidationError
from alianza.node import Node
from alianza.records.interchange import export_ftm, import_ftm
from alianza.records.models import Record
from alianza.records.service import purge_record
from tests.conftest import make_user
from tests.records.interchange_support import DEFAULTS, counts, second_node, seed_network, snapshot


@pytest.fixture
def other(node: Node, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    with second_node(node, request, tmp_path) as fresh:
        yield fresh


def _export(node: Node) -> str:
    with node.db.reading() as session:
        return "".join(export_ftm(session.scalars(select(Record).order_by(Record.id))))


def test_round_trip_keeps_properties_and_markings(node: Node, analyst: User, other: Node) -> None:
    seed_network(node, analyst)
    text = _export(node)
    lines = text.splitlines()
    assert len(lines) == 17
    first = json.loads(lines[0])
    assert set(first) == {"id", "schema", "properties", "alianza:markings"}
    # Edges are listed before the entities they link (ids sort that way): the import must order them itself.
    importer = make_user(other, "importer", "analyst", "mx_fgr")
    with other.db.transaction() as session:
        summary = import_ftm(session, importer, other.trail, "MX", text)
    assert summary.created == 17 and sorted(summary.ids) == sorted(snapshot(node))
    assert snapshot(other) == snapshot(node)
    with other.db.reading() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        assert actions.count("record.created") == 17 and actions[-1] == "record.imported"
        assert other.trail.verify(session).ok


def test_export_is_stable_and_leaves_purged_records_out(node: Node, analyst: User) -> None:
    seed_network(node, analyst)
    assert _export(node) == _export(node)
    with node.db.transaction() as session:
        purge_record(session, analyst, node.trail, "toma-1", "Revisión de conservación: ya no es necesaria.")
    exported = [json.loads(line)["id"] for line in _export(node).splitlines()]
    assert len(exported) == 16 and "toma-1" not in exported


GOOD = {"id": "p-1", "schema": "Person", "properties": {"name": ["Ana Ruiz"]}}
LINKED = {"id": "own-1", "schema": "Ownership", "properties": {"owner": ["p-1"], "asset": ["c-1"]}}
COMPANY = {"id": "c-1", "schema": "Company", "properties": {"name": ["Ejemplo SA"]}}


def _lines(*entities: object) -> str:
    return "\n".join(json.dumps(e, ensure_ascii=False) for e in entities) + "\n"


def test_one_bad_line_is_named_and_nothing_is_written(node: Node, analyst: User) -> None:
    bad = {"id": "p-2", "schema": "Person", "properties": {"name": ["Luis"], "favouriteColour": ["azul"]}}
    text = _lines(GOOD, bad, COMPANY, LINKED)
    before = counts(node)
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_ftm(session, analyst, node.trail, "MX", text, DEFAULTS)
    details = caught.value.details
    assert [d["line"] for d in details] == [2]
    assert details[0]["field"] == "properties.favouriteColour"
    assert "favouriteColour" in details[0]["message"]
    assert "nothing was imported" in str(caught.value)
    assert counts(node) == before


def test_every_kind_of_bad_line_is_reported_at_once(node: Node, analyst: User) -> None:
    no_markings = {"id": "p-3", "schema": "Person", "properties": {"name": ["Sin marcas"]}}
    text = "\n".join(
        [
            json.dumps(GOOD | {"alianza:markings": DEFAULTS.model_dump(mode="json")}),
            '{"id": "broken", "schema": ',
            json.dumps(no_markings),
            json.dumps(["not", "an", "entity"]),
            json.dumps({"id": "x-1", "schema": "Spaceship", "properties": {}, "alianza:markings": {"tlp": "RED"}}),
            json.dumps({"id": "own-9", "schema": "Ownership", "properties": {"owner": ["p-1"], "asset": ["nobody"]}}),
        ]
    )
    before = counts(node)
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_ftm(session, analyst, node.trail, "MX", text)
    by_line: dict[int, list[str]] = {}
    for detail in caught.value.details:
        by_line.setdefault(detail["line"], []).append(detail["message"])
    assert sorted(by_line) == [2, 3, 4, 5, 6]
    assert "Not valid JSON" in by_line[2][0]
    assert "No markings" in by_line[3][0]
    assert "one JSON object" in by_line[4][0]
    assert any("origin_agency" in m or "Field required" in m for m in by_line[5])
    assert any("No markings" in m for m in by_line[6])
    assert counts(node) == before


def test_line_markings_override_defaults_and_links_resolve_in_any_order(node: Node, analyst: User) -> None:
    red = COMPANY | {"alianza:markings": {"tlp": "RED", "handling": "H2"}}
    text = _lines(LINKED, GOOD, red)  # the ownership comes first, before both ends
    with node.db.transaction() as session:
        summary = import_ftm(session, analyst, node.trail, "MX", text, DEFAULTS)
    assert summary.ids[-1] == "own-1" and summary.created == 3
    with node.db.reading() as session:
        company = session.get(Record, "c-1")
        person = session.get(Record, "p-1")
        assert company is not None and person is not None
        assert (company.tlp, company.handling, company.origin_agency) == ("RED", "H2", "mx_fgr")
        assert (person.tlp, person.handling) == ("AMBER", "H0")


def test_a_duplicate_id_and_a_line_that_depends_on_a_bad_one(node: Node, analyst: User) -> None:
    bad_company = {"id": "c-1", "schema": "Company", "properties": {"name": ["Ejemplo"], "incorporationDate": ["ayer"]}}
    text = _lines(GOOD, GOOD, bad_company, LINKED)
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_ftm(session, analyst, node.trail, "MX", text, DEFAULTS)
    lines = {d["line"]: d for d in caught.value.details}
    assert sorted(lines) == [2, 3, 4]
    assert "more than one entry" in lines[2]["message"]
    assert "ayer" in lines[3]["message"]
    assert "c-1" in lines[4]["message"] and "could not be imported" in lines[4]["message"]


def test_an_empty_file_is_refused(node: Node, analyst: User) -> None:
    with pytest.raises(ValidationError, match="refused"), node.db.transaction() as session:
        import_ftm(session, analyst, node.trail, "MX", "\n\n", DEFAULTS)


def test_a_reader_cannot_import(node: Node) -> None:
    auditor = make_user(node, "aud", "auditor", "mx_sre")
    with pytest.raises(PermissionDeniedError), node.db.transaction() as session:
        import_ftm(session, auditor, node.trail, "MX", _lines(GOOD), DEFAULTS)
