"""Partner nodes: where they are, which keys we pinned for them, and the sequence counters both ways.

A partner is pinned: envelopes are accepted only under a key an admin added (or that the partner announced in
an envelope signed by a key we already trusted, during a rotation overlap). Counters give exactly-once, in-order
delivery: ``outbound_seq`` numbers what we send them, ``inbound_seq`` is the last of theirs we applied.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import JSON, DateTime, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.errors import NotFoundError, ValidationError
from alianza.identity import key_fingerprint, load_public_key
from alianza.store.db import Base, utcnow

RESERVED_NAMES = frozenset({"incoming", "v1", "new"})


class Partner(Base):
    __tablename__ = "partners"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    country: Mapped[str] = mapped_column(String(2))
    keys: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{key, key_id, valid_until}]
    seal_key: Mapped[str] = mapped_column(Text, default="")
    outbound_seq: Mapped[int] = mapped_column(Integer, default=0)
    inbound_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_contact: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    def pinned_keys(self, now: dt.datetime | None = None) -> dict[str, Ed25519PublicKey]:
        now = now or utcnow()
        keys = {}
        for entry in self.keys:
            until = entry.get("valid_until")
            if until and dt.datetime.fromisoformat(until) < now:
                continue
            keys[entry["key_id"]] = load_public_key(entry["key"])
        return keys


def add_partner(
    session: Session, actor: User, *, name: str, url: str, key: str, country: str, seal_key: str = ""
) -> Partner:
    require(actor, Permission.MANAGE_USERS)
    problems = []
    if name in RESERVED_NAMES:
        problems.append({"field": "name", "message": "This name is reserved; choose another."})
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        problems.append({"field": "name", "message": "Use letters, digits, dashes or underscores."})
    if not url.startswith(("http://", "https://")):
        problems.append({"field": "url", "message": "Use an http:// or https:// address."})
    if country not in ("US", "MX"):
        problems.append({"field": "country", "message": "Use US or MX."})
    try:
        public = load_public_key(key)
    except Exception:
        problems.append({"field": "key", "message": "Not an Ed25519 public key in base64 ('alianza keys show')."})
        public = None
    if session.get(Partner, name) is not None:
        problems.append({"field": "name", "message": "A partner with this name exists."})
    if problems:
        raise ValidationError("The partner was not added: {count} problem(s).", details=problems, count=len(problems))
    assert public is not None
    partner = Partner(
        name=name,
        url=url.rstrip("/"),
        country=country,
        seal_key=seal_key,
        keys=[{"key": key, "key_id": key_fingerprint(public), "valid_until": None}],
    )
    session.add(partner)
    session.flush()
    # Messages queued for this name before it was pinned join its stream now, in the order they were queued.
    from alianza.federation.outbox import OutboxMessage

    waiting = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient == name, OutboxMessage.sequence.is_(None))
        .order_by(OutboxMessage.id)
    )
    for message in waiting:
        message.sequence = next_outbound(session, name)
    session.flush()
    return partner


def add_key(session: Session, partner: Partner, key: str, *, retire_others_after: dt.timedelta | None = None) -> None:
    """Pin another key of the partner; with ``retire_others_after`` the old keys expire after the overlap."""
    public = load_public_key(key)
    key_id = key_fingerprint(public)
    entries = [dict(e) for e in partner.keys if e["key_id"] != key_id]
    if retire_others_after is not None:
        until = (utcnow() + retire_others_after).isoformat()
        for entry in entries:
            entry["valid_until"] = entry.get("valid_until") or until
    entries.append({"key": key, "key_id": key_id, "valid_until": None})
    partner.keys = entries
    session.flush()


def get_partner(session: Session, name: str) -> Partner:
    partner = session.get(Partner, name)
    if partner is None:
        raise NotFoundError("No partner named '{name}'; add it with 'alianza partner add'.", name=name)
    return partner


def list_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.name)))


def next_outbound(session: Session, name: str) -> int:
    """Reserve the next sequence number for ``name`` atomically (the UPDATE takes the row lock)."""
    session.execute(update(Partner).where(Partner.name == name).values(outbound_seq=Partner.outbound_seq + 1))
    value = session.scalar(select(Partner.outbound_seq).where(Partner.name == name))
    if value is None:
        raise NotFoundError("No partner named '{name}'; add it with 'alianza partner add'.", name=name)
    return int(value)
