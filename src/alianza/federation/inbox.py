"""Receiving envelopes: verify, refuse replays and gaps, apply exactly once and in order, acknowledge.

Each envelope is applied in its own transaction together with the partner's ``inbound_seq`` and the inbox
row, so a crash either applied it completely (and a resend is recognised as a duplicate and acknowledged
again) or not at all (and the resend applies it). Anything refused is logged with its reason; nothing of it
is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from alianza.errors import AlianzaError
from alianza.federation import envelope as env
from alianza.federation.partners import Partner
from alianza.identity import canonical_json
from alianza.store.db import Base, utcnow

if TYPE_CHECKING:
    from alianza.node import Node

logger = logging.getLogger("alianza.federation")
MAX_BATCH = 1000


class InboxEnvelope(Base):
    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("sender", "sequence", name="uq_inbox_sender_sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    envelope_id: Mapped[str] = mapped_column(String(64), unique=True)
    sender: Mapped[str] = mapped_column(String(64), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    payload_hash: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class GapError(env.EnvelopeError):
    """An envelope arrived ahead of one still missing; the sender must resend from ``expected``."""

    code = "sequence_gap"
    http_status = 409


@dataclass
class Receipt:
    acks: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    next_expected: int = 0
    sender: str = ""


def _hash(envelope: env.Envelope, payload: dict[str, Any]) -> str:
    """What makes an envelope the same message: its identity and its opened payload. A resend is built anew
    (new created time, new sealing randomness), so those are left out; any change of content is not."""
    identity = {
        "id": envelope.id,
        "sender": envelope.sender,
        "recipient": envelope.recipient,
        "type": envelope.type,
        "sequence": envelope.sequence,
        "payload": payload,
    }
    return hashlib.sha256(canonical_json(identity)).hexdigest()


def receive_one(node: Node, raw: Any) -> tuple[str, env.Envelope]:
    """Verify and apply one envelope in its own transaction; ('applied' | 'duplicate', envelope) or raises."""
    with node.db.transaction() as session:
        return _receive_in(session, node, raw)


def _receive_in(session: Session, node: Node, raw: Any) -> tuple[str, env.Envelope]:
    from alianza.federation import ingress

    envelope = env.parse(raw)
    partner = session.get(Partner, envelope.sender)
    if partner is None:
        raise env.UnknownSenderError("Unknown sender {sender}: not a partner of this node.", sender=envelope.sender)
    env.check(envelope, me=node.settings.federation_id, keys=partner.pinned_keys())
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(select(Partner).where(Partner.name == partner.name).with_for_update())
        session.refresh(partner)
    seen = session.scalar(select(InboxEnvelope).where(InboxEnvelope.envelope_id == envelope.id))
    payload = env.unseal(envelope.payload, node.identity)
    digest = _hash(envelope, payload)
    if seen is not None:
        if seen.payload_hash != digest or seen.sequence != envelope.sequence:
            raise env.ReplayError("Envelope {id} was already received with other content.", id=envelope.id)
        partner.last_contact = utcnow()
        return "duplicate", envelope
    if envelope.sequence <= partner.inbound_seq:
        raise env.ReplayError(
            "Sequence {sequence} from {sender} was already used by another envelope.",
            sequence=envelope.sequence,
            sender=envelope.sender,
        )
    if envelope.sequence != partner.inbound_seq + 1:
        raise GapError(
            "Envelope {sequence} arrived before {expected}; resend from {expected}.",
            sequence=envelope.sequence,
            expected=partner.inbound_seq + 1,
        )
    summary = ingress.apply(session, node, partner, envelope, payload)
    session.add(
        InboxEnvelope(
            envelope_id=envelope.id,
            sender=envelope.sender,
            sequence=envelope.sequence,
            type=envelope.type,
            payload_hash=digest,
            summary=summary,
        )
    )
    partner.inbound_seq = envelope.sequence
    partner.last_contact = utcnow()
    session.flush()
    return "applied", envelope


def _receive_batch(node: Node, items: list[Any]) -> Receipt:
    """The fast path: the whole batch in one transaction (one commit, one fsync), all or nothing."""
    receipt = Receipt()
    with node.db.transaction() as session:
        for raw in items:
            status, envelope = _receive_in(session, node, raw)
            receipt.acks.append({"id": envelope.id, "sequence": envelope.sequence, "status": status})
    return receipt


def receive(node: Node, body: Any) -> Receipt:
    """A batch (``{"envelopes": [...]}``) or one envelope; stops at the first refusal and says why."""
    items = body.get("envelopes") if isinstance(body, dict) and "envelopes" in body else [body]
    if not isinstance(items, list) or not items:
        raise env.MalformedEnvelopeError('Send an envelope or {"envelopes": [...]}.')
    if len(items) > MAX_BATCH:
        raise env.MalformedEnvelopeError("At most {max} envelopes per request.", max=MAX_BATCH)
    try:
        receipt = _receive_batch(node, items)
        sender = str(items[-1].get("sender", "")) if isinstance(items[-1], dict) else ""
    except AlianzaError:
        # Something in the batch is refused: apply one by one what precedes it, and name the refusal.
        receipt = _receive_each(node, items)
        sender = receipt.sender
    with node.db.reading() as session:
        partner = session.get(Partner, sender)
        receipt.next_expected = (partner.inbound_seq + 1) if partner else 0
    return receipt


def _receive_each(node: Node, items: list[Any]) -> Receipt:
    receipt = Receipt()
    sender = ""
    for raw in items:
        try:
            status, envelope = receive_one(node, raw)
        except AlianzaError as exc:
            claimed = raw.get("sender") if isinstance(raw, dict) else None
            logger.warning("Refused envelope from %s: %s (%s)", claimed, exc.render(), exc.code)
            if not receipt.acks:
                raise
            receipt.error = {"code": exc.code, "message": exc.render()}
            break
        sender = envelope.sender
        receipt.acks.append({"id": envelope.id, "sequence": envelope.sequence, "status": status})
    receipt.sender = sender
    return receipt


def ack_envelope(node: Node, recipient: str, receipt: Receipt) -> env.Envelope:
    """The signed acknowledgement the sender keeps as proof of delivery."""
    payload: dict[str, Any] = {"acks": receipt.acks, "next_expected": receipt.next_expected}
    if receipt.error:
        payload["error"] = receipt.error
    return env.make(
        node.identity, sender=node.settings.federation_id, recipient=recipient, type="ack", sequence=0, payload=payload
    )
