"""Hit/no-hit between nodes, wired to records, the federation and the audit (the protocol is ``private``).

The asker's analyst offers subjects; the holder's node answers on its own premises with only the hits; each hit
can become a formal request, which the holder reviews and answers through the release gate like any release.
The matching secret is derived by both nodes from their X25519 sealing keys (``private.derive_secret``), so no
secret is ever sent, and a new epoch in the settings rotates it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.errors import NotFoundError, ValidationError, problem
from alianza.federation import outbox
from alianza.federation.partners import Partner, get_partner
from alianza.matching import private
from alianza.matching.private_models import MatchHit, MatchOffer, sent_offer, store_answer, store_result, store_sent
from alianza.records import service as records
from alianza.records.models import Record

if TYPE_CHECKING:
    from alianza.node import Node

MATCH_PREFIX = "match:"


def secret_for(node: Node, partner: Partner) -> bytes:
    if node.identity.seal_key is None or not partner.seal_key:
        raise ValidationError(
            "Hit/no-hit with {partner} needs both nodes' sealing keys; pin the partner with --seal-key.",
            partner=partner.name,
        )
    return private.derive_secret(node.identity.seal_key, partner.seal_key, node.settings.match_epoch)


def send_offer(session: Session, node: Node, actor: User, partner_name: str, record_ids: list[str]) -> MatchOffer:
    """Offer our persons for hit/no-hit; the offer is queued in the same transaction and audited."""
    require(actor, Permission.PROPOSE_RELEASE)
    partner = get_partner(session, partner_name)
    chosen: list[Record] = []
    problems = []
    for record_id in dict.fromkeys(record_ids):
        try:
            record = records.get_record(session, actor, record_id)
        except NotFoundError:
            problems.append(problem("record_ids", "No record '{id}' that you may see.", id=record_id))
            continue
        if record.schema != "Person" or record.partner is not None or record.purged:
            problems.append(
                problem("record_ids", "Only our own persons can be offered; '{id}' is not one.", id=record_id)
            )
            continue
        chosen.append(record)
    if problems:
        raise ValidationError("The offer was not sent: {count} problem(s).", details=problems, count=len(problems))
    offer = private.make_offer(chosen, secret_for(node, partner))
    row = store_sent(session, partner.name, offer, created_by_id=actor.id)
    outbox.enqueue(session, partner.name, "match_offer", offer.offer_id, offer.payload)
    node.trail.append(
        session,
        actor,
        "match.offer_sent",
        "match_offer",
        offer.offer_id,
        {"partner": partner.name, "subjects": len(chosen)},
    )
    return row


def answer(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    """The holder's side (ingress): compare with our own persons and queue only the hits back."""
    own = private.own_candidates(session.scalars(select(Record).where(Record.schema == "Person")))
    answered = private.answer_offer(payload, own, secret_for(node, partner), node.settings.match_threshold)
    store_answer(session, partner.name, answered, len(payload.get("refs", []) or []))
    outbox.enqueue(session, partner.name, "match_result", answered.offer_id, answered.payload)
    node.trail.append(
        session,
        f"partner:{partner.name}",
        "match.offer_answered",
        "match_offer",
        answered.offer_id,
        {"hits": len(answered.hits), "compared": answered.compared},
    )
    return {"offer_id": answered.offer_id, "hits": len(answered.hits)}


def receive_result(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    """The asker's side (ingress): check the answer against our offer and keep the hits for the analyst."""
    offer_id = str(payload.get("offer_id", ""))
    offer = sent_offer(session, partner.name, offer_id)
    if offer is None:
        raise ValidationError("A match result for an offer we did not send ({id}).", id=offer_id)
    hits = private.read_result(payload, offer_id, offer.local_refs)
    store_result(session, offer, hits, node.settings.match_threshold)
    node.trail.append(
        session, f"partner:{partner.name}", "match.result_received", "match_offer", offer_id, {"hits": len(hits)}
    )
    return {"offer_id": offer_id, "hits": len(hits)}


def hits(session: Session, actor: User, offer_id: str | None = None) -> list[MatchHit]:
    """Our hits (asker side) the actor may see."""
    require(actor, Permission.READ_RECORDS)
    query = select(MatchHit).where(MatchHit.side == "asker").order_by(MatchHit.id.desc())
    if offer_id:
        query = query.where(MatchHit.offer_id == offer_id)
    found = []
    for hit in session.scalars(query):
        record = session.get(Record, hit.record_id)
        if record is not None and records.can_see(actor, record):
            found.append(hit)
    return found


def request_from_hit(
    session: Session, node: Node, actor: User, hit_id: int, *, purpose: str, subject: str, legal_basis: str = ""
) -> MatchHit:
    """Turn a hit into a formal request to the holder, which reviews it and answers through its release gate."""
    require(actor, Permission.PROPOSE_RELEASE)
    hit = session.get(MatchHit, hit_id)
    if hit is None or hit.side != "asker":
        raise NotFoundError("No hit with id {id}.", id=hit_id)
    records.get_record(session, actor, hit.record_id)  # need-to-know on our own subject
    if not subject.strip():
        raise ValidationError("Say what you ask the partner about this hit.")
    reference = f"{MATCH_PREFIX}{hit.offer_id}:{hit.hit_ref}"
    outbox.enqueue(
        session,
        hit.partner,
        "request",
        reference,
        {
            "requesting_agency": actor.agency,
            "subject": subject.strip(),
            "purpose": purpose,
            "reference": reference,
            "legal_basis": legal_basis,
        },
    )
    node.trail.append(
        session, actor, "match.request_sent", "match_hit", hit.id, {"partner": hit.partner, "reference": reference}
    )
    return hit


def resolve_reference(session: Session, partner: str, reference: str) -> list[str] | None:
    """For a partner's request citing one of our hits: the record ids behind it (None if it cites no hit)."""
    from alianza.matching.private_models import holder_records

    if not reference.startswith(MATCH_PREFIX):
        return None
    offer_id, _, hit_ref = reference[len(MATCH_PREFIX) :].partition(":")
    return holder_records(session, partner, offer_id, hit_ref)
