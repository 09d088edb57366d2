"""Hit/no-hit between nodes, wired to records, the federation and the audit (the protocol is ``private``).

The asker's analyst offers subjects; the holder's node answers on its own premises with only the hits; each hit
can become a formal request, which the holder reviews and answers through the release gate like any release.
The matching secret is derived by both nodes from their X25519 sealing keys (``private.derive_secret``), so no
secret is ever sent, and a new epoch in the settings rotates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.errors import ConflictError, NotFoundError, ValidationError, problem
from alianza.federation import outbox
from alianza.federation.outbox import OutboxMessage
from alianza.federation.partners import Partner, get_partner
from alianza.matching import private
from alianza.matching.private_models import (
    ASKER,
    MatchHit,
    MatchOffer,
    holder_hits,
    sent_offer,
    store_answer,
    store_result,
    store_sent,
)
from alianza.records import service as records
from alianza.records.models import Record
from alianza.releases.models import InfoRequest

if TYPE_CHECKING:
    from alianza.node import Node

MATCH_PREFIX = "match:"
OFFERS_SHOWN = 100


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


def hit_reference(hit: MatchHit) -> str:
    """The reference a request made from ``hit`` carries, and which the holder resolves to its record."""
    return f"{MATCH_PREFIX}{hit.offer_id}:{hit.hit_ref}"


def list_offers(session: Session, actor: User, direction: str, limit: int = OFFERS_SHOWN) -> list[MatchOffer]:
    """Offers we sent (``sent``) or answered for the partner (``received``), newest first.

    An offer shows no subject (its refs stay in the table), only counts, so reading records is enough to see it.
    """
    require(actor, Permission.READ_RECORDS)
    query = select(MatchOffer).where(MatchOffer.direction == direction).order_by(MatchOffer.id.desc())
    return list(session.scalars(query.limit(limit)))


def hits(session: Session, actor: User, offer_id: str | None = None) -> list[MatchHit]:
    """Our hits (asker side) the actor may see: need-to-know on our own record behind each one."""
    require(actor, Permission.READ_RECORDS)
    query = select(MatchHit).where(MatchHit.side == ASKER).order_by(MatchHit.id.desc())
    if offer_id:
        query = query.where(MatchHit.offer_id == offer_id)
    found = []
    for hit in session.scalars(query):
        record = session.get(Record, hit.record_id)
        if record is not None and records.can_see(actor, record):
            found.append(hit)
    return found


@dataclass(frozen=True)
class ListedHit:
    """One of our hits as the analyst sees it: our record behind it, and the request made from it (if any)."""

    hit: MatchHit
    record: Record
    request: OutboxMessage | None


def listed_hits(session: Session, actor: User, offer_id: str | None = None) -> list[ListedHit]:
    """The hits the actor may see (``hits``), each with its record and the request message sent from it."""
    return with_requests(session, actor, hits(session, actor, offer_id))


def with_requests(session: Session, actor: User, found: list[MatchHit]) -> list[ListedHit]:
    """Each hit with its record (need-to-know checked) and the request message sent from it."""
    wanted = [h.request_message_id for h in found if h.request_message_id is not None]
    sent: dict[int, OutboxMessage] = {}
    if wanted:
        sent = {m.id: m for m in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(wanted)))}
    return [
        ListedHit(
            hit=h,
            record=records.get_record(session, actor, h.record_id),
            request=sent.get(h.request_message_id) if h.request_message_id is not None else None,
        )
        for h in found
    ]


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
    if hit.request_message_id is not None:
        raise _already_requested(session, hit)
    reference = hit_reference(hit)
    message = outbox.enqueue(
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
    claimed = session.execute(  # one request per hit, even when two analysts send at the same moment
        update(MatchHit)
        .where(MatchHit.id == hit.id, MatchHit.request_message_id.is_(None))
        .values(request_message_id=message.id)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 1) != 1:
        session.refresh(hit)
        raise _already_requested(session, hit)
    session.refresh(hit)
    node.trail.append(
        session,
        actor,
        "match.request_sent",
        "match_hit",
        hit.id,
        {"partner": hit.partner, "reference": reference, "message": message.envelope_id},
    )
    return hit


def _already_requested(session: Session, hit: MatchHit) -> ConflictError:
    """A hit becomes one request: a second is refused, naming the first (its reference, when it was queued)."""
    sent = session.get(OutboxMessage, hit.request_message_id) if hit.request_message_id is not None else None
    when = sent.created_at.strftime("%Y-%m-%d %H:%M UTC") if sent is not None else "?"
    return ConflictError(
        "A request about this hit was already sent to {partner} on {date} (reference {reference}); a hit becomes "
        "one request. Follow that one on the exchange page with the partner.",
        partner=hit.partner,
        date=when,
        reference=hit_reference(hit),
        details={
            "request": {
                "reference": hit_reference(hit),
                "envelope_id": sent.envelope_id if sent is not None else None,
                "sent_at": sent.created_at.isoformat() if sent is not None else None,
            }
        },
    )


def cited_hits(session: Session, partner: str, reference: str) -> list[MatchHit] | None:
    """For a partner's request: the hit rows behind the hit it cites (``match:<offer>:<hit ref>``; empty if we
    never reported that hit), or None when the reference cites no hit."""
    if not reference.startswith(MATCH_PREFIX):
        return None
    offer_id, _, hit_ref = reference[len(MATCH_PREFIX) :].partition(":")
    return holder_hits(session, partner, offer_id, hit_ref)


def earlier_request(session: Session, cited: list[MatchHit]) -> InfoRequest | None:
    """The request the cited hit already became, if any (holder side): a hit becomes one request."""
    first = next((h.request_id for h in cited if h.request_id is not None), None)
    return session.get(InfoRequest, first) if first is not None else None


def link_request(cited: list[MatchHit], request_id: int) -> None:
    """The cited hit became request ``request_id``: linked in the caller's transaction."""
    for hit in cited:
        if hit.request_id is None:
            hit.request_id = request_id
