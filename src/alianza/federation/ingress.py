"""Ingress rules: what a partner's envelope may do to this node, and nothing more.

A partner's records are stored under ids in the partner's own namespace (``<partner>:<id>``), so a partner can
never alter one of our records; they keep the partner's markings and are read-only here. A recall removes the
content of the recalled records. Every effect is audited in the same transaction as the envelope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from alianza.federation import envelope as env
from alianza.federation.partners import Partner, add_key
from alianza.records.ftm import KINDS, model
from alianza.records.models import Record
from alianza.store.db import utcnow

if TYPE_CHECKING:
    from alianza.node import Node

MAX_ENTITIES = 1000
TLP = frozenset({"CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"})
HANDLING = frozenset({"H0", "H1", "H2", "H3"})


def local_id(partner: str, entity_id: str) -> str:
    candidate = f"{partner}:{entity_id}"
    if len(candidate) <= 64:
        return candidate
    return f"{partner}:{hashlib.sha256(entity_id.encode()).hexdigest()[:40]}"[:64]


def _bad(message: str, **params: Any) -> env.MalformedEnvelopeError:
    return env.MalformedEnvelopeError(message, **params)


def _entity(partner: Partner, raw: Any, ids: dict[str, str]) -> tuple[str, str, dict[str, list[str]], dict[str, Any]]:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not isinstance(raw.get("properties"), dict):
        raise _bad("Each released entity needs an id, a schema and properties.")
    schema_name = raw.get("schema")
    if schema_name not in KINDS:
        raise _bad("Entity {id} has an unsupported schema '{schema}'.", id=raw["id"], schema=schema_name)
    markings = raw.get("alianza:markings")
    if not isinstance(markings, dict) or markings.get("tlp") not in TLP or markings.get("handling") not in HANDLING:
        raise _bad("Entity {id} lacks valid markings; the partner's markings must travel with it.", id=raw["id"])
    schema = model().get(str(schema_name))
    assert schema is not None
    entity = model().make_entity(schema)
    for name, values in raw["properties"].items():
        prop = schema.get(name)
        if prop is None or not isinstance(values, list):
            raise _bad("Entity {id} has an unknown property '{name}'.", id=raw["id"], name=name)
        for value in values:
            if prop.type.name == "entity":
                target = ids.get(str(value))
                if target is not None:
                    entity.add(name, target, cleaned=True)
                continue
            cleaned = prop.type.clean(str(value), proxy=entity)
            if cleaned is not None:
                entity.add(name, cleaned, cleaned=True)
    return str(schema_name), ids[raw["id"]], {k: list(v) for k, v in entity.properties.items()}, markings


def _apply_release(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    entities = payload.get("entities")
    if not isinstance(entities, list) or not entities or len(entities) > MAX_ENTITIES:
        raise _bad("A release carries between 1 and {max} entities.", max=MAX_ENTITIES)
    ids = {str(e.get("id")): local_id(partner.name, str(e.get("id"))) for e in entities if isinstance(e, dict)}
    stored = []
    for raw in entities:
        schema_name, rid, properties, markings = _entity(partner, raw, ids)
        record = session.get(Record, rid)
        if record is not None and record.partner != partner.name:
            raise _bad("Entity {id} would overwrite a record that is not the partner's.", id=raw["id"])
        if record is None:
            record = Record(id=rid, created_at=utcnow())
            session.add(record)
        entity = model().make_entity(schema_name)
        for k, v in properties.items():
            entity.add(k, v, cleaned=True)
        record.schema = schema_name
        record.caption = str(entity.caption)[:500]
        record.properties = properties
        record.origin_country = str(markings.get("origin_country") or partner.country)
        record.origin_agency = str(markings.get("origin_agency", ""))
        record.tlp = markings["tlp"]
        record.handling = markings["handling"]
        record.source_reliability = str(markings.get("source_reliability", "X"))[:1]
        record.info_accuracy = str(markings.get("info_accuracy", "4"))[:1]
        record.legal_basis = str(markings.get("legal_basis", ""))
        record.purpose = str(markings.get("purpose", ""))
        record.criminal_predicate = str(markings.get("criminal_predicate", ""))
        record.sensitive_categories = list(markings.get("sensitive_categories") or [])
        record.sensitive_tied_to_crime = bool(markings.get("sensitive_tied_to_crime"))
        record.personal_data = bool(markings.get("personal_data"))
        record.us_person = bool(markings.get("us_person"))
        review = markings.get("retention_review")
        record.retention_review = dt.date.fromisoformat(review) if isinstance(review, str) else dt.date.today()
        record.partner = partner.name
        record.originator_consent = False
        record.purged_at = None
        record.updated_at = utcnow()
        stored.append(rid)
    session.flush()
    for rid in stored:
        node.trail.append(
            session,
            f"partner:{partner.name}",
            "record.received",
            "record",
            rid,
            {"release": payload.get("release_id"), "partner": partner.name},
        )
    return {"release_id": payload.get("release_id"), "records": stored, "purpose": payload.get("purpose")}


def _apply_recall(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    record_ids = payload.get("record_ids")
    if not isinstance(record_ids, list):
        raise _bad("A recall names the records it withdraws.")
    removed = []
    for original in record_ids:
        record = session.get(Record, local_id(partner.name, str(original)))
        if record is None or record.partner != partner.name or record.purged:
            continue
        record.properties = {}
        record.caption = "—"
        record.purged_at = utcnow()
        removed.append(record.id)
        node.trail.append(
            session,
            f"partner:{partner.name}",
            "record.recalled_by_partner",
            "record",
            record.id,
            {"release": payload.get("release_id"), "reason": payload.get("reason", "")},
        )
    return {"release_id": payload.get("release_id"), "records": removed, "reason": payload.get("reason", "")}


def _apply_request(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    from alianza.matching.hitnohit import cited_hits, earlier_request, link_request
    from alianza.releases.service import register_request

    subject = payload.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise _bad("A request says what it is about.")
    record_ids = [str(r) for r in payload.get("record_ids", [])]
    reference = str(payload.get("reference", ""))
    cited = cited_hits(session, partner.name, reference)
    if cited is not None:
        if not cited:
            raise _bad("The request cites a hit this node never reported.")
        earlier = earlier_request(session, cited)
        if earlier is not None:  # a hit becomes one request: a repeat is acknowledged as the first, not registered
            node.trail.append(
                session,
                f"partner:{partner.name}",
                "request.repeated",
                "request",
                earlier.id,
                {"reference": reference, "subject": subject},
            )
            return {"request_id": earlier.id, "subject": earlier.subject, "repeated": True}
        record_ids = [h.record_id for h in cited]
    request = register_request(
        session,
        f"partner:{partner.name}",
        node.trail,
        partner=partner.name,
        requesting_agency=str(payload.get("requesting_agency", "")),
        subject=subject,
        purpose=str(payload.get("purpose", "")),
        reference=str(payload.get("reference", "")),
        legal_basis=str(payload.get("legal_basis", "")),
        record_ids=record_ids,
    )
    if cited is not None:
        link_request(cited, request.id)  # the holder's hit → this request
    return {"request_id": request.id, "subject": subject}


def _apply_response(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    node.trail.append(
        session,
        f"partner:{partner.name}",
        "request.response_received",
        "request",
        str(payload.get("request_reference", "")),
        {"answer": payload.get("answer"), "reason": payload.get("reason", "")},
    )
    return {"answer": payload.get("answer"), "reason": payload.get("reason", "")}


def _apply_checkpoint(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    from alianza.federation.checkpoints import store_checkpoint

    return store_checkpoint(session, node, partner, payload)


def _apply_key_rotation(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    key = payload.get("key")
    days = payload.get("overlap_days", 7)
    if not isinstance(key, str) or not isinstance(days, int) or not 0 <= days <= 90:
        raise _bad("A key rotation carries the new key and an overlap of 0 to 90 days.")
    add_key(session, partner, key, retire_others_after=dt.timedelta(days=days))
    node.trail.append(
        session, f"partner:{partner.name}", "partner.key_rotated", "partner", partner.name, {"overlap_days": days}
    )
    return {"overlap_days": days}


def _apply_match_offer(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    from alianza.matching.hitnohit import answer

    return answer(session, node, partner, payload)


def _apply_match_result(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    from alianza.matching.hitnohit import receive_result

    return receive_result(session, node, partner, payload)


HANDLERS = {
    "match_offer": _apply_match_offer,
    "match_result": _apply_match_result,
    "release": _apply_release,
    "recall": _apply_recall,
    "request": _apply_request,
    "response": _apply_response,
    "audit_checkpoint": _apply_checkpoint,
    "key_rotation": _apply_key_rotation,
}


def apply(
    session: Session, node: Node, partner: Partner, envelope: env.Envelope, payload: dict[str, Any]
) -> dict[str, Any]:
    handler = HANDLERS.get(envelope.type)
    if handler is None:
        raise _bad("Envelopes of type '{type}' are not accepted in the stream.", type=envelope.type)
    return handler(session, node, partner, payload)
