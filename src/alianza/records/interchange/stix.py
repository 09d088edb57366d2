"""STIX 2.1 bundles, the format MISP and OpenCTI users already exchange (and that TAXII 2.1 carries).

Export: each record becomes the STIX object a CTI analyst expects to see (see ``STIX_TYPE``), with the record's
full FtM content and markings in ``x_alianza_*`` properties declared by our own STIX extension definition, so
that the bundle is STIX-clean (``stix2-validator`` accepts it) and a second Alianza node reads it back exactly.
Ids are UUIDv5 of the record id: exporting the same record twice gives the same STIX object, which is what lets
MISP/OpenCTI update rather than duplicate it.

Import: our own objects come back from their ``x_alianza_*`` properties; objects made by others are mapped where
the meaning is clear (individuals → Person, organizations, threat actors and intrusion sets → Organization,
street addresses → Address, membership/ownership relationships → Membership/Ownership) and every other object is
skipped and counted, never guessed at. A malformed bundle is refused before anything is mapped.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import stix2  # type: ignore[import-untyped]
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.audit.trail import AuditTrail
from alianza.errors import ValidationError
from alianza.records.interchange import tlp
from alianza.records.interchange.common import (
    ImportSummary,
    Pending,
    Problems,
    build_input,
    create_all,
    detail,
    finish,
    merge_markings,
)
from alianza.records.models import Record
from alianza.records.schemas import Markings, Tlp
from alianza.records.service import to_ftm

SOURCE = "STIX"
# Fixed for all nodes and all time: changing any of these changes every exported id.
NAMESPACE = uuid.UUID("ab3a0f11-215b-48a4-b5f1-c3839d4bfcb2")
EXTENSION_ID = "extension-definition--ee82bc9c-b450-4c1b-9493-4c44b24d353e"
SOFTWARE_ID = "identity--7dbb845e-0e0a-4d2d-beeb-57493274cdcf"
# The node identity and the extension definition are versioned by these stamps, not by the export time, so that
# two exports of the same records are the same objects.
FIXED_STAMP = "2026-01-01T00:00:00.000Z"
X_PROPERTIES = ("x_alianza_id", "x_alianza_schema", "x_alianza_properties", "x_alianza_markings")

# FtM kind → STIX type. Persons and organizations are STIX identities. Assets that serve a criminal activity
# (accounts, vehicles, firearms, tunnels, fuel taps) are infrastructure: "physical or virtual resources intended
# to support some purpose". Seizures and cases are incidents. STIX has no identity-document object, so an
# identification is a note attached to its holder, which is how MISP and OpenCTI show it. Edges are relationships.
STIX_TYPE: dict[str, str] = {
    "Person": "identity",
    "Organization": "identity",
    "Company": "identity",
    "Address": "location",
    "BankAccount": "infrastructure",
    "Vehicle": "infrastructure",
    "Firearm": "infrastructure",
    "Tunnel": "infrastructure",
    "FuelTap": "infrastructure",
    "DrugSeizure": "incident",
    "Case": "incident",
    "Identification": "note",
    "Ownership": "relationship",
    "Membership": "relationship",
    "Payment": "relationship",
}
INFRASTRUCTURE_TYPES = {
    "BankAccount": "bank-account",
    "Vehicle": "vehicle",
    "Firearm": "firearm",
    "Tunnel": "tunnel",
    "FuelTap": "fuel-tap",
}
# FtM edge → (source property, target property, STIX relationship_type).
EDGES = {
    "Ownership": ("owner", "asset", "owns"),
    "Membership": ("member", "organization", "member-of"),
    "Payment": ("payer", "beneficiary", "pays"),
}
# STIX 2.1 Appendix A maps admiralty credibility to confidence; accuracy 4 ("cannot be judged") gives none.
ACCURACY_CONFIDENCE = {"1": 100, "2": 80, "3": 60}
RELIABILITY_WEIGHT = {"A": 1.0, "B": 0.85, "C": 0.5, "X": 0.7}

EXPORT_REFUSED = "The STIX export was refused: {count} record(s) link to records that are not in the export."
MISSING_END = "It links to record '{id}', which is not in the export; add it or leave this record out."
NOT_JSON = "The file is not valid JSON: {error} (line {line}, column {column})."
NOT_BUNDLE = 'The file is not a STIX bundle: the top level must be an object with "type": "bundle".'
NO_OBJECTS = 'The bundle has no objects: a STIX bundle to import needs an "objects" list with at least one object.'
BAD_STIX = "The STIX bundle is malformed: {count} problem(s) listed below; nothing was imported."
NOT_OBJECT = 'Each entry of "objects" must be a JSON object.'
NO_TYPE = 'The object has no "type".'
NO_ID = 'The object has no "id"; every STIX object needs one of the form "{type}--<UUID>".'
BAD_ID = "'{id}' is not a STIX id of the form \"{type}--<UUID>\"."
INVALID = "Invalid {type} object: {error}"
BAD_OWN_MARKINGS = "The object's x_alianza_markings are damaged: they must be a JSON object."
BAD_OWN_ID = "The object's x_alianza_id is damaged: it must be a string."

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Types whose content we map; these are parsed with ``stix2`` in full. Others only need a type and an id, so a
# bundle is not refused for an indicator pattern or a custom MISP object we would skip anyway.
PARSED_TYPES = frozenset(
    {"identity", "threat-actor", "intrusion-set", "location", "relationship", "marking-definition"}
)
MEMBERSHIP_TYPES = frozenset({"member-of", "part-of"})


# --------------------------------------------------------------------------------------------------- export


def stix_id(record_id: str, stix_type: str) -> str:
    """The record's STIX id: the id it came with when it was imported from STIX, else UUIDv5 of the record id."""
    if re.fullmatch(f"{re.escape(stix_type)}--{_UUID}", record_id):
        return record_id
    return f"{stix_type}--{uuid.uuid5(NAMESPACE, record_id)}"


