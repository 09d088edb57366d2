"""The transactional outbox: whatever must leave the node is written here in the same transaction as the
decision that lets it leave, so an approval can never exist without its delivery, nor the reverse."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from alianza.store.db import Base, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("recipient", "sequence", name="uq_outbox_recipient_sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(64), index=True)
    sequence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    envelope_id: Mapped[str] = mapped_column(String(64), default=lambda: uuid.uuid4().hex, unique=True)
    failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(32))  # release | recall | request | response
    reference: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


def enqueue(
    session: Session, recipient: str, kind: str, reference: str | int, payload: dict[str, Any]
) -> OutboxMessage:
    """Queue a message; a known partner gets the next sequence number now, in the same transaction."""
    from alianza.federation.partners import Partner, next_outbound

    sequence = next_outbound(session, recipient) if session.get(Partner, recipient) is not None else None
    message = OutboxMessage(
        recipient=recipient, kind=kind, reference=str(reference), payload=payload, sequence=sequence
    )
    session.add(message)
    session.flush()
    return message


def pending(session: Session, recipient: str | None = None, limit: int | None = None) -> list[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None))
        .order_by(OutboxMessage.id)
    )
    if limit:
        query = query.limit(limit)
    if recipient:
        query = query.where(OutboxMessage.recipient == recipient)
    return list(session.scalars(query))
