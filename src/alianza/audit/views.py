"""What auditors read: the log itself, the accounting of disclosures and the dissemination log.

Both disclosure views are read from the audit chain (``record.disclosed`` entries), not from a table of their
own: there is one source of truth, and it is the tamper-evident one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.audit.models import AuditEntry


def entries(
    session: Session, actor: User, *, after: int = 0, limit: int = 100, action: str | None = None
) -> list[AuditEntry]:
    require(actor, Permission.READ_AUDIT)
    query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(min(limit, 1000))
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Disclosure:
    seq: int
    at: datetime
    by: str
    record_id: str
    release_id: int
    recipient_node: str
    recipient_agency: str
    purpose: str
    legal_basis: str
    us_person: bool
    redacted: tuple[str, ...]


def disclosures(
    session: Session, actor: User, *, us_persons_only: bool = False, record_id: str | None = None
) -> list[Disclosure]:
    """Every disclosure of a record: the Privacy Act accounting (US persons) and the 28 CFR 23.20(e) log."""
    require(actor, Permission.READ_AUDIT)
    query = select(AuditEntry).where(AuditEntry.action == "record.disclosed").order_by(AuditEntry.seq)
    if record_id:
        query = query.where(AuditEntry.object_id == record_id)
    result = []
    for e in session.scalars(query):
        d = e.details
        if us_persons_only and not d.get("us_person"):
            continue
        result.append(
            Disclosure(
                seq=e.seq,
                at=e.at,
                by=e.actor,
                record_id=e.object_id,
                release_id=int(d.get("release", 0)),
                recipient_node=str(d.get("recipient_node", "")),
                recipient_agency=str(d.get("recipient_agency", "")),
                purpose=str(d.get("purpose", "")),
                legal_basis=str(d.get("legal_basis", "")),
                us_person=bool(d.get("us_person")),
                redacted=tuple(d.get("redacted", ())),
            )
        )
    return result
