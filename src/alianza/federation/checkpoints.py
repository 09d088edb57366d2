"""Cross-checked audit: each node keeps the heads of the partner's audit chain it has seen, and later asks the
partner to show that entry again. The hash of entry N covers every entry before it, so if the partner still
shows the same hash at N, its history up to N is unchanged: what we saw is a prefix of what it shows now."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import DateTime, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from alianza.audit.models import AuditEntry
from alianza.federation import envelope as env
from alianza.store.db import Base, utcnow

if TYPE_CHECKING:
    from alianza.federation.partners import Partner
    from alianza.node import Node


class PartnerCheckpoint(Base):
    __tablename__ = "partner_checkpoints"
    __table_args__ = (UniqueConstraint("partner", "seq", name="uq_partner_checkpoints_partner_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


def own_head(session: Session) -> dict[str, Any]:
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
    return {"seq": last.seq if last else 0, "hash": last.entry_hash if last else "0" * 64}


def hash_at(session: Session, seq: int) -> str | None:
    return session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == seq))


def store_checkpoint(session: Session, node: Node, partner: Partner, payload: dict[str, Any]) -> dict[str, Any]:
    seq, digest = payload.get("seq"), payload.get("hash")
    if not isinstance(seq, int) or not isinstance(digest, str) or len(digest) != 64:
        raise env.MalformedEnvelopeError("An audit checkpoint carries a sequence number and a SHA-256 hash.")
    existing = session.scalar(
        select(PartnerCheckpoint).where(PartnerCheckpoint.partner == partner.name, PartnerCheckpoint.seq == seq)
    )
    if existing is not None and existing.entry_hash != digest:
        node.trail.append(
            session,
            "system",
            "partner.history_changed",
            "partner",
            partner.name,
            {"seq": seq, "seen": existing.entry_hash, "now": digest},
        )
    elif existing is None:
        session.add(PartnerCheckpoint(partner=partner.name, seq=seq, entry_hash=digest))
    return {"seq": seq}


def latest_checkpoint(session: Session, partner: str) -> PartnerCheckpoint | None:
    return session.scalars(
        select(PartnerCheckpoint).where(PartnerCheckpoint.partner == partner).order_by(PartnerCheckpoint.seq.desc())
    ).first()


PROOF_PATH = "/federation/v1/audit/proof"
CHECKPOINT_META = "audit_checkpoint_sent"


def maybe_send_checkpoint(session: Session, node: Node) -> bool:
    """Queue our audit head for every partner when it moved since the last one sent."""
    from alianza.federation import outbox
    from alianza.federation.partners import list_partners
    from alianza.store.meta import get_meta, set_meta

    head = own_head(session)
    if not head["seq"] or str(head["seq"]) == get_meta(session, CHECKPOINT_META):
        return False
    for partner in list_partners(session):
        outbox.enqueue(session, partner.name, "audit_checkpoint", head["seq"], head)
    set_meta(session, CHECKPOINT_META, str(head["seq"]))
    return True


@dataclass(frozen=True)
class PartnerProof:
    partner: str
    seq: int
    seen: str
    now: str | None
    head_seq: int

    @property
    def ok(self) -> bool:
        return self.now == self.seen


def verify_partner(node: Node, partner_name: str, client: httpx.Client) -> PartnerProof | None:
    """Ask the partner for the entry of its chain we last saw; None when we have seen none yet."""
    from alianza.federation.partners import get_partner
    from alianza.federation.signing import sign_request

    with node.db.reading() as session:
        partner = get_partner(session, partner_name)
        session.expunge(partner)
        seen = latest_checkpoint(session, partner_name)
        if seen is None:
            return None
        seq, digest = seen.seq, seen.entry_hash
    target = f"{PROOF_PATH}?seq={seq}"
    headers = sign_request(node.identity, node.settings.federation_id, "GET", target)
    response = client.get(f"{partner.url}{target}", headers=headers)
    response.raise_for_status()
    proof = env.parse(response.json())
    env.check(proof, me=node.settings.federation_id, keys=partner.pinned_keys())
    head = proof.payload.get("head") or {}
    return PartnerProof(partner_name, seq, digest, proof.payload.get("hash"), int(head.get("seq", 0)))
