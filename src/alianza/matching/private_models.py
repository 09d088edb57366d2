"""Tables of private hit/no-hit: the offers a node sent or answered, and the hits on each side.

What never leaves the node lives here: on the asker's side which record each offer ref stands for, on the
holder's side which record each hit ref stands for. A request that arrives with ``match:<offer>:<hit ref>`` is
resolved to the holder's record through ``holder_hits`` — the asker never learns the record id.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from alianza.matching.private import AnsweredOffer, PreparedOffer, ResultHit
from alianza.store.db import Base, utcnow

SENT = "sent"
RECEIVED = "received"
ASKER = "asker"
HOLDER = "holder"


class MatchOffer(Base):
    """One offer, sent (``local_refs``: ref → our record id) or received and answered (no refs kept)."""

    __tablename__ = "match_offers"
    __table_args__ = (UniqueConstraint("offer_id", "direction", name="uq_match_offers_offer_direction"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[str] = mapped_column(String(64), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # sent | received
    partner: Mapped[str] = mapped_column(String(64), index=True)
    schema: Mapped[str] = mapped_column(String(32))
    schema_fingerprint: Mapped[str] = mapped_column(String(64))
    subject_count: Mapped[int] = mapped_column(Integer)
    local_refs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered | refused
    hit_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class MatchHit(Base):
    """A hit: our record, the offer ref and the hit ref that name it in the exchange, its score, and the request
    it became (one per hit: ``hitnohit.request_from_hit`` refuses a second)."""

    __tablename__ = "match_hits"
    __table_args__ = (UniqueConstraint("offer_id", "side", "hit_ref", name="uq_match_hits_offer_side_hit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[str] = mapped_column(String(64), index=True)
    side: Mapped[str] = mapped_column(String(8))  # asker | holder
    partner: Mapped[str] = mapped_column(String(64), index=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    offer_ref: Mapped[str] = mapped_column(String(32), default="")
    hit_ref: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    # The holder's hit: the partner's request that cited it. The asker's hit: the request message sent from it.
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), nullable=True)
    request_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


def store_sent(session: Session, partner: str, offer: PreparedOffer, created_by_id: int | None = None) -> MatchOffer:
    row = MatchOffer(
        offer_id=offer.offer_id,
        direction=SENT,
        partner=partner,
        schema=str(offer.payload["schema"]),
        schema_fingerprint=str(offer.payload["schema_fingerprint"]),
        subject_count=len(offer.local_refs),
        local_refs=dict(offer.local_refs),
        created_by_id=created_by_id,
    )
    session.add(row)
    session.flush()
    return row


def store_answer(session: Session, partner: str, answer: AnsweredOffer, subject_count: int) -> MatchOffer:
    """The holder's record of an answered offer and of its hits (hit ref → our record)."""
    row = MatchOffer(
        offer_id=answer.offer_id,
        direction=RECEIVED,
        partner=partner,
        schema=str(answer.payload["schema"]),
        schema_fingerprint=str(answer.payload["schema_fingerprint"]),
        subject_count=subject_count,
        threshold=float(answer.payload["threshold"]),
        status="answered",
        hit_count=len(answer.hits),
        answered_at=utcnow(),
    )
    session.add(row)
    for offer_ref, hit_ref, score in answer.hits:
        session.add(
            MatchHit(
                offer_id=answer.offer_id,
                side=HOLDER,
                partner=partner,
                record_id=answer.local_hits[hit_ref],
                offer_ref=offer_ref,
                hit_ref=hit_ref,
                score=score,
            )
        )
    session.flush()
    return row


def sent_offer(session: Session, partner: str, offer_id: str) -> MatchOffer | None:
    return session.scalars(
        select(MatchOffer).where(
            MatchOffer.offer_id == offer_id, MatchOffer.direction == SENT, MatchOffer.partner == partner
        )
    ).first()


def store_result(session: Session, offer: MatchOffer, hits: list[ResultHit], threshold: float | None) -> None:
    """The asker's hits of an answered offer (read with ``private.read_result``)."""
    reverse = {record_id: ref for ref, record_id in offer.local_refs.items()}
    for hit in hits:
        session.add(
            MatchHit(
                offer_id=offer.offer_id,
                side=ASKER,
                partner=offer.partner,
                record_id=hit.record_id,
                offer_ref=reverse.get(hit.record_id, ""),
                hit_ref=hit.hit_ref,
                score=hit.score,
            )
        )
    offer.status = "answered"
    offer.hit_count = len(hits)
    offer.threshold = threshold
    offer.answered_at = utcnow()
    session.flush()


def holder_hits(session: Session, partner: str, offer_id: str, hit_ref: str) -> list[MatchHit]:
    """The hit rows behind a hit we reported to ``partner`` (empty if no such hit: refuse the request)."""
    return list(
        session.scalars(
            select(MatchHit).where(
                MatchHit.offer_id == offer_id,
                MatchHit.side == HOLDER,
                MatchHit.partner == partner,
                MatchHit.hit_ref == hit_ref,
            )
        )
    )