def _timestamp(value: dt.datetime) -> str:
    value = value.replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _first(props: Mapping[str, list[str]], *names: str) -> str | None:
    for name in names:
        values = props.get(name)
        if values:
            return values[0]
    return None


def confidence(reliability: str, accuracy: str) -> int | None:
    """STIX ``confidence`` (0–100) from the source reliability and information accuracy grades."""
    base = ACCURACY_CONFIDENCE.get(accuracy)
    weight = RELIABILITY_WEIGHT.get(reliability)
    if base is None or weight is None:
        return None
    return round(base * weight)


def export_stix(records: Iterable[Record], identity_name: str, node_country: str) -> dict[str, Any]:
    """A STIX 2.1 bundle of the records, authored by the node's identity, TLP-marked with the TLP 2.0 markings.

    Purged records are left out (their content is gone). A relationship or a note needs the STIX type of the
    record it points at, so an edge or an identification whose other end is not exported refuses the export with
    a ``ValidationError`` naming it, rather than shipping a reference nobody can resolve.
    """
    chosen = [r for r in records if not r.purged]
    types = {r.id: STIX_TYPE[r.schema] for r in chosen if r.schema in STIX_TYPE}
    node_id = f"identity--{uuid.uuid5(NAMESPACE, f'node:{node_country}:{identity_name}')}"
    problems: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    levels: set[str] = set()
    for record in chosen:
        if record.schema not in STIX_TYPE:
            continue
        obj = _record_object(record, types, node_id, problems)
        if obj is not None:
            objects.append(obj)
            levels.add(record.tlp)
    if problems:
        raise ValidationError(EXPORT_REFUSED, details=problems, count=len({p["object"] for p in problems}))
    header: list[dict[str, Any]] = [
        _node_identity(node_id, identity_name, node_country),
        _software_identity(),
        _extension_definition(),
    ]
    header += [tlp.marking_definition(level) for level in tlp.ORDER if level in levels]
    objects.sort(key=lambda o: o["type"] == "relationship")  # objects before the relationships between them
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": header + objects}


def _node_identity(node_id: str, name: str, country: str) -> dict[str, Any]:
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": node_id,
        "created": FIXED_STAMP,
        "modified": FIXED_STAMP,
        "name": name,
        "description": f"Alianza node ({country}) of the US–Mexico security-cooperation mechanism.",
        "identity_class": "organization",
        "sectors": ["government-national"],
    }


