"""STIX 2.1: our bundles pass the official validator and come back exactly; bundles made by others import."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stix2  # type: ignore[import-untyped]
from sqlalchemy import select
from stix2validator import ValidationOptions, validate_string  # type: ignore[import-untyped]

from alianza.accounts.models import User
from alianza.errors import ValidationError
from alianza.node import Node
from alianza.records.interchange import export_stix, import_stix
from alianza.records.interchange.stix import EXTENSION_ID
from alianza.records.interchange.tlp import TLP2_IDS, marking_definition
from alianza.records.models import Record
from tests.conftest import make_user
from tests.records.interchange_support import DEFAULTS, counts, second_node, seed_network, snapshot


@pytest.fixture
def other(node: Node, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    with second_node(node, request, tmp_path) as fresh:
        yield fresh


def _export(node: Node) -> dict[str, Any]:
    with node.db.reading() as session:
        records = session.scalars(select(Record).order_by(Record.id)).all()
        return export_stix(records, "Nodo de prueba", "MX")


def _by_record(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["x_alianza_id"]: o for o in bundle["objects"] if "x_alianza_id" in o}


def test_export_passes_the_official_validator(node: Node, analyst: User) -> None:
    seed_network(node, analyst)
    bundle = _export(node)
    results = validate_string(json.dumps(bundle), ValidationOptions(strict=False))
    for warning in results.warnings:
        print("stix2-validator warning:", warning)
    assert results.errors == []
    assert results.is_valid
    stix2.parse(json.dumps(bundle), allow_custom=True)  # and the stix2 library reads it


def test_export_mapping_markings_and_stable_ids(node: Node, analyst: User) -> None:
    seed_network(node, analyst)
    bundle = _export(node)
    objects = _by_record(bundle)
    kinds = {rid: (o["type"], o.get("identity_class"), o.get("relationship_type")) for rid, o in objects.items()}
    assert kinds["persona-1"] == ("identity", "individual", None)
    assert kinds["empresa-1"] == ("identity", "organization", None)
    assert kinds["org-1"] == ("identity", "organization", None)
    assert kinds["domicilio-1"][0] == "location"
    assert kinds["tunel-1"][0] == kinds["cuenta-1"][0] == kinds["arma-1"][0] == "infrastructure"
    assert kinds["aseguramiento-1"][0] == kinds["carpeta-1"][0] == "incident"
    assert kinds["identificacion-1"][0] == "note"
    assert kinds["membresia-1"] == ("relationship", None, "member-of")
    assert kinds["propiedad-1"] == ("relationship", None, "owns")
    assert kinds["pago-1"] == ("relationship", None, "pays")
    assert objects["propiedad-1"]["source_ref"] == objects["persona-1"]["id"]
    assert objects["propiedad-1"]["target_ref"] == objects["empresa-1"]["id"]
    assert objects["identificacion-1"]["object_refs"] == [objects["persona-1"]["id"]]
    assert objects["domicilio-1"]["country"] == "MX" and objects["domicilio-1"]["city"] == "Tijuana"

    node_identity = next(o for o in bundle["objects"] if o.get("name") == "Nodo de prueba")
    assert node_identity["identity_class"] == "organization"
    assert all(o["created_by_ref"] == node_identity["id"] for o in objects.values())
    assert objects["persona-1"]["object_marking_refs"] == [TLP2_IDS["AMBER+STRICT"]]
    assert objects["persona-2"]["object_marking_refs"] == [TLP2_IDS["RED"]]
    assert objects["tunel-1"]["object_marking_refs"] == [TLP2_IDS["CLEAR"]]
    markings = [o for o in bundle["objects"] if o["type"] == "marking-definition"]
    assert markings == [marking_definition(level) for level in ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")]
    assert objects["persona-1"]["x_alianza_markings"]["handling"] == "H2"
    assert objects["persona-1"]["confidence"] == 80  # reliability A, accuracy 2
    assert "confidence" not in objects["persona-2"]  # accuracy 4: cannot be judged
    assert all(EXTENSION_ID in o["extensions"] for o in objects.values())

    again = _export(node)
    assert [o["id"] for o in again["objects"]] == [o["id"] for o in bundle["objects"]]
    assert again["objects"] == bundle["objects"]


def test_own_export_reimports_with_exactly_the_same_markings(node: Node, analyst: User, other: Node) -> None:
    seed_network(node, analyst)
    text = json.dumps(_export(node))
    importer = make_user(other, "importer", "analyst", "mx_fgr")
    with other.db.transaction() as session:
        summary = import_stix(session, importer, other.trail, "MX", text)  # no defaults: ours carry markings
    assert summary.created == 17 and summary.skipped == {}
    assert snapshot(other) == snapshot(node)


def test_export_refuses_an_edge_whose_other_end_is_left_out(node: Node, analyst: User) -> None:
    seed_network(node, analyst)
    with node.db.reading() as session:
        records = [r for r in session.scalars(select(Record)) if r.id != "empresa-1"]
        with pytest.raises(ValidationError) as caught:
            export_stix(records, "Nodo de prueba", "MX")
    named = sorted({d["object"] for d in caught.value.details})
    assert named == ["pago-1", "propiedad-1"]
    assert all("empresa-1" in d["message"] for d in caught.value.details)


def _library_bundle() -> stix2.Bundle:
    """What MISP or OpenCTI users would send: built with the stix2 library, TLP 1.0 and TLP 2.0 markings mixed."""
    amber_strict = marking_definition("AMBER+STRICT")
    person = stix2.Identity(
        name="Juan Pérez Ortega",
        identity_class="individual",
        description="Operador logístico.",
        object_marking_refs=[stix2.TLP_GREEN],
    )
    actor = stix2.ThreatActor(
        name="Cártel de Ejemplo",
        threat_actor_types=["crime-syndicate"],
        aliases=["CDE", "Los Ejemplos"],
        object_marking_refs=[stix2.TLP_RED],
    )
    member = stix2.Relationship(person, "member-of", actor, object_marking_refs=[amber_strict["id"]])
    indicator = stix2.Indicator(
        name="C2", pattern="[ipv4-addr:value = '198.51.100.7']", pattern_type="stix", valid_from="2025-01-01T00:00:00Z"
    )
    uses = stix2.Relationship(actor, "uses", indicator)  # an edge we do not map
    return stix2.Bundle(person, actor, member, indicator, uses, stix2.TLP_GREEN, stix2.TLP_RED, amber_strict,
                        allow_custom=True)  # fmt: skip


def test_a_bundle_made_with_the_stix2_library_imports(node: Node, analyst: User) -> None:
    bundle = _library_bundle()
    with node.db.transaction() as session:
        summary = import_stix(session, analyst, node.trail, "MX", bundle.serialize(), DEFAULTS)
    assert summary.created == 3
    assert summary.skipped == {"indicator": 1, "relationship:uses": 1}
    person_id, actor_id, member_id = (o.id for o in bundle.objects[:3])
    with node.db.reading() as session:
        person, org, membership = (session.get(Record, i) for i in (person_id, actor_id, member_id))
        assert person is not None and org is not None and membership is not None
        assert person.schema == "Person" and person.properties["name"] == ["Juan Pérez Ortega"]
        assert person.properties["description"] == ["Operador logístico."]
        assert org.schema == "Organization" and sorted(org.properties["alias"]) == ["CDE", "Los Ejemplos"]
        assert org.properties["keywords"] == ["crime-syndicate"]
        assert membership.schema == "Membership"
        assert membership.properties == {"member": [person_id], "organization": [actor_id]}
        assert (person.tlp, org.tlp, membership.tlp) == ("GREEN", "RED", "AMBER+STRICT")
        assert person.origin_agency == "mx_fgr" and person.legal_basis == "mx_cnpp"


def test_foreign_objects_need_default_markings(node: Node, analyst: User) -> None:
    before = counts(node)
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_stix(session, analyst, node.trail, "MX", _library_bundle().serialize(), None)
    assert len(caught.value.details) == 3
    assert all("No markings" in d["message"] for d in caught.value.details)
    assert counts(node) == before


def _good_bundle() -> dict[str, Any]:
    return json.loads(_library_bundle().serialize())  # type: ignore[no-any-return]


def _without_id() -> str:
    bundle = _good_bundle()
    del bundle["objects"][1]["id"]
    return json.dumps(bundle)


def _bad_timestamp() -> tuple[str, str]:
    bundle = _good_bundle()
    bundle["objects"][0]["created"] = "yesterday"
    return json.dumps(bundle), bundle["objects"][0]["id"]


@pytest.mark.parametrize(
    ("case", "message", "where"),
    [
        ("truncated", "not valid JSON", None),
        ("no objects", "has no objects", "bundle"),
        ("not a bundle", "not a STIX bundle", "bundle"),
        ("object without id", 'no "id"', "objects[1]"),
        ("invalid object", "Invalid identity", "first"),
    ],
)
def test_malformed_bundles_are_refused_and_nothing_is_written(
    node: Node, analyst: User, case: str, message: str, where: str | None
) -> None:
    good = json.dumps(_good_bundle())
    bad_timestamp, bad_id = _bad_timestamp()
    texts = {
        "truncated": good[: len(good) // 2],
        "no objects": json.dumps({"type": "bundle", "id": "bundle--8d0b7d3e-8c8e-4d53-b7a3-5a1d3e2f9a10"}),
        "not a bundle": json.dumps(_good_bundle()["objects"][0]),
        "object without id": _without_id(),
        "invalid object": bad_timestamp,
    }
    if where == "first":
        where = bad_id
    before = counts(node)
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_stix(session, analyst, node.trail, "MX", texts[case], DEFAULTS)
    rendered = str(caught.value) + " ".join(str(d.get("message")) for d in caught.value.details)
    print(case, "→", rendered)
    assert message in rendered
    if where is not None:
        assert caught.value.details[0]["object"] == where
    else:
        assert caught.value.details[0]["line"] == 1
    assert counts(node) == before


def test_a_record_already_present_refuses_the_reimport(node: Node, analyst: User) -> None:
    text = _library_bundle().serialize()
    with node.db.transaction() as session:
        import_stix(session, analyst, node.trail, "MX", text, DEFAULTS)
    before = counts(node)
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_stix(session, analyst, node.trail, "MX", text, DEFAULTS)
    messages = {d["object"]: d["message"] for d in caught.value.details}
    assert len(messages) == 3
    assert sum("exists" in m for m in messages.values()) == 2  # the person and the threat actor
    assert sum("could not be imported" in m for m in messages.values()) == 1  # the membership between them
    assert counts(node) == before


def test_misp_and_opencti_shapes(node: Node, analyst: User) -> None:
    """OpenCTI's individual threat actors and its own TLP marking ids; MISP's custom objects and events."""
    opencti_strict = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
        "created": "2022-01-01T00:00:00.000Z",
        "definition_type": "statement",
        "definition": {"statement": "custom"},
        "x_opencti_definition_type": "TLP",
        "x_opencti_definition": "TLP:AMBER+STRICT",
    }
    lone = {
        "type": "threat-actor",
        "spec_version": "2.1",
        "id": "threat-actor--0f4e3c52-3c39-4a8a-9c71-6f0a7d4a2b11",
        "created": "2025-01-01T00:00:00.000Z",
        "modified": "2025-01-01T00:00:00.000Z",
        "name": "El Contador",
        "x_opencti_type": "Threat-Actor-Individual",
        "object_marking_refs": [opencti_strict["id"]],
        "extensions": {
            "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba": {
                "extension_type": "property-extension",
                "id": "0f4e3c52-3c39-4a8a-9c71-6f0a7d4a2b11",
                "type": "Threat-Actor-Individual",
            }
        },
    }
    misp_object = {
        "type": "x-misp-object",
        "id": "x-misp-object--5b8f7c1e-2d3a-4c5b-8e9f-0a1b2c3d4e5f",
        "name": "bank-account",
        "x_misp_attributes": [],
    }
    event = {
        "type": "report",
        "spec_version": "2.1",
        "id": "report--6c9e0d2f-3e4b-4d6c-9f0a-1b2c3d4e5f60",
        "created": "2025-01-01T00:00:00.000Z",
        "modified": "2025-01-01T00:00:00.000Z",
        "name": "MISP event",
        "published": "2025-01-01T00:00:00Z",
        "object_refs": [lone["id"], misp_object["id"]],
    }
    bundle = {"type": "bundle", "id": "bundle--7d0f1e3a-4f5c-4e7d-8a1b-2c3d4e5f6a71",
              "objects": [opencti_strict, lone, misp_object, event]}  # fmt: skip
    with node.db.transaction() as session:
        summary = import_stix(session, analyst, node.trail, "MX", json.dumps(bundle), DEFAULTS)
    assert summary.created == 1 and summary.skipped == {"x-misp-object": 1, "report": 1}
    with node.db.reading() as session:
        person = session.get(Record, lone["id"])
        assert person is not None and person.schema == "Person" and person.tlp == "AMBER+STRICT"


def test_stix_2_0_bundle_and_attributed_to(node: Node, analyst: User) -> None:
    """Older MISP exports are STIX 2.0 (no spec_version on objects); "attributed-to" makes the person a member."""
    stamp = "2024-06-01T00:00:00.000Z"
    actor = {
        "type": "threat-actor",
        "id": "threat-actor--1b1f4b0a-5c1e-4a36-9d5e-0a6f1c2d3e4f",
        "created": stamp,
        "modified": stamp,
        "name": "Los Ejemplos",
        "labels": ["crime-syndicate"],
    }
    person = {
        "type": "identity",
        "id": "identity--2c2f5c1b-6d2f-4b47-8e6f-1b7a2d3e4f50",
        "created": stamp,
        "modified": stamp,
        "name": "Pedro Ejemplo",
        "identity_class": "individual",
    }
    attributed = {
        "type": "relationship",
        "id": "relationship--3d3a6d2c-7e3a-4c58-9f7a-2c8b3e4f5a61",
        "created": stamp,
        "modified": stamp,
        "relationship_type": "attributed-to",
        "source_ref": actor["id"],
        "target_ref": person["id"],
    }
    bundle = {"type": "bundle", "id": "bundle--4e4b7e3d-8f4b-4d69-8a8b-3d9c4f5a6b72", "spec_version": "2.0",
              "objects": [actor, person, attributed]}  # fmt: skip
    with node.db.transaction() as session:
        summary = import_stix(session, analyst, node.trail, "MX", json.dumps(bundle), DEFAULTS)
    assert summary.created == 3 and summary.skipped == {}
    with node.db.reading() as session:
        membership = session.get(Record, attributed["id"])
        assert membership is not None and membership.schema == "Membership"
        assert membership.properties == {"member": [person["id"]], "organization": [actor["id"]]}
        assert {r.tlp for r in session.scalars(select(Record))} == {"AMBER"}  # no marking: the default TLP