def _software_identity() -> dict[str, Any]:
    """The author of the extension definition: the same on every node, unlike the node identities."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": SOFTWARE_ID,
        "created": FIXED_STAMP,
        "modified": FIXED_STAMP,
        "name": "Alianza",
        "identity_class": "system",
    }


def _extension_definition() -> dict[str, Any]:
    """Declares the ``x_alianza_*`` properties: STIX 2.1 wants custom properties announced by an extension."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXTENSION_ID,
        "created_by_ref": SOFTWARE_ID,
        "created": FIXED_STAMP,
        "modified": FIXED_STAMP,
        "name": "Alianza record",
        "description": "An Alianza record: its FollowTheMoney entity and the markings that govern its use.",
        "schema": (
            "x_alianza_id: the record id; x_alianza_schema: the FollowTheMoney schema name; "
            "x_alianza_properties: FollowTheMoney properties, an object of property name to list of strings; "
            "x_alianza_markings: origin agency, TLP, handling code (H0-H3), source reliability (A/B/C/X), "
            "information accuracy (1-4), legal basis, purpose, criminal predicate, sensitive categories, "
            "personal-data and US-person flags, retention review date, origin country."
        ),
        "version": "1.0.0",
        "extension_types": ["toplevel-property-extension"],
        "extension_properties": list(X_PROPERTIES),
    }


def _record_object(
    record: Record, types: Mapping[str, str], node_id: str, problems: list[dict[str, Any]]
) -> dict[str, Any] | None:
    stix_type = STIX_TYPE[record.schema]
    props: dict[str, list[str]] = record.properties
    created = record.created_at
    obj: dict[str, Any] = {
        "type": stix_type,
        "spec_version": "2.1",
        "id": stix_id(record.id, stix_type),
        "created_by_ref": node_id,
        "created": _timestamp(created),
        "modified": _timestamp(max(created, record.updated_at or created)),
    }
    name = record.caption if record.caption and record.caption != "—" else record.schema
    description = _first(props, "description", "summary")
    if stix_type == "identity":
        obj["name"] = name
        obj["identity_class"] = "individual" if record.schema == "Person" else "organization"
        contact = [*props.get("email", []), *props.get("phone", [])]
        if contact:
            obj["contact_information"] = ", ".join(contact)
    elif stix_type == "location":
        obj |= _location(name, props)
    elif stix_type == "infrastructure":
        obj["name"] = name
        obj["infrastructure_types"] = [INFRASTRUCTURE_TYPES[record.schema]]
    elif stix_type == "incident":
        obj["name"] = name
    elif stix_type == "note":
        holders = _refs(record, "holder", types, problems)
        if holders is None:
            return None
        obj["abstract"] = name
        parts = [*props.get("type", []), *props.get("number", []), *props.get("country", [])]
        obj["content"] = " · ".join(parts) or name
        obj["object_refs"] = holders
    else:
        source_prop, target_prop, relationship_type = EDGES[record.schema]
        sources = _refs(record, source_prop, types, problems)
        targets = _refs(record, target_prop, types, problems)
        if sources is None or targets is None:
            return None
        obj["relationship_type"] = relationship_type
        obj["source_ref"], obj["target_ref"] = sources[0], targets[0]
    if description and stix_type != "note":
        obj["description"] = description
    level = confidence(record.source_reliability, record.info_accuracy)
    if level is not None:
        obj["confidence"] = level
    obj["object_marking_refs"] = [tlp.TLP2_IDS[record.tlp]]
    obj["extensions"] = {EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}
    ftm = to_ftm(record)
    obj |= {
        "x_alianza_id": record.id,
        "x_alianza_schema": record.schema,
        "x_alianza_properties": ftm["properties"],
        "x_alianza_markings": ftm["alianza:markings"],
    }
    return obj


def _location(name: str, props: Mapping[str, list[str]]) -> dict[str, Any]:
    """STIX wants a location to have a region, a country or coordinates; an address with none gets region unknown."""
    out: dict[str, Any] = {"name": name}
    street = _first(props, "street", "full", "address")
    for key, value in (
        ("street_address", street),
        ("city", _first(props, "city")),
        ("postal_code", _first(props, "postalCode")),
        ("administrative_area", _first(props, "state", "region")),
    ):
        if value:
            out[key] = value
    country = _first(props, "country")
    lat, lon = _first(props, "latitude"), _first(props, "longitude")
    if country:
        out["country"] = country.upper()
    if lat and lon:
        out["latitude"], out["longitude"] = float(lat), float(lon)
    if not country and not (lat and lon):
        out["region"] = "unknown"
    return out


def _refs(record: Record, prop: str, types: Mapping[str, str], problems: list[dict[str, Any]]) -> list[str] | None:
    """STIX ids of the records a property links to, or None after reporting the links that leave the export."""
    values = record.properties.get(prop, [])
    missing = [v for v in values if v not in types]
    for value in missing:
        problems.append(detail({"object": record.id}, f"properties.{prop}", MISSING_END, id=value))
    if missing or not values:
        return None
    return [stix_id(v, types[v]) for v in values]


# --------------------------------------------------------------------------------------------------- import


def import_stix(
    session: Session,
    actor: User,
    trail: AuditTrail,
    country: str,
    bundle_text: str,
    default_markings: Markings | None = None,
) -> ImportSummary:
    """Create records from a STIX 2.1 bundle, or none: a ``ValidationError`` names each bad object.

    Objects made by other tools take ``default_markings`` (their TLP marking, when they carry one, replaces the
    default TLP); our own objects keep the markings they left with. Run it inside ``node.db.transaction()``.
    """
    require(actor, Permission.EDIT_RECORDS)
    bundle = _load_bundle(bundle_text)
    objects = _checked_objects(bundle)
    levels = {
        obj["id"]: level
        for obj in objects.values()
        if obj["type"] == "marking-definition" and (level := tlp.from_marking_definition(obj)) is not None
    }
    authors = {obj.get("created_by_ref") for obj in objects.values()}
    summary = ImportSummary()
    problems = Problems()
    pending: list[Pending] = []
    ends: dict[str, tuple[str, str]] = {}  # STIX id → (record id, FtM schema) of what became a record
    relationships: list[dict[str, Any]] = []
    for obj in objects.values():
        kind = obj["type"]
        if "x_alianza_schema" in obj:
            entry = _own_object(obj, levels, problems)
            target = (obj.get("x_alianza_id"), obj.get("x_alianza_schema"))
        elif kind in ("marking-definition", "extension-definition", "language-content") or obj["id"] in authors:
            continue  # how others are marked and who wrote them: metadata, not intelligence records
        elif kind == "relationship":
            relationships.append(obj)
            continue
        else:
            entry = _foreign_object(obj, levels, default_markings, problems, summary)
            target = (obj["id"], _foreign_schema(obj))
        # Registered even when the entry failed, so a relationship to it reports that rather than being skipped.
        if isinstance(target[0], str) and isinstance(target[1], str):
            ends[obj["id"]] = (target[0], target[1])
        if entry is not None:
            pending.append(entry)
    for rel in relationships:
        entry = _foreign_relationship(session, rel, ends, levels, default_markings, problems, summary)
        if entry is not None:
            pending.append(entry)
    created = create_all(session, actor, trail, country, pending, problems)
    return finish(session, actor, trail, SOURCE, created, problems, summary)


def _load_bundle(text: str) -> dict[str, Any]:
    try:
        bundle: Any = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise ValidationError(
            NOT_JSON,
            details=[detail({"line": exc.lineno}, None, NOT_JSON, error=exc.msg, line=exc.lineno, column=exc.colno)],
            error=exc.msg,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise ValidationError(NOT_BUNDLE, details=[detail({"object": "bundle"}, "type", NOT_BUNDLE)])
    if not isinstance(bundle.get("objects"), list) or not bundle["objects"]:
        raise ValidationError(NO_OBJECTS, details=[detail({"object": "bundle"}, "objects", NO_OBJECTS)])
    return bundle


def _checked_objects(bundle: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The bundle's objects by id, each checked; refuses the bundle naming every object that is wrong.

    A bundle may hold several versions of one object; the latest ``modified`` wins, as STIX prescribes.
    """
    problems = Problems()
    found: dict[str, dict[str, Any]] = {}
    default_version = str(bundle.get("spec_version") or "2.1")
    for index, obj in enumerate(bundle["objects"]):
        where: dict[str, int | str] = {"object": f"objects[{index}]"}
        if not isinstance(obj, dict):
            problems.add(where, None, NOT_OBJECT)
            continue
        kind, ident = obj.get("type"), obj.get("id")
        if not isinstance(kind, str) or not kind:
            problems.add(where, "type", NO_TYPE)
            continue
        if not isinstance(ident, str) or not ident:
            problems.add(where, "id", NO_ID, type=kind)
            continue
        where = {"object": ident}
        if not re.fullmatch(f"{re.escape(kind)}--{_UUID}", ident):
            problems.add(where, "id", BAD_ID, id=ident, type=kind)
            continue
        if kind in PARSED_TYPES or "x_alianza_schema" in obj:
            try:
                stix2.parse(obj, allow_custom=True, version=str(obj.get("spec_version") or default_version))
            except (stix2.exceptions.STIXError, ValueError, TypeError, KeyError) as exc:
                problems.add(where, None, INVALID, type=kind, error=str(exc))
                continue
        previous = found.get(ident)
        if previous is None or str(obj.get("modified", "")) >= str(previous.get("modified", "")):
            found[ident] = obj
    if problems:
        raise ValidationError(BAD_STIX, details=problems.items, count=problems.total)
    return found


def _object_tlp(obj: Mapping[str, Any], levels: Mapping[str, Tlp]) -> Tlp | None:
    refs = obj.get("object_marking_refs")
    if not isinstance(refs, list):
        return None
    return tlp.strictest(levels.get(ref) or tlp.KNOWN_IDS.get(ref) for ref in refs if isinstance(ref, str))


def _own_object(obj: dict[str, Any], levels: Mapping[str, Tlp], problems: Problems) -> Pending | None:
    """An object an Alianza node exported: the record exactly as it left, TLP tightened if it was re-marked."""
    where: dict[str, int | str] = {"object": obj["id"]}
    markings = obj.get("x_alianza_markings")
    record_id = obj.get("x_alianza_id")
    if not isinstance(markings, dict):
        problems.add(where, "x_alianza_markings", BAD_OWN_MARKINGS)
        return None
    if not isinstance(record_id, str):
        problems.add(where, "x_alianza_id", BAD_OWN_ID)
        return None
    own = merge_markings(markings, None) or {}
    marked = _object_tlp(obj, levels)
    current = tlp.normalise(own.get("tlp"))
    if marked is not None and current is not None:
        own["tlp"] = tlp.strictest([marked, current])
    return build_input(
        where,
        problems,
        schema=obj.get("x_alianza_schema"),
        properties=obj.get("x_alianza_properties"),
        markings=own,
        record_id=record_id,
    )


def _foreign_markings(
    obj: Mapping[str, Any], levels: Mapping[str, Tlp], defaults: Markings | None
) -> dict[str, Any] | None:
    merged = merge_markings(None, defaults)
    marked = _object_tlp(obj, levels)
    if merged is not None and marked is not None:
        merged["tlp"] = marked
    return merged


def _names(obj: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Name and aliases, including OpenCTI's ``x_opencti_aliases`` (identities have no ``aliases`` in STIX)."""
    name = [obj["name"]] if isinstance(obj.get("name"), str) else []
    aliases: list[str] = []
    for key in ("aliases", "x_opencti_aliases", "x_misp_alias"):
        value = obj.get(key)
        if isinstance(value, list):
            aliases += [v for v in value if isinstance(v, str)]
        elif isinstance(value, str):
            aliases.append(value)
    return name, aliases


def _foreign_object(
    obj: dict[str, Any],
    levels: Mapping[str, Tlp],
    defaults: Markings | None,
    problems: Problems,
    summary: ImportSummary,
) -> Pending | None:
    kind = obj["type"]
    schema = _foreign_schema(obj)
    if schema is None:
        detail = f"{kind}:{obj.get('identity_class', 'unknown')}" if kind == "identity" else kind
        summary.skip(detail)
        return None
    properties = _foreign_properties(schema, obj)
    return build_input(
        {"object": obj["id"]},
        problems,
        schema=schema,
        properties=properties,
        markings=_foreign_markings(obj, levels, defaults),
        record_id=obj["id"],
    )


def _foreign_schema(obj: Mapping[str, Any]) -> str | None:
    kind = obj["type"]
    if kind == "identity":
        return {"individual": "Person", "organization": "Organization", "group": "Organization"}.get(
            str(obj.get("identity_class"))
        )
    if kind == "threat-actor":
        # OpenCTI exports its "Threat-Actor-Individual" as a threat-actor; a person, not an organization.
        individual = obj.get("x_opencti_type") == "Threat-Actor-Individual" or obj.get("resource_level") == "individual"
        return "Person" if individual else "Organization"
    if kind == "intrusion-set":
        return "Organization"
    if kind == "location" and (obj.get("street_address") or obj.get("city")):
        return "Address"  # a bare country or region is context, not an address of anyone
    return None


def _foreign_properties(schema: str, obj: Mapping[str, Any]) -> dict[str, list[str]]:
    props: dict[str, list[str]] = {}

    def put(prop: str, value: Any) -> None:
        if isinstance(value, str) and value.strip():
            props.setdefault(prop, []).append(value.strip())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            props.setdefault(prop, []).append(str(value))

    if schema == "Address":
        parts = [obj.get(k) for k in ("street_address", "city", "administrative_area", "postal_code", "country")]
        put("full", ", ".join(p for p in parts if isinstance(p, str) and p))
        put("street", obj.get("street_address"))
        put("city", obj.get("city"))
        put("postalCode", obj.get("postal_code"))
        put("state", obj.get("administrative_area"))
        put("country", obj.get("country"))
        put("latitude", obj.get("latitude"))
        put("longitude", obj.get("longitude"))
        put("name", obj.get("name"))
    else:
        names, aliases = _names(obj)
        for value in names:
            put("name", value)
        for value in aliases:
            put("alias", value)
        put("notes", obj.get("contact_information"))
        for value in obj.get("threat_actor_types") or []:
            put("keywords", value)
    put("description", obj.get("description"))
    for ref in obj.get("external_references") or []:
        if isinstance(ref, Mapping):
            put("sourceUrl", ref.get("url"))
    return props


def _foreign_relationship(
    session: Session,
    rel: dict[str, Any],
    ends: Mapping[str, tuple[str, str]],
    levels: Mapping[str, Tlp],
    defaults: Markings | None,
    problems: Problems,
    summary: ImportSummary,
) -> Pending | None:
    """A relationship made by another tool, as Membership or Ownership when both ends are (or become) records."""
    kind = str(rel.get("relationship_type", ""))
    source, target = _end(session, ends, rel.get("source_ref")), _end(session, ends, rel.get("target_ref"))
    mapped: tuple[str, dict[str, list[str]]] | None = None
    if source is not None and target is not None:
        (source_id, source_schema), (target_id, target_schema) = source, target
        if kind in MEMBERSHIP_TYPES and target_schema in ("Organization", "Company"):
            mapped = ("Membership", {"member": [source_id], "organization": [target_id]})
        elif kind == "attributed-to" and target_schema == "Person" and source_schema in ("Organization", "Company"):
            # "threat actor X is attributed to individual Y": Y is (at least) a member of X.
            mapped = ("Membership", {"member": [target_id], "organization": [source_id]})
        elif kind == "owns":
            mapped = ("Ownership", {"owner": [source_id], "asset": [target_id]})
        elif kind == "pays":
            mapped = ("Payment", {"payer": [source_id], "beneficiary": [target_id]})
    if mapped is None:
        summary.skip(f"relationship:{kind}")
        return None
    schema, properties = mapped
    if isinstance(rel.get("description"), str) and rel["description"].strip():
        properties["description"] = [rel["description"].strip()]
    return build_input(
        {"object": rel["id"]},
        problems,
        schema=schema,
        properties=properties,
        markings=_foreign_markings(rel, levels, defaults),
        record_id=rel["id"],
    )


def _end(session: Session, ends: Mapping[str, tuple[str, str]], ref: Any) -> tuple[str, str] | None:
    """The record a relationship end stands for: imported from this bundle, or imported before from STIX."""
    if not isinstance(ref, str):
        return None
    if ref in ends:
        record_id, schema = ends[ref]
        return (record_id, schema) if record_id else None
    existing = session.get(Record, ref)
    return (existing.id, existing.schema) if existing is not None else None
